//! `export`: the same model in a bundle of another precision.

use std::path::PathBuf;

use cyborg_scorer::{Precision, Products};

use crate::error::Result;
use crate::student::load_bundle;

/// A bundle to store again at another precision.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The bundle to read.
    pub model: PathBuf,
    /// The precision to store its encoder's matrices in.
    pub weights: Precision,
}

/// The new bundle, and the precisions it went between.
pub struct Exported {
    /// The bundle's bytes.
    pub bundle: Vec<u8>,
    /// The precision the model was read in.
    pub from: Precision,
    /// The precision it is stored in now.
    pub to: Precision,
}

impl Exported {
    /// Why the new bundle may score a little differently from the one read: its weights are
    /// rounded again when `to` is smaller than f32, on top of any rounding `from` already had.
    pub fn rounding_note(&self) -> Option<String> {
        match (self.from, self.to) {
            (Precision::F32, Precision::F32) => None,
            (from, Precision::F32) => Some(format!(
                "the model was read in {from}: its rounding stays, so the f32 bundle is larger, \
                 not more exact"
            )),
            (Precision::F32, to) => Some(format!(
                "the weights were rounded to {to}: check it on held-out responses with `cyborg eval`"
            )),
            (from, to) => Some(format!(
                "the model was read in {from}, so {to} adds its rounding to {from}'s; \
                 export from the f32 bundle where you have it"
            )),
        }
    }
}

/// Reads `request.model` and stores the same model with its matrices at `request.weights`.
pub fn export_bundle(request: &ExportRequest) -> Result<Exported> {
    let scorer = load_bundle(&request.model, Products::Restored)?;
    let card = scorer.card.as_ref().expect("a bundle carries a card");
    let bundle = scorer
        .to_bundle(card, request.weights)
        .map_err(anyhow::Error::from)?;
    Ok(Exported {
        bundle,
        from: scorer.precision,
        to: request.weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(from: Precision, to: Precision) -> Option<String> {
        Exported {
            bundle: Vec::new(),
            from,
            to,
        }
        .rounding_note()
    }

    #[test]
    fn the_note_says_what_rounding_the_new_bundle_carries() {
        assert_eq!(note(Precision::F32, Precision::F32), None);
        assert!(note(Precision::F32, Precision::Int8)
            .unwrap()
            .contains("rounded to int8"));
        assert!(note(Precision::Int8, Precision::F32)
            .unwrap()
            .contains("larger, not more exact"));
        assert!(note(Precision::Int8, Precision::F16)
            .unwrap()
            .contains("f16 adds its rounding to int8's"));
    }
}
