//! Messages between the page and the scoring worker.

use cyborg_scorer::card::ModelCard;
use cyborg_scorer::metrics::Thresholds;
use cyborg_scorer::{Precision, Score};
use serde::{Deserialize, Serialize};

/// A request from the page; the worker answers each with a [`Reply`] carrying the same `id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the page, echoed in the reply.
    pub id: u64,
    /// What to do.
    pub body: RequestBody,
}

/// What the page asks of the worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RequestBody {
    /// Load the bundle whose bytes come with this message, replacing any loaded model.
    /// `name` names it in error messages.
    Load { name: String },
    /// Score one response with the loaded model.
    Score { text: String },
}

impl Request {
    /// Reads a request from a message's text, or the failure to answer it with: carrying the
    /// request's id when the text has one, so the caller waiting on that id hears of it, and
    /// [`UNMATCHED`] when it has none.
    pub fn read(text: Option<&str>) -> Result<Request, Reply> {
        let text = text.unwrap_or_default();
        serde_json::from_str(text).map_err(|error| {
            let id = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("id")?.as_u64())
                .filter(|&id| id != UNMATCHED)
                .unwrap_or(UNMATCHED);
            Reply {
                id,
                body: ReplyBody::Failed {
                    message: format!(
                        "the scoring worker received a request it cannot read ({error}); \
                         reload the page so that it and its worker come from the same build"
                    ),
                },
            }
        })
    }
}

/// The id of a reply that answers no one request: the worker's greeting, and a failure to read
/// a request that carried no id (the page then fails every request still waiting).
pub const UNMATCHED: u64 = 0;

/// The worker's answer to the request with the same `id` ([`UNMATCHED`] for its greeting).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    /// The request's id.
    pub id: u64,
    /// The answer.
    pub body: ReplyBody,
}

/// What the worker answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReplyBody {
    /// The worker started; sent once, unasked, with id [`UNMATCHED`].
    Started(BuildInfo),
    /// A bundle loaded.
    Loaded(Box<LoadedModel>),
    /// A response scored.
    Scored(ScoredResponse),
    /// The request failed; the message says what was wrong and with which input.
    Failed { message: String },
}

/// How the worker was compiled: shown in the page's About panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// Whether the kernels were compiled with WebAssembly 128-bit SIMD.
    pub simd128: bool,
    /// The bundle format version this build reads.
    pub bundle_format: u32,
    /// The scorer's numerics version (same value as the `cyborg` that trained the bundle
    /// means the same arithmetic).
    pub numerics: u32,
}

/// A loaded model, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedModel {
    /// The bundle's name (file name or URL).
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// How it stores the encoder's matrices.
    pub precision: Precision,
    /// Its model card.
    pub card: ModelCard,
    /// The primary score's range and the cut points from raw score to level.
    pub thresholds: Thresholds,
    /// The columns a scored table gets (the primary score's, then any further traits').
    pub score_columns: Vec<String>,
    /// Milliseconds the worker took to check and load it.
    pub load_ms: f64,
}

/// One response's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredResponse {
    /// Its level, raw score and any further traits.
    pub score: Score,
    /// Tokens the response was cut into (all windows).
    pub tokens: usize,
    /// Milliseconds the worker spent scoring it.
    pub ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(text: Option<&str>) -> Reply {
        Request::read(text).expect_err("not a request")
    }

    #[test]
    fn a_request_the_worker_cannot_read_is_answered_under_its_own_id_when_it_has_one() {
        let good = r#"{"id":7,"body":{"Score":{"text":"hi"}}}"#;
        assert_eq!(Request::read(Some(good)).unwrap().id, 7);
        // A body from another build: the caller waiting on 7 hears why.
        let other_build = failure(Some(r#"{"id":7,"body":{"Translate":{"text":"hi"}}}"#));
        assert_eq!(other_build.id, 7);
        let ReplyBody::Failed { message } = other_build.body else {
            panic!("a failure")
        };
        assert!(
            message.contains("cannot read") && message.contains("Translate"),
            "{message}"
        );
        // Nothing to tie it to: the page fails every waiting request.
        for text in [
            None,
            Some("not json"),
            Some(r#"{"body":1}"#),
            Some(r#"{"id":-3}"#),
            Some(r#"{"id":0}"#),
        ] {
            assert_eq!(failure(text).id, UNMATCHED, "{text:?}");
        }
    }
}
