//! The Cyborg browser app: scores responses privately in the browser with a trained bundle.
//!
//! This is a placeholder page; the scoring app is built on it.

use leptos::prelude::*;

/// The page.
#[component]
fn App() -> impl IntoView {
    view! {
        <main>
            <h1>"Cyborg"</h1>
            <p>
                "Small essay-scoring models that run privately in your browser. "
                "This build reads bundle format version "
                {cyborg_scorer::bundle::FORMAT_VERSION}
                "; the scoring page is on its way."
            </p>
        </main>
    }
}

fn main() {
    leptos::mount::mount_to_body(App);
}
