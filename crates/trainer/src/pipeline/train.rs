//! `train`: a student, and its bundle and card, from human scores — with a teacher's labels for
//! a pool, or from a provenance file a teacher or an LLM wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cyborg_scorer::base::BaseModel;
use cyborg_scorer::card::{DataSummary, DevMetrics, ModelCard, TrainingSummary, TraitQuality};
use cyborg_scorer::fairness::{self, gates};
use cyborg_scorer::metrics::{Agreement, ScoreRange};
use cyborg_scorer::Precision;
use serde::Serialize;

use crate::config::{DataConfig, SplitConfig, StudentConfig, TeacherConfig};
use crate::data::{read_table, DataError, Row, Table};
use crate::error::{input, Result};
use crate::format::now_rfc3339;
use crate::output::write_atomically;
use crate::pipeline::check::{median, word_count};
use crate::progress::Progress;
use crate::split::Split;
use crate::student::{fit_student, load_base, trait_configs, FitOutcome, TrainingRow};
use crate::teacher::{LabelledPool, Source};
use crate::train::EpochLog;

/// What to train.
#[derive(Debug, Clone, Default)]
pub struct TrainRequest {
    /// Human-scored responses (with `from_labels`, a `teach label`/`teach generate` output).
    pub file: PathBuf,
    /// What to read (a score column is required).
    pub data: DataConfig,
    /// Further trait columns scored beside the primary score (human rows only).
    pub traits: Vec<String>,
    /// A second rater's score column: each human training row learns the mean of its two
    /// scores (the first alone where the second is blank); development rows, cut points and
    /// every measure keep the first.
    pub second_score: Option<String>,
    /// Which rows train, which are held out, which keep their scores.
    pub split: SplitConfig,
    /// Unscored responses for the teacher to label.
    pub pool: Option<PathBuf>,
    /// The teacher of the pool.
    pub teacher: TeacherConfig,
    /// Where to write every training row with its provenance, as soon as the teacher is done.
    pub labels_out: Option<PathBuf>,
    /// `file` is a provenance file: its teacher and synthetic rows train with soft targets.
    pub from_labels: bool,
    /// How the student is trained.
    pub student: StudentConfig,
    /// Precision of the weights in the bundle.
    pub weights: Precision,
}

/// A trained student: its bundle, its card, and what training saw and measured.
pub struct TrainOutcome {
    /// The bundle's bytes (weights, tokenizer, configuration, thresholds, card).
    pub bundle: Vec<u8>,
    /// The model card inside the bundle.
    pub card: ModelCard,
    /// What training measured.
    pub summary: TrainSummary,
    /// The teacher's one-line account (development QWK, labels, cost), when there was one.
    pub teacher_line: Option<String>,
    /// The ids of the development rows, held out from training (a report judges the student
    /// on them).
    pub dev_ids: Vec<String>,
}

/// What training measured, as `train --json` prints it.
#[derive(Debug, Serialize)]
pub struct TrainSummary {
    /// The score range.
    pub range: ScoreRange,
    /// Human-scored training rows.
    pub train_rows: usize,
    /// Training rows a teacher labelled or an LLM wrote.
    pub teacher_rows: usize,
    /// Development rows.
    pub dev_rows: usize,
    /// Development agreement with the fitted thresholds.
    pub dev: Agreement,
    /// Development agreement with plain rounding.
    pub dev_rounding: Agreement,
    /// Each further trait's development result.
    pub dev_traits: Vec<TraitQuality>,
    /// The epoch kept (0: the head as it started, the linear probe for a linear head).
    pub best_epoch: usize,
    /// Every epoch run.
    pub history: Vec<EpochLog>,
    /// The optimisation settings.
    pub settings: crate::train::TrainSettings,
    /// Seconds spent encoding through the frozen layers.
    pub encode_seconds: f64,
    /// Seconds of the whole fit.
    pub seconds: f64,
    /// The teacher's development results, labels and cost.
    pub teacher: Option<serde_json::Value>,
}

/// Trains a student as `request` says: reads and splits the data, lets the teacher label the
/// pool (writing `labels_out` at once, so the labels survive a later failure), fits the
/// student, and returns its bundle. Writes nothing else; cancelled, it returns
/// [`Error::Cancelled`](crate::Error::Cancelled).
pub fn train_bundle(request: &TrainRequest, progress: &Progress) -> Result<TrainOutcome> {
    request.student.validate()?;
    request.teacher.validate()?;
    if request.labels_out.is_some() && request.teacher.kind.is_none() && request.pool.is_none() {
        return Err(
            input("--labels-out needs a teacher: give --pool FILE and/or --teacher local").into(),
        );
    }
    let (table, from_file) = read_training_data(request, progress)?;
    let split = Split::new(&table, &request.split, request.student.seed)?;
    if let Some(column) = &request.second_score {
        table.second_scores(SECOND_SCORE_AT, column, split.range)?;
    }
    let pool_table = read_pool(request.pool.as_deref(), &request.data)?;
    let with_teacher = request.teacher.kind.is_some() || pool_table.is_some();
    let pool = split.pool(pool_table.as_ref());
    progress.note(&format!(
        "{}: {} human-scored training rows, {} development rows, scores {}{}",
        request.file.display(),
        split.human.len(),
        split.dev.len(),
        split.range,
        if with_teacher {
            format!("; the teacher labels {} more", pool.len())
        } else {
            String::new()
        }
    ));
    let base = load_base(&request.student, progress)?;
    let labelled = match with_teacher {
        true => Some(label_pool(request, &base, &split, &pool, progress)?),
        false => None,
    };
    let (mut training_rows, teacher) = student_rows(
        &split,
        labelled.as_ref(),
        from_file.as_ref(),
        request.teacher.weight,
    );
    if request.second_score.is_some() {
        average_two_raters(&mut training_rows[..split.human.len()]);
    }
    let score_column = request.data.score.clone().unwrap_or_default();
    let traits = trait_configs(
        &score_column,
        split.range,
        &request.traits,
        &split.human,
        &split.dev,
    );
    let outcome = fit_student(
        &base,
        &training_rows,
        &TrainingRow::human_with_traits(&split.dev),
        &traits,
        &request.student,
        progress,
    )?;
    let teacher_rows = training_rows.len() - split.human.len();
    let card = model_card(request, &split, teacher_rows, teacher, &outcome);
    let bundle = outcome
        .trained
        .scorer
        .to_bundle(&card, request.weights)
        .map_err(anyhow::Error::from)?;
    Ok(TrainOutcome {
        bundle,
        summary: TrainSummary::new(&split, teacher_rows, &card, outcome, labelled.as_ref()),
        card,
        teacher_line: labelled.as_ref().map(LabelledPool::summary_line),
        dev_ids: split.dev.iter().map(|r| r.id.clone()).collect(),
    })
}

/// The local or LLM teacher fitted on the split's human rows and its labels of `pool`,
/// written to `--labels-out` at once so that they survive a later failure.
fn label_pool(
    request: &TrainRequest,
    base: &BaseModel,
    split: &Split,
    pool: &[&Row],
    progress: &Progress,
) -> anyhow::Result<LabelledPool> {
    let labelled = LabelledPool::fit_and_label(
        Some(base),
        &split.human,
        &split.dev,
        pool,
        split.range,
        &request.teacher,
        &request.student,
        progress,
    )?;
    if let Some(path) = &request.labels_out {
        write_atomically(path, &labelled.to_csv(&split.human)?)?;
    }
    Ok(labelled)
}

/// Where the second rater's score is among the training table's group columns (it is the
/// only one).
const SECOND_SCORE_AT: usize = 0;

/// Gives each of the human rows `rows` the mean of its two raters' scores as its target (a
/// row without a second score keeps the first).
fn average_two_raters(rows: &mut [TrainingRow]) {
    for row in rows {
        if let Some(second) = row.row.group_score(SECOND_SCORE_AT) {
            row.target = (row.target + second as f64) / 2.0;
        }
    }
}

/// The student's training rows (the human ones, then the teacher's or the provenance
/// file's labelled ones at `weight`) and a description of who labelled them.
fn student_rows<'a>(
    split: &'a Split,
    labelled: Option<&'a LabelledPool>,
    from_file: Option<&'a LabelsFile>,
    weight: f64,
) -> (Vec<TrainingRow<'a>>, Option<String>) {
    let mut rows = match labelled {
        Some(l) => l.training_rows(&split.human, weight),
        None => TrainingRow::human_with_traits(&split.human),
    };
    if let Some(file) = from_file {
        rows.extend(TrainingRow::labelled(
            file.labelled.iter().map(|(row, target)| (row, *target)),
            weight,
        ));
    }
    let teacher = match (labelled, from_file) {
        (Some(l), _) => Some(l.teacher.describe()),
        (None, Some(file)) if !file.teachers.is_empty() => Some(file.teachers.join("; ")),
        _ => None,
    };
    (rows, teacher)
}

impl TrainSummary {
    fn new(
        split: &Split,
        teacher_rows: usize,
        card: &ModelCard,
        outcome: FitOutcome,
        labelled: Option<&LabelledPool>,
    ) -> Self {
        let trained = outcome.trained;
        TrainSummary {
            range: split.range,
            train_rows: split.human.len(),
            teacher_rows,
            dev_rows: split.dev.len(),
            dev: card.dev_metrics.fitted_thresholds.clone(),
            dev_rounding: card.dev_metrics.rounding.clone(),
            dev_traits: card.dev_metrics.traits.clone(),
            best_epoch: trained.best_epoch,
            history: trained.history,
            settings: outcome.settings,
            encode_seconds: trained.encode_seconds,
            seconds: outcome.seconds,
            teacher: labelled.map(LabelledPool::summary),
        }
    }
}

/// The human-scored table to split and, with `from_labels`, the provenance file's other rows.
fn read_training_data(
    request: &TrainRequest,
    progress: &Progress,
) -> anyhow::Result<(Table, Option<LabelsFile>)> {
    if !request.from_labels {
        let mut spec = request.data.read_spec(true, "train")?;
        spec.range = request.split.range;
        spec.traits = request.traits.clone();
        spec.groups.extend(request.second_score.clone());
        return Ok((read_table(&request.file, &spec)?, None));
    }
    if request.second_score.is_some() {
        return Err(input(
            "--second-score reads a file of human scores; a --from-labels file has one score a row",
        ));
    }
    let labels = read_labels_file(&request.file, &request.data, request.split.range)?;
    progress.note(&format!(
        "{}: {} human rows, {} labelled by a teacher or written by an LLM, {} failed or \
         dropped (skipped)",
        request.file.display(),
        labels.human.rows.len(),
        labels.labelled.len(),
        labels.skipped
    ));
    Ok((labels.human.clone(), Some(labels)))
}

/// The card a student's bundle carries: its data, settings and development results.
fn model_card(
    request: &TrainRequest,
    split: &Split,
    teacher_rows: usize,
    teacher: Option<String>,
    outcome: &FitOutcome,
) -> ModelCard {
    let train_rows = &split.human;
    let mut train_counts = BTreeMap::new();
    for row in train_rows {
        *train_counts.entry(row.score.expect("scores")).or_insert(0) += 1;
    }
    let mut words: Vec<usize> = train_rows.iter().map(|r| word_count(&r.text)).collect();
    let trained = &outcome.trained;
    let on_levels = "the primary score is on levels";
    let dev_fitted = trained.dev_fitted.clone().expect(on_levels);
    let dev_rounding = trained.dev_rounding.clone().expect(on_levels);
    ModelCard {
        created: now_rfc3339(),
        cyborg_version: env!("CARGO_PKG_VERSION").to_string(),
        base_model: outcome.base.clone(),
        data: DataSummary {
            file: request
                .file
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            text_column: request.data.text.clone(),
            score_column: request.data.score.clone().unwrap_or_default(),
            second_score_column: request.second_score.clone(),
            filters: request.data.filters.iter().map(|f| f.to_string()).collect(),
            train_rows: train_rows.len(),
            dev_rows: split.dev.len(),
            human_fraction: request.split.human_fraction,
            teacher_rows,
            teacher,
            train_score_counts: train_counts,
            median_words: median(&mut words),
        },
        training: TrainingSummary {
            tune: outcome.settings.tune.to_string(),
            epochs_run: trained.history.len(),
            best_epoch: trained.best_epoch,
            learning_rate: outcome.settings.learning_rate,
            head_learning_rate: outcome.settings.head_learning_rate,
            batch_size: outcome.settings.batch_size,
            seed: outcome.settings.seed,
            cut_points: outcome.settings.cut_points.to_string(),
            wall_seconds: outcome.seconds,
        },
        dev_metrics: DevMetrics {
            gates: gates(dev_fitted.qwk, None, fairness::smd_of(&dev_fitted), &[]),
            traits: trained
                .scorer
                .traits
                .iter()
                .zip(&trained.dev_quality)
                .skip(1)
                .map(|(config, &value)| TraitQuality::new(config, value))
                .collect(),
            fitted_thresholds: dev_fitted,
            rounding: dev_rounding,
        },
    }
}

/// A provenance file read for training.
pub struct LabelsFile {
    /// Its human-scored rows, as a table of their own.
    human: Table,
    /// Rows a teacher or an LLM labelled, with their soft targets.
    labelled: Vec<(Row, f64)>,
    /// Failed and dropped rows.
    skipped: usize,
    /// The teachers and generators named in the file.
    teachers: Vec<String>,
}

/// Reads a `teach label` / `teach generate` output, checking every row's source and scores.
pub fn read_labels_file(
    path: &Path,
    data: &DataConfig,
    range: Option<ScoreRange>,
) -> anyhow::Result<LabelsFile> {
    let score_column = data.score.clone().expect("checked by read_spec");
    let mut spec = data.read_spec(true, "train --from-labels")?;
    spec.score = None;
    spec.groups = vec![
        score_column.clone(),
        "expected_score".into(),
        "source".into(),
        "teacher".into(),
    ];
    let mut human = read_table(path, &spec)?;
    let rows = std::mem::take(&mut human.rows);
    let mut labels = LabelsFile {
        human,
        labelled: Vec::new(),
        skipped: 0,
        teachers: Vec::new(),
    };
    for row in rows {
        let line = row.line;
        labels
            .add(row, &score_column, range)
            .map_err(|message| DataError {
                path: path.to_path_buf(),
                line: Some(line),
                column: None,
                message,
            })?;
    }
    if labels.human.rows.is_empty() {
        return Err(input(format!(
            "{}: no row has source human; a student needs human scores to hold out",
            path.display()
        )));
    }
    Ok(labels)
}

impl LabelsFile {
    /// Files `row` by its source, checking the score that source needs; an error says what is
    /// wrong with the row.
    fn add(
        &mut self,
        mut row: Row,
        score_column: &str,
        range: Option<ScoreRange>,
    ) -> Result<(), String> {
        let groups = std::mem::take(&mut row.groups);
        let [score, expected, source, teacher] = &groups[..] else {
            unreachable!("four columns were asked for")
        };
        match Source::parse(source) {
            Some(Source::Human) => {
                let score = score
                    .parse::<i64>()
                    .ok()
                    .filter(|s| range.is_none_or(|r| (r.min..=r.max).contains(s)))
                    .ok_or_else(|| {
                        format!("column \"{score_column}\": \"{score}\" is not a score in range")
                    })?;
                self.human.rows.push(Row {
                    score: Some(score),
                    ..row
                });
            }
            Some(Source::Teacher | Source::Synthetic) => {
                let target = expected
                    .parse::<f64>()
                    .ok()
                    .filter(|e| e.is_finite())
                    .ok_or_else(|| {
                        format!("column \"expected_score\": \"{expected}\" is not a number")
                    })?;
                if !self.teachers.contains(teacher) {
                    self.teachers.push(teacher.clone());
                }
                self.labelled.push((row, target));
            }
            Some(Source::Failed | Source::Dropped) => self.skipped += 1,
            None => {
                return Err(format!(
                    "column \"source\": \"{source}\" is not human, teacher, synthetic, failed \
                     or dropped"
                ))
            }
        }
        Ok(())
    }
}

/// Reads the pool of unscored responses at `path`, if any, as `data` says for the scored
/// file, without scores.
pub(crate) fn read_pool(path: Option<&Path>, data: &DataConfig) -> anyhow::Result<Option<Table>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let mut spec = data.read_spec(false, "the pool")?;
    spec.score = None;
    Ok(Some(read_table(path, &spec)?))
}
