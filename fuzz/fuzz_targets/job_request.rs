//! `POST /api/jobs` bodies: parsed and checked against a dataset as the server does.
#![no_main]

use std::sync::OnceLock;

use cyborg_server::ids::Id;
use cyborg_server::jobs::JobRequest;
use cyborg_server::store::{Dataset, Store};
use libfuzzer_sys::fuzz_target;

fn store() -> &'static Store {
    static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = Store::open(dir.path()).expect("a store");
        (dir, store)
    });
    store
}

fuzz_target!(|input: &[u8]| {
    let Ok(request) = serde_json::from_slice::<JobRequest>(input) else {
        return;
    };
    let dataset = Dataset {
        id: Id::random(),
        name: "essays.csv".into(),
        format: "csv".into(),
        rows: 100,
        columns: vec!["id".into(), "text".into(), "score".into()],
        bytes: 1000,
        created: "2026-01-01T00:00:00Z".into(),
    };
    let _ = request.train_request(&dataset, store());
});
