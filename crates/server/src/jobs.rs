//! Training jobs: what a client may ask for, and the queue that runs one job at a time with
//! the trainer library, streaming its events and keeping its outcome.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cyborg_scorer::metrics::ScoreRange;
use cyborg_trainer::config::Tune;
use cyborg_trainer::data::parse_range;
use cyborg_trainer::{
    CancelToken, DataConfig, EvalRequest, Event, Observer, Precision, Progress, SplitConfig,
    StudentConfig, TeacherConfig, TeacherKind, TrainOutcome, TrainRequest,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::ids::Id;
use crate::store::{Dataset, Job, JobState, Store};

/// A training job as posted to `/api/jobs`; every setting but the columns has the library's
/// default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The dataset's id.
    pub dataset: String,
    /// The response column.
    pub text: String,
    /// The human score column.
    pub score: String,
    /// A unique id per row (default: the row number).
    #[serde(default)]
    pub id: Option<String>,
    /// The score range `MIN:MAX` (default: the lowest and highest score in the data).
    #[serde(default)]
    pub range: Option<String>,
    /// The share of the training rows that keep their human scores.
    #[serde(default)]
    pub human_fraction: Option<f64>,
    /// Who labels the rest.
    #[serde(default)]
    pub teacher: TeacherRequest,
    /// `head`, `top:K` or `full`.
    #[serde(default)]
    pub tune: Option<String>,
    /// Most epochs.
    #[serde(default)]
    pub epochs: Option<usize>,
    /// `pooled` (the default), `qwk` or `shares`: how the cut points from raw score to level
    /// are fitted.
    #[serde(default)]
    pub cut_points: Option<String>,
    /// Buckets of the head's lexical block (default 0: none).
    #[serde(default)]
    pub lexical_buckets: Option<usize>,
    /// Seed of the split, sampling and initialisation.
    #[serde(default)]
    pub seed: Option<u64>,
    /// How the bundle stores the encoder's matrices: `f32` (the default), `f16` or `int8`.
    #[serde(default)]
    pub weights: Option<String>,
}

/// The teacher a job asks for. An LLM's key is the server's own `OPENAI_API_KEY`: a request
/// cannot name another variable or a local file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherRequest {
    /// `none` (the default), `local`, `llm` or `bundle`.
    #[serde(default)]
    pub kind: Option<String>,
    /// With `bundle`: the finished job whose bundle labels the pool (a request cannot name a
    /// file on the server).
    #[serde(default)]
    pub job: Option<String>,
    /// Students in the local teacher's ensemble.
    #[serde(default)]
    pub members: Option<usize>,
    /// Weight of a teacher-labelled row (a human row weighs 1).
    #[serde(default)]
    pub weight: Option<f64>,
    /// The LLM's API root (`/chat/completions` is appended).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The LLM's model name.
    #[serde(default)]
    pub llm_model: Option<String>,
}

impl JobRequest {
    /// The trainer's request for this job on `dataset`, or what is wrong with the job.
    pub fn train_request(&self, dataset: &Dataset, store: &Store) -> Result<TrainRequest, String> {
        self.check_columns(dataset)?;
        let mut split = SplitConfig {
            range: self.range.as_deref().map(parse_range).transpose()?,
            ..SplitConfig::default()
        };
        if let Some(fraction) = self.human_fraction {
            if !(fraction > 0.0 && fraction <= 1.0) {
                return Err(format!("human_fraction {fraction} is not in (0, 1]"));
            }
            split.human_fraction = fraction;
        }
        let student = self.student_config(store)?;
        let weights = match &self.weights {
            Some(weights) => weights.parse().map_err(|e| format!("weights: {e}"))?,
            None => Precision::default(),
        };
        let kind = self.teacher.kind()?;
        let teaching = self.teacher.teaching_job(kind, store)?;
        split.range = taught_range(split.range, teaching.as_ref())?;
        let teacher = self
            .teacher
            .config(kind, teaching.map(|job| store.bundle_path(&job.id)))?;
        if teacher.kind.is_some() && split.human_fraction >= 1.0 {
            return Err(
                "a teacher labels the training rows whose human scores are set aside: \
                        give human_fraction below 1 (e.g. 0.1)"
                    .into(),
            );
        }
        Ok(TrainRequest {
            file: store.dataset_path(dataset),
            data: DataConfig {
                text: self.text.clone(),
                score: Some(self.score.clone()),
                id: self.id.clone(),
                ..DataConfig::default()
            },
            split,
            teacher,
            student,
            weights,
            ..TrainRequest::default()
        })
    }

    /// Refuses a column `dataset` does not have, and text and score naming the same one.
    fn check_columns(&self, dataset: &Dataset) -> Result<(), String> {
        for column in [Some(&self.text), Some(&self.score), self.id.as_ref()]
            .into_iter()
            .flatten()
        {
            if !dataset.columns.contains(column) {
                return Err(format!(
                    "the dataset {} has no column \"{column}\" (it has: {})",
                    dataset.name,
                    dataset.columns.join(", ")
                ));
            }
        }
        if self.text == self.score {
            return Err("text and score name the same column".into());
        }
        Ok(())
    }

    /// The student's settings: the defaults, caching in `store`, with the job's overrides.
    fn student_config(&self, store: &Store) -> Result<StudentConfig, String> {
        let mut student = StudentConfig {
            cache: Some(store.cache_dir()),
            ..StudentConfig::default()
        };
        if let Some(tune) = &self.tune {
            student.tune = Some(tune.parse::<Tune>().map_err(|e| format!("tune: {e}"))?);
        }
        if let Some(epochs) = self.epochs {
            if epochs == 0 {
                return Err("epochs must be at least 1".into());
            }
            student.epochs = Some(epochs);
        }
        if let Some(seed) = self.seed {
            student.seed = seed;
        }
        if let Some(cut_points) = &self.cut_points {
            student.cut_points = cut_points.parse().map_err(|e| format!("cut_points: {e}"))?;
        }
        if let Some(buckets) = self.lexical_buckets {
            student.lexical_buckets = buckets;
        }
        student.validate().map_err(|e| format!("{e:#}"))?;
        Ok(student)
    }
}

impl TeacherRequest {
    fn kind(&self) -> Result<Option<TeacherKind>, String> {
        match self.kind.as_deref().unwrap_or("none") {
            "none" => Ok(None),
            "local" => Ok(Some(TeacherKind::Local)),
            "llm" => Ok(Some(TeacherKind::Llm)),
            "bundle" => Ok(Some(TeacherKind::Bundle)),
            other => Err(format!(
                "teacher kind \"{other}\" is not none, local, llm or bundle"
            )),
        }
    }

    /// The teacher's settings; `bundle` is the teaching job's bundle for a `bundle` teacher.
    fn config(
        &self,
        kind: Option<TeacherKind>,
        bundle: Option<PathBuf>,
    ) -> Result<TeacherConfig, String> {
        let mut config = TeacherConfig {
            kind,
            bundle,
            ..TeacherConfig::default()
        };
        if let Some(members) = self.members {
            if members == 0 {
                return Err("teacher members must be at least 1".into());
            }
            config.members = members;
        }
        if let Some(weight) = self.weight {
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(format!("teacher weight {weight} is not a number ≥ 0"));
            }
            config.weight = weight;
        }
        config.llm.base_url = self.base_url.clone();
        config.llm.llm_model = self.llm_model.clone();
        Ok(config)
    }

    /// The job a `bundle` teacher names, which must have finished.
    fn teaching_job(
        &self,
        kind: Option<TeacherKind>,
        store: &Store,
    ) -> Result<Option<Job>, String> {
        let job = match (kind == Some(TeacherKind::Bundle), &self.job) {
            (false, None) => return Ok(None),
            (false, Some(_)) => return Err("teacher job is for teacher kind \"bundle\"".into()),
            (true, None) => {
                return Err(
                    "teacher kind \"bundle\" needs teacher job: the finished job whose bundle \
                     labels the pool"
                        .into(),
                )
            }
            (true, Some(job)) => job,
        };
        let found = Id::parse(job)
            .map(|id| store.job(&id))
            .transpose()
            .map_err(|e| format!("{e:#}"))?
            .flatten();
        match found {
            Some(teacher) if teacher.state == JobState::Done => Ok(Some(teacher)),
            Some(teacher) => Err(format!(
                "the teacher job {job} is {}: only a finished job's bundle can teach",
                teacher.state.as_str()
            )),
            None => Err(format!("there is no job \"{job}\"")),
        }
    }
}

/// The range a job taught by `teaching`'s bundle trains on: the teacher's, which the job may
/// repeat but not change, since a bundle labels on its own range. A job finished before its
/// range was kept leaves the check to the trainer.
fn taught_range(
    asked: Option<ScoreRange>,
    teaching: Option<&Job>,
) -> Result<Option<ScoreRange>, String> {
    let scores_on = teaching
        .and_then(|job| job.metrics.as_ref())
        .and_then(|metrics| metrics["range"].as_str())
        .and_then(|range| parse_range(range).ok());
    match (asked, scores_on) {
        (Some(asked), Some(scores_on)) if asked != scores_on => Err(format!(
            "the teacher job {} scores {}:{}, and this job asks for range {}:{}: a bundle \
             labels on its own range (leave range out to take the teacher's)",
            teaching.map(|job| job.id.to_string()).unwrap_or_default(),
            scores_on.min,
            scores_on.max,
            asked.min,
            asked.max
        )),
        (asked, scores_on) => Ok(scores_on.or(asked)),
    }
}

/// A job event for the clients following it: `(job, JSON)`.
pub type JobEvent = (Id, Arc<str>);

/// The job being trained, if any.
pub struct Running {
    /// Its id.
    pub id: Id,
    /// Stops it.
    pub cancel: CancelToken,
    /// Its latest progress.
    pub progress: Arc<Mutex<Value>>,
}

/// Text a client reads with the server's own paths taken out: the job's dataset file named as
/// it was uploaded, anything else in the data folder relative to the folder.
pub struct ClientText {
    replacements: Vec<(String, String)>,
}

impl ClientText {
    /// For a job of `store` on `dataset`.
    pub fn new(store: &Store, dataset: Option<&Dataset>) -> ClientText {
        let dataset = dataset.map(|d| (store.dataset_path(d), d.name.clone()));
        ClientText::naming(store.dir(), dataset)
    }

    /// Names `dataset`'s file (path, name) by its name, and the rest of `data_dir` relatively.
    fn naming(data_dir: &Path, dataset: Option<(PathBuf, String)>) -> ClientText {
        let replacements = dataset
            .into_iter()
            .chain([(data_dir.join(""), String::new())])
            .map(|(path, name)| (path.display().to_string(), name))
            .collect();
        ClientText { replacements }
    }

    /// `text` with the server's paths replaced.
    pub fn of(&self, text: &str) -> String {
        let replace = |text: String, (path, name): &(String, String)| text.replace(path, name);
        self.replacements.iter().fold(text.to_string(), replace)
    }
}

/// Hands the library's events to the job's followers and keeps the latest as its progress.
struct JobObserver {
    id: Id,
    events: broadcast::Sender<JobEvent>,
    progress: Arc<Mutex<Value>>,
    store: Arc<Store>,
    client_text: Arc<ClientText>,
}

impl Observer for JobObserver {
    fn event(&self, event: &Event) {
        let redacted;
        let event = match event {
            Event::Note { text } => {
                redacted = Event::Note {
                    text: self.client_text.of(text),
                };
                &redacted
            }
            other => other,
        };
        let Ok(value) = serde_json::to_value(event) else {
            return;
        };
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let lasting = match event {
            Event::Stage {
                name, unit, total, ..
            } => {
                progress["stage"] =
                    json!({ "name": name, "unit": unit, "total": total, "done": 0 });
                true
            }
            Event::Step { done, .. } => {
                if let Some(stage) = progress.get_mut("stage") {
                    stage["done"] = json!(done);
                }
                false
            }
            Event::Epoch { .. } => {
                progress["epoch"] = value.clone();
                true
            }
            Event::Note { text } => {
                progress["note"] = json!(text);
                true
            }
            Event::StageEnd { .. } => false,
        };
        if lasting {
            // Kept so that a restart or a late client sees how far the job got; a failed write
            // loses only a progress line, never the job.
            let _ = self.store.set_progress(&self.id, &progress);
        }
        drop(progress);
        let _ = self
            .events
            .send((self.id.clone(), value.to_string().into()));
    }
}

/// Runs queued jobs one at a time, for as long as the server runs.
pub struct Queue {
    /// Where jobs and their files are kept.
    pub store: Arc<Store>,
    /// Every job's events, for `/api/jobs/ID/events`.
    pub events: broadcast::Sender<JobEvent>,
    /// The job being trained.
    pub running: Mutex<Option<Running>>,
    /// Wakes the queue when a job is posted.
    pub wake: tokio::sync::Notify,
    /// The encoder every job's local teacher starts from (None: the student's).
    pub teacher_base: Option<PathBuf>,
}

impl Queue {
    /// A queue over `store` whose local teachers start from `teacher_base`, not yet running.
    pub fn new(store: Arc<Store>, teacher_base: Option<PathBuf>) -> Queue {
        Queue {
            store,
            teacher_base,
            events: broadcast::channel(4096).0,
            running: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Runs every queued job in order, then waits for more; never returns.
    pub async fn run(self: Arc<Self>) {
        loop {
            match self.store.next_queued() {
                Ok(Some(job)) => {
                    let queue = self.clone();
                    if let Err(panic) =
                        tokio::task::spawn_blocking(move || queue.run_job(job)).await
                    {
                        eprintln!("a job's thread panicked: {panic}");
                    }
                }
                Ok(None) => self.wake.notified().await,
                Err(error) => {
                    eprintln!("cannot read the job queue: {error:#}");
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
        }
    }

    /// The progress of `job` if it is the one running.
    pub fn live_progress(&self, job: &Id) -> Option<Value> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let running = running.as_ref().filter(|r| &r.id == job)?;
        let progress = running.progress.lock().unwrap_or_else(|p| p.into_inner());
        Some(progress.clone())
    }

    /// Asks `job` to stop: at once when queued, at its next check when running.
    pub fn cancel(&self, job: &Id) -> anyhow::Result<()> {
        if self.store.cancel_queued(job)? {
            self.announce(job);
            return Ok(());
        }
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(running) = running.as_ref().filter(|r| &r.id == job) {
            running.cancel.cancel();
        }
        Ok(())
    }

    /// Tells followers of `job` its state.
    fn announce(&self, job: &Id) {
        if let Ok(Some(job)) = self.store.job(job) {
            let _ = self
                .events
                .send((job.id.clone(), state_event(&job).to_string().into()));
        }
    }

    fn run_job(&self, job: Job) {
        let progress = Arc::new(Mutex::new(json!({})));
        let cancel = CancelToken::new();
        let dataset = self.store.dataset(&job.dataset);
        let known = dataset.as_ref().ok().and_then(Option::as_ref);
        let client_text = Arc::new(ClientText::new(&self.store, known));
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running {
            id: job.id.clone(),
            cancel: cancel.clone(),
            progress: progress.clone(),
        });
        let observer = JobObserver {
            id: job.id.clone(),
            events: self.events.clone(),
            progress: progress.clone(),
            store: self.store.clone(),
            client_text: client_text.clone(),
        };
        let events = Progress::new(Arc::new(observer), cancel);
        let outcome = self
            .store
            .start_job(&job.id)
            .map_err(cyborg_trainer::Error::System)
            .and_then(|()| {
                self.announce(&job.id);
                self.train(&job, dataset, &events)
            });
        let last = progress.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let ended = self
            .store
            .set_progress(&job.id, &last)
            .and_then(|()| match outcome {
                Ok(metrics) => self
                    .store
                    .finish_job(&job.id, JobState::Done, Some(&metrics), None),
                Err(cyborg_trainer::Error::Cancelled) => {
                    self.store
                        .finish_job(&job.id, JobState::Cancelled, None, None)
                }
                Err(error) => self.store.finish_job(
                    &job.id,
                    JobState::Failed,
                    None,
                    Some(&error_json(&error, &client_text)),
                ),
            });
        if let Err(error) = ended {
            eprintln!("cannot record the end of job {}: {error:#}", job.id);
        }
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.announce(&job.id);
    }

    /// Trains `job`'s student on `dataset` (as the store read it when the job started), keeps
    /// its bundle and its report, and returns what it measured.
    fn train(
        &self,
        job: &Job,
        dataset: anyhow::Result<Option<Dataset>>,
        progress: &Progress,
    ) -> cyborg_trainer::Result<Value> {
        let system = |e: anyhow::Error| cyborg_trainer::Error::System(e);
        let dataset = dataset
            .map_err(system)?
            .ok_or_else(|| system(anyhow::anyhow!("the dataset {} is gone", job.dataset)))?;
        let request: JobRequest =
            serde_json::from_value(job.request.clone()).map_err(|e| system(e.into()))?;
        let mut train = request
            .train_request(&dataset, &self.store)
            .map_err(|e| cyborg_trainer::Error::Input(anyhow::anyhow!(e)))?;
        if train.teacher.kind == Some(TeacherKind::Local) {
            train.teacher.base = self.teacher_base.clone();
        }
        let outcome = cyborg_trainer::train_bundle(&train, progress)?;
        // Served only once the job is done, so a report that fails leaves no bundle in use.
        let bundle = self.store.bundle_path(&job.id);
        cyborg_trainer::output::write_atomically(&bundle, &outcome.bundle)?;
        let report = self.report(job, &dataset, &train, &outcome, progress)?;
        cyborg_trainer::output::write_atomically(
            &self.store.report_path(&job.id),
            report.as_bytes(),
        )?;
        let summary = &outcome.summary;
        Ok(json!({
            "dev_qwk": summary.dev.qwk,
            "dev_qwk_rounding": summary.dev_rounding.qwk,
            "train_rows": summary.train_rows,
            "teacher_rows": summary.teacher_rows,
            "dev_rows": summary.dev_rows,
            "range": format!("{}:{}", summary.range.min, summary.range.max),
            "best_epoch": summary.best_epoch,
            "epochs_run": summary.history.len(),
            "seconds": summary.seconds,
            "bundle_bytes": outcome.bundle.len(),
            "teacher": outcome.teacher_line,
        }))
    }

    /// The HTML report of the student on the development rows it never trained on.
    fn report(
        &self,
        job: &Job,
        dataset: &Dataset,
        train: &TrainRequest,
        outcome: &TrainOutcome,
        progress: &Progress,
    ) -> cyborg_trainer::Result<String> {
        let dev_ids = self
            .store
            .cache_dir()
            .join(format!("{}-dev-ids.txt", job.id));
        cyborg_trainer::output::write_atomically(&dev_ids, outcome.dev_ids.join("\n").as_bytes())?;
        let mut data = train.data.clone();
        data.ids = Some(dev_ids.clone());
        let evaluated = cyborg_trainer::evaluate(
            &EvalRequest {
                model: self.store.bundle_path(&job.id),
                file: train.file.clone(),
                data,
                bootstrap: 200,
                ..EvalRequest::default()
            },
            progress,
        );
        let _ = std::fs::remove_file(&dev_ids);
        Ok(cyborg_trainer::report::html(
            &format!("{}.cyborg", job.id),
            &format!(
                "{}: the {} development rows, held out from training",
                dataset.name,
                outcome.dev_ids.len()
            ),
            &cyborg_trainer::format::now_rfc3339(),
            &evaluated?.evaluation,
            None,
        ))
    }
}

/// A job's state as its followers see it.
pub fn state_event(job: &Job) -> Value {
    json!({
        "event": "state",
        "state": job.state,
        "progress": job.progress,
        "metrics": job.metrics,
        "error": job.error,
    })
}

/// A failed job's error as the API shows it: the message, and where in the data when known.
fn error_json(error: &cyborg_trainer::Error, client_text: &ClientText) -> Value {
    match error.data_error() {
        Some(located) => json!({
            "error": client_text.of(&located.message),
            "line": located.line,
            "column": located.column,
        }),
        None => json!({ "error": client_text.of(&format!("{error:#}")) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_names_the_dataset_and_keeps_the_data_folder_to_itself() {
        let dir = Path::new("/srv/cyborg");
        let file = dir.join("datasets/0123456789abcdef.csv");
        let text = ClientText::naming(dir, Some((file, "essays.csv".into())));
        assert_eq!(
            text.of(
                "/srv/cyborg/datasets/0123456789abcdef.csv:3:2: not a number; \
                 loading the teacher bundle /srv/cyborg/bundles/fedcba9876543210.cyborg"
            ),
            "essays.csv:3:2: not a number; loading the teacher bundle \
             bundles/fedcba9876543210.cyborg"
        );
        assert_eq!(
            text.of("/srv/cyborgs/x"),
            "/srv/cyborgs/x",
            "another folder"
        );
    }
}
