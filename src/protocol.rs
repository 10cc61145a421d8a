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
    Load {
        name: String,
        #[serde(flatten)]
        options: LoadOptions,
    },
    /// Score one response with the loaded model.
    Score { text: String },
    /// Score several responses at once (a batch's rows): on WebGPU they share the GPU's
    /// batches. Each gets its own answer, in order.
    ScoreMany { texts: Vec<String> },
    /// Score one response, and return the pooled embedding the head read (to check one
    /// backend against another).
    Inspect { text: String },
}

/// How the worker runs a model it loads (each absent from a request means its default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// The encoder's backend; `None` times both and takes the faster.
    #[serde(default)]
    pub backend: Option<Backend>,
    /// Fault injection for tests: destroy the GPU device after this many GPU batches, as a
    /// driver reset would.
    #[serde(default)]
    pub lose_webgpu_after: Option<u32>,
    /// Multiply an int8 bundle's layer matrices as its stored integers, inputs rounded to 16
    /// bits, rather than as the f32 matrices they stand for: about 30% faster, and raw scores
    /// move by 1e-4 of the scale or less (on 2,598 ASAP-AES essays every level stayed
    /// `cyborg score`'s). The page asks for it unless the link says `int8_products=0`.
    /// (`cyborg score --int8-products` rounds to 8 bits, and moves scores more.)
    #[serde(default)]
    pub int8_products: bool,
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
    /// Several responses scored, in the order asked: each its score or why it has none.
    ScoredMany(Vec<Result<ScoredResponse, String>>),
    /// A response scored, with the pooled embedding the head read and how often its words and
    /// word pairs hit each of the lexical block's buckets (sorted by bucket; empty when the
    /// head has no block).
    Inspected {
        scored: Box<ScoredResponse>,
        embedding: Vec<f32>,
        word_buckets: Vec<(u32, u32)>,
    },
    /// The request failed; the message says what was wrong and with which input.
    Failed { message: String },
}

/// How the worker was compiled: shown in the page's About panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// Whether the kernels were compiled with WebAssembly 128-bit SIMD.
    pub simd128: bool,
    /// The bundle format version this build writes (it reads older ones it can still score).
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
    /// Which backend runs the encoder, and why.
    pub backend: BackendReport,
    /// Whether its layer matrices are multiplied as stored integers.
    #[serde(default)]
    pub int8_products: bool,
}

/// Where the encoder's forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// The CPU, through the scorer compiled to WebAssembly (with SIMD when built so).
    Wasm,
    /// The GPU, through WebGPU compute shaders.
    WebGpu,
}

impl Backend {
    /// The name a person reads.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Wasm => "WebAssembly (CPU)",
            Backend::WebGpu => "WebGPU",
        }
    }

    /// Reads a link's `?backend=` value.
    pub fn parse(value: &str) -> Result<Backend, String> {
        match value.to_ascii_lowercase().as_str() {
            "wasm" => Ok(Backend::Wasm),
            "webgpu" => Ok(Backend::WebGpu),
            other => Err(format!(
                "backend=\"{other}\" is not a backend: use backend=wasm or backend=webgpu \
                 (or leave it out to pick the faster)"
            )),
        }
    }
}

/// Which backend the worker chose for a model, and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendReport {
    /// The backend for one response at a time.
    pub single: Backend,
    /// The backend for several responses at once.
    pub batch: Backend,
    /// The GPU adapter, when WebGPU is ready (vendor and architecture).
    pub adapter: Option<String>,
    /// The timing that chose between the two, when both were timed.
    pub calibration: Option<Calibration>,
    /// Why WebGPU is not in use, when it is not.
    pub note: Option<String>,
}

/// Copies of the calibration response timed as one batch on both backends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchTiming {
    /// Copies in the batch.
    pub size: usize,
    /// Milliseconds per response on WebAssembly.
    pub wasm_ms: f64,
    /// Milliseconds per response on WebGPU.
    pub webgpu_ms: f64,
}

/// One response, and a batch of it, timed on both backends when a model loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Tokens in the timed response.
    pub tokens: usize,
    /// Milliseconds on WebAssembly.
    pub wasm_ms: f64,
    /// Milliseconds on WebGPU (after one untimed run that compiles its pipelines).
    pub webgpu_ms: f64,
    /// The batch's timing; none when WebGPU was too far behind on one response for a batch
    /// to be worth timing.
    pub batch: Option<BatchTiming>,
    /// The largest difference between the two backends' pooled embeddings.
    pub largest_difference: f32,
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
    /// The backend that scored it.
    pub backend: Backend,
    /// Set when WebGPU failed on this response: why, and that the worker now scores with
    /// WebAssembly for the rest of the session (this response included).
    pub fallback: Option<String>,
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

    #[test]
    fn a_link_names_a_backend_or_is_told_which_names_there_are() {
        assert_eq!(Backend::parse("WebGPU"), Ok(Backend::WebGpu));
        assert_eq!(Backend::parse("wasm"), Ok(Backend::Wasm));
        let error = Backend::parse("cuda").unwrap_err();
        assert!(
            error.contains("\"cuda\"") && error.contains("backend=webgpu"),
            "{error}"
        );
    }

    #[test]
    fn a_load_request_from_before_backends_still_reads() {
        let old = r#"{"id":3,"body":{"Load":{"name":"m.cyborg"}}}"#;
        let RequestBody::Load { options, .. } = Request::read(Some(old)).unwrap().body else {
            panic!("a load")
        };
        assert_eq!(options, LoadOptions::default());
    }

    #[test]
    fn load_options_travel_beside_the_name() {
        let options = LoadOptions {
            backend: Some(Backend::Wasm),
            lose_webgpu_after: Some(2),
            int8_products: true,
        };
        let request = Request {
            id: 4,
            body: RequestBody::Load {
                name: "m.cyborg".into(),
                options: options.clone(),
            },
        };
        let text = serde_json::to_string(&request).unwrap();
        assert!(
            text.contains(r#""name":"m.cyborg","backend":"Wasm""#),
            "{text}"
        );
        let RequestBody::Load { options: read, .. } = Request::read(Some(&text)).unwrap().body
        else {
            panic!("a load")
        };
        assert_eq!(read, options);
    }
}
