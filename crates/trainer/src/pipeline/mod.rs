//! One call per job a front end runs: check a data file, train a bundle, store a bundle at
//! another precision, label a pool, write synthetic responses (evaluation, experiments and
//! benchmarks have their own modules). Each takes a typed request (the long ones also a
//! [`Progress`](crate::Progress)) and returns a typed outcome or a classified
//! [`Error`](crate::Error); none prints, and the long ones stop when cancelled.

pub mod check;
pub mod export;
pub mod teach;
pub mod train;

pub use check::{check_data, CheckRequest, DataSummary};
pub use export::{export_bundle, ExportRequest, Exported};
pub use teach::{
    batch_requests, generate, label_pool, GenerateRequest, Generated, LabelRequest, Labelled,
};
pub use train::{train_bundle, TrainOutcome, TrainRequest, TrainSummary};
