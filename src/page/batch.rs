//! Scoring every row of a table, with progress, time left, cancel and a CSV to download.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use super::pool::Helper;
use super::store;
use super::AppState;
use cyborg_scorer::Score;
use cyborg_web::table::Table;

/// One batch run's state.
#[derive(Clone, Copy)]
struct Batch {
    table: RwSignal<Option<Arc<Table>>>,
    column: RwSignal<usize>,
    /// One entry per row scored so far: its score, or `None` when it could not be scored.
    /// Not a signal: the view needs only the counts below, and copying every score on every
    /// row would make a file of 100,000 rows take time and memory quadratic in its length.
    scores: StoredValue<Vec<Option<Score>>>,
    /// Rows scored so far, and how many of them could not be.
    done: RwSignal<usize>,
    failed: RwSignal<usize>,
    running: RwSignal<bool>,
    /// How many workers score the rows: the main one, and a helper per further core.
    workers: RwSignal<usize>,
    cancelled: StoredValue<bool>,
    started_ms: StoredValue<f64>,
    error: RwSignal<Option<String>>,
}

/// Score a CSV or TSV file row by row.
#[component]
pub fn BatchPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let batch = Batch::new();
    let on_pick = move |ev: leptos::ev::Event| {
        let input = event_target::<HtmlInputElement>(&ev);
        if let Some(file) = input.files().and_then(|files| files.get(0)) {
            spawn_local(batch.load(file));
        }
    };
    let run = move |_| batch.start(state);
    let ready = move || state.model.get().is_some() && batch.table.get().is_some();
    view! {
        <section class="panel" aria-labelledby="batch-heading">
            <h2 id="batch-heading">"Score a file of responses"</h2>
            <label class="file">
                "CSV or TSV file, with a header row "
                <input type="file" accept=".csv,.tsv,text/csv" data-testid="batch-file" on:change=on_pick />
            </label>
            {move || batch.error.get().map(|message| view! {
                <p class="error" role="alert" data-testid="batch-error">{message}</p>
            })}
            <ColumnPicker batch />
            <div class="row">
                <button data-testid="batch-run" disabled=move || !ready() || batch.running.get() on:click=run>
                    "Score every row"
                </button>
                <button
                    data-testid="batch-cancel"
                    disabled=move || !batch.running.get()
                    on:click=move |_| batch.cancelled.set_value(true)
                >
                    "Cancel"
                </button>
                <button
                    data-testid="batch-download"
                    disabled=move || batch.running.get() || batch.done.get() == 0
                    on:click=move |_| {
                        let columns = state.model.get_untracked().map(|m| m.score_columns);
                        download(batch, &columns.unwrap_or_default())
                    }
                >
                    "Download scores (CSV)"
                </button>
            </div>
            <Progress batch />
        </section>
    }
}

/// The largest file the page reads: it holds the file and its rows in memory at once, and a
/// page's wasm memory ends at 4 GB.
const MAX_FILE_MB: f64 = 512.0;

/// Why `file` is too big to read, if it is.
fn too_big(file: &web_sys::File) -> Option<String> {
    let mb = file.size() / (1 << 20) as f64;
    (mb > MAX_FILE_MB).then(|| {
        format!(
            "{}: {mb:.0} MB is more than this page reads at once ({MAX_FILE_MB:.0} MB); \
             split it, or score it with `cyborg score`",
            file.name()
        )
    })
}

/// Scores the next rows not yet taken (`next`), a group at a time, until none is left or the
/// batch is cancelled: on `helper`, or on the main worker, which sends a few rows per request
/// (see `AppState::batch_group`) so that it stays free for the response being typed.
async fn score_rows(
    batch: Batch,
    state: AppState,
    table: &Table,
    column: usize,
    next: &Cell<usize>,
    helper: Option<&Helper>,
) {
    while next.get() < table.rows.len() && !batch.cancelled.get_value() {
        let start = next.get();
        let end = (start + state.batch_group()).min(table.rows.len());
        next.set(end);
        let texts = table.rows[start..end]
            .iter()
            .map(|row| row[column].clone())
            .collect();
        let scored = match helper {
            Some(helper) => helper.client.score_many(texts).await,
            None => state.score_many(texts).await,
        };
        let scored: Vec<Option<Score>> = match scored {
            Ok(scored) => scored
                .into_iter()
                .map(|s| s.ok().map(|s| s.score))
                .collect(),
            Err(_) => vec![None; end - start],
        };
        batch
            .failed
            .update(|f| *f += scored.iter().filter(|s| s.is_none()).count());
        batch.scores.update_value(|scores| {
            if scores.len() < end {
                scores.resize(end, None);
            }
            for (slot, score) in scores[start..end].iter_mut().zip(scored) {
                *slot = score;
            }
        });
        batch.done.update(|done| *done += end - start);
    }
}

impl Batch {
    fn new() -> Self {
        Batch {
            table: RwSignal::new(None),
            column: RwSignal::new(0),
            scores: StoredValue::new(Vec::new()),
            done: RwSignal::new(0),
            failed: RwSignal::new(0),
            running: RwSignal::new(false),
            workers: RwSignal::new(1),
            cancelled: StoredValue::new(false),
            started_ms: StoredValue::new(0.0),
            error: RwSignal::new(None),
        }
    }

    /// Reads `file` as the table to score, guessing its response column, or says why not.
    async fn load(self, file: web_sys::File) {
        self.clear();
        let table = match too_big(&file) {
            Some(message) => Err(message),
            None => store::read_file(&file)
                .await
                .and_then(|bytes| Table::parse(&file.name(), &bytes)),
        };
        match table {
            Ok(table) => {
                self.column.set(table.likely_text_column());
                self.table.set(Some(Arc::new(table)));
                self.error.set(None);
            }
            Err(message) => {
                self.table.set(None);
                self.error.set(Some(message));
            }
        }
    }

    /// Scores every row of the table on the main worker and every helper that loads the
    /// model; `running` falls when the last of them has finished.
    fn start(self, state: AppState) {
        let (Some(table), Ok(_)) = (self.table.get_untracked(), state.worker()) else {
            return;
        };
        let column = self.column.get_untracked();
        self.clear();
        self.error.set(None);
        self.cancelled.set_value(false);
        self.running.set(true);
        self.started_ms.set_value(js_sys::Date::now());
        // Every worker takes the next rows not yet taken, so the rows scored are always the
        // first ones, however a cancel falls.
        let next = Rc::new(Cell::new(0));
        let (helpers, key) = state.batch_helpers().unwrap_or_default();
        self.workers.set(1 + helpers.len());
        let unfinished = Rc::new(Cell::new(1 + helpers.len()));
        let finished = move || {
            unfinished.set(unfinished.get() - 1);
            if unfinished.get() == 0 {
                self.running.set(false);
            }
        };
        for helper in helpers {
            let (table, next, key, finished) =
                (table.clone(), next.clone(), key.clone(), finished.clone());
            spawn_local(async move {
                match helper.ready(&key).await {
                    Ok(()) => score_rows(self, state, &table, column, &next, Some(&helper)).await,
                    Err(error) => {
                        self.workers.update(|n| *n -= 1);
                        self.error.set(Some(format!(
                            "a helper worker could not load the model, so fewer workers score \
                             this file: {error}"
                        )));
                    }
                }
                finished();
            });
        }
        spawn_local(async move {
            score_rows(self, state, &table, column, &next, None).await;
            finished();
        });
    }

    /// Forgets the last run's scores.
    fn clear(self) {
        self.scores.set_value(Vec::new());
        self.done.set(0);
        self.failed.set(0);
    }
}

/// Which column holds the responses.
#[component]
fn ColumnPicker(batch: Batch) -> impl IntoView {
    move || {
        let table = batch.table.get()?;
        let options = table
            .headers
            .iter()
            .enumerate()
            .map(|(i, header)| {
                view! { <option value=i.to_string() selected=move || batch.column.get() == i>{header.clone()}</option> }
            })
            .collect_view();
        Some(view! {
            <p>
                {format!("{}: {} rows. ", table.name, table.rows.len())}
                <label>
                    "Responses are in column "
                    <select
                        data-testid="batch-column"
                        on:change=move |ev| {
                            if let Ok(i) = event_target_value(&ev).parse() {
                                batch.column.set(i);
                            }
                        }
                    >
                        {options}
                    </select>
                </label>
            </p>
        })
    }
}

/// Rows done, time left, failures.
#[component]
fn Progress(batch: Batch) -> impl IntoView {
    move || {
        let total = batch.table.get()?.rows.len();
        let (done, failed) = (batch.done.get(), batch.failed.get());
        if done == 0 && !batch.running.get() {
            return None;
        }
        let elapsed_s = (js_sys::Date::now() - batch.started_ms.get_value()) / 1000.0;
        let left = if batch.running.get() && done > 0 {
            let seconds = elapsed_s / done as f64 * (total - done) as f64;
            format!(" · about {seconds:.0} s left")
        } else if batch.running.get() {
            String::new()
        } else if done < total {
            format!(" · cancelled after {elapsed_s:.1} s")
        } else {
            format!(" · finished in {elapsed_s:.1} s")
        };
        let workers = batch.workers.get();
        let on = (workers > 1).then(|| {
            view! {
                " · on " <span data-testid="batch-workers">{workers}</span> " workers"
            }
        });
        let failures = (failed > 0)
            .then(|| format!(" · {failed} could not be scored (empty score in the CSV)"));
        Some(view! {
            <div class="progress" data-testid="batch-progress">
                <progress max=total as f64 value=done as f64></progress>
                <span data-testid="batch-done">{done}</span>
                {format!(" of {total}{left}")}
                {on}
                {failures}
            </div>
        })
    }
}

/// Saves the table with its scores as a CSV file.
fn download(batch: Batch, score_columns: &[String]) {
    let Some(table) = batch.table.get_untracked() else {
        return;
    };
    let mut scores = batch.scores.get_value();
    scores.resize(table.rows.len(), None);
    let csv = table.with_scores(score_columns, &scores);
    let name = format!(
        "{}-scores.csv",
        table
            .name
            .rsplit_once('.')
            .map_or(table.name.as_str(), |(stem, _)| stem)
    );
    if let Err(error) = save(&name, &csv) {
        batch
            .error
            .set(Some(format!("could not save {name}: {error}")));
    }
}

fn save(name: &str, contents: &str) -> Result<(), String> {
    let describe = |e: wasm_bindgen::JsValue| super::worker::describe(&e);
    let parts = js_sys::Array::of1(&contents.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/csv");
    let blob =
        web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(describe)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(describe)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let link: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(describe)?
        .unchecked_into();
    link.set_href(&url);
    link.set_download(name);
    link.click();
    web_sys::Url::revoke_object_url(&url).map_err(describe)?;
    Ok(())
}
