//! What the Cyborg page and its scoring worker share: the messages they exchange.
//!
//! The page (`src/main.rs`) owns everything the person sees; the worker
//! ([`scoring_worker`], started by `src/bin/scoring-worker.rs`) owns the model, so scoring never freezes the page. Each
//! message is one JSON string; a bundle's bytes travel beside it as a transferred
//! `Uint8Array`, so they are moved, not copied. Batch scoring reads and writes
//! tables with [`table`].
//!
//! Both binaries are for `wasm32-unknown-unknown` (built by Trunk); natively they only say so,
//! so the workspace builds and tests everywhere.

#[cfg(target_arch = "wasm32")]
pub mod backend;
#[cfg(target_arch = "wasm32")]
pub mod gpu;
pub mod protocol;
#[cfg(target_arch = "wasm32")]
pub mod scoring_worker;
pub mod table;

/// What the app's binaries do when built natively: say how to build them for the browser.
#[cfg(not(target_arch = "wasm32"))]
pub fn native_notice(binary: &str) -> ! {
    eprintln!(
        "{binary} runs in the browser: build it with `trunk build --release` and open dist/ \
         (see the README); the native command is `cyborg`"
    );
    std::process::exit(2)
}

/// A JavaScript error as text.
#[cfg(target_arch = "wasm32")]
pub fn describe(error: &wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast;
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}
