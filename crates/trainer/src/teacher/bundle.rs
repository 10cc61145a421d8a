//! A bundle as the teacher: a student trained before, typically on a larger encoder than the
//! one that ships, scores the pool, and a small student learns from its expected scores
//! (knowledge distillation through labels). Training the large one once lets it teach any
//! number of small ones, and only the small one is downloaded by a browser.

use std::path::Path;

use anyhow::{Context, Result};
use cyborg_scorer::metrics::ScoreRange;
use cyborg_scorer::model::Scorer;
use cyborg_scorer::Products;

use super::TeacherLabel;
use crate::data::Row;
use crate::progress::Progress;
use crate::student::{load_bundle, score_rows};

/// A bundle loaded to label a pool on the data's score range.
pub struct BundleTeacher {
    scorer: Scorer,
    description: String,
}

impl BundleTeacher {
    /// Loads the bundle at `path`; it must score on `range`, the range the student learns.
    pub fn load(path: &Path, range: ScoreRange, progress: &Progress) -> Result<Self> {
        progress.note(&format!("loading the teacher bundle {}", path.display()));
        let scorer = load_bundle(path, Products::Restored)?;
        let scores_on = scorer
            .range()
            .with_context(|| format!("the teacher bundle {} gives no levels", path.display()))?;
        if scores_on != range {
            crate::bail_input!(
                "the teacher bundle {} scores {scores_on}, the data {range}: a teacher must \
                 score on the student's range (--range MIN:MAX sets the data's)",
                path.display()
            );
        }
        let base = scorer.card.as_ref().map_or_else(
            || "no card".to_string(),
            |card| card.base_model.name.clone(),
        );
        let name = path.file_name().unwrap_or(path.as_os_str());
        let description = format!("bundle {} ({base})", name.to_string_lossy());
        Ok(BundleTeacher {
            scorer,
            description,
        })
    }

    /// The bundle's file name and the encoder it was trained on, for provenance.
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// Labels `rows` with the bundle's raw score (clamped to its range, as the local teacher
    /// clamps its blend) and its level. A single bundle has no members to agree, so no
    /// confidence.
    pub fn label(&self, rows: &[&Row], progress: &Progress) -> Result<Vec<TeacherLabel>> {
        let range = self.scorer.range()?;
        Ok(score_rows(&self.scorer, rows, progress)?
            .into_iter()
            .map(|score| TeacherLabel {
                expected: score.raw.clamp(range.min as f64, range.max as f64),
                level: score.score,
                confidence: None,
            })
            .collect())
    }
}
