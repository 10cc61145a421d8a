//! Benchmarks: encoder speed, and accuracy on ASAP-AES beside published and simple peers.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cyborg_scorer::metrics::{agreement, ScoreRange};
use serde::Serialize;

use crate::config::{StudentConfig, TeacherConfig};
use crate::data::{read_id_list, read_table, Filter, ReadSpec, Table};
use crate::format::format_kappa;
use crate::progress::Progress;
use crate::split::{sample_fraction, set_aside};
use crate::student::{evaluate_fitted, fit_score_student, load_base, TrainingRow};
use crate::teacher::{LabelledPool, Teacher};

/// One speed measurement.
#[derive(Serialize)]
pub struct Speed {
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
}

/// Encoder speed at 256 and 512 tokens, batch 1 and 16.
#[derive(Serialize)]
pub struct EncodeBench {
    /// The texts' file.
    pub data: String,
    /// Threads the encoder ran on.
    pub threads: usize,
    /// One per length and batch size.
    pub results: Vec<Speed>,
}

impl EncodeBench {
    /// The results as a Markdown table, with what was measured on what.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "candle encoder ({} threads), {} texts from {}, each cut to its first window\n\
             | max tokens | batch | mean tokens | texts/s | ms/text |\n|---|---|---|---|---|\n",
            self.threads,
            self.results.first().map_or(0, |r| r.texts),
            self.data
        );
        for r in &self.results {
            out += &format!(
                "| {} | {} | {:.0} | {:.1} | {:.1} |\n",
                r.max_tokens, r.batch, r.mean_tokens, r.texts_per_second, r.ms_per_text
            );
        }
        out
    }
}

/// Encodes the texts at 256 and 512 tokens, one at a time and 16 at a time, and times it.
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
        let base = load_base(&student, &Progress::silent())?;
        let encoder = &base.text_encoder;
        let prepared = texts
            .iter()
            .map(|t| encoder.prepare(t))
            .collect::<cyborg_scorer::Result<Vec<_>>>()
            .map_err(anyhow::Error::from)?;
        let mean_tokens =
            prepared.iter().map(|p| p.tokens()).sum::<usize>() as f64 / prepared.len() as f64;
        encoder
            .pooled(&prepared[..prepared.len().min(4)])
            .map_err(anyhow::Error::from)?; // warm-up
        for batch in [1, 16] {
            let bar = progress.bar(
                prepared.len() as u64,
                &format!("{max_tokens} tokens, batch {batch}"),
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
                max_tokens,
                batch,
                texts: prepared.len(),
                mean_tokens,
                seconds,
                texts_per_second: prepared.len() as f64 / seconds,
                ms_per_text: 1000.0 * seconds / prepared.len() as f64,
            });
        }
    }
    Ok(EncodeBench {
        data: request.data.display().to_string(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        results,
    })
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

/// What was trained and tested in one cell of the ASAP table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

/// One arm's result on one prompt at one human fraction.
#[derive(Serialize)]
pub struct AsapResult {
    prompt: u32,
    arm: Arm,
    human_fraction: f64,
    train_rows: usize,
    teacher_rows: usize,
    dev_rows: usize,
    test_rows: usize,
    test_qwk: Option<f64>,
    dev_qwk: Option<f64>,
    seconds: f64,
}

/// What `bench asap` runs.
#[derive(Debug, Clone)]
pub struct AsapBenchRequest {
    /// The ASAP-AES folder (holding training_set_rel3.utf8.tsv and folds/).
    pub asap: PathBuf,
    /// NEA fold.
    pub fold: usize,
    /// Prompts to run.
    pub prompts: Vec<u32>,
    /// Human fractions of the training ids.
    pub fractions: Vec<f64>,
    /// With a teacher, fractions below 1 also run the teacher and the student on its labels.
    pub teacher: TeacherConfig,
    /// How each student is trained.
    pub student: StudentConfig,
}

/// `bench asap`'s results.
#[derive(Serialize)]
pub struct AsapBench {
    /// The NEA fold.
    pub fold: usize,
    /// What the students trained.
    pub tune: String,
    /// Wall time.
    pub seconds: f64,
    /// Every arm on every prompt and fraction.
    pub results: Vec<AsapResult>,
    /// The Markdown table beside published and simple peers.
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

/// Trains and tests one student per prompt and fraction (and, with a teacher, the teacher and
/// the student on its labels) on an NEA fold.
pub fn asap(request: &AsapBenchRequest, progress: &Progress) -> crate::Result<AsapBench> {
    Ok(run_asap(request, progress)?)
}

fn run_asap(args: &AsapBenchRequest, progress: &Progress) -> Result<AsapBench> {
    let start = Instant::now();
    let tsv = args.asap.join("training_set_rel3.utf8.tsv");
    let fold = args.asap.join(format!("folds/fold_{}", args.fold));
    let ids = |name: &str| read_id_list(&fold.join(name));
    let (train_ids, dev_ids, test_ids) = (
        ids("train_ids.txt")?,
        ids("dev_ids.txt")?,
        ids("test_ids.txt")?,
    );
    let base = load_base(&args.student, progress)?;
    let mut results = Vec::new();
    for &prompt in &args.prompts {
        let (table, range) = read_asap_prompt(&tsv, prompt)?;
        let pick = |ids| table.rows_with_ids(ids);
        let (train_all, dev, test) = (pick(&train_ids), pick(&dev_ids), pick(&test_ids));
        for &fraction in &args.fractions {
            let fit_start = Instant::now();
            let human = sample_fraction(&train_all, fraction, args.student.seed)?;
            progress.note(&format!(
                "prompt {prompt}, {:.0}% human: {} train, {} dev, {} test",
                fraction * 100.0,
                human.len(),
                dev.len(),
                test.len()
            ));
            let result = |arm, teacher_rows, test_qwk, dev_qwk, seconds| AsapResult {
                prompt,
                arm,
                human_fraction: fraction,
                train_rows: human.len(),
                teacher_rows,
                dev_rows: dev.len(),
                test_rows: test.len(),
                test_qwk,
                dev_qwk,
                seconds,
            };
            let mut cells = Vec::new();
            progress.check()?;
            if arms(args, fraction).contains(&Arm::Teacher) {
                let pool = set_aside(&train_all, &human);
                let labelled = LabelledPool::fit_and_label(
                    Some(&base),
                    &human,
                    &dev,
                    &pool,
                    range,
                    &args.teacher,
                    &args.student,
                    progress,
                )?;
                let Teacher::Local(local) = &labelled.teacher else {
                    bail!("bench asap measures the local teacher; --teacher llm is not benchmarked here");
                };
                // The teacher's first member is the plain student: same rows, seed, settings.
                let first = local.first_student();
                cells.push(result(
                    Arm::Student,
                    0,
                    evaluate_fitted(&base, first, &test, progress)?.qwk,
                    first.trained.dev_qwk(),
                    first.seconds,
                ));
                let test_levels: Vec<i64> = local
                    .label(&base, &test, progress)?
                    .iter()
                    .map(|l| l.level)
                    .collect();
                let test_human: Vec<i64> = test.iter().filter_map(|r| r.score).collect();
                cells.push(result(
                    Arm::Teacher,
                    0,
                    agreement(&test_human, &test_levels, range).qwk,
                    labelled.dev_qwk,
                    labelled.fit_seconds + labelled.label_seconds,
                ));
                let student_start = Instant::now();
                let rows = labelled.training_rows(&human, args.teacher.weight);
                let outcome =
                    fit_score_student(&base, &rows, &dev, range, &args.student, progress)?;
                cells.push(result(
                    Arm::StudentWithPool,
                    labelled.rows.len(),
                    evaluate_fitted(&base, &outcome, &test, progress)?.qwk,
                    outcome.trained.dev_qwk(),
                    student_start.elapsed().as_secs_f64(),
                ));
            } else {
                let outcome = fit_score_student(
                    &base,
                    &TrainingRow::human(&human),
                    &dev,
                    range,
                    &args.student,
                    progress,
                )?;
                cells.push(result(
                    Arm::Student,
                    0,
                    evaluate_fitted(&base, &outcome, &test, progress)?.qwk,
                    outcome.trained.dev_qwk(),
                    fit_start.elapsed().as_secs_f64(),
                ));
            }
            for cell in &cells {
                progress.note(&format!(
                    "prompt {prompt}, {}: test QWK {} (dev {}), {:.0}s",
                    cell.arm.heading(fraction),
                    format_kappa(cell.test_qwk),
                    format_kappa(cell.dev_qwk),
                    cell.seconds
                ));
            }
            results.extend(cells);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(AsapBench {
        fold: args.fold,
        tune: args.student.tune.to_string(),
        seconds,
        table: markdown(args, &results, seconds),
        results,
    })
}

fn markdown(args: &AsapBenchRequest, results: &[AsapResult], seconds: f64) -> String {
    let mut out = format!(
        "ASAP-AES NEA fold {}, test QWK per prompt; student: {} on {}, seed {}; \
         thresholds fitted on dev. Wall time {:.1} min on {} threads.\n\n",
        args.fold,
        args.student.tune,
        args.student
            .base
            .as_deref()
            .map_or("all-MiniLM-L6-v2".into(), |p: &Path| p
                .display()
                .to_string()),
        args.student.seed,
        seconds / 60.0,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let columns: Vec<(f64, Arm)> = args
        .fractions
        .iter()
        .flat_map(|&f| arms(args, f).into_iter().map(move |arm| (f, arm)))
        .collect();
    let header: Vec<String> = columns.iter().map(|(f, arm)| arm.heading(*f)).collect();
    out.push_str(&format!(
        "| prompt | {} | peer ridge MiniLM+len3 100% | peer 10% |\n|---|{}---|---|\n",
        header.join(" | "),
        "---|".repeat(header.len())
    ));
    let mut sums = vec![(0.0, 0usize); columns.len()];
    let (mut peer_100, mut peer_10, mut peers) = (0.0, 0.0, 0);
    for &prompt in &args.prompts {
        let cells: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, &(f, arm))| {
                let qwk = results
                    .iter()
                    .find(|r| r.prompt == prompt && r.human_fraction == f && r.arm == arm)
                    .and_then(|r| r.test_qwk);
                if let Some(q) = qwk {
                    sums[i].0 += q;
                    sums[i].1 += 1;
                }
                format_kappa(qwk)
            })
            .collect();
        let p = (prompt - 1) as usize;
        peer_100 += PEER_100[p];
        peer_10 += PEER_10[p];
        peers += 1;
        out.push_str(&format!(
            "| {prompt} | {} | {:.3} | {:.3} |\n",
            cells.join(" | "),
            PEER_100[p],
            PEER_10[p]
        ));
    }
    let averages: Vec<String> = sums
        .iter()
        .map(|(s, n)| {
            if *n > 0 {
                format!("**{:.3}**", s / *n as f64)
            } else {
                "-".into()
            }
        })
        .collect();
    out.push_str(&format!(
        "| **avg** | {} | {:.3} | {:.3} |\n\n",
        averages.join(" | "),
        peer_100 / peers as f64,
        peer_10 / peers as f64
    ));
    out.push_str(
        "Published averages on all 8 prompts (5-fold): NEA 0.761, R2BERT 0.794. Best simple \
         peer in ../shared/BASELINES.md (ridge on MiniLM + TF-IDF-SVD + len3): 0.773 at 100%, \
         0.721 at 10%.\n",
    );
    out
}
