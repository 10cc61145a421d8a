//! Evaluating a model against human scores: agreement and its uncertainty, calibrations,
//! subgroup differences and the operational gates, a second rater, a second model, a teacher.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cyborg_scorer::calibration;
use cyborg_scorer::fairness::{
    self, gates, group_label, group_stats, paired_qwk_difference, qwk_interval, Gate, GroupStats,
    Interval, SMALL_GROUP,
};
use cyborg_scorer::metrics::{agreement, mean, pearson, rmse, Agreement, ScoreRange};
use cyborg_scorer::model::Scorer;
use cyborg_scorer::traits::{trait_result, TraitConfig, TraitResult};
use cyborg_scorer::Products;
use serde::Serialize;

use crate::config::DataConfig;
use crate::data::{read_table, ReadSpec, Row, Table};
use crate::error::input;
use crate::experiment::LearningCurve;
use crate::progress::Progress;
use crate::student::{human_scores, load_bundle, score_rows};
use crate::teacher::Source;

/// `cyborg eval`'s result: agreement, its uncertainty, and fairness.
#[derive(Serialize)]
pub struct Evaluation {
    /// Agreement with the (first) human scores.
    #[serde(flatten)]
    pub agreement: Agreement,
    /// Spearman's rank correlation.
    pub spearman: Option<f64>,
    /// Bootstrap 95% interval of QWK.
    pub qwk_ci95: Option<Interval>,
    /// Overall standardised mean difference, machine − human, over the pooled SD
    /// (Williamson's form).
    pub smd: Option<f64>,
    /// The same difference over the human SD alone (RSMTool 7's default).
    pub smd_human_sd: Option<f64>,
    /// The unrounded raw scores against the human scores, as RSMTool reports its trimmed
    /// raw scores.
    pub raw_scores: RawAgreement,
    /// Agreement between the first and second human raters.
    pub human_human: Option<Agreement>,
    /// Per-group statistics.
    pub groups: Vec<GroupStats>,
    /// Operational gates.
    pub gates: Vec<Gate>,
    /// Against a second model, when one was given.
    pub comparison: Option<Comparison>,
    /// A teacher's levels for these responses (`--teacher-labels`), against the human scores.
    pub teacher: Option<TeacherAgreement>,
    /// The bundle's further traits that the data has columns for.
    pub traits: Vec<TraitResult>,
    /// With further traits: the mean over the primary score and them of the raw score's RMSE.
    pub mcrmse: Option<f64>,
    /// Each way of turning raw scores into levels, fitted out-of-fold on these responses
    /// (empty when there are too few of them).
    pub calibration: Vec<CalibrationResult>,
    /// QWK-optimal thresholds with per-group offsets that hold every group of the constrained
    /// columns within the subgroup SMD gate, and what that costs in QWK.
    pub smd_constrained: Option<SmdConstrained>,
    /// How many responses each advisory flagged for a person (advisories that flagged none
    /// are left out).
    pub advisories: BTreeMap<String, usize>,
    /// How many responses at least one advisory flagged.
    pub flagged: usize,
    /// Why these numbers may mislead: too few responses, or human scores that do not vary.
    pub warnings: Vec<String>,
}

/// Why agreement on `human` may mislead, for a person reading it.
fn data_warnings(human: &[i64]) -> Vec<String> {
    let mut warnings = Vec::new();
    if human.len() < SMALL_GROUP {
        warnings.push(format!(
            "only {} responses (fewer than {SMALL_GROUP}): these statistics are too uncertain \
             to judge a model by",
            human.len()
        ));
    }
    if let [first, rest @ ..] = human {
        if rest.iter().all(|h| h == first) {
            warnings.push(format!(
                "every human score is {first}: kappa and correlation cannot measure agreement \
                 on scores that do not vary (a QWK of 0 means nothing here); evaluate on \
                 responses of several score levels"
            ));
        }
    }
    warnings
}

/// How many of `scores` each advisory flagged, and how many any flagged.
fn count_advisories(scores: &[cyborg_scorer::Score]) -> (BTreeMap<String, usize>, usize) {
    let mut counts = BTreeMap::new();
    for advisory in scores.iter().flat_map(|s| &s.advisories) {
        *counts.entry(advisory.name().to_string()).or_insert(0) += 1;
    }
    let flagged = scores.iter().filter(|s| !s.advisories.is_empty()).count();
    (counts, flagged)
}

/// Calibration constrained to subgroup |SMD| ≤ [`SmdConstrained::limit`] on every group of
/// the constrained columns, beside the unconstrained QWK-optimal thresholds, both fitted
/// out-of-fold.
#[derive(Serialize)]
pub struct SmdConstrained {
    /// The constrained group columns.
    pub columns: Vec<String>,
    /// The largest |SMD| allowed per group.
    pub limit: f64,
    /// Each group's raw-score offset (`column=value`), fitted on all the responses; a
    /// response's offset is the sum of its groups'.
    pub offsets: BTreeMap<String, f64>,
    /// Groups of fewer than [`SMALL_GROUP`] responses: too few to fit an offset on.
    pub too_small: Vec<String>,
    /// QWK with the offsets.
    pub qwk: Option<f64>,
    /// The largest |SMD| of a group (of at least the small-group size) with the offsets.
    pub max_abs_smd: Option<f64>,
    /// QWK without them.
    pub unconstrained_qwk: Option<f64>,
    /// The largest |SMD| without them.
    pub unconstrained_max_abs_smd: Option<f64>,
}

/// Out-of-fold QWK and largest subgroup |SMD| with and without group offsets on `columns`
/// (each a name and every response's value); `None` without columns or responses enough.
fn constrain_smd(
    raw: &[f64],
    human: &[i64],
    columns: &[(String, Vec<String>)],
    range: ScoreRange,
) -> Option<SmdConstrained> {
    if raw.len() < CALIBRATION_MIN_RESPONSES || columns.is_empty() {
        return None;
    }
    let limit = calibration::SmdLimit {
        max_abs_smd: 0.10,
        min_members: SMALL_GROUP,
    };
    let memberships: Vec<Vec<String>> = (0..raw.len())
        .map(|i| {
            columns
                .iter()
                .map(|(name, values)| group_label(name, &values[i]))
                .collect()
        })
        .collect();
    let judge = |levels: &[i64]| {
        let stats = group_stats(human, levels, range, columns);
        let largest = stats
            .iter()
            .filter(|g| !g.small)
            .filter_map(|g| g.smd.map(f64::abs))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        (agreement(human, levels, range).qwk, largest)
    };
    let plain = calibration::out_of_fold(
        raw,
        human,
        range,
        calibration::Method::QwkThresholds,
        CALIBRATION_FOLDS,
        1,
    );
    let constrained = calibration::out_of_fold_group_offsets(
        raw,
        human,
        &memberships,
        range,
        limit,
        CALIBRATION_FOLDS,
        1,
    );
    let (unconstrained_qwk, unconstrained_max_abs_smd) = judge(&plain);
    let (qwk, max_abs_smd) = judge(&constrained);
    let fitted = calibration::GroupOffsets::fit(raw, human, &memberships, range, limit);
    Some(SmdConstrained {
        columns: columns.iter().map(|(name, _)| name.clone()).collect(),
        limit: limit.max_abs_smd,
        offsets: fitted.offsets,
        too_small: fitted.too_small,
        qwk,
        max_abs_smd,
        unconstrained_qwk,
        unconstrained_max_abs_smd,
    })
}

/// One calibration method's agreement, fitted on four fifths of the evaluated responses and
/// applied to the fifth left out, in turn.
#[derive(Serialize)]
pub struct CalibrationResult {
    /// The method.
    pub method: String,
    /// QWK of its levels.
    pub qwk: Option<f64>,
    /// Exact agreement.
    pub exact: f64,
    /// Adjacent agreement.
    pub adjacent: f64,
    /// Standardised mean difference, machine − human.
    pub smd: Option<f64>,
}

/// Unrounded raw scores, trimmed to the score range ± [`calibration::TRIM_TOLERANCE`], against
/// the human scores: RSMTool's `raw_trim` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawAgreement {
    /// Pearson r.
    pub pearson: Option<f64>,
    /// QWK for continuous scores, `2·cov(h, m) / (var h + var m + (mean h − mean m)²)`
    /// (divisor n), which equals the usual QWK on integers.
    pub qwk: Option<f64>,
    /// Root mean squared difference.
    pub rmse: f64,
    /// Standardised mean difference over the pooled SD (Williamson's form).
    pub smd: Option<f64>,
    /// The same over the human SD alone (RSMTool 7's default).
    pub smd_human_sd: Option<f64>,
}

/// `raw` trimmed as RSMTool trims it, against `human`.
pub fn raw_agreement(human: &[f64], raw: &[f64], range: ScoreRange) -> RawAgreement {
    let trimmed: Vec<f64> = raw.iter().map(|&r| calibration::trim(r, range)).collect();
    let (mean_h, mean_m) = (mean(human), mean(&trimmed));
    let n = human.len() as f64;
    let moment = |a: &[f64], mean_a: f64, b: &[f64], mean_b: f64| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - mean_a) * (y - mean_b))
            .sum::<f64>()
            / n
    };
    let denominator = moment(human, mean_h, human, mean_h)
        + moment(&trimmed, mean_m, &trimmed, mean_m)
        + (mean_h - mean_m).powi(2);
    RawAgreement {
        pearson: pearson(human, &trimmed),
        qwk: (denominator > 0.0)
            .then(|| 2.0 * moment(human, mean_h, &trimmed, mean_m) / denominator),
        rmse: rmse(human, &trimmed),
        smd: fairness::smd(human, &trimmed),
        smd_human_sd: fairness::smd_human_sd(human, &trimmed),
    }
}

/// Folds for out-of-fold calibration, and the fewest responses it is run on.
pub const CALIBRATION_FOLDS: usize = 5;
const CALIBRATION_MIN_RESPONSES: usize = 30;

/// Every calibration method, fitted out-of-fold on `raw` and `human`.
fn compare_calibrations(
    raw: &[f64],
    human: &[i64],
    human_values: &[f64],
    range: ScoreRange,
) -> Vec<CalibrationResult> {
    if raw.len() < CALIBRATION_MIN_RESPONSES {
        return Vec::new();
    }
    calibration::Method::ALL
        .iter()
        .map(|&method| {
            let levels = calibration::out_of_fold(raw, human, range, method, CALIBRATION_FOLDS, 1);
            let a = agreement(human, &levels, range);
            let level_values: Vec<f64> = levels.iter().map(|&l| l as f64).collect();
            CalibrationResult {
                method: method.name().to_string(),
                qwk: a.qwk,
                exact: a.exact,
                adjacent: a.adjacent,
                smd: fairness::smd(human_values, &level_values),
            }
        })
        .collect()
}

/// A teacher's labels for the evaluated responses, judged like the model's.
#[derive(Serialize)]
pub struct TeacherAgreement {
    /// The provenance file.
    pub file: String,
    /// The teacher's levels against the human scores, over the responses it labelled.
    pub agreement: Agreement,
    /// Standardised mean difference, teacher − human (pooled SD).
    pub smd: Option<f64>,
}

/// The teacher levels of `path` (a provenance file) for `rows`, joined on id; `None` for a row
/// the teacher did not label. An error when it labelled none of them.
fn teacher_levels(path: &Path, rows: &[Row], range: ScoreRange) -> Result<Vec<Option<i64>>> {
    let spec = ReadSpec {
        text: "text".into(),
        id: Some("id".into()),
        groups: vec!["score".into(), "source".into()],
        ..ReadSpec::default()
    };
    let labels = read_table(path, &spec)?;
    let mut by_id = std::collections::HashMap::new();
    for label in &labels.rows {
        if Source::parse(&label.groups[1]) != Some(Source::Teacher) {
            continue;
        }
        let level = label.groups[0]
            .parse::<i64>()
            .ok()
            .filter(|&l| range.contains(l))
            .with_context(|| {
                format!(
                    "{}:{}: teacher score \"{}\" is not a level in {range}",
                    path.display(),
                    label.line,
                    label.groups[0]
                )
            })?;
        by_id.insert(label.id.as_str(), level);
    }
    let levels: Vec<Option<i64>> = rows
        .iter()
        .map(|r| by_id.get(r.id.as_str()).copied())
        .collect();
    if levels.iter().all(Option::is_none) {
        crate::bail_input!(
            "{}: none of its {} teacher rows has the id of a response evaluated here \
             (label these responses: cyborg teach label TRAIN --pool THIS_FILE)",
            path.display(),
            by_id.len()
        );
    }
    Ok(levels)
}

/// Two models on the same responses.
#[derive(Serialize)]
pub struct Comparison {
    /// The other model's bundle.
    pub model: String,
    /// Its QWK.
    pub qwk: Option<f64>,
    /// This model's QWK minus the other's.
    pub qwk_difference: Option<f64>,
    /// Paired bootstrap 95% interval of that difference.
    pub difference_ci95: Option<Interval>,
}

/// What to evaluate, against what.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// The model bundle.
    pub model: PathBuf,
    /// Human-scored responses.
    pub file: PathBuf,
    /// What to read (a score column is required).
    pub data: DataConfig,
    /// Subgroup columns.
    pub groups: Vec<String>,
    /// The group columns whose groups the SMD-constrained calibration holds within the gate
    /// (empty: every one of `groups`).
    pub constrain: Vec<String>,
    /// A second human rater's score column.
    pub second_score: Option<String>,
    /// Bootstrap resamples for the QWK interval (0: none).
    pub bootstrap: usize,
    /// A second model to compare on the same responses.
    pub compare: Option<PathBuf>,
    /// A `teach label` provenance file whose teacher levels are judged too.
    pub teacher_labels: Option<PathBuf>,
    /// An experiment folder whose learning curve the HTML report shows.
    pub experiment: Option<PathBuf>,
}

impl Default for EvalRequest {
    fn default() -> Self {
        EvalRequest {
            model: PathBuf::new(),
            file: PathBuf::new(),
            data: DataConfig::default(),
            groups: Vec::new(),
            constrain: Vec::new(),
            second_score: None,
            bootstrap: 1000,
            compare: None,
            teacher_labels: None,
            experiment: None,
        }
    }
}

/// An evaluation and what its reports need.
pub struct Evaluated {
    /// The results.
    pub evaluation: Evaluation,
    /// The data file evaluated on.
    pub data_path: PathBuf,
    /// The experiment's learning curve, when one was asked for.
    pub learning_curve: Option<LearningCurve>,
}

/// Scores `request.file` with the model and judges it against the human scores.
pub fn evaluate(request: &EvalRequest, progress: &Progress) -> crate::Result<Evaluated> {
    check_constrained_groups(request)?;
    let learning_curve = request
        .experiment
        .as_deref()
        .map(crate::experiment::read_learning_curve)
        .transpose()?;
    let scorer = load_bundle(&request.model, Products::Restored)?;
    let range = scorer.range().map_err(anyhow::Error::from)?;
    let table = read_eval_table(request, &scorer, range)?;
    let scores = score_rows(&scorer, &table.rows, progress)?;
    let (traits, mcrmse) = judge_traits(&scorer.traits[1..], &table, &scores);
    let human = human_scores(&table.rows);
    let machine: Vec<i64> = scores.iter().map(|s| s.score).collect();
    let overall = agreement(&human, &machine, range);
    let (human_values, machine_values) = (as_f64(&human), as_f64(&machine));
    let columns = group_columns(&request.groups, &table);
    let groups = group_stats(&human, &machine, range, &columns);
    let human_human = request
        .second_score
        .as_deref()
        .map(|column| second_rater_agreement(&table, column, request.groups.len(), range))
        .transpose()?;
    let comparison = request
        .compare
        .as_deref()
        .map(|path| {
            let scored = (&human[..], &machine[..], range);
            compare_models(request, path, &table.rows, scored, progress)
        })
        .transpose()?;
    let teacher = request
        .teacher_labels
        .as_deref()
        .map(|path| judge_teacher(path, &table.rows, &human, range))
        .transpose()?;
    let constrained: Vec<_> = columns
        .iter()
        .filter(|(name, _)| request.constrain.is_empty() || request.constrain.contains(name))
        .cloned()
        .collect();
    let smd = fairness::smd(&human_values, &machine_values);
    let raw: Vec<f64> = scores.iter().map(|s| s.raw).collect();
    let raw_scores = raw_agreement(&human_values, &raw, range);
    let (advisories, flagged) = count_advisories(&scores);
    let evaluation = Evaluation {
        advisories,
        flagged,
        warnings: data_warnings(&human),
        calibration: compare_calibrations(&raw, &human, &human_values, range),
        smd_constrained: constrain_smd(&raw, &human, &constrained, range),
        spearman: fairness::spearman(&human_values, &machine_values),
        qwk_ci95: (request.bootstrap > 0)
            .then(|| qwk_interval(&human, &machine, range, request.bootstrap, 1))
            .flatten(),
        smd,
        smd_human_sd: fairness::smd_human_sd(&human_values, &machine_values),
        raw_scores,
        gates: gates(
            overall.qwk,
            human_human.as_ref().and_then(|a| a.qwk),
            smd,
            &groups,
        ),
        human_human,
        groups,
        agreement: overall,
        comparison,
        teacher,
        traits,
        mcrmse,
    };
    Ok(Evaluated {
        evaluation,
        data_path: table.path,
        learning_curve,
    })
}

/// Refuses a `--constrain` column that is not one of the `--group` columns.
fn check_constrained_groups(request: &EvalRequest) -> crate::Result<()> {
    let Some(column) = request
        .constrain
        .iter()
        .find(|c| !request.groups.contains(c))
    else {
        return Ok(());
    };
    let groups = if request.groups.is_empty() {
        "none given".to_string()
    } else {
        request.groups.join(", ")
    };
    Err(input(format!(
        "--constrain {column}: not one of the --group columns ({groups})"
    ))
    .into())
}

/// The rows to judge, read with the bundle's score `range`, the group and second-rater
/// columns, and the columns of the bundle's further traits where the data has them.
fn read_eval_table(
    request: &EvalRequest,
    scorer: &Scorer,
    range: ScoreRange,
) -> crate::Result<Table> {
    let mut spec = request.data.read_spec(true, "eval")?;
    spec.range = Some(range);
    spec.groups = request.groups.clone();
    spec.groups.extend(request.second_score.clone());
    spec.traits = scorer.traits[1..].iter().map(|t| t.name.clone()).collect();
    spec.optional_traits = true;
    Ok(read_table(&request.file, &spec)?)
}

/// Each group column by name with its value in every row (`table` read with `names` as its
/// groups, in that order).
fn group_columns(names: &[String], table: &Table) -> Vec<(String, Vec<String>)> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values = table.rows.iter().map(|r| r.groups[i].clone()).collect();
            (name.clone(), values)
        })
        .collect()
}

fn as_f64(values: &[i64]) -> Vec<f64> {
    values.iter().map(|&x| x as f64).collect()
}

/// Each of the bundle's further `traits` that `table` has a column for, judged, and MCRMSE over
/// the primary score and them.
fn judge_traits(
    traits: &[TraitConfig],
    table: &Table,
    scores: &[cyborg_scorer::Score],
) -> (Vec<TraitResult>, Option<f64>) {
    // Human and raw values per judged trait, the primary score first.
    let mut human = vec![table
        .rows
        .iter()
        .map(|r| r.score.expect("scores") as f64)
        .collect::<Vec<_>>()];
    let mut raw = vec![scores.iter().map(|s| s.raw).collect::<Vec<_>>()];
    let mut results = Vec::new();
    let judged = traits.iter().filter(|t| table.traits.contains(&t.name));
    for (t, config) in judged.enumerate() {
        let at = traits
            .iter()
            .position(|c| c.name == config.name)
            .expect("a bundle trait");
        human.push(table.rows.iter().map(|r| r.traits[t]).collect());
        raw.push(scores.iter().map(|s| s.traits[at].raw).collect());
        results.push(trait_result(config, &human[t + 1], &raw[t + 1]));
    }
    let mcrmse = (!results.is_empty())
        .then(|| calibration::mcrmse(&human, &raw))
        .flatten();
    (results, mcrmse)
}

/// The model at `other` scored on the same rows: its QWK and the paired bootstrap interval of
/// the difference (this model minus it).
fn compare_models(
    request: &EvalRequest,
    other: &Path,
    rows: &[Row],
    scored: (&[i64], &[i64], ScoreRange),
    progress: &Progress,
) -> Result<Comparison> {
    let (human, machine, range) = scored;
    let scorer = load_bundle(other, Products::Restored)?;
    if scorer.range()? != range {
        return Err(input(format!(
            "{} scores {} but {} scores {range}: only models of one score range compare",
            other.display(),
            scorer.range()?,
            request.model.display(),
        )));
    }
    let theirs: Vec<i64> = score_rows(&scorer, rows, progress)?
        .iter()
        .map(|s| s.score)
        .collect();
    let qwk = agreement(human, &theirs, range).qwk;
    Ok(Comparison {
        model: other.display().to_string(),
        qwk,
        qwk_difference: agreement(human, machine, range)
            .qwk
            .zip(qwk)
            .map(|(a, b)| a - b),
        difference_ci95: (request.bootstrap > 0)
            .then(|| paired_qwk_difference(human, machine, &theirs, range, request.bootstrap, 1))
            .flatten(),
    })
}

/// A teacher's levels from the provenance file at `path`, judged against the human scores of
/// the rows it labelled.
fn judge_teacher(
    path: &Path,
    rows: &[Row],
    human: &[i64],
    range: ScoreRange,
) -> Result<TeacherAgreement> {
    let levels = teacher_levels(path, rows, range)?;
    let (judged, taught): (Vec<i64>, Vec<i64>) = human
        .iter()
        .zip(&levels)
        .filter_map(|(&h, &t)| Some((h, t?)))
        .unzip();
    Ok(TeacherAgreement {
        file: path.display().to_string(),
        smd: fairness::smd(&as_f64(&judged), &as_f64(&taught)),
        agreement: agreement(&judged, &taught, range),
    })
}

/// Agreement between the first human score and a second rater's, over rows that have both.
fn second_rater_agreement(
    table: &Table,
    column: &str,
    at: usize,
    range: ScoreRange,
) -> Result<Agreement> {
    let seconds = table.second_scores(at, column, range)?;
    let (first, second): (Vec<i64>, Vec<i64>) = table
        .rows
        .iter()
        .zip(seconds)
        .filter_map(|(row, second)| Some((row.score.expect("scores were read"), second?)))
        .unzip();
    if first.is_empty() {
        crate::bail_input!(
            "{}: column {column} has no second scores to compare with",
            table.path.display()
        );
    }
    Ok(agreement(&first, &second, range))
}
