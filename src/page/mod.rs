//! The page: load a model, score one response as it is typed, or score a whole table; or, on
//! a page served by `cyborg serve`, train a model (`#train`).
//!
//! State lives in one [`AppState`] of signals shared by small components; the model itself
//! lives in the scoring worker ([`worker`]), which is the only place text is scored.

mod batch;
mod model;
mod pool;
mod score;
mod store;
mod train;
mod worker;

use std::rc::Rc;

use cyborg_web::protocol::{
    Backend, BackendReport, BuildInfo, LoadOptions, LoadedModel, ScoredResponse,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use store::{CachedBundle, DownloadError};
use worker::WorkerClient;

/// Where a page served with models looks for one when the link names none.
const DEFAULT_BUNDLE: &str = "bundles/default.cyborg";

/// Where a model came from when it came from the cache.
const CACHED_ORIGIN: &str = "from this browser's cache (no download)";

/// Where a bundle being installed stands with this browser's cache.
#[derive(Clone, Copy)]
enum Cached<'a> {
    /// It was read from the cache, under this key.
    Already(&'a str),
    /// To be kept under this key once the worker has checked it.
    KeepAs(&'a str),
}

/// What the page is doing about its model.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Nothing under way; the text says what to do next or what just happened.
    Idle(String),
    /// Loading; `progress` is bytes received and expected, when known.
    Busy {
        what: String,
        progress: Option<(u64, Option<u64>)>,
    },
    /// The last attempt failed; the text says what was wrong and with which input.
    Failed(String),
}

/// The page's state, shared by every component.
#[derive(Clone, Copy)]
pub struct AppState {
    worker: StoredValue<Option<Rc<WorkerClient>>, LocalStorage>,
    /// How the worker was compiled, once it has started.
    pub build: RwSignal<Option<BuildInfo>>,
    /// The loaded model.
    pub model: RwSignal<Option<LoadedModel>>,
    /// Where the loaded model came from, in words.
    pub model_origin: RwSignal<String>,
    /// The loaded model's URL, when it came from one (for the share link).
    pub model_url: RwSignal<Option<String>>,
    /// Where the loaded model is kept in this browser's cache (batch helpers load it from
    /// there), if it is.
    model_key: StoredValue<Option<String>>,
    /// Workers beside the main one for batches, started by the first batch of a model.
    helpers: StoredValue<Vec<Rc<pool::Helper>>, LocalStorage>,
    /// Loading status.
    pub status: RwSignal<Status>,
    /// Bundles kept in this browser.
    pub cached: RwSignal<Vec<CachedBundle>>,
    /// The response being typed.
    pub text: RwSignal<String>,
    /// Its latest score, or why it could not be scored.
    pub scored: RwSignal<Option<Result<ScoredResponse, String>>>,
    /// The text `scored` is for: while it differs from `text`, the shown score is stale.
    pub scored_text: RwSignal<String>,
    /// The number of the latest scoring request.
    score_request: StoredValue<u64>,
}

impl AppState {
    fn new() -> Self {
        AppState {
            worker: StoredValue::new_local(None),
            build: RwSignal::new(None),
            model: RwSignal::new(None),
            model_origin: RwSignal::new(String::new()),
            model_url: RwSignal::new(None),
            model_key: StoredValue::new(None),
            helpers: StoredValue::new_local(Vec::new()),
            status: RwSignal::new(Status::Busy {
                what: "Starting the scoring worker".into(),
                progress: None,
            }),
            cached: RwSignal::new(Vec::new()),
            text: RwSignal::new(String::new()),
            scored: RwSignal::new(None),
            scored_text: RwSignal::new(String::new()),
            score_request: StoredValue::new(0),
        }
    }

    /// The scoring worker, or an error saying it is not running.
    pub fn worker(&self) -> Result<Rc<WorkerClient>, String> {
        self.worker
            .get_value()
            .ok_or_else(|| "the scoring worker is not running".to_string())
    }

    /// Loads the bundle at `url` (relative to the page, or absolute): from this browser's
    /// cache when it is there, otherwise downloaded. With `quiet_if_missing`, a 404 only says
    /// that the server offers no model.
    pub fn load_url(self, url: String, quiet_if_missing: bool) {
        spawn_local(async move {
            let Some(url) = absolute_url(&url) else {
                self.status
                    .set(Status::Failed(format!("\"{url}\" is not a web address")));
                return;
            };
            if let Some(bytes) = store::cached(&url).await {
                let origin = CACHED_ORIGIN.to_string();
                self.install(
                    &url,
                    bytes,
                    Cached::Already(&url),
                    origin,
                    Some(url.clone()),
                )
                .await;
                return;
            }
            let what = format!("Downloading {url}");
            self.status.set(Status::Busy {
                what: what.clone(),
                progress: Some((0, None)),
            });
            let status = self.status;
            let progress = move |received, total| {
                status.set(Status::Busy {
                    what: what.clone(),
                    progress: Some((received, total)),
                })
            };
            match store::download(&url, progress).await {
                Ok(bytes) => {
                    let origin = format!("downloaded from {url}");
                    let bytes = js_sys::Uint8Array::from(bytes.as_slice());
                    self.install(&url, bytes, Cached::KeepAs(&url), origin, Some(url.clone()))
                        .await
                }
                Err(DownloadError::NotFound(_)) if quiet_if_missing => {
                    self.status.set(Status::Idle(
                        "This server offers no model: open a .cyborg file or a link.".into(),
                    ))
                }
                Err(error) => self.status.set(Status::Failed(error.to_string())),
            }
        });
    }

    /// Loads a bundle from a file the person picked or dropped.
    pub fn load_file(self, file: web_sys::File) {
        spawn_local(async move {
            let name = file.name();
            self.status.set(Status::Busy {
                what: format!("Reading {name}"),
                progress: None,
            });
            match store::read_file(&file).await {
                Ok(bytes) => {
                    let bytes = js_sys::Uint8Array::from(bytes.as_slice());
                    let key = store::local_key(&name);
                    let origin = format!("opened from the file {name}");
                    self.install(&name, bytes, Cached::KeepAs(&key), origin, None)
                        .await
                }
                Err(error) => self.status.set(Status::Failed(error)),
            }
        });
    }

    /// Loads a cached bundle.
    pub fn load_cached(self, bundle: CachedBundle) {
        spawn_local(async move {
            let Some(bytes) = store::cached(&bundle.key).await else {
                self.status.set(Status::Failed(format!(
                    "{} is no longer in this browser's cache",
                    bundle.name
                )));
                self.refresh_cached().await;
                return;
            };
            let url = (!bundle.key.contains("/local-bundles/")).then(|| bundle.key.clone());
            let origin = CACHED_ORIGIN.to_string();
            let cached = Cached::Already(&bundle.key);
            self.install(&bundle.name, bytes, cached, origin, url).await
        });
    }

    /// Removes a bundle from the cache.
    pub fn forget_cached(self, key: String) {
        spawn_local(async move {
            if let Err(error) = store::forget(&key).await {
                self.status.set(Status::Failed(error));
            }
            self.refresh_cached().await;
        });
    }

    /// Hands `bytes` to the worker; once it has checked and loaded them, keeps them in the
    /// cache if they are not there yet (so a corrupt download is never kept) and scores the
    /// current text. Bytes that need not be kept are moved to the worker without a copy.
    async fn install(
        self,
        name: &str,
        bytes: js_sys::Uint8Array,
        cached: Cached<'_>,
        origin: String,
        url: Option<String>,
    ) {
        self.status.set(Status::Busy {
            what: format!("Checking and loading {name}"),
            progress: None,
        });
        let worker = match self.worker() {
            Ok(worker) => worker,
            Err(error) => return self.status.set(Status::Failed(error)),
        };
        let options = match link_load_options() {
            Ok(options) => options,
            Err(error) => return self.status.set(Status::Failed(error)),
        };
        let bytes_for_worker = match cached {
            Cached::KeepAs(_) => bytes.slice(0, bytes.length()),
            Cached::Already(_) => bytes.clone(),
        };
        match worker.load(name, bytes_for_worker, options).await {
            Ok(model) => {
                let mut note = format!("Ready: {} loaded in {:.0} ms.", model.name, model.load_ms);
                let key = match cached {
                    Cached::Already(key) => Some(key),
                    Cached::KeepAs(key) => match store::keep(key, name, &bytes).await {
                        Ok(()) => Some(key),
                        Err(error) => {
                            note = format!("{note} It could not be kept for offline use: {error}");
                            None
                        }
                    },
                };
                self.model_key.set_value(key.map(str::to_string));
                // Helpers hold the previous model: dropping them ends their workers.
                self.helpers.set_value(Vec::new());
                self.model.set(Some(model));
                self.model_origin.set(origin);
                self.model_url.set(url);
                self.status.set(Status::Idle(note));
                score::rescore(self);
                self.refresh_cached().await;
            }
            Err(error) => self.status.set(Status::Failed(error)),
        }
    }

    /// Scores one response with the loaded model. When WebGPU failed on it (the worker then
    /// scored it with WebAssembly), the model card says so from now on.
    pub async fn score(self, text: &str) -> Result<ScoredResponse, String> {
        let scored = self.worker()?.score(text).await?;
        self.note_fallback(&scored);
        Ok(scored)
    }

    /// Scores several responses at once (on WebGPU they share the GPU's batches).
    pub async fn score_many(
        self,
        texts: Vec<String>,
    ) -> Result<Vec<Result<ScoredResponse, String>>, String> {
        let scored = self.worker()?.score_many(texts).await?;
        scored.iter().flatten().for_each(|s| self.note_fallback(s));
        Ok(scored)
    }

    /// The workers a batch runs on beside the main one, with the cache key they load the model
    /// from: none when batches run on WebGPU (one GPU serves them all) or the model is not in
    /// the cache. `?workers=N` in the page's address sets how many score a batch in all.
    pub fn batch_helpers(self) -> Option<(Vec<Rc<pool::Helper>>, String)> {
        let model = self.model.get_untracked()?;
        let key = self.model_key.get_value()?;
        if model.backend.batch == Backend::WebGpu {
            return None;
        }
        if self.helpers.with_value(Vec::is_empty) {
            let workers = query_parameter("workers").and_then(|n| n.parse().ok());
            self.helpers.set_value(pool::start_helpers(workers));
        }
        Some((self.helpers.get_value(), key))
    }

    /// How many of a batch's rows to send at once: enough to fill the GPU's batches when
    /// batches run on WebGPU, and one otherwise, so that a response being typed waits for
    /// at most one row and a cancel takes effect after it.
    pub fn batch_group(self) -> usize {
        match self.model.get_untracked().map(|m| m.backend.batch) {
            Some(Backend::WebGpu) => 8,
            _ => 1,
        }
    }

    fn note_fallback(self, scored: &ScoredResponse) {
        let Some(note) = &scored.fallback else { return };
        self.model.update(|model| {
            if let Some(model) = model {
                model.backend.single = Backend::Wasm;
                model.backend.batch = Backend::Wasm;
                model.backend.note = Some(note.clone());
            }
        });
    }

    /// Re-reads the list of cached bundles.
    pub async fn refresh_cached(self) {
        match store::list().await {
            Ok(bundles) => self.cached.set(bundles),
            Err(error) => self.status.set(Status::Failed(error)),
        }
    }
}

/// `url` resolved against the page's address.
fn absolute_url(url: &str) -> Option<String> {
    let base = web_sys::window()?.location().href().ok()?;
    web_sys::Url::new_with_base(url.trim(), &base)
        .ok()
        .map(|u| u.href())
}

/// A query parameter of the page's address.
/// How the link asks the worker to run a model: `?backend=wasm|webgpu`, `?int8_products=0`
/// (an int8 bundle multiplied as the f32 matrices it stands for, exactly as `cyborg score`
/// does, rather than as its integers), and `?lose_webgpu_after=N` (tests only).
pub(crate) fn link_load_options() -> Result<LoadOptions, String> {
    Ok(LoadOptions {
        backend: query_parameter("backend")
            .map(|b| Backend::parse(&b))
            .transpose()?,
        lose_webgpu_after: query_parameter("lose_webgpu_after").and_then(|n| n.parse().ok()),
        int8_products: query_parameter("int8_products").is_none_or(|v| v != "0"),
    })
}

fn query_parameter(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

/// The address's `#…` part (`#train` opens the Train view).
fn location_hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    if let Some(text) = query_parameter("text") {
        state.text.set(text);
    }
    let started = move |info: BuildInfo| {
        state.build.set(Some(info));
        spawn_local(async move { state.refresh_cached().await });
    };
    let crashed = move |message: String| state.status.set(Status::Failed(message));
    match WorkerClient::start(started, crashed) {
        Ok(client) => {
            state.worker.set_value(Some(Rc::new(client)));
            // Read (or download) the bundle while the worker compiles: its load waits for it.
            match query_parameter("bundle") {
                Some(url) => state.load_url(url, false),
                None => state.load_url(DEFAULT_BUNDLE.to_string(), true),
            }
        }
        Err(error) => state.status.set(Status::Failed(error)),
    }
    let page = RwSignal::new(location_hash());
    let _ = window_event_listener(leptos::ev::hashchange, move |_| page.set(location_hash()));
    let training = move || page.get() == "#train";
    view! {
        <header>
            <h1>"Cyborg"</h1>
            <nav class="views">
                <a href="#" aria-current=move || (!training()).then_some("page")>"Score"</a>
                <a href="#train" data-testid="train-tab" aria-current=move || training().then_some("page")>"Train"</a>
            </nav>
            <p class="privacy" data-testid="privacy">
                "Scoring happens on this device. Once a model has loaded, no response you type "
                "or open here is sent anywhere: scoring makes no network request."
            </p>
        </header>
        <main>
            // The scorer stays mounted (and keeps its state) while the Train view is open; the
            // Train view, the only part that needs a server, exists only while it is open.
            <div hidden=training>
                <model::ModelPanel />
                <score::ScorePanel />
                <batch::BatchPanel />
            </div>
            <Show when=training>
                <train::TrainPanel />
            </Show>
            <About />
        </main>
    }
}

/// How this build was made.
#[component]
fn About() -> impl IntoView {
    let state = expect_context::<AppState>();
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    view! {
        <details class="about">
            <summary>"About this page"</summary>
            <p>
                "The model runs in a Web Worker, compiled from the same Rust scorer as the "
                <code>"cyborg"</code> " command line, so both give the same score."
            </p>
            {move || match state.build.get() {
                None => view! { <p>"The scoring worker has not started."</p> }.into_any(),
                Some(info) => view! {
                    <dl>
                        <dt>"WebAssembly SIMD (simd128) kernels"</dt>
                        <dd data-testid="simd128">{yes_no(info.simd128)}</dd>
                        <dt>"Bundle format"</dt>
                        <dd>{info.bundle_format}</dd>
                        <dt>"Numerics version"</dt>
                        <dd>{info.numerics}</dd>
                        <dt>"Encoder backend"</dt>
                        <dd data-testid="backend-details">
                            {move || state.model.get().map_or_else(
                                || "chosen when a model loads".to_string(),
                                |model| backend_details(&model.backend),
                            )}
                        </dd>
                    </dl>
                }
                .into_any(),
            }}
        </details>
    }
}

/// Which backend runs the encoder, on what, and the timing that chose it.
fn backend_details(report: &BackendReport) -> String {
    let mut details = if report.single == report.batch {
        report.single.name().to_string()
    } else {
        format!(
            "{} for one response, {} for a batch",
            report.single.name(),
            report.batch.name()
        )
    };
    if let Some(adapter) = &report.adapter {
        details.push_str(&format!("; GPU adapter: {adapter}"));
    }
    if let Some(c) = &report.calibration {
        details.push_str(&format!(
            "; a {}-token response took {:.0} ms on WebAssembly and {:.0} ms on WebGPU",
            c.tokens, c.wasm_ms, c.webgpu_ms
        ));
        match &c.batch {
            Some(b) => details.push_str(&format!(
                ", and {:.0} ms and {:.0} ms each in a batch of {}",
                b.wasm_ms, b.webgpu_ms, b.size
            )),
            None => details.push_str(" (too far behind to be timed on a batch)"),
        }
        details.push_str(&format!(
            "; WebGPU's embedding differed by at most {:.1e}",
            c.largest_difference
        ));
    }
    if report.calibration.is_none() && report.note.is_none() {
        details.push_str(" (asked for by the link)");
    }
    details
}
