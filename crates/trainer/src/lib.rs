//! Cyborg's trainer: from human-scored responses (and a teacher's labels, or an LLM's
//! synthetic responses) to a small student model in a bundle the scorer runs anywhere.
//!
//! A plain library: it never sees flags, HTTP or a terminal. A front end (the `cyborg`
//! command, a server) builds a typed request, makes one call — [`train_bundle`],
//! [`label_pool`], [`generate`], [`evaluate()`], [`experiment::run`], [`bench::asap`] … — with a
//! [`Progress`] that carries its [`Observer`] and [`CancelToken`], and renders the typed
//! outcome or the classified [`Error`].
//!
//! Layers, each importing only from those above it:
//! data, config, format, output, progress, error → split, ridge, cache, train → student →
//! teacher → pipeline, evaluate, report, experiment, bench, trait_bench.

pub mod bench;
pub mod cache;
pub mod config;
pub mod data;
pub mod error;
pub mod evaluate;
pub mod experiment;
pub mod format;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod ridge;
pub mod screen;
pub mod split;
pub mod student;
pub mod teacher;
pub mod train;
pub mod trait_bench;

pub use config::{
    DataConfig, LlmConfig, SampleFilter, SplitConfig, StudentConfig, TeacherConfig, TeacherKind,
};
pub use cyborg_scorer::Precision;
pub use error::{Error, Result};
pub use evaluate::{evaluate, EvalRequest, Evaluated, Evaluation};
pub use pipeline::{
    batch_requests, check_data, export_bundle, generate, label_pool, train_bundle, CheckRequest,
    ExportRequest, GenerateRequest, LabelRequest, TrainOutcome, TrainRequest,
};
pub use progress::{CancelToken, Event, Observer, Progress, Silent};
