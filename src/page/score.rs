//! Scoring one response as it is typed.

use std::time::Duration;

use cyborg_scorer::advisory::Advisory;
use cyborg_scorer::metrics::Thresholds;
use cyborg_scorer::traits::TraitScore;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::AppState;

/// How long typing must pause before the response is scored.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Scores the current text now (after a model loads, or when typing pauses).
pub fn rescore(state: AppState) {
    // Numbered, so a slow answer to old text never replaces the answer to newer text.
    state.score_request.update_value(|n| *n += 1);
    let request = state.score_request.get_value();
    let text = state.text.get_untracked();
    if text.trim().is_empty() || state.model.get_untracked().is_none() {
        state.scored.set(None);
        return;
    }
    spawn_local(async move {
        let result = state.score(&text).await;
        if state.score_request.get_value() == request {
            state.scored.set(Some(result));
            state.scored_text.set(text);
        }
    });
}

/// Type or paste a response; its score appears as you type.
#[component]
pub fn ScorePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let pending = StoredValue::new_local(None::<TimeoutHandle>);
    let on_input = move |ev| {
        state.text.set(event_target_value(&ev));
        if let Some(handle) = pending.get_value() {
            handle.clear();
        }
        let handle = set_timeout_with_handle(move || rescore(state), DEBOUNCE).ok();
        pending.set_value(handle);
    };
    view! {
        <section class="panel" aria-labelledby="score-heading">
            <h2 id="score-heading">"Score a response"</h2>
            <label for="response">"Response"</label>
            <textarea
                id="response"
                rows="10"
                data-testid="response"
                placeholder="Type or paste a response…"
                prop:value=move || state.text.get()
                on:input=on_input
            ></textarea>
            <Result />
            <ShareLink />
        </section>
    }
}

/// The score, the raw score and how far it is from the neighbouring levels.
#[component]
fn Result() -> impl IntoView {
    let state = expect_context::<AppState>();
    // The shown score is for older text until the new text's answer arrives.
    let stale = move || (state.text.get() != state.scored_text.get()).to_string();
    move || {
        let thresholds = state.model.get().map(|m| m.thresholds);
        match (state.scored.get(), thresholds) {
            (None, Some(_)) => {
                view! { <p class="hint">"The score appears here as you type."</p> }.into_any()
            }
            (None, None) => view! { <p class="hint">"Load a model to score."</p> }.into_any(),
            (Some(Err(message)), _) => {
                view! { <p class="error" role="alert" data-testid="score-error">{message}</p> }
                    .into_any()
            }
            (Some(Ok(scored)), Some(thresholds)) => view! {
                <div class="result" aria-live="polite" aria-busy=stale data-testid="result">
                    <p class="score-line">
                        "Score "
                        <output class="score" data-testid="score">{scored.score.score}</output>
                        " on " {thresholds.range.min} "–" {thresholds.range.max}
                        <span class="raw">" · raw score "
                            <span data-testid="raw-score" data-raw=scored.score.raw.to_string()>
                                {format!("{:.4}", scored.score.raw)}
                            </span>
                        </span>
                    </p>
                    <Advisories advisories=scored.score.advisories.clone() />
                    <p class="margins">{margins(&thresholds, scored.score.raw)}</p>
                    <Scale thresholds=thresholds.clone() raw=scored.score.raw />
                    <Traits traits=scored.score.traits.clone() />
                    <p class="timing">
                        {format!("Scored here in {:.0} ms ({} tokens).", scored.ms, scored.tokens)}
                    </p>
                </div>
            }
            .into_any(),
            (Some(Ok(_)), None) => ().into_any(),
        }
    }
}

/// Why a person should check this score, as badges beside it.
#[component]
fn Advisories(advisories: Vec<Advisory>) -> impl IntoView {
    (!advisories.is_empty()).then(|| {
        let badges = advisories
            .into_iter()
            .map(|a| {
                view! {
                    <li class="advisory" data-testid="advisory" data-advisory=a.name()>
                        {a.explanation()}
                    </li>
                }
            })
            .collect_view();
        view! {
            <div class="advisories" role="note">
                <p>"Check this score: the response is unlike what the model learned from."</p>
                <ul>{badges}</ul>
            </div>
        }
    })
}

/// A multi-trait bundle's further traits: a level (with its raw score) or a value each.
#[component]
fn Traits(traits: Vec<TraitScore>) -> impl IntoView {
    (!traits.is_empty()).then(|| {
        let rows = traits
            .into_iter()
            .map(|t| {
                let value = match t.level {
                    Some(level) => format!("{level} (raw {:.4})", t.raw),
                    None => format!("{:.4}", t.raw),
                };
                view! {
                    <tr>
                        <th scope="row">{t.name.clone()}</th>
                        <td data-testid="trait-score" data-trait=t.name data-raw=t.raw.to_string()>
                            {value}
                        </td>
                    </tr>
                }
            })
            .collect_view();
        view! { <table class="traits" data-testid="traits"><tbody>{rows}</tbody></table> }
    })
}

/// The distance from `raw` to the cut points on either side, in words.
fn margins(thresholds: &Thresholds, raw: f64) -> String {
    let level = thresholds.level(raw);
    let index = (level - thresholds.range.min) as usize;
    let below = index.checked_sub(1).map(|i| thresholds.cuts[i]);
    let above = thresholds.cuts.get(index).copied();
    let mut parts = Vec::new();
    if let Some(cut) = above {
        parts.push(format!(
            "{:.2} below the cut to {} ({cut:.2})",
            cut - raw,
            level + 1
        ));
    }
    if let Some(cut) = below {
        parts.push(format!(
            "{:.2} above the cut to {} ({cut:.2})",
            raw - cut,
            level - 1
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("The raw score is {}.", parts.join(" and "))
    }
}

/// The score scale with the cut points and the raw score marked.
#[component]
fn Scale(thresholds: Thresholds, raw: f64) -> impl IntoView {
    const WIDTH: f64 = 600.0;
    let (min, max) = (
        thresholds.range.min as f64 - 0.5,
        thresholds.range.max as f64 + 0.5,
    );
    let x = move |value: f64| (value.clamp(min, max) - min) / (max - min) * WIDTH;
    let levels = (thresholds.range.min..=thresholds.range.max)
        .map(|level| {
            view! {
                <text x=x(level as f64) y="34" text-anchor="middle">{level}</text>
            }
        })
        .collect_view();
    let cuts = thresholds
        .cuts
        .iter()
        .map(|&cut| view! { <line class="cut" x1=x(cut) x2=x(cut) y1="4" y2="22"></line> })
        .collect_view();
    view! {
        <svg class="scale" viewBox="0 0 600 40" role="img" aria-label=format!("raw score {raw:.2} on the scale with its cut points")>
            <line class="axis" x1="0" x2=WIDTH y1="13" y2="13"></line>
            {cuts}
            <circle class="raw-marker" cx=x(raw) cy="13" r="6"></circle>
            {levels}
        </svg>
    }
}

/// A link that opens this page with the same model and response.
#[component]
fn ShareLink() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        let url = state.model_url.get()?;
        let location = web_sys::window()?.location();
        let page = format!("{}{}", location.origin().ok()?, location.pathname().ok()?);
        let params = web_sys::UrlSearchParams::new().ok()?;
        params.append("bundle", &url);
        let text = state.text.get();
        if !text.is_empty() {
            params.append("text", &text);
        }
        let href = format!("{page}?{}", String::from(params.to_string()));
        Some(view! {
            <p class="share">
                <a href=href data-testid="share-link">"Link to this model and response"</a>
                " (the response is in the link: share it only if that is fine)"
            </p>
        })
    }
}
