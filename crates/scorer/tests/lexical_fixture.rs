//! The lexical block's hashing against `tests/fixtures/lexical_buckets.json`, whose counts
//! `scripts/lexical_fixture.py` computed from the documented rules without Cyborg's code. The
//! browser test (`tests/browser/webgpu.mjs`) checks the same fixture in wasm.

use cyborg_scorer::lexical::bucket_counts;
use cyborg_scorer::screen::word_hashes;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    buckets: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    counts: Vec<(u32, u32)>,
}

#[test]
fn every_text_hits_the_buckets_the_independent_reading_of_the_rules_gives() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/lexical_buckets.json"
    );
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(fixture.cases.len() >= 5);
    for case in &fixture.cases {
        assert_eq!(
            bucket_counts(&word_hashes(&case.text), fixture.buckets),
            case.counts,
            "{:?}",
            case.text
        );
    }
}
