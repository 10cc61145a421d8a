//! The scoring worker: holds the model and scores responses off the page's thread.
//!
//! It answers the page's [`Request`]s in order, one at a time; the page decides what to send
//! next, so a batch can be cancelled between two responses.

use std::cell::RefCell;
use std::rc::Rc;

use crate::protocol::{
    BuildInfo, LoadedModel, Reply, ReplyBody, Request, RequestBody, ScoredResponse, UNMATCHED,
};
use cyborg_scorer::{bundle, Scorer};
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// Starts answering the page's messages (the worker binary's `main`).
pub fn run() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("scoring worker panicked: {info}").into())
    }));
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let model: Rc<RefCell<Option<Scorer>>> = Rc::default();
    let reply_scope = scope.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let reply = handle(&event, &mut model.borrow_mut());
        post(&reply_scope, &reply);
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
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
fn handle(event: &MessageEvent, model: &mut Option<Scorer>) -> Reply {
    let parts: js_sys::Array = event.data().unchecked_into();
    let request = match Request::read(parts.get(0).as_string().as_deref()) {
        Ok(request) => request,
        Err(failure) => return failure,
    };
    let body = match request.body {
        RequestBody::Load { name } => {
            let bytes = js_sys::Uint8Array::new(&parts.get(1)).to_vec();
            load(&name, &bytes, model)
        }
        RequestBody::Score { text } => match model {
            Some(scorer) => score(scorer, &text),
            None => ReplyBody::Failed {
                message: "no model is loaded yet".into(),
            },
        },
    };
    Reply {
        id: request.id,
        body,
    }
}

fn load(name: &str, bytes: &[u8], model: &mut Option<Scorer>) -> ReplyBody {
    let started = now_ms();
    let loaded = Scorer::from_bundle(bytes, name, &candle_core::Device::Cpu).and_then(|scorer| {
        let thresholds = scorer.thresholds()?.clone();
        Ok((scorer, thresholds))
    });
    match loaded {
        Ok((scorer, thresholds)) => {
            let loaded = LoadedModel {
                name: name.to_string(),
                bytes: bytes.len() as u64,
                precision: scorer.precision,
                card: scorer.card.clone().expect("a bundle's scorer has its card"),
                thresholds,
                score_columns: scorer.score_columns(),
                load_ms: now_ms() - started,
            };
            *model = Some(scorer);
            ReplyBody::Loaded(Box::new(loaded))
        }
        Err(error) => ReplyBody::Failed {
            message: error.to_string(),
        },
    }
}

fn score(scorer: &Scorer, text: &str) -> ReplyBody {
    let started = now_ms();
    let scored = scorer.text_encoder.prepare(text).and_then(|prepared| {
        let tokens = prepared.tokens();
        let score = scorer
            .score_prepared(std::slice::from_ref(&prepared))?
            .remove(0);
        Ok((score, tokens))
    });
    match scored {
        Ok((score, tokens)) => ReplyBody::Scored(ScoredResponse {
            score,
            tokens,
            ms: now_ms() - started,
        }),
        Err(error) => ReplyBody::Failed {
            message: error.to_string(),
        },
    }
}

fn post(scope: &DedicatedWorkerGlobalScope, reply: &Reply) {
    let json = serde_json::to_string(reply).expect("replies serialise");
    if let Err(error) = scope.post_message(&JsValue::from_str(&json)) {
        web_sys::console::error_2(&"scoring worker could not reply".into(), &error);
    }
}

fn now_ms() -> f64 {
    js_sys::global()
        .unchecked_into::<web_sys::WorkerGlobalScope>()
        .performance()
        .map_or_else(js_sys::Date::now, |p| p.now())
}
