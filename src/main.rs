//! The Cyborg browser app: scores responses privately in the browser with a trained bundle.

#[cfg(target_arch = "wasm32")]
mod page;

fn main() {
    #[cfg(target_arch = "wasm32")]
    leptos::mount::mount_to_body(page::App);
    #[cfg(not(target_arch = "wasm32"))]
    cyborg_web::native_notice("cyborg-web");
}
