//! The scoring worker: holds the model and scores responses off the page's thread.
//!
//! It answers the page's [`Request`]s in order, one at a time (a GPU readback is awaited, so
//! messages queue until the one before has been answered); the page decides what to send
//! next, so a batch can be cancelled between two responses.

use std::cell::RefCell;
use std::rc::Rc;

use crate::backend::{now_ms, Backends};
use crate::protocol::{
    BuildInfo, LoadOptions, LoadedModel, Reply, ReplyBody, Request, RequestBody, ScoredResponse,
    UNMATCHED,
};
use cyborg_scorer::lexical::bucket_counts;
use cyborg_scorer::model::PreparedText;
use cyborg_scorer::{bundle, Precision, Products, Scorer};
use futures_util::StreamExt;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// A loaded model and the backends its encoder runs on.
struct Model {
    scorer: Scorer,
    backends: Backends,
}

/// Starts answering the page's messages (the worker binary's `main`).
pub fn run() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("scoring worker panicked: {info}").into())
    }));
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (inbox, mut messages) = futures_channel::mpsc::unbounded::<MessageEvent>();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let _ = inbox.unbounded_send(event);
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let reply_scope = scope.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let model: Rc<RefCell<Option<Model>>> = Rc::default();
        while let Some(event) = messages.next().await {
            let reply = handle(&event, &model).await;
            post(&reply_scope, &reply);
        }
    });
    post(
        &scope,
        &Reply {
            id: UNMATCHED,
            body: ReplyBody::Started(BuildInfo {
                simd128: cfg!(target_feature = "simd128"),
                bundle_format: bundle::FORMAT_VERSION,
                numerics: cyborg_scorer::NUMERICS_VERSION,
            }),
        },
    );
}

/// Answers one message: `[request JSON]` or `[request JSON, bundle bytes]`.
async fn handle(event: &MessageEvent, model: &RefCell<Option<Model>>) -> Reply {
    let parts: js_sys::Array = event.data().unchecked_into();
    let request = match Request::read(parts.get(0).as_string().as_deref()) {
        Ok(request) => request,
        Err(failure) => return failure,
    };
    // The model is taken out while a request runs, so no borrow is held across an await.
    let mut current = model.borrow_mut().take();
    let body = match (request.body, &mut current) {
        (RequestBody::Load { name, options }, _) => {
            let bytes = js_sys::Uint8Array::new(&parts.get(1));
            let (body, loaded) = load(&name, &bytes, &options).await;
            if loaded.is_some() {
                current = loaded;
            }
            body
        }
        (RequestBody::Score { text }, Some(model)) => score(model, &text).await,
        (RequestBody::Inspect { text }, Some(model)) => match inspect(model, &text).await {
            Ok(((scored, embedding), word_buckets)) => ReplyBody::Inspected {
                scored: Box::new(scored),
                embedding,
                word_buckets,
            },
            Err(error) => ReplyBody::Failed {
                message: error.to_string(),
            },
        },
        (RequestBody::ScoreMany { texts }, Some(model)) => {
            ReplyBody::ScoredMany(score_many(model, &texts).await)
        }
        (
            RequestBody::Score { .. } | RequestBody::ScoreMany { .. } | RequestBody::Inspect { .. },
            None,
        ) => ReplyBody::Failed {
            message: "no model is loaded yet".into(),
        },
    };
    *model.borrow_mut() = current;
    Reply {
        id: request.id,
        body,
    }
}

/// The SHA-256 of all but a bundle's last 32 bytes (its checksum), by the browser's own
/// SHA-256: native code, several times faster than the scorer's in wasm. `None` where the
/// browser offers none (outside a secure context); the scorer then hashes.
async fn browser_sha256(bundle: &js_sys::Uint8Array) -> Option<[u8; 32]> {
    let content = bundle.subarray(0, bundle.length().checked_sub(32)?);
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let subtle = scope.crypto().ok()?.subtle();
    let digest = subtle
        .digest_with_str_and_js_u8_array("SHA-256", &content)
        .ok()?;
    let digest = wasm_bindgen_futures::JsFuture::from(digest).await.ok()?;
    js_sys::Uint8Array::new(&digest).to_vec().try_into().ok()
}

/// Checks and loads the bundle in `array`; the time it reports includes the checksum.
async fn load(
    name: &str,
    array: &js_sys::Uint8Array,
    options: &LoadOptions,
) -> (ReplyBody, Option<Model>) {
    let started = now_ms();
    let content_sha256 = browser_sha256(array).await;
    let bytes = array.to_vec();
    let device = candle_core::Device::Cpu;
    let products = match options.int8_products {
        true => Products::Integer,
        false => Products::Restored,
    };
    let loaded = Scorer::from_bundle_hashed(&bytes, name, &device, content_sha256, products)
        .and_then(|scorer| {
            let thresholds = scorer.thresholds()?.clone();
            Ok((scorer, thresholds))
        });
    let (scorer, thresholds) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            let message = error.to_string();
            return (ReplyBody::Failed { message }, None);
        }
    };
    let backends = Backends::choose(&scorer, options.backend, options.lose_webgpu_after).await;
    let int8_products = products == Products::Integer
        && scorer.precision == Precision::Int8
        && cyborg_scorer::int8::usable();
    let loaded = LoadedModel {
        name: name.to_string(),
        bytes: bytes.len() as u64,
        precision: scorer.precision,
        card: scorer.card.clone().expect("a bundle's scorer has its card"),
        thresholds,
        score_columns: scorer.score_columns(),
        load_ms: now_ms() - started,
        backend: backends.report().clone(),
        int8_products,
    };
    let body = ReplyBody::Loaded(Box::new(loaded));
    (body, Some(Model { scorer, backends }))
}

async fn score(model: &mut Model, text: &str) -> ReplyBody {
    match inspect(model, text).await {
        Ok(((scored, _), _)) => ReplyBody::Scored(scored),
        Err(error) => ReplyBody::Failed {
            message: error.to_string(),
        },
    }
}

/// Scores `text` on the model's backend and returns the pooled embedding the head read.
async fn inspect(
    model: &mut Model,
    text: &str,
) -> cyborg_scorer::Result<((ScoredResponse, Vec<f32>), Vec<(u32, u32)>)> {
    let started = now_ms();
    let prepared = [model.scorer.text_encoder.prepare(text)?];
    let buckets = match model.scorer.head.config().lexical_buckets {
        0 => Vec::new(),
        buckets => bucket_counts(&prepared[0].words, buckets),
    };
    let mut scored = score_prepared(model, &prepared, started).await?;
    Ok((scored.remove(0), buckets))
}

/// Scores `texts` together; a text that cannot be prepared gets its own error, and a failure
/// of the whole encoder call is every text's.
async fn score_many(model: &mut Model, texts: &[String]) -> Vec<Result<ScoredResponse, String>> {
    let started = now_ms();
    let prepared: Vec<_> = texts
        .iter()
        .map(|text| {
            model
                .scorer
                .text_encoder
                .prepare(text)
                .map_err(|e| e.to_string())
        })
        .collect();
    let ready: Vec<PreparedText> = prepared.iter().flatten().cloned().collect();
    let mut scored = match score_prepared(model, &ready, started).await {
        Ok(scored) => Ok(scored.into_iter().map(|(scored, _)| scored)),
        Err(error) => Err(error.to_string()),
    };
    prepared
        .into_iter()
        .map(|text| match (text, &mut scored) {
            (Err(error), _) => Err(error),
            (Ok(_), Ok(scores)) => Ok(scores.next().expect("a score per prepared text")),
            (Ok(_), Err(error)) => Err(error.clone()),
        })
        .collect()
}

/// Scores prepared texts in one call on the model's backend: each one's score (with its
/// share of the time since `started`) and the pooled embedding the head read.
async fn score_prepared(
    model: &mut Model,
    prepared: &[PreparedText],
    started: f64,
) -> cyborg_scorer::Result<Vec<(ScoredResponse, Vec<f32>)>> {
    if prepared.is_empty() {
        return Ok(Vec::new());
    }
    let (pooled, backend, fallback) = model.backends.pooled(&model.scorer, prepared).await?;
    let scores = model.scorer.score_pooled(prepared, &pooled)?;
    let ms = (now_ms() - started) / prepared.len() as f64;
    Ok(scores
        .into_iter()
        .zip(pooled.to_vec2::<f32>()?)
        .zip(prepared)
        .map(|((score, embedding), text)| {
            let scored = ScoredResponse {
                score,
                tokens: text.tokens(),
                ms,
                backend,
                fallback: fallback.clone(),
            };
            (scored, embedding)
        })
        .collect())
}

fn post(scope: &DedicatedWorkerGlobalScope, reply: &Reply) {
    let json = serde_json::to_string(reply).expect("replies serialise");
    if let Err(error) = scope.post_message(&JsValue::from_str(&json)) {
        web_sys::console::error_2(&"scoring worker could not reply".into(), &error);
    }
}
