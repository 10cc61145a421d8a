//! The model card every bundle carries: what the model was trained on, how, and how well it
//! did.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::Agreement;

/// A bundle's model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// When the model was trained, RFC 3339 in UTC.
    pub created: String,
    /// The `cyborg` version that trained it.
    pub cyborg_version: String,
    /// The encoder it started from.
    pub base_model: BaseModelInfo,
    /// The data it learnt from.
    pub data: DataSummary,
    /// How it was trained.
    pub training: TrainingSummary,
    /// Agreement with human scores on the development data, with the fitted thresholds and
    /// with plain rounding.
    pub dev_metrics: DevMetrics,
}

/// The encoder a student started from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseModelInfo {
    /// Folder name, e.g. `all-MiniLM-L6-v2`.
    pub name: String,
    /// SHA-256 of its weights file, hex.
    pub weights_sha256: String,
}

/// The human-scored data a student was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// The data file's name.
    pub file: String,
    /// The text column.
    pub text_column: String,
    /// The score column.
    pub score_column: String,
    /// A second rater's score column, when each training response learnt the mean of its two
    /// scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_score_column: Option<String>,
    /// Row filters applied (`COL=VALUE`).
    #[serde(default)]
    pub filters: Vec<String>,
    /// Human-scored responses the student was trained on.
    pub train_rows: usize,
    /// Responses a teacher scored for the student, beside the human-scored ones.
    #[serde(default)]
    pub teacher_rows: usize,
    /// The teacher that scored them, and its settings.
    #[serde(default)]
    pub teacher: Option<String>,
    /// Responses used for early stopping and threshold fitting.
    pub dev_rows: usize,
    /// Share of the available training rows kept as human labels.
    pub human_fraction: f64,
    /// Training responses per score level.
    pub train_score_counts: BTreeMap<i64, usize>,
    /// Median length of the training responses, in words.
    pub median_words: f64,
}

/// The settings a student was trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// `head`, `top:K` or `full`.
    pub tune: String,
    /// Epochs run before early stopping ended training.
    pub epochs_run: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Peak learning rate of the encoder layers.
    pub learning_rate: f64,
    /// Peak learning rate of the head.
    pub head_learning_rate: f64,
    /// Responses per optimisation step.
    pub batch_size: usize,
    /// Random seed.
    pub seed: u64,
    /// How the cut points from raw score to level were fitted: `qwk` (development QWK at
    /// its highest, the only way before format 3's `shares`), `shares` (the human levels'
    /// shares) or `pooled` (QWK at its highest over the development responses and, for a
    /// probe, the training responses' held-out scores).
    #[serde(default = "qwk_cut_points")]
    pub cut_points: String,
    /// Wall-clock seconds, encoding included.
    pub wall_seconds: f64,
}

fn qwk_cut_points() -> String {
    "qwk".into()
}

/// Development-set agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevMetrics {
    /// With the thresholds stored in the bundle (fitted on these same responses, so
    /// optimistic).
    pub fitted_thresholds: Agreement,
    /// With plain rounding of the raw score.
    pub rounding: Agreement,
    /// The operational gates measurable on the development data with the fitted thresholds
    /// (QWK and overall SMD; no second rater or groups there).
    #[serde(default)]
    pub gates: Vec<crate::fairness::Gate>,
    /// How well each further trait (after the primary score) did on the development data.
    #[serde(default)]
    pub traits: Vec<TraitQuality>,
}

/// A further trait's development result: QWK with its fitted thresholds on a levelled trait,
/// Pearson r on a continuous one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitQuality {
    /// The trait.
    pub name: String,
    /// `QWK` or `Pearson r`.
    pub metric: String,
    /// Its value; none when undefined (e.g. a constant prediction).
    pub value: Option<f64>,
}

impl TraitQuality {
    /// The result `value` for trait `config`.
    pub fn new(config: &crate::traits::TraitConfig, value: Option<f64>) -> Self {
        let metric = match config.scale {
            crate::traits::Scale::Levels(_) => "QWK",
            crate::traits::Scale::Continuous { .. } => "Pearson r",
        };
        TraitQuality {
            name: config.name.clone(),
            metric: metric.into(),
            value,
        }
    }
}

impl std::fmt::Display for TraitQuality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value {
            Some(v) => write!(f, "{}: dev {} {v:.3}", self.name, self.metric),
            None => write!(f, "{}: dev {} undefined", self.name, self.metric),
        }
    }
}
