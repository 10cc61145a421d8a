//! Training a student on the server this page came from (`cyborg serve`): upload a scored
//! file, see what it holds, choose columns and settings, follow training live, then open the
//! new model in the scorer or copy its share link. Only this view talks to the server's API;
//! the scorer needs no server at all.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, HtmlInputElement, MessageEvent};

/// Where the write token is kept in this browser.
const TOKEN_KEY: &str = "cyborg-serve-token";

/// The view's state.
#[derive(Clone, Copy)]
struct Training {
    /// `Some(true)` once the server answered `/api/health`.
    server: RwSignal<Option<bool>>,
    token: RwSignal<String>,
    /// The uploaded dataset, as the API returned it.
    dataset: RwSignal<Option<Value>>,
    text: RwSignal<String>,
    score: RwSignal<String>,
    id: RwSignal<String>,
    /// `data check`'s summary of the chosen columns.
    summary: RwSignal<Option<Value>>,
    tune: RwSignal<String>,
    epochs: RwSignal<String>,
    seed: RwSignal<String>,
    /// `none`, `local`, `bundle` or `llm`.
    teacher: RwSignal<String>,
    /// With `bundle`: the finished job whose model teaches.
    teacher_job: RwSignal<String>,
    /// This server's jobs, newest first; the finished ones' models can teach.
    jobs: RwSignal<Vec<Value>>,
    /// With `llm`: the chat-completions API root and the model name.
    llm_url: RwSignal<String>,
    llm_model: RwSignal<String>,
    /// How the bundle stores the encoder's matrices: f32, f16 or int8.
    weights: RwSignal<String>,
    /// The share of training rows that keep their human scores.
    human_fraction: RwSignal<String>,
    /// The job's id, once posted.
    job: RwSignal<Option<String>>,
    /// Its state (`queued`, `running`, `done`, …).
    state: RwSignal<String>,
    /// The current stage: name, steps done, steps in all.
    stage: RwSignal<Option<(String, f64, f64)>>,
    /// Notes and epochs, in order.
    log: RwSignal<Vec<String>>,
    metrics: RwSignal<Option<Value>>,
    error: RwSignal<Option<String>>,
}

/// The Train view.
#[component]
pub fn TrainPanel() -> impl IntoView {
    let t = Training {
        server: RwSignal::new(None),
        token: RwSignal::new(stored_token()),
        dataset: RwSignal::new(None),
        text: RwSignal::new(String::new()),
        score: RwSignal::new(String::new()),
        id: RwSignal::new(String::new()),
        summary: RwSignal::new(None),
        tune: RwSignal::new("head".into()),
        epochs: RwSignal::new("3".into()),
        seed: RwSignal::new("1".into()),
        teacher: RwSignal::new("none".into()),
        teacher_job: RwSignal::new(String::new()),
        jobs: RwSignal::new(Vec::new()),
        llm_url: RwSignal::new(String::new()),
        llm_model: RwSignal::new(String::new()),
        weights: RwSignal::new("f32".into()),
        human_fraction: RwSignal::new("1".into()),
        job: RwSignal::new(None),
        state: RwSignal::new(String::new()),
        stage: RwSignal::new(None),
        log: RwSignal::new(Vec::new()),
        metrics: RwSignal::new(None),
        error: RwSignal::new(None),
    };
    spawn_local(async move {
        let healthy = api("GET", "/api/health", None, "").await.is_ok();
        t.server.set(Some(healthy));
        if healthy {
            load_jobs(t).await;
        }
    });
    view! {
        <section class="panel" aria-labelledby="train-heading" data-testid="train">
            <h2 id="train-heading">"Train a model"</h2>
            {move || match t.server.get() {
                None => view! { <p class="hint">"Looking for a training server…"</p> }.into_any(),
                Some(false) => view! {
                    <p class="hint" data-testid="no-server">
                        "This page was not served by " <code>"cyborg serve"</code>
                        ", so it cannot train here. Scoring works without a server."
                    </p>
                }.into_any(),
                Some(true) => view! {
                    <Token t />
                    <Upload t />
                    <Columns t />
                    <Settings t />
                    <JobView t />
                    <JobList t />
                }.into_any(),
            }}
            {move || t.error.get().map(|e| view! { <p class="error" role="alert" data-testid="train-error">{e}</p> })}
        </section>
    }
}

#[component]
fn Token(t: Training) -> impl IntoView {
    let on_input = move |ev| {
        let token = event_target_value(&ev).trim().to_string();
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item(TOKEN_KEY, &token);
        }
        t.token.set(token);
    };
    view! {
        <label for="token">"Write token"</label>
        <input id="token" type="password" autocomplete="off" data-testid="token"
            prop:value=move || t.token.get() on:input=on_input />
        <p class="hint">"Printed by " <code>"cyborg serve"</code> " at its first start, and kept in DATA_DIR/token."</p>
    }
}

#[component]
fn Upload(t: Training) -> impl IntoView {
    let on_pick = move |ev: leptos::ev::Event| {
        let input = event_target::<HtmlInputElement>(&ev);
        let Some(file) = input.files().and_then(|files| files.get(0)) else {
            return;
        };
        spawn_local(async move {
            t.error.set(None);
            t.summary.set(None);
            let path = format!(
                "/api/datasets?name={}",
                String::from(js_sys::encode_uri_component(&file.name()))
            );
            match api("POST", &path, Some(file.into()), &t.token.get_untracked()).await {
                Ok(dataset) => {
                    let columns = column_names(&dataset);
                    t.text.set(guess(
                        &columns,
                        &["full_text", "text", "essay", "response", "answer"],
                    ));
                    t.score
                        .set(guess(&columns, &["score", "holistic", "grade"]));
                    t.id.set(named(&columns, &["essay_id", "id"]).unwrap_or_default());
                    t.dataset.set(Some(dataset));
                    check(t).await;
                }
                Err(e) => t.error.set(Some(e)),
            }
        });
    };
    view! {
        <label class="drop">"Human-scored responses (CSV, TSV or JSONL with a header row)"
            <input type="file" accept=".csv,.tsv,.tab,.jsonl" data-testid="train-file" on:change=on_pick />
        </label>
    }
}

/// Selects for the text, score and id columns, and the summary of what they hold.
#[component]
fn Columns(t: Training) -> impl IntoView {
    let select = move |label: &'static str, signal: RwSignal<String>, optional: bool| {
        let options = move || {
            let columns = t
                .dataset
                .get()
                .map(|d| column_names(&d))
                .unwrap_or_default();
            let none = optional.then(|| view! { <option value="">"(row number)"</option> });
            let named = columns
                .into_iter()
                .map(|c| view! { <option value=c.clone() selected=signal.get_untracked() == c>{c.clone()}</option> })
                .collect_view();
            (none, named)
        };
        let on_change = move |ev| {
            signal.set(event_target_value(&ev));
            spawn_local(check(t));
        };
        view! {
            <label>{label}
                <select data-testid=format!("column-{}", label.to_lowercase()) on:change=on_change>{options}</select>
            </label>
        }
    };
    move || {
        t.dataset.get().map(|dataset| {
            view! {
                <p data-testid="dataset">{format!("{}: {} rows", dataset["name"].as_str().unwrap_or(""), dataset["rows"])}</p>
                <div class="row columns">
                    {select("Text", t.text, false)}
                    {select("Score", t.score, false)}
                    {select("Id", t.id, true)}
                </div>
                <Summary t />
            }
        })
    }
}

/// Responses per score, as `cyborg data check` counts them.
#[component]
fn Summary(t: Training) -> impl IntoView {
    move || {
        t.summary.get().map(|summary| {
            let counts = summary["score_counts"].as_object().cloned().unwrap_or_default();
            let most = counts.values().filter_map(Value::as_f64).fold(1.0, f64::max);
            view! {
                <table class="gates" data-testid="score-counts">
                    <caption>{format!("{} rows · median {} words", summary["rows"], summary["words"]["median"])}</caption>
                    <tr><th>"score"</th><th>"responses"</th><th></th></tr>
                    {counts.into_iter().map(|(score, n)| {
                        let n = n.as_f64().unwrap_or(0.0);
                        view! { <tr><td>{score}</td><td>{n}</td><td><progress max=most value=n></progress></td></tr> }
                    }).collect_view()}
                </table>
            }
        })
    }
}

/// Reads the summary of the chosen columns.
async fn check(t: Training) {
    let Some(dataset) = t.dataset.get_untracked() else {
        return;
    };
    let mut path = format!(
        "/api/datasets/{}/summary?text={}&score={}",
        dataset["id"].as_str().unwrap_or(""),
        encode(&t.text.get_untracked()),
        encode(&t.score.get_untracked())
    );
    let id = t.id.get_untracked();
    if !id.is_empty() {
        path.push_str(&format!("&id={}", encode(&id)));
    }
    match api("GET", &path, None, "").await {
        Ok(summary) => {
            t.summary.set(Some(summary));
            t.error.set(None);
        }
        Err(e) => {
            t.summary.set(None);
            t.error.set(Some(e));
        }
    }
}

#[component]
fn Settings(t: Training) -> impl IntoView {
    let ready = move || {
        t.summary.get().is_some() && !matches!(t.state.get().as_str(), "queued" | "running")
    };
    view! {
        <Show when=move || t.dataset.get().is_some()>
            <div class="row settings">
                {text_setting("Tune", t.tune, "head (fast), top:K, full")}
                {text_setting("Epochs", t.epochs, "most epochs")}
                {text_setting("Seed", t.seed, "same seed, same model")}
            </div>
            <div class="row settings">
                <label>"Teacher " <span class="hint">"labels the rows whose scores are set aside"</span>
                    <select data-testid="setting-teacher" on:change=move |ev| t.teacher.set(event_target_value(&ev))>
                        <option value="none" selected=true>"none: human scores only"</option>
                        <option value="local">"local: an ensemble trained here"</option>
                        <option value="bundle">"a model trained here before"</option>
                        <option value="llm">"an LLM (chat completions)"</option>
                    </select>
                </label>
                {text_setting("Human fraction", t.human_fraction, "share of training rows keeping their scores")}
                <label>"Weights " <span class="hint">"int8: a quarter of the download"</span>
                    <select data-testid="setting-weights" on:change=move |ev| t.weights.set(event_target_value(&ev))>
                        <option value="f32" selected=true>"f32: as trained"</option>
                        <option value="f16">"f16: half the size"</option>
                        <option value="int8">"int8: a quarter of the size"</option>
                    </select>
                </label>
            </div>
            <TeacherDetails t />
            <button data-testid="train-start" disabled=move || !ready() on:click=move |_| start(t)>"Train"</button>
        </Show>
    }
}

/// What the chosen teacher needs: the finished model that teaches, or the LLM to ask.
#[component]
fn TeacherDetails(t: Training) -> impl IntoView {
    move || match t.teacher.get().as_str() {
        "bundle" => view! { <TeachingModel t /> }.into_any(),
        "llm" => view! { <LlmEndpoint t /> }.into_any(),
        _ => ().into_any(),
    }
}

/// Where the LLM teacher is asked; the key is the server's, never the page's.
#[component]
fn LlmEndpoint(t: Training) -> impl IntoView {
    let url_hint = "e.g. http://127.0.0.1:8081/v1; the server sends its own OPENAI_API_KEY";
    view! {
        <div class="row settings">
            {text_setting("LLM API root", t.llm_url, url_hint)}
            {text_setting("LLM model", t.llm_model, "the model name the API expects")}
        </div>
    }
}

/// A pick of this server's finished models, the newest first.
#[component]
fn TeachingModel(t: Training) -> impl IntoView {
    let option = move |job: Value| {
        let id = job["id"].as_str().unwrap_or_default().to_string();
        let label = format!(
            "{id}: development QWK {:.3}, {}",
            job["metrics"]["dev_qwk"].as_f64().unwrap_or(f64::NAN),
            job["finished"].as_str().unwrap_or_default()
        );
        view! { <option value=id.clone() selected=t.teacher_job.get_untracked() == id>{label}</option> }
    };
    move || {
        let finished: Vec<Value> = t.jobs.get().into_iter().filter(is_done).collect();
        if finished.is_empty() {
            return view! {
                <p class="hint" data-testid="no-teacher-job">
                    "No model has finished training on this server yet: train one without a teacher first."
                </p>
            }
            .into_any();
        }
        view! {
            <label>"Teaching model " <span class="hint">"its scores label the rows set aside"</span>
                <select data-testid="setting-teacher-job" on:change=move |ev| t.teacher_job.set(event_target_value(&ev))>
                    {finished.into_iter().map(option).collect_view()}
                </select>
            </label>
        }
        .into_any()
    }
}

/// A labelled text box for a setting; its test id is `setting-` and the label in kebab case.
fn text_setting(
    label: &'static str,
    signal: RwSignal<String>,
    hint: &'static str,
) -> impl IntoView {
    view! {
        <label>{label} " " <span class="hint">{hint}</span>
            <input type="text" data-testid=format!("setting-{}", label.to_lowercase().replace(' ', "-"))
                prop:value=move || signal.get() on:input=move |ev| signal.set(event_target_value(&ev)) />
        </label>
    }
}

fn is_done(job: &Value) -> bool {
    job["state"] == "done"
}

/// Reads the server's jobs, newest first; the teacher picks the newest finished one unless
/// one is picked.
async fn load_jobs(t: Training) {
    match api("GET", "/api/jobs", None, "").await {
        Ok(jobs) => {
            // The server lists them newest first.
            let jobs = jobs.as_array().cloned().unwrap_or_default();
            let picked = t.teacher_job.get_untracked();
            let mut finished = jobs.iter().filter(|job| is_done(job));
            if !finished.clone().any(|job| job["id"] == picked.as_str()) {
                let newest = finished.next().and_then(|job| job["id"].as_str());
                t.teacher_job.set(newest.unwrap_or_default().to_string());
            }
            t.jobs.set(jobs);
        }
        Err(e) => t
            .error
            .set(Some(format!("no list of this server's jobs: {e}"))),
    }
}

/// The request's `teacher` object for the chosen teacher.
fn teacher_request(t: Training) -> Value {
    let given = |signal: RwSignal<String>| {
        let value = signal.get_untracked().trim().to_string();
        (!value.is_empty()).then_some(value)
    };
    match t.teacher.get_untracked().as_str() {
        "bundle" => json!({ "kind": "bundle", "job": given(t.teacher_job) }),
        "llm" => {
            json!({ "kind": "llm", "base_url": given(t.llm_url), "llm_model": given(t.llm_model) })
        }
        kind => json!({ "kind": kind }),
    }
}

/// Posts the job and follows it.
fn start(t: Training) {
    let Some(dataset) = t.dataset.get_untracked() else {
        return;
    };
    let (Ok(epochs), Ok(seed)) = (
        t.epochs.get_untracked().trim().parse::<u64>(),
        t.seed.get_untracked().trim().parse::<u64>(),
    ) else {
        t.error
            .set(Some("epochs and seed must be whole numbers".into()));
        return;
    };
    let Ok(human_fraction) = t.human_fraction.get_untracked().trim().parse::<f64>() else {
        t.error
            .set(Some("the human fraction must be a number, e.g. 0.1".into()));
        return;
    };
    let id = t.id.get_untracked();
    let request = json!({
        "dataset": dataset["id"], "text": t.text.get_untracked(), "score": t.score.get_untracked(),
        "id": (!id.is_empty()).then_some(id), "tune": t.tune.get_untracked().trim(),
        "epochs": epochs, "seed": seed, "human_fraction": human_fraction,
        "teacher": teacher_request(t), "weights": t.weights.get_untracked(),
    });
    spawn_local(async move {
        t.error.set(None);
        t.log.set(Vec::new());
        t.metrics.set(None);
        match api(
            "POST",
            "/api/jobs",
            Some(JsValue::from_str(&request.to_string())),
            &t.token.get_untracked(),
        )
        .await
        {
            Ok(job) => {
                let id = job["id"].as_str().unwrap_or_default().to_string();
                t.state.set("queued".into());
                t.job.set(Some(id.clone()));
                follow(t, &id);
            }
            Err(e) => t.error.set(Some(e)),
        }
    });
}

/// Follows job `id`'s events until it ends.
fn follow(t: Training, id: &str) {
    let Ok(source) = EventSource::new(&format!("/api/jobs/{id}/events")) else {
        t.error.set(Some(
            "this browser cannot follow the job (no EventSource)".into(),
        ));
        return;
    };
    let closer = source.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        let Some(event) = message
            .data()
            .as_string()
            .and_then(|d| serde_json::from_str::<Value>(&d).ok())
        else {
            return;
        };
        if on_event(t, &event) {
            closer.close();
        }
    });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the stream; the stream ends with the job.
    on_message.forget();
}

/// Applies one event; `true` when the job has ended.
fn on_event(t: Training, event: &Value) -> bool {
    match event["event"].as_str().unwrap_or("") {
        "state" => {
            let state = event["state"].as_str().unwrap_or("").to_string();
            if let Some(message) = event["error"]["error"].as_str() {
                t.error.set(Some(format!("training failed: {message}")));
            }
            if !event["metrics"].is_null() {
                t.metrics.set(Some(event["metrics"].clone()));
            }
            let ended = matches!(state.as_str(), "done" | "failed" | "cancelled");
            if ended {
                spawn_local(load_jobs(t));
            }
            t.state.set(state);
            ended
        }
        "stage" => {
            let name = event["name"].as_str().unwrap_or("").to_string();
            t.stage
                .set(Some((name, 0.0, event["total"].as_f64().unwrap_or(1.0))));
            false
        }
        "step" => {
            t.stage.update(|s| {
                if let Some(stage) = s {
                    stage.1 = event["done"].as_f64().unwrap_or(0.0);
                }
            });
            false
        }
        "note" => {
            t.log
                .update(|log| log.push(event["text"].as_str().unwrap_or("").to_string()));
            false
        }
        "epoch" => {
            let line = format!(
                "epoch {} of {}: training loss {:.4}, dev {}",
                event["epoch"],
                event["of"],
                event["train_loss"].as_f64().unwrap_or(f64::NAN),
                event["dev_measure"]
            );
            t.log.update(|log| log.push(line));
            false
        }
        _ => false,
    }
}

/// Where the server keeps a finished job's model and report, and the scorer's link to it.
struct JobLinks {
    bundle: String,
    open: String,
    report: String,
}

impl JobLinks {
    fn of(id: &str) -> JobLinks {
        let bundle = format!("/bundles/{id}.cyborg");
        JobLinks {
            open: format!("/?bundle={bundle}"),
            report: format!("/reports/{id}.html"),
            bundle,
        }
    }
}

/// The job: progress, log, cancel, and once done the links to use and share its model.
#[component]
fn JobView(t: Training) -> impl IntoView {
    let cancel = move |_| {
        if let Some(id) = t.job.get_untracked() {
            spawn_local(async move {
                if let Err(e) = api(
                    "DELETE",
                    &format!("/api/jobs/{id}"),
                    None,
                    &t.token.get_untracked(),
                )
                .await
                {
                    t.error.set(Some(e));
                }
            });
        }
    };
    move || {
        t.job.get().map(|id| {
            let JobLinks {
                bundle,
                open,
                report,
            } = JobLinks::of(&id);
            let share = share_link(&bundle);
            let share_copy = share.clone();
            let copy = move |_| {
                if let Some(window) = web_sys::window() {
                    let _ = window.navigator().clipboard().write_text(&share_copy);
                }
            };
            view! {
                <div class="progress" data-testid="job">
                    <p role="status" data-testid="job-state">{move || format!("Job {id}: {}", t.state.get())}</p>
                    {move || t.stage.get().map(|(name, done, total)| view! {
                        <span>{name}</span><progress max=total value=done></progress>
                    })}
                    <ul data-testid="job-log">{move || t.log.get().into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
                    <Show when=move || matches!(t.state.get().as_str(), "queued" | "running")>
                        <button on:click=cancel>"Cancel"</button>
                    </Show>
                    <Show when=move || t.state.get() == "done">
                        <p data-testid="job-metrics">{move || t.metrics.get().map(|m| metrics_line(&m))}</p>
                        <p class="row">
                            <a href=open.clone() data-testid="open-in-scorer">"Open in scorer"</a>
                            <button data-testid="copy-share" on:click=copy.clone()>"Copy share link"</button>
                            <a href=report.clone() target="_blank">"Report"</a>
                        </p>
                        <input type="url" readonly data-testid="train-share-link" prop:value=share.clone() />
                    </Show>
                </div>
            }
        })
    }
}

/// Every job on this server, newest first: a model trained before stays one click away.
#[component]
fn JobList(t: Training) -> impl IntoView {
    let row = |job: Value| {
        let id = job["id"].as_str().unwrap_or_default().to_string();
        let links = is_done(&job).then(|| {
            let JobLinks { open, report, .. } = JobLinks::of(&id);
            view! {
                <a href=open data-testid="listed-open">"Open in scorer"</a>
                " · "
                <a href=report target="_blank">"Report"</a>
            }
        });
        // A failed job says why after a reload too, not only while it was followed.
        let reason = job["error"]["error"].as_str().map(|reason| {
            view! { <span class="fail" data-testid="listed-error">{reason.to_string()}</span> }
        });
        let quality = job["metrics"]["dev_qwk"]
            .as_f64()
            .map(|q| format!("{q:.3}"));
        view! {
            <tr data-testid="listed-job" data-job=id.clone()>
                <td><code>{id.clone()}</code></td>
                <td data-testid="listed-state">{job["state"].as_str().unwrap_or_default().to_string()}</td>
                <td>{quality}</td>
                <td>{job["created"].as_str().unwrap_or_default().to_string()}</td>
                <td>{links}{reason}</td>
            </tr>
        }
    };
    move || {
        let jobs = t.jobs.get();
        (!jobs.is_empty()).then(|| view! {
            <table class="gates" data-testid="job-list">
                <caption>"Models trained on this server"</caption>
                <tr><th>"job"</th><th>"state"</th><th>"development QWK"</th><th>"queued"</th><th></th></tr>
                {jobs.into_iter().map(row).collect_view()}
            </table>
        })
    }
}

/// What training measured, in a sentence: development QWK, and what the teacher added.
fn metrics_line(metrics: &Value) -> String {
    let measured = format!(
        "Development QWK {:.3} on {} held-out responses.",
        metrics["dev_qwk"].as_f64().unwrap_or(f64::NAN),
        metrics["dev_rows"]
    );
    match metrics["teacher"].as_str() {
        Some(teacher) => format!(
            "{measured} {} training rows were labelled by the teacher ({teacher}).",
            metrics["teacher_rows"]
        ),
        None => measured,
    }
}

/// The link that opens the scorer with `bundle` for anyone.
fn share_link(bundle: &str) -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    format!("{origin}/?bundle={bundle}")
}

/// Calls the API; the JSON answer, or the error it gave (with line and column when the data
/// was at fault).
async fn api(
    method: &str,
    path: &str,
    body: Option<JsValue>,
    token: &str,
) -> Result<Value, String> {
    use gloo_net::http::Request;
    let builder = match method {
        "POST" => Request::post(path),
        "DELETE" => Request::delete(path),
        _ => Request::get(path),
    };
    let builder = if token.is_empty() {
        builder
    } else {
        builder.header("Authorization", &format!("Bearer {token}"))
    };
    let request = match body {
        Some(body) => builder.body(body),
        None => builder.build(),
    }
    .map_err(|e| e.to_string())?;
    let response = request
        .send()
        .await
        .map_err(|e| format!("the server did not answer: {e}"))?;
    let value: Value = response.json().await.unwrap_or(Value::Null);
    if response.ok() {
        return Ok(value);
    }
    let message = value["error"]
        .as_str()
        .unwrap_or("no reason given")
        .to_string();
    Err(match (value["line"].as_u64(), value["column"].as_u64()) {
        (Some(line), Some(column)) => format!("line {line}, column {column}: {message}"),
        (Some(line), None) => format!("line {line}: {message}"),
        _ => format!("{message} ({})", response.status()),
    })
}

fn stored_token() -> String {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(TOKEN_KEY).ok().flatten())
        .unwrap_or_default()
}

fn column_names(dataset: &Value) -> Vec<String> {
    dataset["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The first column named like one of `likely` (in their order).
fn named(columns: &[String], likely: &[&str]) -> Option<String> {
    likely
        .iter()
        .find_map(|name| columns.iter().find(|c| c.eq_ignore_ascii_case(name)))
        .cloned()
}

/// [`named`], else the first column.
fn guess(columns: &[String], likely: &[&str]) -> String {
    named(columns, likely)
        .or_else(|| columns.first().cloned())
        .unwrap_or_default()
}

fn encode(s: &str) -> String {
    js_sys::encode_uri_component(s).into()
}
