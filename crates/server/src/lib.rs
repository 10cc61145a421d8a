//! `cyborg serve`: the browser app, every finished job's bundle and report for anyone with the
//! link, and a JSON API that trains students with the trainer library.
//!
//! A thin front end, like the CLI: handlers ([`api`]) convert a request and make one call on
//! the store ([`store`]: SQLite and files named by server-made ids), the queue ([`jobs`]: one
//! training job at a time, on a blocking thread, with the library's events streamed to
//! clients) or the library itself. Only write calls need the token; reads and downloads are
//! public so that share links work.

pub mod api;
pub mod ids;
pub mod jobs;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::api::ApiError;
use crate::ids::Id;
use crate::jobs::Queue;
use crate::store::{JobState, Store};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (port 0: any free port).
    pub addr: SocketAddr,
    /// Where datasets, jobs, bundles, reports and the token are kept.
    pub data_dir: PathBuf,
    /// The built browser app (Trunk's `dist/`).
    pub dist: PathBuf,
    /// The largest upload accepted, in bytes.
    pub max_upload: usize,
    /// The encoder a job's local teacher starts its students from (None: the student's own).
    /// The operator chooses it here, since a request must not name a folder on the server.
    pub teacher_base: Option<PathBuf>,
}

/// What every handler shares.
pub struct App {
    /// Datasets and jobs.
    pub store: Arc<Store>,
    /// The training queue.
    pub queue: Arc<Queue>,
    /// The token write calls must present.
    pub token: String,
    /// The built browser app.
    pub dist: PathBuf,
    /// The largest upload accepted, in bytes.
    pub max_upload: usize,
}

/// A server bound to its address, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    runtime: tokio::runtime::Runtime,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The write token, when it was made by this start (it is shown only then).
    pub new_token: Option<String>,
}

impl Server {
    /// Checks the teacher encoder folder, opens the data folder (marking jobs a crash cut off
    /// as failed) and binds the address.
    pub fn bind(config: &ServeConfig) -> Result<Server> {
        let teacher = cyborg_trainer::TeacherConfig {
            base: config.teacher_base.clone(),
            ..Default::default()
        };
        teacher.validate()?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        let store = Arc::new(Store::open(&config.data_dir)?);
        let (token, made) = ids::load_or_create_token(&config.data_dir.join("token"))?;
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.addr))
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App {
            queue: Arc::new(Queue::new(store.clone(), config.teacher_base.clone())),
            store,
            token: token.clone(),
            dist: config.dist.clone(),
            max_upload: config.max_upload,
        });
        Ok(Server {
            listener,
            app,
            runtime,
            addr,
            new_token: made.then_some(token),
        })
    }

    /// Serves until interrupted (Ctrl-C); queued jobs run one at a time meanwhile.
    pub fn run(self) -> Result<()> {
        let Server {
            listener,
            app,
            runtime,
            ..
        } = self;
        runtime.block_on(async move {
            tokio::spawn(app.queue.clone().run());
            axum::serve(listener, router(app))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .context("the server stopped")
        })
    }
}

/// Every route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/health", get(api::health))
        .route(
            "/api/datasets",
            get(api::list_datasets).post(api::upload_dataset),
        )
        .route("/api/datasets/{id}/summary", get(api::dataset_summary))
        .route("/api/jobs", get(api::list_jobs).post(api::create_job))
        .route("/api/jobs/{id}", get(api::job).delete(api::cancel_job))
        .route("/api/jobs/{id}/events", get(api::job_events))
        .route("/api/{*rest}", axum::routing::any(no_such_call))
        .route("/bundles/{name}", get(bundle))
        .route("/reports/{name}", get(report))
        .fallback_service(ServeDir::new(&app.dist))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            api::require_token,
        ))
        .layer(DefaultBodyLimit::max(app.max_upload))
        .with_state(app)
}

async fn no_such_call() -> ApiError {
    ApiError::not_found("API call")
}

/// `/bundles/JOB_ID.cyborg`: a finished job's bundle; any other name is the app's own
/// `dist/bundles/` (the demo's default model).
async fn bundle(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    match finished_job(&app, &name, ".cyborg") {
        Some(job) => serve_file(app.store.bundle_path(&job), request).await,
        None if ids::is_plain_file_name(&name) => {
            serve_file(app.dist.join("bundles").join(&name), request).await
        }
        None => ApiError::not_found("bundle").into_response(),
    }
}

/// `/reports/JOB_ID.html`: a finished job's report.
async fn report(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    match finished_job(&app, &name, ".html") {
        Some(job) => serve_file(app.store.report_path(&job), request).await,
        None => ApiError::not_found("report").into_response(),
    }
}

/// The job `name` (`ID` + `suffix`) names, if it is done.
fn finished_job(app: &App, name: &str, suffix: &str) -> Option<Id> {
    let id = Id::parse(name.strip_suffix(suffix)?)?;
    let job = app.store.job(&id).ok()??;
    (job.state == JobState::Done).then_some(id)
}

/// A file with ETag, Last-Modified and Range support, or 404.
async fn serve_file(path: PathBuf, request: Request) -> Response {
    if !path.is_file() {
        return ApiError::not_found("file").into_response();
    }
    match ServeFile::new(path).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(error) => ApiError::fault(anyhow::anyhow!(error)).into_response(),
    }
}
