//! The page's side of the scoring worker: sends requests, matches replies to them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use cyborg_web::protocol::{
    BuildInfo, LoadOptions, LoadedModel, Reply, ReplyBody, Request, RequestBody, ScoredResponse,
};
use futures_channel::oneshot;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

/// Where Trunk puts the worker's loader (see index.html).
const WORKER_SCRIPT: &str = "./scoring-worker_loader.js";

type Pending = Rc<RefCell<HashMap<u64, oneshot::Sender<ReplyBody>>>>;

/// Whether the worker has greeted the page yet. A message posted before the worker's wasm has
/// set its handler would be lost, so requests wait for the greeting; the page need not (it
/// reads a cached bundle while the worker compiles).
enum Greeting {
    /// Not yet: these requests are waiting. Dropped unanswered if the worker dies first.
    Awaited(Vec<oneshot::Sender<()>>),
    Received,
}

/// A running scoring worker.
pub struct WorkerClient {
    worker: Worker,
    next_id: Cell<u64>,
    pending: Pending,
    greeting: Rc<RefCell<Greeting>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl WorkerClient {
    /// Starts the worker. `on_started` runs when it greets the page; `on_crash` when it dies,
    /// after every pending request has been answered with the crash.
    pub fn start(
        on_started: impl Fn(BuildInfo) + 'static,
        on_crash: impl Fn(String) + 'static,
    ) -> Result<Self, String> {
        let worker = Worker::new(WORKER_SCRIPT)
            .map_err(|e| format!("could not start the scoring worker: {}", describe(&e)))?;
        let pending: Pending = Rc::default();
        let greeting = Rc::new(RefCell::new(Greeting::Awaited(Vec::new())));
        let replies = pending.clone();
        let greeted = greeting.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(reply) = event
                .data()
                .as_string()
                .and_then(|json| serde_json::from_str::<Reply>(&json).ok())
            else {
                return;
            };
            let mut waiting = replies.borrow_mut();
            match (reply.body, waiting.remove(&reply.id)) {
                (ReplyBody::Started(info), _) => {
                    let waiting = greeted.replace(Greeting::Received);
                    if let Greeting::Awaited(callers) = waiting {
                        callers.into_iter().for_each(|caller| {
                            let _ = caller.send(());
                        });
                    }
                    on_started(info)
                }
                (body, Some(caller)) => {
                    let _ = caller.send(body);
                }
                // A failure the worker could not tie to a request: nobody may wait forever.
                (failed @ ReplyBody::Failed { .. }, None) => {
                    for (_, caller) in waiting.drain() {
                        let _ = caller.send(failed.clone());
                    }
                }
                (_, None) => {}
            }
        });
        let crashed = pending.clone();
        let never_greeted = greeting.clone();
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            let message = format!("the scoring worker stopped: {}", event.message());
            for (_, waiting) in crashed.borrow_mut().drain() {
                let _ = waiting.send(ReplyBody::Failed {
                    message: message.clone(),
                });
            }
            if let Greeting::Awaited(callers) = &mut *never_greeted.borrow_mut() {
                callers.clear();
            }
            on_crash(message);
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(WorkerClient {
            worker,
            next_id: Cell::new(1),
            pending,
            greeting,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// Loads a bundle in the worker, run as `options` say; its bytes are moved there, not
    /// copied.
    pub async fn load(
        &self,
        name: &str,
        bytes: js_sys::Uint8Array,
        options: LoadOptions,
    ) -> Result<LoadedModel, String> {
        let reply = self
            .call(
                RequestBody::Load {
                    name: name.to_string(),
                    options,
                },
                Some(bytes),
            )
            .await?;
        match reply {
            ReplyBody::Loaded(model) => Ok(*model),
            other => Err(unexpected(other)),
        }
    }

    /// Scores one response with the loaded model.
    pub async fn score(&self, text: &str) -> Result<ScoredResponse, String> {
        let reply = self
            .call(
                RequestBody::Score {
                    text: text.to_string(),
                },
                None,
            )
            .await?;
        match reply {
            ReplyBody::Scored(scored) => Ok(scored),
            other => Err(unexpected(other)),
        }
    }

    /// Scores several responses at once; each gets its own answer, in order.
    pub async fn score_many(
        &self,
        texts: Vec<String>,
    ) -> Result<Vec<Result<ScoredResponse, String>>, String> {
        match self.call(RequestBody::ScoreMany { texts }, None).await? {
            ReplyBody::ScoredMany(scored) => Ok(scored),
            other => Err(unexpected(other)),
        }
    }

    /// Waits until the worker has greeted the page.
    async fn greeted(&self) -> Result<(), String> {
        let receiver = match &mut *self.greeting.borrow_mut() {
            Greeting::Received => return Ok(()),
            Greeting::Awaited(callers) => {
                let (sender, receiver) = oneshot::channel();
                callers.push(sender);
                receiver
            }
        };
        receiver
            .await
            .map_err(|_| "the scoring worker stopped before it started".to_string())
    }

    async fn call(
        &self,
        body: RequestBody,
        bytes: Option<js_sys::Uint8Array>,
    ) -> Result<ReplyBody, String> {
        self.greeted().await?;
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let json = serde_json::to_string(&Request { id, body }).expect("requests serialise");
        let message = js_sys::Array::of1(&JsValue::from_str(&json));
        let transfer = js_sys::Array::new();
        if let Some(bytes) = bytes {
            message.push(&bytes);
            transfer.push(&bytes.buffer());
        }
        let (sender, receiver) = oneshot::channel();
        self.pending.borrow_mut().insert(id, sender);
        if let Err(error) = self.worker.post_message_with_transfer(&message, &transfer) {
            self.pending.borrow_mut().remove(&id);
            return Err(format!(
                "could not reach the scoring worker: {}",
                describe(&error)
            ));
        }
        match receiver.await {
            Ok(ReplyBody::Failed { message }) => Err(message),
            Ok(body) => Ok(body),
            Err(_) => Err("the scoring worker stopped before answering".into()),
        }
    }
}

impl Drop for WorkerClient {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

fn unexpected(body: ReplyBody) -> String {
    format!("the scoring worker gave an unexpected answer: {body:?}")
}

pub use cyborg_web::describe;
