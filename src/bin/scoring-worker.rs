//! The scoring worker's entry point (see `cyborg_web::scoring_worker`).

fn main() {
    #[cfg(target_arch = "wasm32")]
    cyborg_web::scoring_worker::run();
    #[cfg(not(target_arch = "wasm32"))]
    cyborg_web::native_notice("scoring-worker");
}
