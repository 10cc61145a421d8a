//! Progress and cancellation: how a long library call tells its caller what it is doing, and
//! how the caller asks it to stop.
//!
//! The library never draws or prints. Every long call takes a [`Progress`], which hands
//! [`Event`]s to the caller's [`Observer`] (the CLI draws bars on a terminal; a server would
//! stream them) and carries the [`CancelToken`] the call checks between steps.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::error::Cancelled;

/// What a long call reports as it goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A line worth showing a person: what was read, what was chosen, what was written.
    Note {
        /// The line.
        text: String,
    },
    /// A stage of `total` steps begins (encoding, an epoch, scoring, labelling…).
    Stage {
        /// Tells this stage's steps from another's (stages may overlap).
        id: u64,
        /// What the stage does, e.g. `epoch 2/3`.
        name: String,
        /// What a step is, e.g. `responses`.
        unit: String,
        /// Steps in all.
        total: u64,
    },
    /// Steps of a stage done so far.
    Step {
        /// The stage.
        id: u64,
        /// Steps done.
        done: u64,
    },
    /// A stage ended (finished, or left by an error).
    StageEnd {
        /// The stage.
        id: u64,
    },
    /// A training epoch ended.
    Epoch {
        /// 1-based.
        epoch: usize,
        /// Most epochs the run may take.
        of: usize,
        /// Mean training loss over the epoch.
        train_loss: f64,
        /// The development measure early stopping follows (QWK, Pearson r, or their mean over
        /// traits).
        dev_measure: Option<f64>,
    },
}

/// Receives a call's events. Called from the calling thread and from worker threads alike.
pub trait Observer: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: &Event) {}
}

/// Asks a running call to stop; cheap to clone and share between threads.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every call holding this token to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The observer and cancel token a long call reports to and checks.
#[derive(Clone)]
pub struct Progress {
    observer: Arc<dyn Observer>,
    cancel: CancelToken,
    next_stage: Arc<AtomicU64>,
}

impl Progress {
    /// Reports to `observer`; stops when `cancel` is cancelled.
    pub fn new(observer: Arc<dyn Observer>, cancel: CancelToken) -> Self {
        Progress {
            observer,
            cancel,
            next_stage: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Reports nothing and is never cancelled.
    pub fn silent() -> Self {
        Self::new(Arc::new(Silent), CancelToken::new())
    }

    /// Begins a stage of `total` steps; it ends when the returned [`Stage`] is dropped.
    pub fn bar(&self, total: u64, name: &str, unit: &str) -> Stage {
        let id = self.next_stage.fetch_add(1, Ordering::Relaxed);
        self.observer.event(&Event::Stage {
            id,
            name: name.to_string(),
            unit: unit.to_string(),
            total,
        });
        Stage {
            observer: self.observer.clone(),
            id,
            done: AtomicU64::new(0),
        }
    }

    /// Reports a line worth showing a person.
    pub fn note(&self, text: &str) {
        self.observer.event(&Event::Note {
            text: text.to_string(),
        });
    }

    /// Reports any other event.
    pub fn report(&self, event: Event) {
        self.observer.event(&event);
    }

    /// `Err(Cancelled)` once the caller has cancelled: long loops call this between steps.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.cancel.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A stage in progress: reports its steps, and its end when dropped.
pub struct Stage {
    observer: Arc<dyn Observer>,
    id: u64,
    done: AtomicU64,
}

impl Stage {
    /// `done` steps are done.
    pub fn set_position(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.observer.event(&Event::Step { id: self.id, done });
    }

    /// `steps` more steps are done.
    pub fn inc(&self, steps: u64) {
        let done = self.done.fetch_add(steps, Ordering::Relaxed) + steps;
        self.observer.event(&Event::Step { id: self.id, done });
    }

    /// Ends the stage (as dropping it does); kept so call sites read as they did.
    pub fn finish_and_clear(self) {}
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.observer.event(&Event::StageEnd { id: self.id });
    }
}
