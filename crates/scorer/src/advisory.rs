//! Advisories: responses whose score a person should check, because they lie outside what the
//! model learned from (the way operational engines flag responses beside the score).
//!
//! A bundle carries the range of each surface feature over its training responses. A response
//! outside it gets its features clamped into the range, so that length alone cannot push a
//! score without bound (200 `a`s, a long URL appended, a million characters), and is flagged.
//! What length does not show (a paste, another language, a word list, another topic) the
//! bundle's screen flags ([`crate::screen`]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::{FEATURE_COUNT, FEATURE_NAMES};

/// Why a response's score should be checked by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Advisory {
    /// Fewer words, word pieces or sentences than any training response had.
    TooShort,
    /// More words, word pieces or sentences than any training response had.
    TooLong,
    /// Words far longer or shorter on average than in training (gibberish, a URL, a run of
    /// one letter).
    UnusualWords,
    /// Runs of words repeated more than in any training response (a paragraph pasted again).
    Repetition,
    /// Few of the training responses' most common words: another language, or no sentences.
    OtherLanguage,
    /// Words in no more order than a list: gibberish, a word list, a shuffled paste.
    WordSalad,
    /// The same training words stranded again and again where no training response put them.
    KeywordStuffing,
    /// Far from every training response in meaning: another topic or another prompt's answer.
    OffTopic,
    /// A raw score far outside those the model gave its training responses.
    UnusualScore,
}

impl Advisory {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Advisory::TooShort => "too_short",
            Advisory::TooLong => "too_long",
            Advisory::UnusualWords => "unusual_words",
            Advisory::Repetition => "repetition",
            Advisory::OtherLanguage => "other_language",
            Advisory::WordSalad => "word_salad",
            Advisory::KeywordStuffing => "keyword_stuffing",
            Advisory::OffTopic => "off_topic",
            Advisory::UnusualScore => "unusual_score",
        }
    }

    /// A sentence for a person reading the flag.
    pub fn explanation(self) -> &'static str {
        match self {
            Advisory::TooShort => "shorter than every response the model was trained on",
            Advisory::TooLong => "longer than every response the model was trained on",
            Advisory::UnusualWords => "its words are unlike the training responses' in length",
            Advisory::Repetition => "it repeats itself more than any training response did",
            Advisory::OtherLanguage => {
                "it uses few of the training responses' common words: another language?"
            }
            Advisory::WordSalad => "its words follow one another no more than a list's would",
            Advisory::KeywordStuffing => {
                "the same words stand again and again where no training response put them: \
                 keywords stuffed in?"
            }
            Advisory::OffTopic => "it is far in meaning from every training response",
            Advisory::UnusualScore => "its raw score is far outside the training responses'",
        }
    }

    /// Advisories as one table cell: names separated by `;`, empty when there are none.
    pub fn cell(advisories: &[Advisory]) -> String {
        let names: Vec<&str> = advisories.iter().map(|a| a.name()).collect();
        names.join(";")
    }
}

/// A response is flagged only when a feature lies beyond the training range by more than this
/// share of the range's width, so that a genuine response just past the longest training one is
/// clamped but not flagged.
const FLAG_MARGIN: f32 = 0.1;

/// The lowest and highest value of each surface feature over the training responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRange {
    /// Lowest value of each feature, in [`FEATURE_NAMES`] order.
    pub min: Vec<f32>,
    /// Highest value of each feature.
    pub max: Vec<f32>,
}

impl FeatureRange {
    /// The range of `features` (one array per training response; at least one).
    pub fn of<'a>(features: impl IntoIterator<Item = &'a [f32; FEATURE_COUNT]>) -> Self {
        let mut min = vec![f32::INFINITY; FEATURE_COUNT];
        let mut max = vec![f32::NEG_INFINITY; FEATURE_COUNT];
        for f in features {
            for j in 0..FEATURE_COUNT {
                min[j] = min[j].min(f[j]);
                max[j] = max[j].max(f[j]);
            }
        }
        FeatureRange { min, max }
    }

    /// Checks a range read from a bundle.
    pub fn validate(&self, source_name: &str) -> Result<()> {
        let sized = self.min.len() == FEATURE_COUNT && self.max.len() == FEATURE_COUNT;
        let ordered = sized
            && self
                .min
                .iter()
                .zip(&self.max)
                .all(|(lo, hi)| lo.is_finite() && hi.is_finite() && lo <= hi);
        if ordered {
            Ok(())
        } else {
            Err(Error::invalid(
                source_name,
                format!(
                    "its feature range needs {FEATURE_COUNT} finite minimums, each at most its maximum"
                ),
            ))
        }
    }

    /// `features` clamped into the range.
    pub fn clamp(&self, features: &[f32; FEATURE_COUNT]) -> [f32; FEATURE_COUNT] {
        std::array::from_fn(|j| features[j].clamp(self.min[j], self.max[j]))
    }

    /// What a response with `features` should be flagged for, in order, without repeats.
    pub fn advisories(&self, features: &[f32; FEATURE_COUNT]) -> Vec<Advisory> {
        let mut found = Vec::new();
        for (j, name) in FEATURE_NAMES.iter().enumerate() {
            let margin = FLAG_MARGIN * (self.max[j] - self.min[j]);
            let below = features[j] < self.min[j] - margin;
            let above = features[j] > self.max[j] + margin;
            let advisory = match (*name, below, above) {
                (_, false, false) => continue,
                ("mean_word_length", ..) => Advisory::UnusualWords,
                (_, true, _) => Advisory::TooShort,
                (_, _, true) => Advisory::TooLong,
            };
            found.push(advisory);
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::text_features;

    fn training_range() -> FeatureRange {
        let texts = [
            "The cat sat on the mat. It was warm there, and the cat was happy.",
            "Dogs bark at night. Neighbours complain. The owner apologises every morning, again.",
            "A short answer with a few words.",
        ];
        let features: Vec<_> = texts
            .iter()
            .map(|t| text_features(t, t.split_whitespace().count() + 2))
            .collect();
        FeatureRange::of(&features)
    }

    #[test]
    fn a_training_like_response_is_not_flagged_and_not_changed() {
        let range = training_range();
        let f = text_features("The dog sat on the warm mat. It was happy there.", 12);
        assert!(range.advisories(&f).is_empty());
        assert_eq!(range.clamp(&f), f);
    }

    #[test]
    fn a_run_of_one_letter_is_too_short_with_unusual_words_and_clamped() {
        let range = training_range();
        let text = "a".repeat(200);
        let f = text_features(&text, 12);
        assert_eq!(
            range.advisories(&f),
            vec![Advisory::TooShort, Advisory::UnusualWords]
        );
        let clamped = range.clamp(&f);
        assert_eq!(clamped[2], range.max[2], "mean word length clamped");
    }

    #[test]
    fn a_very_long_response_is_too_long_and_its_length_clamped() {
        let range = training_range();
        let text: String = (0..20_000).map(|i| format!("Word{i} sat here. ")).collect();
        let f = text_features(&text, 100_000);
        assert_eq!(range.advisories(&f), vec![Advisory::TooLong]);
        let clamped = range.clamp(&f);
        assert_eq!(clamped[0], range.max[0]);
        assert_eq!(clamped[4], range.max[4]);
    }

    #[test]
    fn a_range_from_a_hand_edited_bundle_is_checked() {
        let mut range = training_range();
        assert!(range.validate("b").is_ok());
        range.min[1] = range.max[1] + 1.0;
        assert!(range.validate("b").is_err());
        range.min.pop();
        assert!(range.validate("b").is_err());
    }

    #[test]
    fn advisories_make_one_cell() {
        assert_eq!(Advisory::cell(&[]), "");
        assert_eq!(
            Advisory::cell(&[Advisory::TooShort, Advisory::UnusualWords]),
            "too_short;unusual_words"
        );
    }
}
