//! Messages between the page and the scoring worker.

use cyborg_scorer::card::ModelCard;
use cyborg_scorer::metrics::Thresholds;
use cyborg_scorer::Score;
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

/// The worker's answer to the request with the same `id`; id 0 is the worker's greeting.
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
    /// The worker started; sent once, unasked, with id 0.
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
