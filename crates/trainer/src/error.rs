//! The library's error: what went wrong, with its context, and whose fault it was — the input
//! (a bad file, setting or request: the caller can fix it), the system (a fault here: a disk,
//! a network, a bug), or nobody's (the caller cancelled).
//!
//! Inside the library, functions return [`anyhow::Result`] so that each layer can add context
//! ("while reading …"); input faults are raised as [`input`] errors or located
//! [`DataError`]s. The calls a front end makes return [`Error`], classified once, so a CLI can
//! choose its exit code and a server its HTTP status without parsing messages.

use crate::data::DataError;

/// Why a library call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input was at fault: a malformed file (located, as a [`DataError`] in the chain), a
    /// setting out of range, a missing column. Fixing the request fixes it.
    #[error("{0:#}")]
    Input(anyhow::Error),
    /// Something here failed: reading or writing a file that should be there, a network
    /// request, a tensor computation.
    #[error("{0:#}")]
    System(anyhow::Error),
    /// The caller cancelled the call; nothing was written.
    #[error("cancelled")]
    Cancelled,
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The located data problem behind an input error, if it was one.
    pub fn data_error(&self) -> Option<&DataError> {
        match self {
            Error::Input(e) => e.chain().find_map(|c| c.downcast_ref::<DataError>()),
            _ => None,
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(error: anyhow::Error) -> Self {
        if error.chain().any(|c| c.is::<Cancelled>()) {
            Error::Cancelled
        } else if error.chain().any(is_input_fault) {
            Error::Input(error)
        } else {
            Error::System(error)
        }
    }
}

impl From<DataError> for Error {
    fn from(error: DataError) -> Self {
        Error::Input(error.into())
    }
}

impl From<Cancelled> for Error {
    fn from(_: Cancelled) -> Self {
        Error::Cancelled
    }
}

/// Whether one link of an error chain blames the input.
fn is_input_fault(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause.is::<InputError>()
        || cause.is::<DataError>()
        || matches!(
            cause.downcast_ref::<cyborg_scorer::Error>(),
            Some(cyborg_scorer::Error::Invalid { .. })
        )
}

/// The caller cancelled; raised by [`Progress::check`](crate::progress::Progress::check).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// A problem with what the caller asked for (not located in a file).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// An input fault with `message`, as an error the library's functions return.
pub fn input(message: impl Into<String>) -> anyhow::Error {
    InputError(message.into()).into()
}

/// Returns an [`input`] error made with `format!`: `bail_input!("{path}: no rows")`.
#[macro_export]
macro_rules! bail_input {
    ($($arg:tt)*) => {
        return Err($crate::error::input(format!($($arg)*)))
    };
}
