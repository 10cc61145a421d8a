//! Provenance files (`teach label` / `teach generate` output) as `train --from-labels` reads
//! them.
#![no_main]

use cyborg_scorer::metrics::ScoreRange;
use cyborg_trainer::config::DataConfig;
use cyborg_trainer::pipeline::train::read_labels_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("labels.csv");
    std::fs::write(&path, input).expect("a temporary file");
    let data = DataConfig {
        text: "text".into(),
        score: Some("score".into()),
        id: Some("id".into()),
        ..DataConfig::default()
    };
    let _ = read_labels_file(&path, &data, Some(ScoreRange { min: 1, max: 6 }));
});
