//! The scorer's error type: every failure says what was wrong and where.

use std::fmt;

/// An error from loading or running a scorer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model folder or bundle lacks something it must have, or holds something malformed.
    #[error("{source_name}: {message}")]
    Invalid {
        /// The file or folder at fault (a path, or a description such as "bundle").
        source_name: String,
        /// What was wrong with it.
        message: String,
    },
    /// A tensor computation failed.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

impl Error {
    /// An [`Error::Invalid`] for `source_name`.
    pub fn invalid(source_name: impl fmt::Display, message: impl fmt::Display) -> Self {
        Error::Invalid {
            source_name: source_name.to_string(),
            message: message.to_string(),
        }
    }
}

/// The scorer's result type.
pub type Result<T> = std::result::Result<T, Error>;
