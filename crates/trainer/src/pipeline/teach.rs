//! `teach label` and `teach generate`: a teacher's labels for a pool, and an LLM's synthetic
//! responses, each as a provenance file a student can train on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cyborg_scorer::metrics::ScoreRange;
use serde::Serialize;

use crate::config::{
    DataConfig, SampleFilter, SplitConfig, StudentConfig, TeacherConfig, TeacherKind,
};
use crate::data::{read_table, Row};
use crate::error::{input, Result};
use crate::pipeline::train::read_pool;
use crate::progress::Progress;
use crate::split::Split;
use crate::student::load_base;
use crate::teacher::llm::{import_batch, LlmTeacher, Usage};
use crate::teacher::{provenance_csv, synthetic, LabelledPool};

/// What to label, with which teacher.
#[derive(Debug, Clone, Default)]
pub struct LabelRequest {
    /// Human-scored responses the teacher learns from.
    pub file: PathBuf,
    /// What to read (a score column is required).
    pub data: DataConfig,
    /// Which rows teach and which are held out.
    pub split: SplitConfig,
    /// Unscored responses to label.
    pub pool: Option<PathBuf>,
    /// The teacher (default: local).
    pub teacher: TeacherConfig,
    /// How the local teacher's students are trained (and the seed and cache of any teacher).
    pub student: StudentConfig,
    /// An LLM teacher's Batch API output to put in its answer cache first.
    pub batch_read: Option<PathBuf>,
}

/// A labelled pool and its provenance file.
pub struct Labelled {
    /// The provenance CSV: the human rows, then every pool row with its label or failure.
    pub csv: Vec<u8>,
    /// Human-scored rows the teacher learnt from.
    pub human_rows: usize,
    /// Development rows it was measured on.
    pub dev_rows: usize,
    /// The teacher, its labels and its cost.
    pub pool: LabelledPool,
}

/// Fits the teacher `request` names and labels the pool (the `pool` file and the rows
/// `human_fraction` set aside).
pub fn label_pool(request: &LabelRequest, progress: &Progress) -> Result<Labelled> {
    request.student.validate()?;
    request.teacher.validate()?;
    let is_llm = request.teacher.kind == Some(TeacherKind::Llm);
    if request.batch_read.is_some() && !is_llm {
        return Err(input("--batch-write and --batch-read are for --teacher llm").into());
    }
    let table = read_scored(request)?;
    let split = Split::new(&table, &request.split, request.student.seed)?;
    let pool_table = read_pool(request.pool.as_deref(), &request.data)?;
    if let Some(path) = &request.batch_read {
        let settings = llm_settings(request)?;
        let (stored, problems) = import_batch(&settings.cache, path)?;
        progress.note(&format!(
            "{}: {stored} answers put in the cache, {} without one{}",
            path.display(),
            problems.len(),
            problems
                .first()
                .map_or(String::new(), |p| format!(" (first: {p})"))
        ));
    }
    // Only the local teacher runs the student's encoder (a bundle carries its own).
    let base = match request.teacher.kind {
        None | Some(TeacherKind::Local) => Some(load_base(&request.student, progress)?),
        Some(_) => None,
    };
    let pool = LabelledPool::fit_and_label(
        base.as_ref(),
        &split.human,
        &split.dev,
        &split.pool(pool_table.as_ref()),
        split.range,
        &request.teacher,
        &request.student,
        progress,
    )?;
    Ok(Labelled {
        csv: pool.to_csv(&split.human)?,
        human_rows: split.human.len(),
        dev_rows: split.dev.len(),
        pool,
    })
}

/// An LLM teacher's requests for the development and pool rows not yet answered, as OpenAI
/// Batch API input lines, and how many rows were already answered in the cache.
pub fn batch_requests(request: &LabelRequest, progress: &Progress) -> Result<(String, usize)> {
    if request.teacher.kind != Some(TeacherKind::Llm) {
        return Err(input("--batch-write and --batch-read are for --teacher llm").into());
    }
    let table = read_scored(request)?;
    let split = Split::new(&table, &request.split, request.student.seed)?;
    let pool_table = read_pool(request.pool.as_deref(), &request.data)?;
    let llm = LlmTeacher::new(llm_settings(request)?, &split.human, split.range, progress)?;
    let rows: Vec<&Row> = split
        .dev
        .iter()
        .copied()
        .chain(split.pool(pool_table.as_ref()))
        .collect();
    Ok(llm.batch_requests(&rows))
}

fn read_scored(request: &LabelRequest) -> anyhow::Result<crate::data::Table> {
    let mut spec = request.data.read_spec(true, "teach label")?;
    spec.range = request.split.range;
    Ok(read_table(&request.file, &spec)?)
}

fn llm_settings(request: &LabelRequest) -> anyhow::Result<crate::teacher::llm::LlmSettings> {
    let student = &request.student;
    request
        .teacher
        .llm
        .settings(student.seed, student.cache.as_deref(), 0.0)
}

/// What synthetic responses to write.
#[derive(Debug, Clone, Default)]
pub struct GenerateRequest {
    /// Human-scored responses: the examples shown and the level proportions.
    pub file: PathBuf,
    /// What to read (a score column is required).
    pub data: DataConfig,
    /// The score range (default: the data's).
    pub range: Option<ScoreRange>,
    /// New responses per level…
    pub per_level: Option<usize>,
    /// …or the synthetic share of the human and synthetic total, in human proportions.
    pub synthetic_ratio: Option<f64>,
    /// Drop samples the LLM scores at another level.
    pub filter: Option<SampleFilter>,
    /// Drop a sample this similar (word-trigram Jaccard) to another response.
    pub max_similarity: f64,
    /// The LLM that writes.
    pub llm: crate::config::LlmConfig,
    /// Seed of the examples shown and the requests.
    pub seed: u64,
    /// The cache folder (the LLM's answers go to llm/ in it, unless `llm.llm_cache`).
    pub cache: Option<PathBuf>,
}

/// Synthetic responses and their provenance file.
pub struct Generated {
    /// The provenance CSV: the human rows, then each sample (synthetic, or dropped with why).
    pub csv: Vec<u8>,
    /// What `generate --json` prints.
    pub summary: GenerateSummary,
}

/// What writing synthetic responses did.
#[derive(Debug, Serialize)]
pub struct GenerateSummary {
    /// Human rows.
    pub human_rows: usize,
    /// Samples asked for per level.
    pub requested: BTreeMap<i64, usize>,
    /// Samples kept.
    pub kept: usize,
    /// Samples dropped or failed, with why.
    pub dropped: Vec<serde_json::Value>,
    /// Tokens spent (an endpoint only).
    pub usage: Option<Usage>,
    /// Their cost at the given prices.
    pub cost_usd: f64,
}

/// Writes synthetic responses at each score level with an LLM (Borchers et al., 2025).
pub fn generate(request: &GenerateRequest, progress: &Progress) -> Result<Generated> {
    let mut spec = request.data.read_spec(true, "teach generate")?;
    spec.range = request.range;
    let table = read_table(&request.file, &spec)?;
    let range = scale_of(
        &request.file,
        request.range.or_else(|| table.observed_range()),
    )?;
    let human: Vec<&Row> = table.rows.iter().collect();
    let counts = synthetic::plan(
        request.per_level,
        request.synthetic_ratio,
        &table.score_counts(),
        range,
    )?;
    // The writer's seed and answer cache are the run's.
    let run = StudentConfig {
        seed: request.seed,
        cache: request.cache.clone(),
        ..StudentConfig::default()
    };
    let writer = synthetic::Writer::new(
        &request.llm,
        &run,
        request.llm.temperature.unwrap_or(0.3),
        &human,
        range,
        progress,
    )?;
    let samples = synthetic::generate(
        &writer,
        &human,
        &counts,
        request.filter == Some(SampleFilter::Consistent),
        request.max_similarity,
        request.llm.max_tokens,
    )?;
    let by = writer.describe();
    let csv = provenance_csv(&human, samples.iter().map(|s| s.provenance(&by)))?;
    let endpoint = writer.author.endpoint();
    let (usage, cost_usd) = (
        endpoint.map(|llm| llm.usage()),
        endpoint.map_or(0.0, |llm| llm.cost()),
    );
    let summary = GenerateSummary {
        human_rows: human.len(),
        requested: counts,
        kept: samples.iter().filter(|s| s.dropped.is_none()).count(),
        dropped: samples
            .iter()
            .filter_map(|s| Some(serde_json::json!({"id": s.id, "reason": s.dropped.as_ref()?})))
            .collect(),
        usage,
        cost_usd,
    };
    Ok(Generated { csv, summary })
}

/// The score range to write for: given, or the data's when it has more than one level.
fn scale_of(file: &Path, range: Option<ScoreRange>) -> anyhow::Result<ScoreRange> {
    match range {
        Some(range) if range.min < range.max => Ok(range),
        _ => Err(input(format!(
            "{}: every score is the same; give the scale with --range MIN:MAX",
            file.display()
        ))),
    }
}
