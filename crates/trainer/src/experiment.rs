//! `cyborg experiment`: the grid both papers report — human fraction × augmentation ×
//! temperature × seed — one student per cell, each tested on the same held-out responses,
//! with a paired bootstrap of every arm against the human-only arm.
//!
//! Each finished cell is saved as JSON in `OUT/cells/` at once, so a stopped run resumes
//! without recomputing it; the tables and the plot are rebuilt from the cells.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use cyborg_scorer::base::BaseModel;
use cyborg_scorer::fairness::{bootstrap, Interval};
use cyborg_scorer::metrics::{agreement, checked_mean, mean, ScoreRange};
use serde::{Deserialize, Serialize};

use crate::config::{DataConfig, LlmConfig, SampleFilter, StudentConfig, TeacherConfig};
use crate::data::{read_id_list, read_table, Row, Table};
use crate::error::input;
use crate::format::{escape_html as escape, format_kappa, markdown_table, settings_difference};
use crate::output::write_atomically;
use crate::progress::Progress;
use crate::split::{sample_fraction, set_aside, stratified_split};
use crate::student::{fit_score_student, load_base, score_fitted, TrainingRow};
use crate::teacher::{synthetic, LabelledPool, Teacher};

/// What a cell adds to its human scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Arm {
    /// Nothing: the human scores alone.
    None,
    /// The teacher's labels for the training rows whose scores were set aside.
    Pool,
    /// LLM-written responses making up this share of the training responses.
    Synthetic(f64),
}

impl std::str::FromStr for Arm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Arm::None),
            "pool" => Ok(Arm::Pool),
            _ => match s.strip_prefix("synthetic:").map(str::parse::<f64>) {
                Some(Ok(r)) if (0.0..1.0).contains(&r) => Ok(Arm::Synthetic(r)),
                _ => Err(format!(
                    "\"{s}\" is not none, pool or synthetic:R (R the synthetic share, 0 ≤ R < 1)"
                )),
            },
        }
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arm::None => write!(f, "none"),
            Arm::Pool => write!(f, "pool"),
            Arm::Synthetic(r) => write!(f, "synthetic:{r}"),
        }
    }
}

/// One finished cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cell {
    human_fraction: f64,
    arm: Arm,
    /// Sampling temperature of synthetic arms.
    temperature: Option<f64>,
    seed: u64,
    human_rows: usize,
    /// Teacher-labelled or synthetic rows the student also trained on.
    extra_rows: usize,
    teacher_dev_qwk: Option<f64>,
    /// The teacher's own QWK on the test responses (pool arms).
    #[serde(default)]
    teacher_test_qwk: Option<f64>,
    dev_qwk: Option<f64>,
    test_qwk: Option<f64>,
    /// The student's level for each test response, in test order (for paired comparisons).
    test_levels: Vec<i64>,
    seconds: f64,
}

impl Cell {
    fn key(fraction: f64, arm: Arm, temperature: Option<f64>, seed: u64) -> String {
        let arm = arm.to_string().replace(':', "-");
        match temperature {
            Some(t) => format!("h{fraction}_{arm}_t{t}_s{seed}"),
            None => format!("h{fraction}_{arm}_s{seed}"),
        }
    }
}

/// The grid to run and where its results go.
#[derive(Debug, Clone)]
pub struct ExperimentRequest {
    /// Human-scored responses.
    pub file: PathBuf,
    /// What to read (a score column is required).
    pub data: DataConfig,
    /// The score range (default: the data's).
    pub range: Option<ScoreRange>,
    /// Training, development and test id lists (all three, or none).
    pub ids: Option<[PathBuf; 3]>,
    /// Without id lists: the share of each score level held out for testing…
    pub test_fraction: f64,
    /// …and of the rest for development.
    pub dev_fraction: f64,
    /// Seed of that split, the same for every cell.
    pub split_seed: u64,
    /// Shares of the training rows that keep their human scores.
    pub fractions: Vec<f64>,
    /// What each cell adds to its human scores.
    pub arms: Vec<Arm>,
    /// Seeds: each picks its own human subset and trains with its own shuffles.
    pub seeds: Vec<u64>,
    /// Sampling temperatures of synthetic arms.
    pub temperatures: Vec<f64>,
    /// Synthetic arms: drop samples the LLM scores at another level.
    pub filter: Option<SampleFilter>,
    /// Synthetic arms: drop samples this similar (word-trigram Jaccard) to another.
    pub max_similarity: f64,
    /// Bootstrap resamples for the paired comparisons.
    pub bootstrap: usize,
    /// The teacher of pool arms and the LLM of synthetic arms.
    pub teacher: TeacherConfig,
    /// How every student (and the local teacher's) is trained.
    pub student: StudentConfig,
    /// Where the cells, tables and plot go.
    pub out_dir: PathBuf,
}

impl Default for ExperimentRequest {
    fn default() -> Self {
        ExperimentRequest {
            file: PathBuf::new(),
            data: DataConfig::default(),
            range: None,
            ids: None,
            test_fraction: 0.2,
            dev_fraction: 0.2,
            split_seed: 0,
            fractions: vec![0.05, 0.1, 0.2, 0.5, 1.0],
            arms: vec![Arm::None, Arm::Pool],
            seeds: vec![1],
            temperatures: vec![0.3],
            filter: None,
            max_similarity: 0.8,
            bootstrap: 1000,
            teacher: TeacherConfig::default(),
            student: StudentConfig::default(),
            out_dir: PathBuf::new(),
        }
    }
}

/// What an experiment wrote.
pub struct ExperimentOutcome {
    /// The results table (also in OUT/results.md).
    pub markdown: String,
    /// Cells in the grid.
    pub cells: usize,
    /// Cells trained by this run.
    pub trained: usize,
    /// Cells reused from an earlier run.
    pub reused: usize,
    /// Where the cells are kept.
    pub cells_dir: PathBuf,
}

/// The cells the request asks for, as (fraction, arm, temperature, seed); a pool at 100%
/// human has nothing to label and is left out.
fn grid(request: &ExperimentRequest) -> Vec<(f64, Arm, Option<f64>, u64)> {
    let mut cells = Vec::new();
    for &fraction in &request.fractions {
        for &arm in &request.arms {
            let temperatures: Vec<Option<f64>> = match arm {
                Arm::Synthetic(_) => request.temperatures.iter().copied().map(Some).collect(),
                _ => vec![None],
            };
            if arm == Arm::Pool && fraction >= 1.0 {
                continue;
            }
            for temperature in temperatures {
                for &seed in &request.seeds {
                    cells.push((fraction, arm, temperature, seed));
                }
            }
        }
    }
    cells
}

/// The rows every cell shares: the training rows it samples from, and the fixed development
/// and test rows, so that every cell is judged on the same responses and cells pair up.
struct FixedSplit<'a> {
    train: Vec<&'a Row>,
    dev: Vec<&'a Row>,
    test: Vec<&'a Row>,
    test_human: Vec<i64>,
    range: ScoreRange,
}

impl<'a> FixedSplit<'a> {
    fn new(request: &ExperimentRequest, table: &'a Table) -> Result<FixedSplit<'a>> {
        let all: Vec<&Row> = table.rows.iter().collect();
        let (train, dev, test) = match &request.ids {
            Some([train, dev, test]) => {
                let pick = |path: &Path| -> Result<Vec<&Row>> {
                    Ok(table.rows_with_ids(&read_id_list(path)?))
                };
                (pick(train)?, pick(dev)?, pick(test)?)
            }
            None => {
                let seed = request.split_seed;
                let (rest, test) = stratified_split(&all, request.test_fraction, seed);
                let (train, dev) = stratified_split(&rest, request.dev_fraction, seed + 1);
                (train, dev, test)
            }
        };
        if train.len() < 2 || dev.is_empty() || test.is_empty() {
            return Err(input(format!(
                "{}: {} training, {} development and {} test rows are too few for an experiment",
                request.file.display(),
                train.len(),
                dev.len(),
                test.len()
            )));
        }
        let range = match request.range.or_else(|| table.observed_range()) {
            Some(r) if r.min < r.max => r,
            _ => {
                return Err(input(
                    "every score is the same; give the scale with --range MIN:MAX",
                ))
            }
        };
        let test_human = test.iter().filter_map(|r| r.score).collect();
        Ok(FixedSplit {
            train,
            dev,
            test,
            test_human,
            range,
        })
    }
}

/// Everything but a cell's place in the grid that decides its results, as text. How the
/// teacher's requests are sent (key, concurrency, retries, timeout, prices) and where caches
/// are decide none, so they are left out: a stopped grid can resume with them changed.
fn grid_settings(request: &ExperimentRequest) -> String {
    let file = std::fs::canonicalize(&request.file).unwrap_or_else(|_| request.file.clone());
    let student = request.student.without_cache();
    let llm = LlmConfig {
        api_key_env: String::new(),
        concurrency: 0,
        retries: 0,
        request_timeout: 0.0,
        prices: (0.0, 0.0),
        llm_cache: None,
        ..request.teacher.llm.clone()
    };
    let teacher = TeacherConfig {
        llm,
        ..request.teacher.clone()
    };
    format!(
        "file {}; {:?}; range {:?}; ids {:?}; test {}, dev {}, split seed {}; filter {:?}, \
         max similarity {}; {student:?}; {teacher:?}",
        file.display(),
        request.data,
        request.range,
        request.ids,
        request.test_fraction,
        request.dev_fraction,
        request.split_seed,
        request.filter,
        request.max_similarity,
    )
}

/// Where a grid's cells keep the settings they were run with.
fn settings_path(cells_dir: &Path) -> PathBuf {
    cells_dir.join("settings.txt")
}

/// Refuses `settings` other than those the cells in `cells_dir` were run with: they would
/// compare unlike students. (They are written with the first cell, so a run that fails
/// before any, on a mistyped file say, leaves nothing to refuse the corrected one.)
fn check_settings(cells_dir: &Path, settings: &str) -> Result<()> {
    match std::fs::read_to_string(settings_path(cells_dir)) {
        Ok(saved) if saved != settings => Err(input(format!(
            "{} holds cells run with other settings ({}); give another --out-dir, or delete \
             that folder to run the cells again with these",
            cells_dir.display(),
            settings_difference(&saved, settings)
        ))),
        _ => Ok(()),
    }
}

/// Runs every cell of the grid not already in OUT/cells/, then writes the tables and the plot.
pub fn run(request: &ExperimentRequest, progress: &Progress) -> crate::Result<ExperimentOutcome> {
    Ok(run_grid(request, progress)?)
}

fn run_grid(request: &ExperimentRequest, progress: &Progress) -> Result<ExperimentOutcome> {
    if request.fractions.iter().any(|f| !(*f > 0.0 && *f <= 1.0)) {
        return Err(input("--fractions must each be in (0, 1]"));
    }
    let cells_dir = request.out_dir.join("cells");
    std::fs::create_dir_all(&cells_dir)
        .with_context(|| format!("cannot create {}", cells_dir.display()))?;
    let settings = grid_settings(request);
    check_settings(&cells_dir, &settings)?;
    let mut spec = request.data.read_spec(true, "experiment")?;
    spec.range = request.range;
    let table = read_table(&request.file, &spec)?;
    let fixed = FixedSplit::new(request, &table)?;
    progress.note(&format!(
        "{}: {} training rows, {} development, {} test, scores {}",
        request.file.display(),
        fixed.train.len(),
        fixed.dev.len(),
        fixed.test.len(),
        fixed.range
    ));
    let plan = grid(request);
    let mut base = None;
    let mut cells = Vec::new();
    let (mut reused, mut trained) = (0, 0);
    for (i, &(fraction, arm, temperature, seed)) in plan.iter().enumerate() {
        let path = cells_dir.join(format!(
            "{}.json",
            Cell::key(fraction, arm, temperature, seed)
        ));
        if let Some(cell) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cell>(&b).ok())
        {
            reused += 1;
            cells.push(cell);
            continue;
        }
        progress.check()?;
        progress.note(&format!(
            "cell {} of {}: {:.0}% human, {arm}{}, seed {seed}",
            i + 1,
            plan.len(),
            fraction * 100.0,
            temperature.map_or(String::new(), |t| format!(" at temperature {t}"))
        ));
        if base.is_none() {
            base = Some(load_base(&request.student, progress)?);
        }
        let base = base.as_ref().expect("loaded");
        let cell = run_cell(request, &fixed, base, plan[i], progress)?;
        if trained == 0 {
            write_atomically(&settings_path(&cells_dir), settings.as_bytes())?;
        }
        write_atomically(&path, serde_json::to_string(&cell)?.as_bytes())?;
        trained += 1;
        cells.push(cell);
    }
    let markdown = write_results(request, &fixed, &cells)?;
    Ok(ExperimentOutcome {
        markdown,
        cells: cells.len(),
        trained,
        reused,
        cells_dir,
    })
}

/// Trains and tests the student of one cell.
fn run_cell(
    request: &ExperimentRequest,
    fixed: &FixedSplit,
    base: &BaseModel,
    (fraction, arm, temperature, seed): (f64, Arm, Option<f64>, u64),
    progress: &Progress,
) -> Result<Cell> {
    let start = Instant::now();
    let range = fixed.range;
    let student = StudentConfig {
        seed,
        ..request.student.clone()
    };
    let human = sample_fraction(&fixed.train, fraction, seed)?;
    let mut teacher_dev_qwk = None;
    let mut teacher_test_qwk = None;
    let mut extra: Vec<(Row, f64)> = Vec::new();
    let labelled;
    let mut rows = TrainingRow::human(&human);
    match arm {
        Arm::None => {}
        Arm::Pool => {
            let pool = set_aside(&fixed.train, &human);
            labelled = LabelledPool::fit_and_label(
                Some(base),
                &human,
                &fixed.dev,
                &pool,
                range,
                &request.teacher,
                &student,
                progress,
            )?;
            teacher_dev_qwk = labelled.dev_qwk;
            teacher_test_qwk = teacher_test_agreement(fixed, &labelled.teacher, base, progress)?;
            rows = labelled.training_rows(&human, request.teacher.weight);
        }
        Arm::Synthetic(ratio) => {
            let temperature = temperature.expect("synthetic cells have one");
            extra = synthetic_rows(
                request,
                &student,
                &human,
                ratio,
                temperature,
                range,
                progress,
            )?;
        }
    }
    rows.extend(TrainingRow::labelled(
        extra.iter().map(|(row, target)| (row, *target)),
        request.teacher.weight,
    ));
    let extra_rows = rows.len() - human.len();
    let outcome = fit_score_student(base, &rows, &fixed.dev, range, &student, progress)?;
    let test_levels: Vec<i64> = score_fitted(base, &outcome, &fixed.test, progress)?
        .iter()
        .map(|s| s.score)
        .collect();
    let cell = Cell {
        human_fraction: fraction,
        arm,
        temperature,
        seed,
        human_rows: human.len(),
        extra_rows,
        teacher_dev_qwk,
        teacher_test_qwk,
        dev_qwk: outcome.trained.dev_qwk(),
        test_qwk: agreement(&fixed.test_human, &test_levels, range).qwk,
        test_levels,
        seconds: start.elapsed().as_secs_f64(),
    };
    progress.note(&format!(
        "  test QWK {} ({} human + {} more rows), {:.0}s",
        format_kappa(cell.test_qwk),
        cell.human_rows,
        cell.extra_rows,
        cell.seconds
    ));
    Ok(cell)
}

/// The teacher's QWK on the test rows it labelled (rows it failed on are left out).
fn teacher_test_agreement(
    fixed: &FixedSplit,
    teacher: &Teacher,
    base: &BaseModel,
    progress: &Progress,
) -> Result<Option<f64>> {
    let labels = teacher.label(Some(base), &fixed.test, progress)?;
    let (judged, levels): (Vec<i64>, Vec<i64>) = fixed
        .test_human
        .iter()
        .zip(&labels)
        .filter_map(|(&h, label)| Some((h, label.as_ref().ok()?.level)))
        .unzip();
    Ok(agreement(&judged, &levels, fixed.range).qwk)
}

/// Synthetic responses making up `ratio` of a synthetic arm's training rows, each with the
/// level it was written for as its target.
fn synthetic_rows(
    request: &ExperimentRequest,
    student: &StudentConfig,
    human: &[&Row],
    ratio: f64,
    temperature: f64,
    range: ScoreRange,
    progress: &Progress,
) -> Result<Vec<(Row, f64)>> {
    let writer = synthetic::Writer::new(
        &request.teacher.llm,
        student,
        temperature,
        human,
        range,
        progress,
    )?;
    let mut counts = BTreeMap::new();
    for r in human {
        *counts.entry(r.score.expect("scored")).or_insert(0) += 1;
    }
    let wanted = synthetic::plan(None, Some(ratio), &counts, range)?;
    let samples = synthetic::generate(
        &writer,
        human,
        &wanted,
        request.filter == Some(SampleFilter::Consistent),
        request.max_similarity,
        request.teacher.llm.max_tokens,
    )?;
    Ok(samples
        .into_iter()
        .filter(|s| s.dropped.is_none())
        .map(|s| {
            let row = Row {
                id: s.id,
                text: s.text,
                score: None,
                traits: Vec::new(),
                groups: Vec::new(),
                line: 0,
            };
            (row, s.level as f64)
        })
        .collect())
}

/// Writes OUT/results.csv, results.md and learning-curve.svg from the cells; returns the table.
fn write_results(
    request: &ExperimentRequest,
    fixed: &FixedSplit,
    cells: &[Cell],
) -> Result<String> {
    let summary = summarise(cells, &fixed.test_human, fixed.range, request.bootstrap);
    let what = format!(
        "{} ({} test responses, {} development; student {}, seeds {:?})",
        request.file.display(),
        fixed.test.len(),
        fixed.dev.len(),
        request.student.tune_label(),
        request.seeds
    );
    let out = &request.out_dir;
    write_atomically(&out.join("results.csv"), &csv_table(cells)?)?;
    let markdown = results_markdown(&what, &summary);
    write_atomically(&out.join("results.md"), markdown.as_bytes())?;
    write_atomically(
        &out.join("learning-curve.svg"),
        learning_curve(&what, &summary).as_bytes(),
    )?;
    Ok(markdown)
}

/// One line of the results: an arm at a fraction, over its seeds.
struct Line {
    fraction: f64,
    arm: Arm,
    temperature: Option<f64>,
    seeds: usize,
    mean_test_qwk: Option<f64>,
    /// The teacher's own test QWK, mean over seeds (pool arms).
    mean_teacher_test_qwk: Option<f64>,
    mean_extra_rows: f64,
    /// Against the human-only arm at the same fraction and seeds: the mean QWK difference
    /// and its paired bootstrap 95% interval.
    versus_none: Option<(f64, Option<Interval>)>,
}

fn summarise(cells: &[Cell], human: &[i64], range: ScoreRange, resamples: usize) -> Vec<Line> {
    let mut keys: Vec<(f64, Arm, Option<f64>)> = Vec::new();
    for c in cells {
        if !keys.contains(&(c.human_fraction, c.arm, c.temperature)) {
            keys.push((c.human_fraction, c.arm, c.temperature));
        }
    }
    keys.iter()
        .map(|&(fraction, arm, temperature)| {
            let mine: Vec<&Cell> = cells
                .iter()
                .filter(|c| {
                    (c.human_fraction, c.arm, c.temperature) == (fraction, arm, temperature)
                })
                .collect();
            // Pairs with the human-only cell of the same fraction and seed.
            let pairs: Vec<(&Cell, &Cell)> = mine
                .iter()
                .filter_map(|c| {
                    let none = cells.iter().find(|n| {
                        n.arm == Arm::None && n.human_fraction == fraction && n.seed == c.seed
                    })?;
                    Some((*c, none))
                })
                .collect();
            let versus_none = (arm != Arm::None && !pairs.is_empty()).then(|| {
                let qwk = |levels: &[i64], sample: &[usize]| {
                    let h: Vec<i64> = sample.iter().map(|&i| human[i]).collect();
                    let m: Vec<i64> = sample.iter().map(|&i| levels[i]).collect();
                    agreement(&h, &m, range).qwk
                };
                let difference = |sample: &[usize]| -> Option<f64> {
                    let mut total = 0.0;
                    for (cell, none) in &pairs {
                        total += qwk(&cell.test_levels, sample)? - qwk(&none.test_levels, sample)?;
                    }
                    Some(total / pairs.len() as f64)
                };
                let all: Vec<usize> = (0..human.len()).collect();
                (
                    difference(&all).unwrap_or(f64::NAN),
                    bootstrap(human.len(), resamples, 0x5eed, difference),
                )
            });
            Line {
                fraction,
                arm,
                temperature,
                seeds: mine.len(),
                mean_test_qwk: checked_mean(
                    &mine.iter().filter_map(|c| c.test_qwk).collect::<Vec<_>>(),
                ),
                mean_teacher_test_qwk: checked_mean(
                    &mine
                        .iter()
                        .filter_map(|c| c.teacher_test_qwk)
                        .collect::<Vec<_>>(),
                ),
                mean_extra_rows: mean(
                    &mine.iter().map(|c| c.extra_rows as f64).collect::<Vec<_>>(),
                ),
                versus_none,
            }
        })
        .collect()
}

fn csv_table(cells: &[Cell]) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "human_fraction",
        "arm",
        "temperature",
        "seed",
        "human_rows",
        "extra_rows",
        "teacher_dev_qwk",
        "teacher_test_qwk",
        "dev_qwk",
        "test_qwk",
        "seconds",
    ])?;
    let number = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
    for c in cells {
        writer.write_record([
            c.human_fraction.to_string(),
            c.arm.to_string(),
            c.temperature.map_or_else(String::new, |t| t.to_string()),
            c.seed.to_string(),
            c.human_rows.to_string(),
            c.extra_rows.to_string(),
            number(c.teacher_dev_qwk),
            number(c.teacher_test_qwk),
            number(c.dev_qwk),
            number(c.test_qwk),
            format!("{:.1}", c.seconds),
        ])?;
    }
    Ok(writer.into_inner()?)
}

fn arm_label(arm: Arm, temperature: Option<f64>) -> String {
    match (arm, temperature) {
        (Arm::Synthetic(r), Some(t)) => format!("synthetic {:.0}% at T={t}", r * 100.0),
        (Arm::Pool, _) => "teacher pool labels".into(),
        _ => "human only".into(),
    }
}

fn results_markdown(what: &str, lines: &[Line]) -> String {
    let headings = [
        "human",
        "arm",
        "seeds",
        "extra rows",
        "test QWK",
        "Δ vs human only [95% CI]",
        "teacher test QWK",
    ];
    let rows = lines.iter().map(|l| {
        let versus = match &l.versus_none {
            Some((d, Some(ci))) => format!("{d:+.3} [{:+.3}, {:+.3}]", ci.low, ci.high),
            Some((d, None)) => format!("{d:+.3}"),
            None => "-".into(),
        };
        vec![
            format!("{:.0}%", l.fraction * 100.0),
            arm_label(l.arm, l.temperature),
            l.seeds.to_string(),
            format!("{:.0}", l.mean_extra_rows),
            format_kappa(l.mean_test_qwk),
            versus,
            l.mean_teacher_test_qwk
                .map_or_else(|| "-".into(), |q| format!("{q:.3}")),
        ]
    });
    format!(
        "Experiment on {what}. Test QWK is the mean over seeds; the difference from the \
         human-only arm at the same fraction and seeds has a paired bootstrap 95% interval; \
         the teacher's own test QWK is shown for pool arms.\n\n{}",
        markdown_table(&headings, rows)
    )
}

// The learning curve's canvas in pixels: the plot sits inside the margins, the legend in the
// right one.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 6] = [
    "#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#555",
];

/// Where the learning curve's points fall: the human fraction on a log scale across, test
/// QWK from the lowest tenth up to 1 upwards.
struct CurveAxes {
    /// The fractions, ascending, each once.
    fractions: Vec<f64>,
    /// The lowest gridline: the lowest QWK's tenth, 0.9 at most.
    low: f64,
    /// The log of the smallest and the largest fraction.
    log_range: (f64, f64),
}

impl CurveAxes {
    fn new(lines: &[Line]) -> Self {
        let mut fractions: Vec<f64> = lines.iter().map(|l| l.fraction).collect();
        fractions.sort_by(f64::total_cmp);
        fractions.dedup();
        let lowest = lines
            .iter()
            .filter_map(|l| l.mean_test_qwk)
            .fold(1.0f64, f64::min)
            .min(0.9);
        let log_range = (
            fractions.first().copied().unwrap_or(0.1).ln(),
            fractions.last().copied().unwrap_or(1.0).ln(),
        );
        CurveAxes {
            fractions,
            low: (lowest * 10.0).floor() / 10.0,
            log_range,
        }
    }

    fn x(&self, fraction: f64) -> f64 {
        let (lx, hx) = self.log_range;
        if hx > lx {
            LEFT + (fraction.ln() - lx) / (hx - lx) * (WIDTH - LEFT - RIGHT)
        } else {
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0
        }
    }

    fn y(&self, qwk: f64) -> f64 {
        TOP + (1.0 - (qwk - self.low) / (1.0 - self.low)) * (HEIGHT - TOP - BOTTOM)
    }

    /// The QWK gridlines and their labels, the fractions' labels and the x axis' title.
    fn draw(&self, svg: &mut String) {
        let mut tick = self.low;
        while tick <= 1.0001 {
            let _ = writeln!(
                svg,
                "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick:.1}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                self.y(tick) + 4.0,
                y = self.y(tick)
            );
            tick += 0.1;
        }
        for &f in &self.fractions {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.0}%</text>",
                self.x(f),
                HEIGHT - BOTTOM + 18.0,
                f * 100.0
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">human-scored share of the training rows</text>",
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            HEIGHT - 10.0
        );
    }
}

/// One arm's line, its points (each with its value as a tooltip) and its legend entry, the
/// `k`th of the legend.
fn draw_arm(svg: &mut String, axes: &CurveAxes, k: usize, key: (Arm, Option<f64>), lines: &[Line]) {
    let colour = COLOURS[k % COLOURS.len()];
    let mut points: Vec<(f64, f64)> = lines
        .iter()
        .filter(|l| (l.arm, l.temperature) == key)
        .filter_map(|l| Some((l.fraction, l.mean_test_qwk?)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let path: Vec<String> = points
        .iter()
        .map(|&(f, q)| format!("{:.1},{:.1}", axes.x(f), axes.y(q)))
        .collect();
    let label = escape(&arm_label(key.0, key.1));
    let _ = writeln!(
        svg,
        "<g data-arm=\"{label}\"><polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
        path.join(" ")
    );
    for &(f, q) in &points {
        let _ = writeln!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{label}: {:.0}% human, QWK {q:.3}</title></circle>",
            axes.x(f),
            axes.y(q),
            f * 100.0
        );
    }
    let ly = TOP + 16.0 * k as f64;
    let _ = writeln!(
        svg,
        "<line x1=\"{}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/>\
         <text x=\"{}\" y=\"{}\">{label}</text></g>",
        WIDTH - RIGHT + 10.0,
        WIDTH - RIGHT + 30.0,
        WIDTH - RIGHT + 36.0,
        ly + 4.0,
    );
}

/// Test QWK against the human fraction (log scale), one line per arm.
fn learning_curve(what: &str, lines: &[Line]) -> String {
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>Test QWK by human fraction: {}</title>\n\
         <rect class=\"background\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"20\" font-size=\"14\">Test QWK by share of human scores</text>\n",
        escape(what)
    );
    let axes = CurveAxes::new(lines);
    axes.draw(&mut svg);
    let mut arms: Vec<(Arm, Option<f64>)> = Vec::new();
    for l in lines {
        if !arms.contains(&(l.arm, l.temperature)) {
            arms.push((l.arm, l.temperature));
        }
    }
    for (k, &key) in arms.iter().enumerate() {
        draw_arm(&mut svg, &axes, k, key, lines);
    }
    svg.push_str("</svg>\n");
    svg
}

/// An experiment's learning curve, read back from its output folder `dir` for a report.
pub struct LearningCurve {
    /// The folder.
    pub dir: PathBuf,
    /// The plot, as `experiment` drew it.
    pub svg: String,
}

/// Reads `dir/learning-curve.svg`, checking that it is the plot `experiment` writes.
pub fn read_learning_curve(dir: &Path) -> Result<LearningCurve> {
    let path = dir.join("learning-curve.svg");
    let svg = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a `cyborg experiment` output folder?)",
            path.display(),
            dir.display()
        )
    })?;
    if !svg.starts_with("<svg ") || !svg.contains("<title>Test QWK by human fraction") {
        return Err(input(format!(
            "{} is not the learning curve `cyborg experiment` writes",
            path.display()
        )));
    }
    Ok(LearningCurve {
        dir: dir.to_path_buf(),
        svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_parse_and_print_back() {
        for text in ["none", "pool", "synthetic:0.8"] {
            assert_eq!(text.parse::<Arm>().unwrap().to_string(), text);
        }
        assert!("synthetic:1".parse::<Arm>().is_err());
        assert!("teacher".parse::<Arm>().is_err());
    }

    #[test]
    fn an_arm_that_matches_human_only_differs_by_exactly_zero() {
        let human = vec![1, 2, 3, 4, 1, 2, 3, 4, 2, 3];
        let levels = vec![1, 2, 3, 3, 1, 2, 4, 4, 2, 3];
        let cell = |arm| Cell {
            human_fraction: 0.1,
            arm,
            temperature: None,
            seed: 1,
            human_rows: 10,
            extra_rows: 0,
            teacher_dev_qwk: None,
            teacher_test_qwk: None,
            dev_qwk: None,
            test_qwk: None,
            test_levels: levels.clone(),
            seconds: 0.0,
        };
        let range = ScoreRange { min: 1, max: 4 };
        let lines = summarise(&[cell(Arm::None), cell(Arm::Pool)], &human, range, 200);
        let (difference, interval) = lines[1].versus_none.as_ref().unwrap();
        assert_eq!(*difference, 0.0);
        let interval = interval.as_ref().unwrap();
        assert_eq!((interval.low, interval.high), (0.0, 0.0));
        assert!(lines[0].versus_none.is_none());
    }
}
