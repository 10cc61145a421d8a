//! Teachers: models that score the responses no human scored, so that a student learns from
//! far more responses than people marked (North & Ormerod's "Cyborg Data").
//!
//! A teacher is fitted on the human-scored rows, labels the pool with an expected score (a
//! soft label) and a level, and the student then trains on both; every label carries its
//! provenance, so what a human said and what a teacher said are never confused.

pub mod bundle;
pub mod gguf;
pub mod llm;
pub mod local;
pub mod synthetic;
pub mod tfidf;

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cyborg_scorer::base::BaseModel;
use cyborg_scorer::metrics::{agreement, ScoreRange};
use serde::Serialize;

use crate::config::{LlmConfig, StudentConfig, TeacherConfig, TeacherKind};
use crate::data::Row;
use crate::format::format_kappa;
use crate::progress::Progress;
use crate::student::{load_base, TrainingRow};
use bundle::BundleTeacher;
use gguf::{GgufModel, GgufTeacher};
use llm::LlmTeacher;
use local::LocalTeacher;

/// A teacher's label for one response.
#[derive(Debug, Clone, Serialize)]
pub struct TeacherLabel {
    /// The expected score on the score scale: what the student learns (a soft label).
    pub expected: f64,
    /// The level the expected score falls in, by the teacher's thresholds.
    pub level: i64,
    /// How sure the teacher is of `level`, 0 to 1: for the local teacher the share of its
    /// members whose own level agrees, for an LLM the probability of the level among the
    /// score token's alternatives (unknown when the server gives no log-probabilities).
    pub confidence: Option<f64>,
}

/// A teacher ready to label.
pub enum Teacher {
    /// Fitted here: students and TF-IDF ridge.
    Local(Box<LocalTeacher>),
    /// A chat model shown a rubric and examples.
    Chat(ChatModel),
    /// A bundle trained before, often on a larger encoder.
    Bundle(Box<BundleTeacher>),
}

/// A chat model that scores responses and writes new ones: an OpenAI-compatible endpoint or a
/// local quantized model. Every caller goes through it, so both kinds serve every job.
pub enum ChatModel {
    /// An OpenAI-compatible endpoint.
    Llm(Box<LlmTeacher>),
    /// A local quantized chat model.
    Gguf(Box<GgufTeacher>),
}

impl ChatModel {
    /// The model and its settings, for provenance.
    pub fn describe(&self) -> String {
        match self {
            ChatModel::Llm(llm) => llm.describe(),
            ChatModel::Gguf(gguf) => gguf.describe(),
        }
    }

    /// Scores `rows`; a row the model could not score gets the reason instead.
    pub fn label(&self, rows: &[&Row]) -> Result<Vec<Result<TeacherLabel, String>>> {
        match self {
            ChatModel::Llm(llm) => llm.label(rows),
            ChatModel::Gguf(gguf) => gguf.label(rows),
        }
    }

    /// Writes one response per job `(level, k)` at `temperature` (a local model writes at most
    /// `max_tokens`).
    pub fn write(
        &self,
        jobs: &[(i64, usize)],
        temperature: f64,
        max_tokens: usize,
    ) -> Result<Vec<Result<String, String>>> {
        match self {
            ChatModel::Llm(llm) => llm.generate(jobs, temperature),
            ChatModel::Gguf(gguf) => gguf.write(jobs, temperature, max_tokens),
        }
    }

    /// The endpoint, whose tokens are counted and priced; `None` for a local model.
    pub fn endpoint(&self) -> Option<&LlmTeacher> {
        match self {
            ChatModel::Llm(llm) => Some(llm),
            ChatModel::Gguf(_) => None,
        }
    }
}

impl Teacher {
    /// Fits the teacher `config` names on `human` (a local teacher also early-stops its
    /// students on `dev`), or readies the chat model or the bundle.
    fn fit(
        base: Option<&BaseModel>,
        human: &[&Row],
        dev: &[&Row],
        range: ScoreRange,
        config: &TeacherConfig,
        student: &StudentConfig,
        progress: &Progress,
    ) -> Result<Teacher> {
        Ok(match config.kind.unwrap_or(TeacherKind::Local) {
            TeacherKind::Local => Teacher::Local(Box::new(LocalTeacher::fit(
                base.context("the local teacher needs a base model")?,
                teacher_base(config, student, progress)?,
                human,
                dev,
                range,
                student,
                config.members,
                progress,
            )?)),
            TeacherKind::Bundle => Teacher::Bundle(Box::new(BundleTeacher::load(
                config
                    .bundle
                    .as_deref()
                    .context("--teacher bundle needs --teacher-bundle FILE")?,
                range,
                progress,
            )?)),
            kind => Teacher::Chat(config.llm.chat_model(
                kind == TeacherKind::Gguf,
                None,
                student,
                human,
                range,
                progress,
            )?),
        })
    }

    /// The teacher's QWK on `dev`: a local teacher measured it while fitting; a chat model or
    /// a bundle labels the rows now (rows it could not score are left out).
    fn dev_qwk(
        &self,
        base: Option<&BaseModel>,
        dev: &[&Row],
        range: ScoreRange,
        progress: &Progress,
    ) -> Result<Option<f64>> {
        if let Teacher::Local(local) = self {
            return Ok(local.report.dev_qwk);
        }
        let labels = self.label(base, dev, progress)?;
        let (human_levels, teacher_levels): (Vec<i64>, Vec<i64>) = dev
            .iter()
            .zip(&labels)
            .filter_map(|(r, l)| Some((r.score?, l.as_ref().ok()?.level)))
            .unzip();
        Ok(agreement(&human_levels, &teacher_levels, range).qwk)
    }

    /// The teacher and its settings, recorded beside each of its labels.
    pub fn describe(&self) -> String {
        match self {
            Teacher::Local(t) => t.describe(),
            Teacher::Chat(t) => t.describe(),
            Teacher::Bundle(t) => t.describe(),
        }
    }

    /// Labels `rows`; a row the teacher could not score gets the reason instead. `base` is
    /// the encoder the local teacher's students were fitted on.
    pub fn label(
        &self,
        base: Option<&BaseModel>,
        rows: &[&Row],
        progress: &Progress,
    ) -> Result<Vec<Result<TeacherLabel, String>>> {
        match self {
            Teacher::Local(t) => Ok(t
                .label(
                    base.context("the local teacher needs its base model")?,
                    rows,
                    progress,
                )?
                .into_iter()
                .map(Ok)
                .collect()),
            Teacher::Chat(t) => t.label(rows),
            Teacher::Bundle(t) => Ok(t.label(rows, progress)?.into_iter().map(Ok).collect()),
        }
    }
}

/// A pool labelled by a teacher fitted on human scores.
pub struct LabelledPool {
    /// The teacher.
    pub teacher: Teacher,
    /// The teacher's QWK on the development rows (which it labels too).
    pub dev_qwk: Option<f64>,
    /// Seconds spent fitting the teacher and labelling the development rows.
    pub fit_seconds: f64,
    /// The pool's responses, their human scores (if the file had any) removed.
    pub rows: Vec<Row>,
    /// One label per pool row, or why the teacher could not give one.
    pub labels: Vec<Result<TeacherLabel, String>>,
    /// Seconds spent labelling the pool.
    pub label_seconds: f64,
}

/// The encoder `config` gives the local teacher's students, read with the student's windows.
fn teacher_base(
    config: &TeacherConfig,
    student: &StudentConfig,
    progress: &Progress,
) -> Result<Option<BaseModel>> {
    let Some(dir) = &config.base else {
        return Ok(None);
    };
    progress.note("the teacher's students start from an encoder of their own");
    let student = StudentConfig {
        base: Some(dir.clone()),
        ..student.clone()
    };
    Ok(Some(load_base(&student, progress)?))
}

impl LabelledPool {
    /// Fits the teacher on `human`, measures it on `dev`, and labels `pool`. The local
    /// teacher needs `base`, the encoder its students start from; the LLM teacher does not.
    ///
    /// The pool's scores are dropped first, so that neither the teacher nor a student trained
    /// on its labels can see them.
    #[allow(clippy::too_many_arguments)]
    pub fn fit_and_label(
        base: Option<&BaseModel>,
        human: &[&Row],
        dev: &[&Row],
        pool: &[&Row],
        range: ScoreRange,
        config: &TeacherConfig,
        student: &StudentConfig,
        progress: &Progress,
    ) -> Result<LabelledPool> {
        config.validate()?;
        if pool.is_empty() {
            bail!(
                "the teacher has nothing to label: give --pool FILE, or --human-fraction below 1 \
                 to treat the other training rows as the pool"
            );
        }
        let rows: Vec<Row> = pool
            .iter()
            .map(|&r| Row {
                score: None,
                traits: Vec::new(),
                ..r.clone()
            })
            .collect();
        let start = Instant::now();
        let teacher = Teacher::fit(base, human, dev, range, config, student, progress)?;
        let dev_qwk = teacher.dev_qwk(base, dev, range, progress)?;
        let fit_seconds = start.elapsed().as_secs_f64();
        progress.note(&format!(
            "teacher ready in {fit_seconds:.0}s: dev QWK {} ({})",
            format_kappa(dev_qwk),
            teacher.describe()
        ));
        let start = Instant::now();
        let refs: Vec<&Row> = rows.iter().collect();
        let labels = teacher.label(base, &refs, progress)?;
        let label_seconds = start.elapsed().as_secs_f64();
        let labelled = LabelledPool {
            teacher,
            dev_qwk,
            fit_seconds,
            rows,
            labels,
            label_seconds,
        };
        progress.note(&labelled.summary_line());
        Ok(labelled)
    }

    /// The teacher, its development results, its labels' distribution and its cost, as JSON.
    pub fn summary(&self) -> serde_json::Value {
        let mut levels = std::collections::BTreeMap::new();
        for label in self.labels.iter().flatten() {
            *levels.entry(label.level).or_insert(0usize) += 1;
        }
        let failures: Vec<serde_json::Value> = self
            .rows
            .iter()
            .zip(&self.labels)
            .filter_map(|(row, label)| {
                let reason = label.as_ref().err()?;
                Some(serde_json::json!({"id": row.id, "line": row.line, "reason": reason}))
            })
            .collect();
        let mut summary = serde_json::json!({
            "teacher": self.teacher.describe(),
            "dev_qwk": self.dev_qwk,
            "fit_seconds": self.fit_seconds,
            "pool_rows": self.rows.len(),
            "failed": failures,
            "label_levels": levels,
            "label_seconds": self.label_seconds,
            "seconds_per_1000": self.seconds_per_thousand(),
        });
        match &self.teacher {
            Teacher::Local(local) => summary["fit"] = serde_json::json!(local.report),
            Teacher::Bundle(_) => {}
            Teacher::Chat(chat) => {
                let Some(llm) = chat.endpoint() else {
                    return summary;
                };
                let usage = llm.usage();
                let answered = (self.rows.len() as u64).max(1);
                summary["usage"] = serde_json::json!(usage);
                summary["tokens_per_1000"] = serde_json::json!(
                    1000 * (usage.prompt_tokens + usage.completion_tokens) / answered
                );
                summary["cost_usd"] = serde_json::json!(llm.cost());
            }
        }
        summary
    }

    /// One line: the teacher, its development QWK, and its cost.
    pub fn summary_line(&self) -> String {
        let failed = self.labels.iter().filter(|l| l.is_err()).count();
        let cost = match &self.teacher {
            Teacher::Local(_) | Teacher::Bundle(_) => String::new(),
            Teacher::Chat(chat) => match chat.endpoint() {
                None => String::new(),
                Some(llm) => {
                    let usage = llm.usage();
                    let tokens = usage.prompt_tokens + usage.completion_tokens;
                    format!(
                        "; {tokens} tokens ({:.0} per 1,000 pool responses, dev included), \
                     ${:.4} at the given prices; {} requests sent, {} answers from the cache",
                        1000.0 * tokens as f64 / self.rows.len() as f64,
                        llm.cost(),
                        usage.requests_sent,
                        usage.cached
                    )
                }
            },
        };
        format!(
            "teacher {}: dev QWK {}; labelled {} of {} pool responses ({failed} failed, \
             recorded as such); {:.0}s per 1,000 pool responses on this machine, fitting \
             included{cost}",
            self.teacher.describe(),
            format_kappa(self.dev_qwk),
            self.rows.len() - failed,
            self.rows.len(),
            self.seconds_per_thousand()
        )
    }

    /// Seconds per 1,000 pool responses, fitting included.
    pub fn seconds_per_thousand(&self) -> f64 {
        1000.0 * (self.fit_seconds + self.label_seconds) / self.rows.len() as f64
    }

    /// What a student trains on: the human rows with their scores (weight 1) and the pool
    /// rows the teacher labelled, with its expected scores (weight `teacher_weight`).
    pub fn training_rows<'a>(
        &'a self,
        human: &[&'a Row],
        teacher_weight: f64,
    ) -> Vec<TrainingRow<'a>> {
        let labelled = self
            .rows
            .iter()
            .zip(&self.labels)
            .filter_map(|(row, label)| Some((row, label.as_ref().ok()?.expected)));
        let mut rows = TrainingRow::human(human);
        rows.extend(TrainingRow::labelled(labelled, teacher_weight));
        rows
    }

    /// Every row with its provenance, as CSV (see [`provenance_csv`]): human rows, then pool
    /// rows with source `teacher`, or `failed` and the reason.
    pub fn to_csv<'a>(&'a self, human: &[&'a Row]) -> Result<Vec<u8>> {
        let teacher = self.teacher.describe();
        provenance_csv(
            human,
            self.rows
                .iter()
                .zip(&self.labels)
                .map(|(row, label)| match label {
                    Ok(label) => Provenance {
                        id: &row.id,
                        text: &row.text,
                        score: Some(label.level),
                        expected: Some(label.expected),
                        source: Source::Teacher,
                        by: &teacher,
                        confidence: label.confidence,
                        error: "",
                    },
                    Err(reason) => Provenance {
                        id: &row.id,
                        text: &row.text,
                        score: None,
                        expected: None,
                        source: Source::Failed,
                        by: &teacher,
                        confidence: None,
                        error: reason,
                    },
                }),
        )
    }
}

/// Where a row's score came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A person scored it.
    Human,
    /// A teacher scored it.
    Teacher,
    /// An LLM wrote it for the level in its score.
    Synthetic,
    /// A teacher was asked and gave no usable score.
    Failed,
    /// A synthetic response left out (inconsistent or a near-duplicate).
    Dropped,
}

impl Source {
    /// The value in the `source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Human => "human",
            Source::Teacher => "teacher",
            Source::Synthetic => "synthetic",
            Source::Failed => "failed",
            Source::Dropped => "dropped",
        }
    }

    /// The source a `source` column value names.
    pub fn parse(value: &str) -> Option<Source> {
        [
            Source::Human,
            Source::Teacher,
            Source::Synthetic,
            Source::Failed,
            Source::Dropped,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// One row of a provenance file.
pub struct Provenance<'a> {
    /// Its id.
    pub id: &'a str,
    /// The response.
    pub text: &'a str,
    /// The level: human, teacher's, or the one a synthetic response was written for.
    pub score: Option<i64>,
    /// The soft label a student learns.
    pub expected: Option<f64>,
    /// Where the score came from.
    pub source: Source,
    /// The teacher or generator and its settings.
    pub by: &'a str,
    /// How sure the teacher was, 0 to 1.
    pub confidence: Option<f64>,
    /// Why there is no usable score.
    pub error: &'a str,
}

/// The columns of a provenance file.
pub const PROVENANCE_COLUMNS: [&str; 8] = [
    "id",
    "text",
    "score",
    "expected_score",
    "source",
    "teacher",
    "confidence",
    "error",
];

/// A provenance file: the `human` rows (source `human`, their own score), then `others`.
pub fn provenance_csv<'a>(
    human: &[&'a Row],
    others: impl IntoIterator<Item = Provenance<'a>>,
) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(PROVENANCE_COLUMNS)?;
    let humans = human.iter().map(|row| Provenance {
        id: &row.id,
        text: &row.text,
        score: row.score,
        expected: row.score.map(|s| s as f64),
        source: Source::Human,
        by: "",
        confidence: Some(1.0),
        error: "",
    });
    for p in humans.collect::<Vec<_>>().into_iter().chain(others) {
        writer.write_record([
            p.id,
            p.text,
            &p.score.map_or_else(String::new, |s| s.to_string()),
            &p.expected.map_or_else(String::new, |e| format!("{e:.6}")),
            p.source.as_str(),
            p.by,
            &p.confidence.map_or_else(String::new, |c| format!("{c:.3}")),
            p.error,
        ])?;
    }
    Ok(writer.into_inner()?)
}

impl LlmConfig {
    /// The chat model these settings name — the GGUF file when `local`, else the endpoint —
    /// shown `human`'s examples and the rubric, scoring at `temperature` (default: the
    /// configured one, else 0). Its seed and answer cache come from `student`.
    pub fn chat_model(
        &self,
        local: bool,
        temperature: Option<f64>,
        student: &StudentConfig,
        human: &[&Row],
        range: ScoreRange,
        progress: &Progress,
    ) -> Result<ChatModel> {
        let seed = student.seed;
        if local {
            let path = self
                .gguf
                .as_deref()
                .context("--teacher gguf needs --gguf FILE")?;
            let gguf = self.gguf_teacher(path, seed, human, range, progress)?;
            return Ok(ChatModel::Gguf(Box::new(gguf)));
        }
        let mut settings = self.settings(seed, student.cache.as_deref(), 0.0)?;
        if let Some(temperature) = temperature {
            settings.temperature = temperature;
        }
        let llm = LlmTeacher::new(settings, human, range, progress)?;
        Ok(ChatModel::Llm(Box::new(llm)))
    }

    /// The gguf teacher for the model at `path`, shown `human`'s examples and the rubric.
    fn gguf_teacher(
        &self,
        path: &Path,
        seed: u64,
        human: &[&Row],
        range: ScoreRange,
        progress: &Progress,
    ) -> Result<GgufTeacher> {
        let rubric = self.rubric()?;
        progress.note(&format!("loading the GGUF model {}", path.display()));
        GgufTeacher::new(
            GgufModel::load(path)?,
            &llm::guide(rubric.as_deref()),
            llm::examples(seed, self.examples_per_level, human, range),
            range,
            seed,
            progress,
        )
    }

    /// The rubric's text, if one was given.
    fn rubric(&self) -> Result<Option<String>> {
        self.rubric
            .as_deref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the rubric {}", path.display()))
            })
            .transpose()
    }

    /// The LLM's settings, checked: endpoint and model given, rubric readable. `temperature`
    /// applies unless --temperature was given; answers are cached in --llm-cache, else in
    /// `llm/` under `cache` or the default cache folder.
    pub fn settings(
        &self,
        seed: u64,
        cache: Option<&Path>,
        temperature: f64,
    ) -> Result<llm::LlmSettings> {
        let (Some(base_url), Some(model)) = (&self.base_url, &self.llm_model) else {
            bail!("--teacher llm needs --base-url URL and --llm-model NAME");
        };
        let rubric = self.rubric()?;
        let cache = match &self.llm_cache {
            Some(dir) => dir.clone(),
            None => cache
                .map(Path::to_path_buf)
                .or_else(crate::cache::StateCache::default_root)
                .context("no folder for the LLM answer cache: give --llm-cache DIR")?
                .join("llm"),
        };
        Ok(llm::LlmSettings {
            base_url: base_url.clone(),
            model: model.clone(),
            api_key: std::env::var(&self.api_key_env)
                .ok()
                .filter(|k| !k.is_empty()),
            temperature: self.temperature.unwrap_or(temperature),
            seed,
            concurrency: self.concurrency,
            retries: self.retries,
            rubric,
            examples_per_level: self.examples_per_level,
            cache,
            price_per_million: self.prices,
            timeout: std::time::Duration::from_secs_f64(self.request_timeout.max(0.001)),
        })
    }
}
