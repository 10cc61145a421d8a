//! The encoder and tokenizer agree with sentence-transformers (and, beyond one window, with
//! Hugging Face transformers over the same windows) on real texts.
//!
//! The fixture comes from `scripts/encoder_fixture.py`; the model from the set-up script.

use std::path::PathBuf;

use candle_core::Device;
use cyborg_scorer::base::BaseModel;
use cyborg_scorer::tokenize::WindowConfig;
use cyborg_scorer::Precision;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    text: String,
    token_ids: Vec<u32>,
    windows: usize,
    embedding: Vec<f32>,
}

/// The base model folder, or `None` (with the reason printed) when it is not installed and
/// the run does not insist on it.
fn base_model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CYBORG_BASE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2")
        });
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    let reason = format!(
        "{} is not installed (scripts/setup.sh installs it)",
        dir.display()
    );
    if std::env::var_os("CYBORG_REQUIRE_MODEL").is_some() {
        panic!("CYBORG_REQUIRE_MODEL is set but {reason}");
    }
    eprintln!("skipped: {reason}");
    None
}

/// The committed fixture and the installed base model (`None` when the model is absent).
fn fixture_and_base() -> Option<(Fixture, BaseModel)> {
    let dir = base_model_dir()?;
    let fixture = serde_json::from_str(include_str!("fixtures/minilm_embeddings.json")).unwrap();
    let base = BaseModel::load(&dir, WindowConfig::default(), &Device::Cpu).unwrap();
    Some((fixture, base))
}

/// Our embeddings of every case match the fixture's, word pieces and windows included.
fn assert_embeddings_match(fixture: &Fixture, base: &BaseModel) {
    let encoder = &base.text_encoder;
    assert!(
        fixture.cases.iter().any(|c| c.windows > 1),
        "the fixture has a long text"
    );
    for case in &fixture.cases {
        let prepared = encoder.prepare(&case.text).unwrap();
        let ids: Vec<u32> = prepared
            .windows
            .iter()
            .flat_map(|w| w[1..w.len() - 1].iter().copied())
            .collect();
        assert_eq!(ids, case.token_ids, "{}: word pieces differ", case.name);
        assert_eq!(prepared.windows.len(), case.windows, "{}", case.name);
        let pooled = encoder.pooled(std::slice::from_ref(&prepared)).unwrap();
        let ours = pooled.get(0).unwrap().to_vec1::<f32>().unwrap();
        let cos = cosine(&ours, &case.embedding);
        eprintln!("{}: cosine {cos:.7}", case.name);
        assert!(cos >= 0.9999, "{}: cosine {cos} < 0.9999", case.name);
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn embeddings_match_sentence_transformers() {
    let Some((fixture, base)) = fixture_and_base() else {
        return;
    };
    assert_embeddings_match(&fixture, &base);
}

/// MPNet, the teacher encoder: position embeddings numbered after the padding id, no segments,
/// <s> … </s> windows and a relative position bias in every layer. It is installed only on
/// demand, so its absence skips the test even where the base model is required.
#[test]
fn mpnet_embeddings_match_sentence_transformers() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-mpnet-base-v2");
    if !dir.join("model.safetensors").is_file() {
        eprintln!(
            "skipped: {} is not installed (scripts/get-teacher.sh all-mpnet-base-v2 installs it)",
            dir.display()
        );
        return;
    }
    let fixture = serde_json::from_str(include_str!("fixtures/mpnet_embeddings.json")).unwrap();
    let base = BaseModel::load(&dir, WindowConfig::default(), &Device::Cpu).unwrap();
    assert_embeddings_match(&fixture, &base);
}

#[test]
fn batching_does_not_change_an_embedding() {
    let Some((fixture, base)) = fixture_and_base() else {
        return;
    };
    let encoder = &base.text_encoder;
    let prepared: Vec<_> = fixture
        .cases
        .iter()
        .map(|c| encoder.prepare(&c.text).unwrap())
        .collect();
    let together = encoder.pooled(&prepared).unwrap();
    for (i, text) in prepared.iter().enumerate() {
        let alone = encoder.pooled(std::slice::from_ref(text)).unwrap();
        let diff = (together.get(i).unwrap() - alone.get(0).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "text {i}: batched and alone differ by {diff}");
    }
}

/// Scoring from the saved output of the lower layers (as the trainer's benchmark does with its
/// cache) gives the scores that scoring from the text gives.
#[test]
fn scoring_from_lower_layer_states_matches_scoring_from_text() {
    use candle_core::Tensor;
    use cyborg_scorer::encoder::Linear;
    use cyborg_scorer::features::{FEATURE_COUNT, FEATURE_NAMES};
    use cyborg_scorer::head::{Head, HeadConfig};
    use cyborg_scorer::metrics::ScoreRange;
    use cyborg_scorer::traits::{Scale, TraitConfig};
    use cyborg_scorer::Scorer;

    let Some((fixture, base)) = fixture_and_base() else {
        return;
    };
    let device = &base.text_encoder.device;
    let hidden = base.text_encoder.encoder.config().hidden_size;
    let inputs = hidden + FEATURE_COUNT;
    let config = HeadConfig {
        hidden: 0,
        features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        feature_mean: vec![1.0; FEATURE_COUNT],
        feature_std: vec![2.0; FEATURE_COUNT],
        feature_range: None,
        lexical_buckets: 64,
    };
    // Two outputs: a score on levels and a continuous trait, each with lexical weights.
    let lexical = Tensor::randn(0f32, 0.5, (2, 64), device).unwrap();
    let output = Linear::new(
        Tensor::randn(0f32, 0.2, (2, inputs), device).unwrap(),
        Tensor::new(&[0.5f32, -0.1], device).unwrap(),
    );
    let scorer = Scorer {
        head: Head::new(&config, None, output, Some(lexical), device).unwrap(),
        text_encoder: base.text_encoder.clone(),
        traits: vec![
            TraitConfig::levels("score", ScoreRange { min: 1, max: 6 }),
            TraitConfig {
                name: "wording".into(),
                scale: Scale::continuous([-2.0, 4.0]),
            },
        ],
        card: None,
        screen: None,
        precision: Precision::F32,
    };
    let texts: Vec<_> = fixture
        .cases
        .iter()
        .map(|c| scorer.text_encoder.prepare(&c.text).unwrap())
        .collect();
    let direct = scorer.score_prepared(&texts).unwrap();
    for from in [0, 4, 6] {
        let states = scorer.text_encoder.window_states(&texts, 0..from).unwrap();
        let resumed = scorer.score_states(&texts, &states, from).unwrap();
        for (d, r) in direct.iter().zip(&resumed) {
            assert!(
                (d.raw - r.raw).abs() < 1e-4,
                "from layer {from}: raw {} vs {}",
                r.raw,
                d.raw
            );
            assert_eq!(r.traits.len(), 1);
            assert!(
                (d.traits[0].raw - r.traits[0].raw).abs() < 1e-4,
                "from layer {from}: wording {} vs {}",
                r.traits[0].raw,
                d.traits[0].raw
            );
        }
    }
}
