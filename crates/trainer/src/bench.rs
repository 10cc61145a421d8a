//! Benchmarks: encoder speed, and accuracy on ASAP-AES beside published and simple peers.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cyborg_scorer::base::BaseModel;
use cyborg_scorer::metrics::{agreement, checked_mean, ScoreRange};
use cyborg_scorer::{Precision, Products, TextEncoder};
use serde::{Deserialize, Serialize};

use crate::config::{StudentConfig, TeacherConfig, TeacherKind};
use crate::data::{read_id_list, read_table, Filter, ReadSpec, Row, Table};
use crate::format::{format_kappa, markdown_table, settings_difference};
use crate::output::write_atomically;
use crate::progress::Progress;
use crate::split::{sample_fraction, set_aside};
use crate::student::{evaluate_fitted, fit_score_student, load_base, TrainingRow};
use crate::teacher::{LabelledPool, Teacher};

/// One speed measurement.
#[derive(Serialize)]
pub struct Speed {
    weights: Precision,
    max_tokens: usize,
    batch: usize,
    texts: usize,
    mean_tokens: f64,
    seconds: f64,
    texts_per_second: f64,
    ms_per_text: f64,
}

/// What `bench encode` measures.
#[derive(Debug, Clone)]
pub struct EncodeBenchRequest {
    /// Texts to encode.
    pub data: PathBuf,
    /// Their column.
    pub text: String,
    /// How many texts.
    pub texts: usize,
    /// The base encoder folder.
    pub base: Option<PathBuf>,
    /// The precisions to run the encoder at, each as it runs from a bundle stored so.
    pub precisions: Vec<Precision>,
}

/// Encoder speed at 256 and 512 tokens, batch 1 and 16.
#[derive(Serialize)]
pub struct EncodeBench {
    /// The texts' file.
    pub data: String,
    /// Threads the encoder ran on.
    pub threads: usize,
    /// Whether int8 matrices were multiplied as integers (AVX-512 VNNI), not turned into f32.
    pub integer_products: bool,
    /// One per length and batch size.
    pub results: Vec<Speed>,
}

impl EncodeBench {
    /// The results as a Markdown table, with what was measured on what.
    pub fn markdown(&self) -> String {
        let headings = [
            "weights",
            "max tokens",
            "batch",
            "mean tokens",
            "texts/s",
            "ms/text",
        ];
        let rows = self.results.iter().map(|r| {
            vec![
                r.weights.to_string(),
                r.max_tokens.to_string(),
                r.batch.to_string(),
                format!("{:.0}", r.mean_tokens),
                format!("{:.1}", r.texts_per_second),
                format!("{:.1}", r.ms_per_text),
            ]
        });
        format!(
            "candle encoder ({} threads), {} texts from {}, each cut to its first window; int8 \
             matrices multiplied {}\n{}",
            self.threads,
            self.results.first().map_or(0, |r| r.texts),
            self.data,
            if self.integer_products {
                "as integers (AVX-512 VNNI)"
            } else {
                "as f32 (no AVX-512 VNNI here)"
            },
            markdown_table(&headings, rows)
        )
    }
}

/// Encodes the texts at every precision asked for, at 256 and 512 tokens, one at a time and 16
/// at a time, and times it.
pub fn encode(request: &EncodeBenchRequest, progress: &Progress) -> crate::Result<EncodeBench> {
    let spec = ReadSpec {
        text: request.text.clone(),
        ..ReadSpec::default()
    };
    let table = read_table(&request.data, &spec)?;
    let texts: Vec<&str> = table
        .rows
        .iter()
        .take(request.texts)
        .map(|r| r.text.as_str())
        .collect();
    let mut results = Vec::new();
    for max_tokens in [256, 512] {
        let student = StudentConfig {
            base: request.base.clone(),
            window_tokens: max_tokens,
            max_windows: 1,
            ..StudentConfig::default()
        };
        // Read once per window length; each precision is made from it in memory.
        let base = load_base(&student, &Progress::silent())?;
        for &weights in &request.precisions {
            let encoder = base
                .text_encoder
                .at_precision(weights, Products::Integer)
                .map_err(anyhow::Error::from)?;
            results.extend(time_encoder(
                &encoder, &texts, weights, max_tokens, progress,
            )?);
        }
    }
    Ok(EncodeBench {
        data: request.data.display().to_string(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        integer_products: cyborg_scorer::int8::usable(),
        results,
    })
}

/// Times `encoder` on `texts`, one at a time and 16 at a time, longest first.
fn time_encoder(
    encoder: &TextEncoder,
    texts: &[&str],
    weights: Precision,
    max_tokens: usize,
    progress: &Progress,
) -> crate::Result<Vec<Speed>> {
    let mut prepared = texts
        .iter()
        .map(|t| encoder.prepare(t))
        .collect::<cyborg_scorer::Result<Vec<_>>>()
        .map_err(anyhow::Error::from)?;
    // Longest first, so that a batch pads little: as `cyborg score` batches, and as
    // sentence-transformers' `encode` does.
    prepared.sort_by_key(|p| std::cmp::Reverse(p.tokens()));
    let mean_tokens =
        prepared.iter().map(|p| p.tokens()).sum::<usize>() as f64 / prepared.len() as f64;
    encoder
        .pooled(&prepared[..prepared.len().min(4)])
        .map_err(anyhow::Error::from)?; // warm-up
    let mut results = Vec::new();
    for batch in [1, 16] {
        let bar = progress.bar(
            prepared.len() as u64,
            &format!("{weights}, {max_tokens} tokens, batch {batch}"),
            "texts",
        );
        let start = Instant::now();
        for chunk in prepared.chunks(batch) {
            encoder.pooled(chunk).map_err(anyhow::Error::from)?;
            bar.inc(chunk.len() as u64);
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        results.push(Speed {
            weights,
            max_tokens,
            batch,
            texts: prepared.len(),
            mean_tokens,
            seconds,
            texts_per_second: prepared.len() as f64 / seconds,
            ms_per_text: 1000.0 * seconds / prepared.len() as f64,
        });
    }
    Ok(results)
}

/// ASAP-AES score ranges per prompt, as used by NEA and the papers that follow it.
fn asap_range(prompt: u32) -> Option<ScoreRange> {
    let (min, max) = match prompt {
        1 => (2, 12),
        2 => (1, 6),
        3 | 4 => (0, 3),
        5 | 6 => (0, 4),
        7 => (0, 30),
        8 => (0, 60),
        _ => return None,
    };
    Some(ScoreRange { min, max })
}

/// The essays of ASAP-AES prompt `prompt` from its TSV, with their holistic scores, and the
/// prompt's score range.
pub fn read_asap_prompt(tsv: &Path, prompt: u32) -> Result<(Table, ScoreRange)> {
    let range = asap_range(prompt).with_context(|| format!("ASAP-AES has no prompt {prompt}"))?;
    let spec = ReadSpec {
        no_quoting: true,
        text: "essay".into(),
        score: Some("domain1_score".into()),
        id: Some("essay_id".into()),
        filters: vec![Filter {
            column: "essay_set".into(),
            value: prompt.to_string(),
        }],
        range: Some(range),
        ..ReadSpec::default()
    };
    Ok((read_table(tsv, &spec)?, range))
}

/// Published and simple-peer QWK on NEA fold 0 (../shared/BASELINES.md): ridge on frozen
/// MiniLM + three length features, at 100% and 10% of the training ids, per prompt.
const PEER_100: [f64; 8] = [0.834, 0.657, 0.737, 0.800, 0.827, 0.811, 0.780, 0.672];
const PEER_10: [f64; 8] = [0.831, 0.668, 0.681, 0.747, 0.773, 0.759, 0.745, 0.529];

/// What was trained and tested in one column of the ASAP table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Arm {
    /// A student on the human scores alone.
    Student,
    /// The local teacher fitted on those human scores.
    Teacher,
    /// A student on the human scores and the teacher's labels for the other training ids.
    StudentWithPool,
}

impl Arm {
    fn heading(self, fraction: f64) -> String {
        let percent = fraction * 100.0;
        match self {
            Arm::Student => format!("Cyborg {percent:.0}%"),
            Arm::Teacher => format!("teacher {percent:.0}%"),
            Arm::StudentWithPool => format!("{percent:.0}% + teacher pool"),
        }
    }
}

/// One arm's result on one prompt of one fold at one human fraction.
#[derive(Serialize, Deserialize)]
pub struct AsapResult {
    fold: usize,
    prompt: u32,
    arm: Arm,
    human_fraction: f64,
    train_rows: usize,
    teacher_rows: usize,
    dev_rows: usize,
    test_rows: usize,
    test_qwk: Option<f64>,
    dev_qwk: Option<f64>,
    /// A student's kept epoch (0: the head as it started, the probe for a linear head); none
    /// for the teacher, and in cells written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kept_epoch: Option<usize>,
    seconds: f64,
}

/// What `bench asap` runs.
#[derive(Debug, Clone)]
pub struct AsapBenchRequest {
    /// The ASAP-AES folder (holding training_set_rel3.utf8.tsv and folds/).
    pub asap: PathBuf,
    /// NEA folds.
    pub folds: Vec<usize>,
    /// Prompts to run.
    pub prompts: Vec<u32>,
    /// Human fractions of the training ids.
    pub fractions: Vec<f64>,
    /// With a teacher, fractions below 1 also run the teacher and the student on its labels.
    pub teacher: TeacherConfig,
    /// How each student is trained.
    pub student: StudentConfig,
    /// Where each finished cell (one fold, prompt and fraction) is kept; cells already there,
    /// trained with the same settings, are reused, so a stopped run resumes.
    pub cells: Option<PathBuf>,
}

/// `bench asap`'s results.
#[derive(Serialize)]
pub struct AsapBench {
    /// The NEA folds.
    pub folds: Vec<usize>,
    /// What the students trained.
    pub tune: String,
    /// Wall time.
    pub seconds: f64,
    /// Cells taken from the cells folder instead of trained.
    pub reused_cells: usize,
    /// Every arm on every fold, prompt and fraction.
    pub results: Vec<AsapResult>,
    /// The Markdown tables beside published and simple peers.
    #[serde(skip)]
    pub table: String,
}

/// The arms run at `fraction`.
fn arms(args: &AsapBenchRequest, fraction: f64) -> Vec<Arm> {
    if fraction < 1.0 && args.teacher.kind.is_some() {
        vec![Arm::Student, Arm::Teacher, Arm::StudentWithPool]
    } else {
        vec![Arm::Student]
    }
}

/// Trains and tests one student per fold, prompt and fraction (and, with a teacher, the
/// teacher and the student on its labels) on NEA folds.
pub fn asap(request: &AsapBenchRequest, progress: &Progress) -> crate::Result<AsapBench> {
    Ok(run_asap(request, progress)?)
}

/// A finished cell as its file keeps it: the settings it was trained with, and its results.
#[derive(Deserialize)]
struct SavedCell {
    settings: String,
    results: Vec<AsapResult>,
}

/// Everything that decides a cell's results, as text: a saved cell is reused only under the
/// same. (Where the frozen layers are cached changes no result.)
fn settings(args: &AsapBenchRequest) -> String {
    let student = args.student.without_cache();
    format!("{student:?} {:?}", args.teacher)
}

/// The results saved at `path`, when it holds a cell trained with `settings`; an error when it
/// holds one trained otherwise, since mixing them would compare unlike students.
fn saved_cell(path: &Path, settings: &str) -> Result<Option<Vec<AsapResult>>> {
    let Some(saved) = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<SavedCell>(&b).ok())
    else {
        return Ok(None);
    };
    if saved.settings != settings {
        crate::bail_input!(
            "{} holds a cell trained with other settings ({}); give another --cells folder, \
             or delete the file to train it again with these",
            path.display(),
            settings_difference(&saved.settings, settings)
        );
    }
    Ok(Some(saved.results))
}

/// One fold's training, development and test ids.
struct FoldIds {
    train: HashSet<String>,
    dev: HashSet<String>,
    test: HashSet<String>,
}

impl FoldIds {
    fn read(asap: &Path, fold: usize) -> Result<FoldIds> {
        let folder = asap.join(format!("folds/fold_{fold}"));
        let ids = |name: &str| read_id_list(&folder.join(name));
        Ok(FoldIds {
            train: ids("train_ids.txt")?,
            dev: ids("dev_ids.txt")?,
            test: ids("test_ids.txt")?,
        })
    }
}

fn run_asap(args: &AsapBenchRequest, progress: &Progress) -> Result<AsapBench> {
    let start = Instant::now();
    if !matches!(args.teacher.kind, None | Some(TeacherKind::Local)) {
        crate::bail_input!("bench asap measures the local teacher only (--teacher local)");
    }
    let tsv = args.asap.join("training_set_rel3.utf8.tsv");
    if let Some(dir) = &args.cells {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let settings = settings(args);
    let mut base = None;
    let (mut results, mut reused_cells) = (Vec::new(), 0);
    for &fold in &args.folds {
        let ids = FoldIds::read(&args.asap, fold)?;
        for &prompt in &args.prompts {
            let (table, range) = read_asap_prompt(&tsv, prompt)?;
            for &fraction in &args.fractions {
                let path = args
                    .cells
                    .as_ref()
                    .map(|dir| dir.join(format!("fold{fold}-prompt{prompt}-human{fraction}.json")));
                if let Some(path) = &path {
                    if let Some(saved) = saved_cell(path, &settings)? {
                        reused_cells += 1;
                        results.extend(saved);
                        continue;
                    }
                }
                progress.check()?;
                if base.is_none() {
                    base = Some(load_base(&args.student, progress)?);
                }
                let cell = Cell {
                    fold,
                    prompt,
                    fraction,
                    range,
                    args,
                    base: base.as_ref().expect("loaded"),
                    progress,
                };
                let cell_results = cell.run(&table, &ids)?;
                if let Some(path) = &path {
                    let saved = serde_json::json!({"settings": settings, "results": cell_results});
                    write_atomically(path, saved.to_string().as_bytes())?;
                }
                results.extend(cell_results);
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(AsapBench {
        folds: args.folds.clone(),
        tune: args.student.tune_label(),
        seconds,
        reused_cells,
        table: markdown(args, &results, seconds, reused_cells),
        results,
    })
}

/// One fold, prompt and human fraction of the benchmark, and what it is run with.
struct Cell<'a> {
    fold: usize,
    prompt: u32,
    fraction: f64,
    range: ScoreRange,
    args: &'a AsapBenchRequest,
    base: &'a BaseModel,
    progress: &'a Progress,
}

/// A cell's responses: the human-scored sample of the training ids, the rest of them (the
/// teacher's pool), and the fold's development and test responses of the prompt.
struct CellRows<'t> {
    human: Vec<&'t Row>,
    pool: Vec<&'t Row>,
    dev: Vec<&'t Row>,
    test: Vec<&'t Row>,
}

/// What one arm of a cell measured.
struct Measured {
    arm: Arm,
    teacher_rows: usize,
    test_qwk: Option<f64>,
    dev_qwk: Option<f64>,
    kept_epoch: Option<usize>,
    seconds: f64,
}

impl Cell<'_> {
    /// Trains and tests the cell's arms.
    fn run(&self, table: &Table, ids: &FoldIds) -> Result<Vec<AsapResult>> {
        let (args, progress) = (self.args, self.progress);
        let pick = |ids| table.rows_with_ids(ids);
        let train_all = pick(&ids.train);
        let human = sample_fraction(&train_all, self.fraction, args.student.seed)?;
        let rows = CellRows {
            pool: set_aside(&train_all, &human),
            human,
            dev: pick(&ids.dev),
            test: pick(&ids.test),
        };
        progress.note(&format!(
            "fold {}, prompt {}, {:.0}% human: {} train, {} dev, {} test",
            self.fold,
            self.prompt,
            self.fraction * 100.0,
            rows.human.len(),
            rows.dev.len(),
            rows.test.len()
        ));
        let measured = if arms(args, self.fraction).contains(&Arm::Teacher) {
            self.teacher_arms(&rows)?
        } else {
            let training = TrainingRow::human(&rows.human);
            vec![self.student(Arm::Student, &training, 0, &rows)?]
        };
        let results = measured.into_iter().map(|m| {
            progress.note(&format!(
                "fold {}, prompt {}, {}: test QWK {} (dev {}{}), {:.0}s",
                self.fold,
                self.prompt,
                m.arm.heading(self.fraction),
                format_kappa(m.test_qwk),
                format_kappa(m.dev_qwk),
                m.kept_epoch
                    .map_or(String::new(), |e| format!("; kept epoch {e}")),
                m.seconds
            ));
            AsapResult {
                fold: self.fold,
                prompt: self.prompt,
                arm: m.arm,
                human_fraction: self.fraction,
                train_rows: rows.human.len(),
                teacher_rows: m.teacher_rows,
                dev_rows: rows.dev.len(),
                test_rows: rows.test.len(),
                test_qwk: m.test_qwk,
                dev_qwk: m.dev_qwk,
                kept_epoch: m.kept_epoch,
                seconds: m.seconds,
            }
        });
        Ok(results.collect())
    }

    /// A student trained on `training` (human rows, and `teacher_rows` teacher-labelled ones).
    fn student(
        &self,
        arm: Arm,
        training: &[TrainingRow],
        teacher_rows: usize,
        rows: &CellRows,
    ) -> Result<Measured> {
        let (args, base, progress) = (self.args, self.base, self.progress);
        let start = Instant::now();
        let outcome = fit_score_student(
            base,
            training,
            &rows.dev,
            self.range,
            &args.student,
            progress,
        )?;
        Ok(Measured {
            arm,
            teacher_rows,
            test_qwk: evaluate_fitted(base, &outcome, &rows.test, progress)?.qwk,
            dev_qwk: outcome.trained.dev_qwk(),
            kept_epoch: Some(outcome.trained.best_epoch),
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// The local teacher fitted on the human scores, its first member (the plain student),
    /// and a student on the human scores and the teacher's labels for the pool.
    fn teacher_arms(&self, rows: &CellRows) -> Result<Vec<Measured>> {
        let (args, base, progress) = (self.args, self.base, self.progress);
        let labelled = LabelledPool::fit_and_label(
            Some(base),
            &rows.human,
            &rows.dev,
            &rows.pool,
            self.range,
            &args.teacher,
            &args.student,
            progress,
        )?;
        let Teacher::Local(local) = &labelled.teacher else {
            bail!("bench asap measures the local teacher only (--teacher local)");
        };
        // The teacher's first member is the plain student (same rows, seed, settings), unless
        // the members start from an encoder of their own.
        let plain = match local.plain_student() {
            Some(first) => Measured {
                arm: Arm::Student,
                teacher_rows: 0,
                test_qwk: evaluate_fitted(base, first, &rows.test, progress)?.qwk,
                dev_qwk: first.trained.dev_qwk(),
                kept_epoch: Some(first.trained.best_epoch),
                seconds: first.seconds,
            },
            None => self.student(Arm::Student, &TrainingRow::human(&rows.human), 0, rows)?,
        };
        let test_levels: Vec<i64> = local
            .label(base, &rows.test, progress)?
            .iter()
            .map(|l| l.level)
            .collect();
        let test_human: Vec<i64> = rows.test.iter().filter_map(|r| r.score).collect();
        let training = labelled.training_rows(&rows.human, args.teacher.weight);
        let with_pool = self.student(Arm::StudentWithPool, &training, labelled.rows.len(), rows)?;
        Ok(vec![
            plain,
            Measured {
                arm: Arm::Teacher,
                teacher_rows: 0,
                test_qwk: agreement(&test_human, &test_levels, self.range).qwk,
                dev_qwk: labelled.dev_qwk,
                kept_epoch: None,
                seconds: labelled.fit_seconds + labelled.label_seconds,
            },
            with_pool,
        ])
    }
}

/// The table's columns: (human fraction, arm).
fn columns(args: &AsapBenchRequest) -> Vec<(f64, Arm)> {
    args.fractions
        .iter()
        .flat_map(|&f| arms(args, f).into_iter().map(move |arm| (f, arm)))
        .collect()
}

/// The test QWK of `arm` at `fraction` on `prompt` of `fold`.
fn test_qwk(
    results: &[AsapResult],
    fold: usize,
    prompt: u32,
    (fraction, arm): (f64, Arm),
) -> Option<f64> {
    results
        .iter()
        .find(|r| {
            r.fold == fold && r.prompt == prompt && r.human_fraction == fraction && r.arm == arm
        })
        .and_then(|r| r.test_qwk)
}

/// Mean and sample standard deviation (divisor n − 1; none for one value).
fn mean_sd(values: &[f64]) -> String {
    match (checked_mean(values), values.len()) {
        (None, _) => "-".into(),
        (Some(m), 1) => format!("{m:.3}"),
        (Some(m), n) => {
            let sd = (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
            format!("{m:.3} ± {sd:.3}")
        }
    }
}

fn markdown(
    args: &AsapBenchRequest,
    results: &[AsapResult],
    seconds: f64,
    reused: usize,
) -> String {
    let folds: Vec<String> = args.folds.iter().map(usize::to_string).collect();
    let mut out = format!(
        "ASAP-AES NEA fold{} {}, test QWK per prompt; student: {} on {}, seed {}{}; \
         cut points `{}`. Wall time {:.1} min on {} threads{}.\n\n",
        if folds.len() > 1 { "s" } else { "" },
        folds.join(", "),
        args.student.tune_label(),
        args.student
            .base
            .as_deref()
            .map_or("all-MiniLM-L6-v2".into(), |p: &Path| p
                .display()
                .to_string()),
        args.student.seed,
        match (args.teacher.kind, &args.teacher.base) {
            (None, _) => String::new(),
            (Some(_), base) => format!(
                "; local teacher: {} students on {} + TF-IDF ridge",
                args.teacher.members,
                base.as_deref()
                    .map_or("the student's encoder".into(), |p: &Path| p
                        .display()
                        .to_string())
            ),
        },
        args.student.cut_points,
        seconds / 60.0,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if reused > 0 {
            format!(
                " ({reused} cells reused from {})",
                args.cells.as_deref().unwrap_or(Path::new("")).display()
            )
        } else {
            String::new()
        }
    );
    if let [fold] = args.folds[..] {
        out += &format!("{}\n", fold_table(args, results, fold));
    } else {
        out += &summary_table(args, results);
        for &fold in &args.folds {
            out += &format!(
                "<details><summary>fold {fold}</summary>\n\n{}\n</details>\n\n",
                fold_table(args, results, fold)
            );
        }
    }
    out.push_str(
        "Published averages on all 8 prompts (5-fold): NEA 0.761, R2BERT 0.794. Best simple \
         peer in ../shared/BASELINES.md (ridge on MiniLM + TF-IDF-SVD + len3), fold 0: 0.773 \
         at 100%, 0.721 at 10%.\n",
    );
    out
}

/// Per prompt and column, the mean ± SD over folds; the last row averages the prompts in
/// each fold and gives the mean ± SD of those averages.
fn summary_table(args: &AsapBenchRequest, results: &[AsapResult]) -> String {
    let columns = columns(args);
    let mut headings = vec!["prompt".to_string()];
    headings.extend(columns.iter().map(|(f, arm)| arm.heading(*f)));
    let over_folds = |prompt: u32, column| -> Vec<f64> {
        args.folds
            .iter()
            .filter_map(|&fold| test_qwk(results, fold, prompt, column))
            .collect()
    };
    let mut rows: Vec<Vec<String>> = args
        .prompts
        .iter()
        .map(|&prompt| {
            let cells = columns.iter().map(|&c| mean_sd(&over_folds(prompt, c)));
            std::iter::once(prompt.to_string()).chain(cells).collect()
        })
        .collect();
    let averages = columns.iter().map(|&c| {
        let per_fold: Vec<f64> = args
            .folds
            .iter()
            .filter_map(|&fold| {
                let qwks: Vec<f64> = args
                    .prompts
                    .iter()
                    .filter_map(|&p| test_qwk(results, fold, p, c))
                    .collect();
                checked_mean(&qwks)
            })
            .collect();
        format!("**{}**", mean_sd(&per_fold))
    });
    rows.push(
        std::iter::once("**avg**".to_string())
            .chain(averages)
            .collect(),
    );
    format!(
        "Mean ± SD over {} folds:\n\n{}\n",
        args.folds.len(),
        markdown_table(&headings, rows)
    )
}

/// One fold's test QWK per prompt and column; on fold 0, beside the simple peers.
fn fold_table(args: &AsapBenchRequest, results: &[AsapResult], fold: usize) -> String {
    let columns = columns(args);
    let peers = fold == 0;
    let mut headings = vec!["prompt".to_string()];
    headings.extend(columns.iter().map(|(f, arm)| arm.heading(*f)));
    if peers {
        headings.extend(["peer ridge MiniLM+len3 100%".into(), "peer 10%".into()]);
    }
    let mut rows = Vec::new();
    let mut sums = vec![Vec::new(); columns.len()];
    let (mut peer_100, mut peer_10) = (Vec::new(), Vec::new());
    for &prompt in &args.prompts {
        let mut cells = vec![prompt.to_string()];
        cells.extend(columns.iter().zip(&mut sums).map(|(&column, sum)| {
            let qwk = test_qwk(results, fold, prompt, column);
            sum.extend(qwk);
            format_kappa(qwk)
        }));
        if peers {
            let p = (prompt - 1) as usize;
            peer_100.push(PEER_100[p]);
            peer_10.push(PEER_10[p]);
            cells.extend([format!("{:.3}", PEER_100[p]), format!("{:.3}", PEER_10[p])]);
        }
        rows.push(cells);
    }
    let mut averages = vec!["**avg**".to_string()];
    averages.extend(
        sums.iter()
            .map(|s| checked_mean(s).map_or("-".into(), |m| format!("**{m:.3}**"))),
    );
    if peers {
        averages.extend(
            [peer_100, peer_10].map(|p| checked_mean(&p).map_or("-".into(), |m| format!("{m:.3}"))),
        );
    }
    rows.push(averages);
    markdown_table(&headings, rows)
}
