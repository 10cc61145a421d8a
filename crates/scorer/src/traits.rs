//! What a bundle scores: one or more traits, each on its own scale, all read by one head on one
//! shared encoder. The first trait is the primary score (the one gates and fairness judge);
//! analytic traits such as organisation or conventions ride along.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metrics::{agreement, pearson, rmse, Agreement, ScoreRange, Thresholds};

/// How a trait's values are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Whole-number levels, and the cut points from raw score to level.
    Levels(Thresholds),
    /// A real number (e.g. CommonLit's standardised content score). The head learns it on the
    /// training values' span mapped to 0-1; predictions are not clipped to it.
    Continuous {
        /// Lowest training value.
        min: f64,
        /// Highest training value.
        max: f64,
    },
}

impl Scale {
    /// Integer levels over `range`, cut by plain rounding until thresholds are fitted.
    pub fn levels(range: ScoreRange) -> Self {
        Scale::Levels(Thresholds::rounding(range))
    }

    /// The span of `values`; a constant trait gets a span of 1 so that it still normalises.
    pub fn continuous(values: impl IntoIterator<Item = f64>) -> Self {
        let (min, max) = values
            .into_iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        if !min.is_finite() {
            return Scale::Continuous { min: 0.0, max: 1.0 };
        }
        let max = if max > min { max } else { min + 1.0 };
        Scale::Continuous { min, max }
    }

    fn span(&self) -> (f64, f64) {
        match self {
            Scale::Levels(t) => (t.range.min as f64, t.range.max as f64),
            Scale::Continuous { min, max } => (*min, *max),
        }
    }

    /// `value` on the scale the head learns: 0 at the bottom of the span, 1 at the top.
    pub fn normalise(&self, value: f64) -> f64 {
        let (lo, hi) = self.span();
        (value - lo) / (hi - lo)
    }

    /// A value on the head's 0-1 scale back on the trait's own scale (a raw score).
    pub fn denormalise(&self, normalised: f64) -> f64 {
        let (lo, hi) = self.span();
        lo + normalised * (hi - lo)
    }

    /// The level of `raw` on a levelled trait; `None` on a continuous one.
    pub fn level(&self, raw: f64) -> Option<i64> {
        match self {
            Scale::Levels(thresholds) => Some(thresholds.level(raw)),
            Scale::Continuous { .. } => None,
        }
    }

    /// The thresholds of a levelled trait.
    pub fn thresholds(&self) -> Option<&Thresholds> {
        match self {
            Scale::Levels(thresholds) => Some(thresholds),
            Scale::Continuous { .. } => None,
        }
    }
}

impl std::fmt::Display for Scale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scale::Levels(t) => write!(f, "levels {}", t.range),
            Scale::Continuous { min, max } => {
                write!(f, "continuous (trained on {min:.3} to {max:.3})")
            }
        }
    }
}

/// One target a bundle scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitConfig {
    /// The column it was trained on, e.g. `domain1_score` or `wording`.
    pub name: String,
    /// How its values are read.
    pub scale: Scale,
}

impl TraitConfig {
    /// Checks a trait read from a bundle: a range from low to high, one finite cut point
    /// between each pair of levels in ascending order, or a finite continuous span. A
    /// hand-edited bundle that breaks these would give scores outside its range.
    pub fn validate(&self, source_name: &str) -> Result<()> {
        let fault = match &self.scale {
            Scale::Levels(Thresholds { range, cuts }) => {
                if range.min >= range.max {
                    Some(format!(
                        "its range {}:{} does not rise",
                        range.min, range.max
                    ))
                } else if cuts.len() as i64 != range.max - range.min {
                    Some(format!(
                        "{} cut points for the {} levels of {range} (it needs {})",
                        cuts.len(),
                        range.levels(),
                        range.max - range.min
                    ))
                } else if !cuts.iter().all(|c| c.is_finite())
                    || cuts.windows(2).any(|w| w[0] > w[1])
                {
                    Some("its cut points are not finite and ascending".to_string())
                } else {
                    None
                }
            }
            Scale::Continuous { min, max } => (!(min.is_finite() && max.is_finite() && min < max))
                .then(|| format!("its span {min} to {max} is not a finite rising interval")),
        };
        match fault {
            Some(fault) => Err(Error::invalid(
                source_name,
                format!("trait \"{}\": {fault}", self.name),
            )),
            None => Ok(()),
        }
    }

    /// A trait scored on the levels of `range`.
    pub fn levels(name: &str, range: ScoreRange) -> Self {
        TraitConfig {
            name: name.to_string(),
            scale: Scale::levels(range),
        }
    }
}

/// A response's value on one trait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitScore {
    /// The trait's name.
    pub name: String,
    /// The head's output on the trait's scale.
    pub raw: f64,
    /// The level, on a levelled trait.
    pub level: Option<i64>,
}

/// How well a trait's raw scores match human values on one set of responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitResult {
    /// The trait.
    pub name: String,
    /// Responses.
    pub n: usize,
    /// On a levelled trait, agreement of the levels (the range widened to any human value
    /// outside the trained one).
    pub levels: Option<Agreement>,
    /// Root mean squared difference of the raw score from the human value, on the trait's
    /// scale.
    pub rmse: f64,
    /// Pearson r of the raw score with the human value.
    pub pearson: Option<f64>,
}

/// Judges trait `config`'s raw scores `raw` against the human values `human`.
pub fn trait_result(config: &TraitConfig, human: &[f64], raw: &[f64]) -> TraitResult {
    let levels = config.scale.thresholds().map(|thresholds| {
        let human: Vec<i64> = human.iter().map(|&h| h.round() as i64).collect();
        let machine: Vec<i64> = raw.iter().map(|&r| thresholds.level(r)).collect();
        let range = ScoreRange {
            min: human.iter().copied().fold(thresholds.range.min, i64::min),
            max: human.iter().copied().fold(thresholds.range.max, i64::max),
        };
        agreement(&human, &machine, range)
    });
    TraitResult {
        name: config.name.clone(),
        n: human.len(),
        levels,
        rmse: rmse(human, raw),
        pearson: pearson(human, raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_edited_trait_is_refused_with_what_is_wrong() {
        let range = ScoreRange { min: 1, max: 6 };
        let with = |range: ScoreRange, cuts: Vec<f64>| TraitConfig {
            name: "score".into(),
            scale: Scale::Levels(Thresholds { range, cuts }),
        };
        let fault = |t: TraitConfig| t.validate("m.cyborg").unwrap_err().to_string();
        assert!(with(range, vec![1.5, 2.5, 3.5, 4.5, 5.5])
            .validate("m")
            .is_ok());
        assert!(
            fault(with(range, vec![5.5, 4.5, 3.5, 2.5, 1.5])).contains("not finite and ascending")
        );
        assert!(fault(with(range, vec![1.5, 2.5])).contains("2 cut points for the 6 levels"));
        let backwards = ScoreRange { min: 6, max: 1 };
        assert!(fault(with(backwards, vec![])).contains("range 6:1 does not rise"));
        assert!(fault(with(range, vec![1.5, f64::NAN, 3.5, 4.5, 5.5])).contains("m.cyborg"));
        let flat = TraitConfig {
            name: "wording".into(),
            scale: Scale::Continuous { min: 2.0, max: 2.0 },
        };
        assert!(fault(flat).contains("trait \"wording\": its span 2 to 2"));
    }

    #[test]
    fn both_scales_round_trip_and_only_levels_have_levels() {
        let levels = Scale::levels(ScoreRange { min: 1, max: 6 });
        assert_eq!(levels.normalise(1.0), 0.0);
        assert_eq!(levels.normalise(6.0), 1.0);
        assert_eq!(levels.denormalise(0.5), 3.5);
        assert_eq!(levels.level(3.4), Some(3));
        let continuous = Scale::continuous([-1.5, 0.5, 2.5]);
        assert_eq!(continuous.normalise(0.5), 0.5);
        assert_eq!(continuous.denormalise(1.25), 3.5);
        assert_eq!(continuous.level(0.3), None);
        assert_eq!(
            Scale::continuous([2.0, 2.0]),
            Scale::Continuous { min: 2.0, max: 3.0 }
        );
    }

    #[test]
    fn a_trait_is_judged_on_its_own_scale() {
        let continuous = TraitConfig {
            name: "wording".into(),
            scale: Scale::continuous([-1.0, 1.0]),
        };
        // Errors of 0, 1 and -1 on three responses: RMSE sqrt(2/3); no levels.
        let result = trait_result(&continuous, &[0.0, 1.0, 2.0], &[0.0, 2.0, 1.0]);
        assert!((result.rmse - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(result.levels, None);
        assert!((result.pearson.unwrap() - 0.5).abs() < 1e-12);
        // A human level of 4 outside the trained 1-3 widens the range instead of failing.
        let levelled = TraitConfig::levels("ideas", ScoreRange { min: 1, max: 3 });
        let result = trait_result(&levelled, &[1.0, 2.0, 4.0], &[1.2, 2.1, 2.9]);
        let levels = result.levels.unwrap();
        assert_eq!(levels.range, ScoreRange { min: 1, max: 4 });
        assert_eq!(levels.exact, 2.0 / 3.0);
    }
}
