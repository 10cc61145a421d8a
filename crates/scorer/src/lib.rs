//! Cyborg's scorer: what the browser and the command line share.
//!
//! A response is cut into encoder windows ([`tokenize`]), encoded by a BERT encoder
//! ([`encoder`]), mean-pooled over every token of every window, joined with surface features
//! that windows cannot see ([`features`]), and mapped by a regression head ([`head`]) to a raw
//! score per trait ([`traits`]), which thresholds fitted on development data turn into a score
//! level ([`metrics`]). A head may add a lexical block ([`lexical`]): weights for the hashed words and
//! word pairs the response uses. A response unlike the training ones is flagged for a person
//! ([`advisory`]): by its length, and against a small reference of the training data
//! ([`screen`]).
//! A [`bundle`] carries all of it, with a model [`card`], in one checksummed file.

pub mod advisory;
pub mod attention;
pub mod base;
pub mod bundle;
pub mod calibration;
pub mod card;
pub mod config;
pub mod encoder;
pub mod error;
pub mod fairness;
pub mod features;
pub mod head;
pub mod int8;
pub mod kernels;
pub mod lexical;
pub mod metrics;
pub mod model;
pub mod packed;
pub mod products;
pub mod quantize;
pub mod screen;
pub mod tokenize;
pub mod traits;

pub use error::{Error, Result};

/// Changes whenever a change to this crate alters what the encoder computes, even in the last
/// bits (kernels, pooling, windowing), so caches of encoder outputs are not reused across it.
pub const NUMERICS_VERSION: u32 = 6;
pub use int8::Products;
pub use model::{Score, Scorer, ScorerConfig, TextEncoder};
pub use quantize::Precision;
