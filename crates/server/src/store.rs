//! What the server keeps: datasets and jobs in one SQLite file (WAL, synced on every commit),
//! and their files under the data folder, named only by ids the server made.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::ids::Id;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the jobs before it.
    Queued,
    /// Training.
    Running,
    /// Finished: its bundle and report are served.
    Done,
    /// Stopped by an error (its `error` says why).
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// The state as the API and the database spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => anyhow::bail!("unknown job state \"{s}\" in the database"),
        })
    }

    /// Whether the job will change no more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// An uploaded file of responses.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    /// Its id; also its file's name.
    pub id: Id,
    /// The name it was uploaded under (a label only: never a path).
    pub name: String,
    /// `csv`, `tsv` or `jsonl`.
    pub format: String,
    /// Data rows.
    pub rows: usize,
    /// Its columns, in order.
    pub columns: Vec<String>,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was accepted (RFC 3339).
    pub created: String,
}

/// A training job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// Its id; also its bundle's and report's name.
    pub id: Id,
    /// The dataset it trains on.
    pub dataset: Id,
    /// What was asked, as posted.
    pub request: Value,
    /// Where it is.
    pub state: JobState,
    /// The latest stage, steps and epoch.
    pub progress: Value,
    /// What training measured, once done.
    pub metrics: Option<Value>,
    /// Why it failed.
    pub error: Option<Value>,
    /// When it was queued, started and finished (RFC 3339).
    pub created: String,
    /// When it started.
    pub started: Option<String>,
    /// When it ended.
    pub finished: Option<String>,
}

/// The data folder's layout and its database.
pub struct Store {
    dir: PathBuf,
    db: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, format TEXT NOT NULL, rows INTEGER NOT NULL,
    columns TEXT NOT NULL, bytes INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, dataset TEXT NOT NULL REFERENCES datasets(id), request TEXT NOT NULL,
    state TEXT NOT NULL, progress TEXT NOT NULL DEFAULT '{}', metrics TEXT, error TEXT,
    created TEXT NOT NULL, started TEXT, finished TEXT);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, created);
";

/// What a job cut off by a crash or kill says.
pub const INTERRUPTED: &str = "the server stopped while this job was running (it was killed or \
crashed); nothing it had trained was kept: post the job again";

impl Store {
    /// Opens (creating) the store in `dir`; jobs a crash left running are marked failed, and
    /// half-written uploads are removed.
    pub fn open(dir: &Path) -> Result<Store> {
        for sub in ["datasets", "bundles", "reports", "cache"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        let path = dir.join("cyborg.sqlite");
        let db = Connection::open(&path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )?;
        db.execute_batch(SCHEMA)?;
        db.execute(
            "UPDATE jobs SET state = 'failed', error = ?1, finished = ?2 WHERE state = 'running'",
            params![
                serde_json::json!({ "error": INTERRUPTED }).to_string(),
                cyborg_trainer::format::now_rfc3339()
            ],
        )?;
        remove_partial_uploads(&dir.join("datasets"))?;
        Ok(Store {
            dir: dir.to_path_buf(),
            db: Mutex::new(db),
        })
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A dataset's file.
    pub fn dataset_path(&self, dataset: &Dataset) -> PathBuf {
        self.dir
            .join("datasets")
            .join(format!("{}.{}", dataset.id, dataset.format))
    }

    /// A job's bundle.
    pub fn bundle_path(&self, job: &Id) -> PathBuf {
        self.dir.join("bundles").join(format!("{job}.cyborg"))
    }

    /// A job's report.
    pub fn report_path(&self, job: &Id) -> PathBuf {
        self.dir.join("reports").join(format!("{job}.html"))
    }

    /// Where students cache frozen-layer outputs.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join("cache")
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection itself usable.
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `bytes` as `dataset`'s file (synced, then renamed into place) and records it.
    pub fn add_dataset(&self, dataset: &Dataset, bytes: &[u8]) -> Result<()> {
        let path = self.dataset_path(dataset);
        cyborg_trainer::output::write_atomically(&path, bytes)?;
        sync_dir(&self.dir.join("datasets"))?;
        let inserted = self.db().execute(
            "INSERT INTO datasets (id, name, format, rows, columns, bytes, created) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                dataset.id.as_str(),
                dataset.name,
                dataset.format,
                dataset.rows as i64,
                serde_json::to_string(&dataset.columns)?,
                dataset.bytes as i64,
                dataset.created
            ],
        );
        if let Err(error) = inserted {
            let _ = std::fs::remove_file(&path);
            return Err(error.into());
        }
        Ok(())
    }

    /// Every dataset, newest first.
    pub fn datasets(&self) -> Result<Vec<Dataset>> {
        let db = self.db();
        let mut statement = db.prepare(
            "SELECT id, name, format, rows, columns, bytes, created FROM datasets \
             ORDER BY created DESC, rowid DESC",
        )?;
        let rows = statement.query_map([], dataset_of_row)?;
        rows.map(|r| r?).collect()
    }

    /// One dataset.
    pub fn dataset(&self, id: &Id) -> Result<Option<Dataset>> {
        let db = self.db();
        let found = db
            .query_row(
                "SELECT id, name, format, rows, columns, bytes, created FROM datasets WHERE id = ?1",
                [id.as_str()],
                dataset_of_row,
            )
            .optional()?;
        found.transpose()
    }

    /// Queues a job.
    pub fn add_job(&self, id: &Id, dataset: &Id, request: &Value) -> Result<()> {
        self.db().execute(
            "INSERT INTO jobs (id, dataset, request, state, created) VALUES (?1, ?2, ?3, 'queued', ?4)",
            params![
                id.as_str(),
                dataset.as_str(),
                request.to_string(),
                cyborg_trainer::format::now_rfc3339()
            ],
        )?;
        Ok(())
    }

    /// Every job, newest first.
    pub fn jobs(&self) -> Result<Vec<Job>> {
        self.query_jobs("1 ORDER BY created DESC, rowid DESC", [])
    }

    /// One job.
    pub fn job(&self, id: &Id) -> Result<Option<Job>> {
        Ok(self.query_jobs("id = ?1", [id.as_str()])?.pop())
    }

    /// The oldest queued job.
    pub fn next_queued(&self) -> Result<Option<Job>> {
        Ok(self
            .query_jobs("state = 'queued' ORDER BY created, rowid LIMIT 1", [])?
            .pop())
    }

    fn query_jobs<P: rusqlite::Params>(&self, condition: &str, params: P) -> Result<Vec<Job>> {
        let db = self.db();
        let mut statement = db.prepare(&format!(
            "SELECT id, dataset, request, state, progress, metrics, error, created, started, \
             finished FROM jobs WHERE {condition}"
        ))?;
        let rows = statement.query_map(params, job_of_row)?;
        rows.map(|r| r?).collect()
    }

    /// A queued job starts.
    pub fn start_job(&self, id: &Id) -> Result<()> {
        self.db().execute(
            "UPDATE jobs SET state = 'running', started = ?2 WHERE id = ?1",
            params![id.as_str(), cyborg_trainer::format::now_rfc3339()],
        )?;
        Ok(())
    }

    /// A running job's latest progress.
    pub fn set_progress(&self, id: &Id, progress: &Value) -> Result<()> {
        self.db().execute(
            "UPDATE jobs SET progress = ?2 WHERE id = ?1",
            params![id.as_str(), progress.to_string()],
        )?;
        Ok(())
    }

    /// A job ends as `state`, with what it measured or why it failed.
    pub fn finish_job(
        &self,
        id: &Id,
        state: JobState,
        metrics: Option<&Value>,
        error: Option<&Value>,
    ) -> Result<()> {
        self.db().execute(
            "UPDATE jobs SET state = ?2, metrics = ?3, error = ?4, finished = ?5 WHERE id = ?1",
            params![
                id.as_str(),
                state.as_str(),
                metrics.map(Value::to_string),
                error.map(Value::to_string),
                cyborg_trainer::format::now_rfc3339()
            ],
        )?;
        Ok(())
    }

    /// Cancels a job that has not started; `false` when it was not queued.
    pub fn cancel_queued(&self, id: &Id) -> Result<bool> {
        let changed = self.db().execute(
            "UPDATE jobs SET state = 'cancelled', finished = ?2 WHERE id = ?1 AND state = 'queued'",
            params![id.as_str(), cyborg_trainer::format::now_rfc3339()],
        )?;
        Ok(changed == 1)
    }
}

type RowResult<T> = rusqlite::Result<Result<T>>;

fn dataset_of_row(row: &rusqlite::Row<'_>) -> RowResult<Dataset> {
    let columns: String = row.get(4)?;
    let id: String = row.get(0)?;
    Ok((|| {
        Ok(Dataset {
            id: Id::parse(&id).context("a dataset id in the database")?,
            name: row.get(1)?,
            format: row.get(2)?,
            rows: row.get::<_, i64>(3)? as usize,
            columns: serde_json::from_str(&columns)?,
            bytes: row.get::<_, i64>(5)? as u64,
            created: row.get(6)?,
        })
    })())
}

fn job_of_row(row: &rusqlite::Row<'_>) -> RowResult<Job> {
    let text = |i: usize| row.get::<_, Option<String>>(i);
    let (id, dataset, request, state) = (text(0)?, text(1)?, text(2)?, text(3)?);
    let (progress, metrics, error) = (text(4)?, text(5)?, text(6)?);
    let (created, started, finished) = (text(7)?, text(8)?, text(9)?);
    Ok((|| {
        let json = |s: Option<String>| -> Result<Option<Value>> {
            s.map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(Into::into)
        };
        Ok(Job {
            id: Id::parse(&id.unwrap_or_default()).context("a job id in the database")?,
            dataset: Id::parse(&dataset.unwrap_or_default()).context("a dataset id")?,
            request: json(request)?.unwrap_or(Value::Null),
            state: JobState::parse(&state.unwrap_or_default())?,
            progress: json(progress)?.unwrap_or_else(|| serde_json::json!({})),
            metrics: json(metrics)?,
            error: json(error)?,
            created: created.unwrap_or_default(),
            started,
            finished,
        })
    })())
}

/// Uploads cut off before they were renamed into place were never accepted.
fn remove_partial_uploads(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Makes a rename in `dir` survive a power cut.
fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}
