//! Workers beside the main one, each holding the loaded model, so that a batch uses every
//! core. The main worker keeps the response being typed; these score only batch rows.

use std::cell::Cell;
use std::rc::Rc;

use cyborg_web::protocol::{Backend, LoadOptions};

use super::worker::WorkerClient;
use super::{link_load_options, store};

/// At most this many workers beside the main one: each holds its own copy of the model.
const MAX_HELPERS: usize = 3;

/// A worker for batch rows, and whether it holds the current model yet.
pub struct Helper {
    pub client: WorkerClient,
    loaded: Cell<bool>,
}

impl Helper {
    /// Loads the model kept in this browser's cache under `key`, unless it already has it: on
    /// WebAssembly, otherwise as the link asks.
    pub async fn ready(&self, key: &str) -> Result<(), String> {
        if self.loaded.get() {
            return Ok(());
        }
        let bytes = store::cached(key)
            .await
            .ok_or_else(|| format!("{key} is no longer in this browser's cache"))?;
        let options = LoadOptions {
            backend: Some(Backend::Wasm),
            lose_webgpu_after: None,
            ..link_load_options()?
        };
        self.client.load(key, bytes, options).await?;
        self.loaded.set(true);
        Ok(())
    }
}

/// Starts one helper per core beyond the first (at most [`MAX_HELPERS`]; none on a
/// single-core device), or enough for `workers` in all when the link asks for a number.
pub fn start_helpers(workers: Option<usize>) -> Vec<Rc<Helper>> {
    let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency());
    let wanted = workers
        .unwrap_or(cores as usize)
        .saturating_sub(1)
        .min(MAX_HELPERS);
    (0..wanted)
        .filter_map(|_| WorkerClient::start(|_| {}, |_| {}).ok())
        .map(|client| {
            Rc::new(Helper {
                client,
                loaded: Cell::new(false),
            })
        })
        .collect()
}
