//! Loading a model (from a file, a link or the cache) and showing its card.

use cyborg_scorer::fairness::Gate;
use cyborg_web::protocol::LoadedModel;
use leptos::prelude::*;
use web_sys::{DragEvent, HtmlInputElement};

use super::{AppState, Status};

/// The model: what is loaded, how to load another, what this browser keeps.
#[component]
pub fn ModelPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <section class="panel" aria-labelledby="model-heading">
            <h2 id="model-heading">"Model"</h2>
            <StatusLine />
            {move || state.model.get().map(|model| view! { <ModelCard model /> })}
            <OpenModel />
            <CachedModels />
        </section>
    }
}

/// Loading progress, the last error, or what to do next.
#[component]
fn StatusLine() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || match state.status.get() {
        Status::Idle(note) => {
            view! { <p class="status" role="status" data-testid="status">{note}</p> }.into_any()
        }
        Status::Busy { what, progress } => {
            let (value, max, amount) = match progress {
                Some((received, Some(total))) if total > 0 => (
                    Some(received as f64),
                    total as f64,
                    format!("{} of {}", megabytes(received), megabytes(total)),
                ),
                Some((received, _)) => (None, 1.0, megabytes(received)),
                None => (None, 1.0, String::new()),
            };
            view! {
                <div class="status busy" role="status" data-testid="status">
                    <span>{what}"… "{amount}</span>
                    <progress max=max value=value></progress>
                </div>
            }
            .into_any()
        }
        Status::Failed(message) => view! {
            <p class="status error" role="alert" data-testid="error">{message}</p>
        }
        .into_any(),
    }
}

/// The loaded model's card.
#[component]
fn ModelCard(model: LoadedModel) -> impl IntoView {
    let state = expect_context::<AppState>();
    let card = model.card;
    let range = model.thresholds.range;
    let dev = card.dev_metrics.fitted_thresholds.clone();
    let qwk = dev
        .qwk
        .map_or_else(|| "undefined".to_string(), |q| format!("{q:.3}"));
    let gates = card.dev_metrics.gates.clone();
    let traits: Vec<String> = card
        .dev_metrics
        .traits
        .iter()
        .map(ToString::to_string)
        .collect();
    view! {
        <div class="card" data-testid="model-card">
            <p>
                <strong data-testid="model-name">{model.name}</strong>
                " · " {megabytes(model.bytes)} " · "
                <span data-testid="model-origin">{move || state.model_origin.get()}</span>
            </p>
            <dl>
                <dt>"Scores"</dt>
                <dd>{range.min} "–" {range.max}</dd>
                <dt>"Trained"</dt>
                <dd>{card.created} " with cyborg " {card.cyborg_version}</dd>
                <dt>"Data"</dt>
                <dd>
                    {card.data.file} ": " {card.data.train_rows} " responses to train, "
                    {card.data.dev_rows} " to check; "
                    {format!("{:.0}% human-scored", 100.0 * card.data.human_fraction)}
                </dd>
                <dt>"Base encoder"</dt>
                <dd>{card.base_model.name} " (" {card.training.tune} ")"</dd>
                <dt>"Weights"</dt>
                <dd data-testid="model-precision">{model.precision.name()}</dd>
                {model.int8_products.then(|| view! {
                    <dd data-testid="model-int8-products">
                        "multiplied as its integers, inputs rounded to 16 bits (int8_products=0 in \
                         the link multiplies as cyborg score does)"
                    </dd>
                })}
                <dt>"Runs on"</dt>
                <dd data-testid="model-backend">{model.backend.single.name()}</dd>
                <dt>"Development QWK"</dt>
                <dd>{qwk} " (exact agreement " {format!("{:.0}%", 100.0 * dev.exact)} ", n = " {dev.n} ")"</dd>
                {(!traits.is_empty()).then(|| view! {
                    <dt>"Also scores"</dt>
                    <dd data-testid="model-traits">{traits.join("; ")}</dd>
                })}
            </dl>
            {model.backend.note.map(|note| view! {
                <p class="note" role="status" data-testid="backend-note">{note}</p>
            })}
            <GatesTable gates />
        </div>
    }
}

/// The operational gates the card's development results pass or fail.
#[component]
fn GatesTable(gates: Vec<Gate>) -> impl IntoView {
    let rows = gates
        .into_iter()
        .map(|gate| {
            let (result, class) = match gate.pass {
                Some(true) => ("PASS", "pass"),
                Some(false) => ("FAIL", "fail"),
                None => ("n/a", "na"),
            };
            view! {
                <tr>
                    <td>{gate.name}</td>
                    <td>{gate.value.map_or_else(String::new, |v| format!("{v:.3}"))}</td>
                    <td class=class title=gate.note>{result}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="gates">
            <caption>"Operational gates on the development data"</caption>
            <thead><tr><th>"Gate"</th><th>"Value"</th><th>"Result"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// Open a model from a file (picker or drop) or a link.
#[component]
fn OpenModel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let link = RwSignal::new(String::new());
    let dragging = RwSignal::new(false);
    let on_pick = move |ev: leptos::ev::Event| {
        let input = event_target::<HtmlInputElement>(&ev);
        if let Some(file) = input.files().and_then(|files| files.get(0)) {
            state.load_file(file);
        }
        input.set_value("");
    };
    let on_drop = move |ev: DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        let file = ev
            .data_transfer()
            .and_then(|data| data.files())
            .and_then(|files| files.get(0));
        if let Some(file) = file {
            state.load_file(file);
        }
    };
    let on_link = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let url = link.get();
        if !url.trim().is_empty() {
            state.load_url(url, false);
        }
    };
    view! {
        <div class="open">
            <label
                class="drop"
                class:dragging=move || dragging.get()
                on:dragover=move |ev: DragEvent| {
                    ev.prevent_default();
                    dragging.set(true);
                }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
            >
                "Open a model file (.cyborg), or drop one here"
                <input type="file" accept=".cyborg" data-testid="model-file" on:change=on_pick />
            </label>
            <form on:submit=on_link>
                <label for="model-link">"Or load one from a link"</label>
                <div class="row">
                    <input
                        id="model-link"
                        type="url"
                        placeholder="https://…/model.cyborg"
                        data-testid="model-link"
                        prop:value=move || link.get()
                        on:input=move |ev| link.set(event_target_value(&ev))
                    />
                    <button type="submit">"Load"</button>
                </div>
            </form>
        </div>
    }
}

/// The bundles this browser keeps, to reuse offline or delete.
#[component]
fn CachedModels() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <details class="cached" data-testid="cached-models">
            <summary>
                "Models kept in this browser (" {move || state.cached.get().len()} ")"
            </summary>
            <ul>
                <For
                    each=move || state.cached.get()
                    key=|bundle| bundle.key.clone()
                    children=move |bundle| {
                        let use_it = bundle.clone();
                        let key = bundle.key.clone();
                        view! {
                            <li data-testid="cached-model">
                                <span class="name">{bundle.name.clone()}</span>
                                <span class="meta">
                                    {megabytes(bundle.bytes)} ", kept " {bundle.saved.clone()}
                                </span>
                                <button on:click=move |_| state.load_cached(use_it.clone())>"Use"</button>
                                <button on:click=move |_| state.forget_cached(key.clone())>"Delete"</button>
                            </li>
                        }
                    }
                />
            </ul>
        </details>
    }
}

/// `bytes` as megabytes, for people.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
