//! The JSON API: each handler turns a request into one call on the store, the queue or the
//! trainer library, and its result or error into a response.

use std::convert::Infallible;
use std::path::Path as FilePath;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cyborg_trainer::data::{scan_table, DataError, Format};
use cyborg_trainer::{CheckRequest, DataConfig};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ids::{is_plain_file_name, token_matches, Id};
use crate::jobs::{state_event, ClientText, JobRequest};
use crate::store::{Dataset, Job};
use crate::App;

/// An error as the API returns it: a status and `{error, line?, column?}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    /// `status` with `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({ "error": message.into() }),
        }
    }

    /// A fault here (logged; the client sees only that there was one: the message may name
    /// the server's files).
    pub fn fault(error: anyhow::Error) -> Self {
        eprintln!("error: {error:#}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed; its log says why",
        )
    }

    /// The same error with the server's paths in its message taken out by `client_text`.
    fn told_with(mut self, client_text: &ClientText) -> Self {
        if let Some(message) = self.body["error"].as_str() {
            self.body["error"] = json!(client_text.of(message));
        }
        self
    }

    /// Malformed data, located (the server's own file name is left out).
    fn data(error: &DataError) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({ "error": error.message, "line": error.line, "column": error.column }),
        }
    }

    /// 404: no such `what`.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no such {what}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::fault(error)
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Write calls (anything but GET and HEAD) under `/api/` need `Authorization: Bearer TOKEN`.
pub async fn require_token(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    if reads || !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if token_matches(given.trim(), &app.token) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "the token is wrong").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "write calls need \"Authorization: Bearer TOKEN\" (the token is in DATA_DIR/token)",
        )
        .into_response(),
    }
}

/// `GET /api/health`.
pub async fn health(State(app): State<Arc<App>>) -> Json<Value> {
    let running = app
        .queue
        .running
        .lock()
        .map(|r| r.as_ref().map(|r| r.id.clone()))
        .ok()
        .flatten();
    Json(json!({ "ok": true, "version": env!("CARGO_PKG_VERSION"), "running": running }))
}

/// The query of an upload.
#[derive(Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
}

/// `POST /api/datasets?name=F` with the file as the body → 201 with the dataset.
pub async fn upload_dataset(
    State(app): State<Arc<App>>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Dataset>)> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let body = body.map_err(|e| ApiError::new(e.status(), upload_refusal(&e, app.max_upload)))?;
    let name = query.name.unwrap_or_default();
    let format = upload_format(&name)?;
    let store = app.store.clone();
    let accepted = tokio::task::spawn_blocking(move || -> ApiResult<Dataset> {
        let shape = scan_table(FilePath::new(&name), &body, Some(format), false)
            .map_err(|e| ApiError::data(&e))?;
        let dataset = Dataset {
            id: Id::random(),
            name,
            format: format_extension(format).into(),
            rows: shape.rows,
            columns: shape.columns,
            bytes: body.len() as u64,
            created: cyborg_trainer::format::now_rfc3339(),
        };
        store.add_dataset(&dataset, &body)?;
        Ok(dataset)
    });
    let dataset = accepted.await.map_err(|e| ApiError::fault(e.into()))??;
    Ok((StatusCode::CREATED, Json(dataset)))
}

fn upload_refusal(rejection: &BytesRejection, limit: usize) -> String {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the file is over the upload limit of {} MB", limit >> 20)
    } else {
        rejection.body_text()
    }
}

/// The format an upload's name says; the name is a label and never a path.
fn upload_format(name: &str) -> ApiResult<Format> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    if name.is_empty() || name.len() > 200 {
        return Err(bad(
            "give the file's name as ?name=FILE.csv (up to 200 characters)".into(),
        ));
    }
    if !is_plain_file_name(name) {
        return Err(bad(format!(
            "\"{}\" is not a plain file name (no folders, leading dots or control characters)",
            name.escape_debug()
        )));
    }
    match FilePath::new(name).extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => Ok(Format::Csv),
        Some(e) if e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab") => {
            Ok(Format::Tsv)
        }
        Some(e) if e.eq_ignore_ascii_case("jsonl") => Ok(Format::Jsonl),
        _ => Err(bad(format!(
            "\"{name}\" does not end in .csv, .tsv or .jsonl"
        ))),
    }
}

fn format_extension(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Tsv => "tsv",
        Format::Jsonl => "jsonl",
    }
}

/// `GET /api/datasets`.
pub async fn list_datasets(State(app): State<Arc<App>>) -> ApiResult<Json<Vec<Dataset>>> {
    Ok(Json(app.store.datasets()?))
}

/// The columns a summary reads.
#[derive(Deserialize)]
pub struct SummaryQuery {
    text: String,
    score: Option<String>,
    id: Option<String>,
}

/// `GET /api/datasets/ID/summary?text=COL&score=COL&id=COL`: `data check`'s summary.
pub async fn dataset_summary(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    query: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let dataset = find_dataset(&app, &id)?;
    let path = app.store.dataset_path(&dataset);
    let request = CheckRequest {
        data: DataConfig {
            text: query.text,
            score: query.score,
            id: query.id,
            ..DataConfig::default()
        },
        ..CheckRequest::default()
    };
    let summary = tokio::task::spawn_blocking(move || cyborg_trainer::check_data(&path, &request))
        .await
        .map_err(|e| ApiError::fault(e.into()))?;
    match summary {
        Ok(summary) => {
            let mut value = serde_json::to_value(summary).map_err(anyhow::Error::from)?;
            value["file"] = json!(dataset.name);
            Ok(Json(value))
        }
        Err(error) => {
            let refused = match error.data_error() {
                Some(located) => ApiError::data(located),
                None => ApiError::new(StatusCode::BAD_REQUEST, format!("{error:#}")),
            };
            Err(refused.told_with(&ClientText::new(&app.store, Some(&dataset))))
        }
    }
}

fn find_dataset(app: &App, id: &str) -> ApiResult<Dataset> {
    let id = Id::parse(id).ok_or_else(|| ApiError::not_found("dataset"))?;
    app.store
        .dataset(&id)?
        .ok_or_else(|| ApiError::not_found("dataset"))
}

fn find_job(app: &App, id: &str) -> ApiResult<Job> {
    let id = Id::parse(id).ok_or_else(|| ApiError::not_found("job"))?;
    let mut job = app
        .store
        .job(&id)?
        .ok_or_else(|| ApiError::not_found("job"))?;
    if let Some(progress) = app.queue.live_progress(&job.id) {
        job.progress = progress;
    }
    Ok(job)
}

/// `POST /api/jobs` with a [`JobRequest`] → 202 with the queued job.
pub async fn create_job(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let body = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    let request: JobRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("the job request: {e}")))?;
    let dataset = Id::parse(&request.dataset)
        .and_then(|id| app.store.dataset(&id).transpose())
        .transpose()?
        .ok_or_else(|| bad(format!("there is no dataset \"{}\"", request.dataset)))?;
    request.train_request(&dataset, &app.store).map_err(bad)?;
    let id = Id::random();
    let posted: Value = serde_json::from_slice(&body).map_err(anyhow::Error::from)?;
    app.store.add_job(&id, &dataset.id, &posted)?;
    app.queue.wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(find_job(&app, id.as_str())?)))
}

/// `GET /api/jobs`.
pub async fn list_jobs(State(app): State<Arc<App>>) -> ApiResult<Json<Vec<Job>>> {
    Ok(Json(app.store.jobs()?))
}

/// `GET /api/jobs/ID`.
pub async fn job(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Json<Job>> {
    Ok(Json(find_job(&app, &id)?))
}

/// `DELETE /api/jobs/ID`: cancels it (a finished job stays as it is).
pub async fn cancel_job(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Job>> {
    let job = find_job(&app, &id)?;
    app.queue.cancel(&job.id)?;
    Ok(Json(find_job(&app, &id)?))
}

/// `GET /api/jobs/ID/events`: Server-Sent Events, each a JSON object with an `event` field —
/// the job's `state` first, then the trainer's events (`stage`, `step`, `epoch`, `note`…) —
/// ending after the state that finishes it.
pub async fn job_events(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    // Subscribed before the state is read, so no event between the two is missed.
    let receiver = app.queue.events.subscribe();
    let job = find_job(&app, &id)?;
    let (id, finished) = (job.id.clone(), job.state.is_final());
    let first = stream::once(async move { state_event(&job) });
    let events: BoxStream<'static, Value> = if finished {
        first.boxed()
    } else {
        let later = stream::unfold(Some(receiver), move |receiver| {
            let id = id.clone();
            async move { next_event(receiver?, &id).await }
        });
        first.chain(later).boxed()
    };
    let stream =
        events.map(|value| Ok::<_, Infallible>(SseEvent::default().data(value.to_string())));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

type Receiver = tokio::sync::broadcast::Receiver<crate::jobs::JobEvent>;

/// The next event of job `id`, and the receiver to read on with (none after the last).
async fn next_event(mut receiver: Receiver, id: &Id) -> Option<(Value, Option<Receiver>)> {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match receiver.recv().await {
            Ok((job, text)) if &job == id => {
                let value: Value = serde_json::from_str(&text).ok()?;
                let last = value["event"] == "state"
                    && matches!(
                        value["state"].as_str(),
                        Some("done" | "failed" | "cancelled")
                    );
                return Some((value, (!last).then_some(receiver)));
            }
            Ok(_) => continue,
            // A slow client misses step events; the next state or epoch catches it up.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return None,
        }
    }
}
