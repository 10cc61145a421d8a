//! The trainer as a library: a student trained through the pipeline call, watched by an
//! observer, and a second run cancelled part-way.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cyborg_scorer::metrics::ScoreRange;
use cyborg_trainer::config::{CutPoints, Tune};
use cyborg_trainer::teacher::PROVENANCE_COLUMNS;
use cyborg_trainer::{
    train_bundle, CancelToken, DataConfig, Error, Event, Observer, Progress, StudentConfig,
    TrainRequest,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The base model, or `None` (with the reason printed) when absent and not required.
fn base_model() -> Option<PathBuf> {
    let dir = repo().join("models/all-MiniLM-L6-v2");
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CYBORG_REQUIRE_MODEL").is_none(),
        "CYBORG_REQUIRE_MODEL is set but {} is missing",
        dir.display()
    );
    eprintln!(
        "skipped: {} is not installed (scripts/setup.sh)",
        dir.display()
    );
    None
}

/// The first `n` demo essays, as a CSV in `dir`.
fn demo_essays(dir: &Path, n: usize) -> PathBuf {
    let mut reader = csv::Reader::from_path(repo().join("data/demo/train.csv")).unwrap();
    let out = dir.join("essays.csv");
    let mut writer = csv::Writer::from_path(&out).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    for record in reader.records().take(n) {
        writer.write_record(&record.unwrap()).unwrap();
    }
    writer.flush().unwrap();
    out
}

/// Keeps every event; cancels `token` when a stage whose name starts with `cancel_at` begins.
struct Recorder {
    events: Mutex<Vec<Event>>,
    cancel_at: Option<(&'static str, CancelToken)>,
}

impl Observer for Recorder {
    fn event(&self, event: &Event) {
        if let (Event::Stage { name, .. }, Some((prefix, token))) = (event, &self.cancel_at) {
            if name.starts_with(prefix) {
                token.cancel();
            }
        }
        self.events.lock().unwrap().push(event.clone());
    }
}

fn request(file: PathBuf, base: PathBuf, cache: Option<PathBuf>) -> TrainRequest {
    TrainRequest {
        file,
        data: DataConfig {
            text: "full_text".into(),
            score: Some("score".into()),
            id: Some("essay_id".into()),
            ..DataConfig::default()
        },
        student: StudentConfig {
            base: Some(base),
            tune: Some(Tune::Top(1)),
            epochs: Some(2),
            patience: Some(2),
            max_windows: 2,
            no_cache: cache.is_none(),
            cache,
            ..StudentConfig::default()
        },
        ..TrainRequest::default()
    }
}

#[test]
fn a_student_trains_through_the_library_and_a_cancelled_run_writes_nothing() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = demo_essays(dir.path(), 48);
    let cache = dir.path().join("cache");

    let recorder = Arc::new(Recorder {
        events: Mutex::new(Vec::new()),
        cancel_at: None,
    });
    let progress = Progress::new(recorder.clone(), CancelToken::new());
    let outcome = train_bundle(&request(file.clone(), base.clone(), Some(cache)), &progress)
        .expect("training succeeds");

    // The bundle loads and its card agrees with the summary.
    let scorer = cyborg_scorer::Scorer::from_bundle(
        &outcome.bundle,
        "bundle",
        &candle_core::Device::Cpu,
        cyborg_scorer::Products::Restored,
    )
    .unwrap();
    assert_eq!(
        scorer.range().unwrap().to_string(),
        outcome.summary.range.to_string()
    );
    assert_eq!(outcome.card.data.train_rows, outcome.summary.train_rows);
    assert_eq!(outcome.summary.train_rows + outcome.summary.dev_rows, 48);
    assert_eq!(
        outcome.summary.history.len(),
        2,
        "patience 2 runs both epochs"
    );

    let events = recorder.events.lock().unwrap();
    let stages: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Stage { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        stages.iter().any(|n| n.starts_with("encoding")),
        "{stages:?}"
    );
    assert!(
        stages.iter().any(|n| n.starts_with("epoch 1/2")),
        "{stages:?}"
    );
    assert!(
        stages.iter().any(|n| n.starts_with("epoch 2/2")),
        "{stages:?}"
    );
    let ends = events
        .iter()
        .filter(|e| matches!(e, Event::StageEnd { .. }))
        .count();
    assert_eq!(ends, stages.len(), "every stage that began ended");
    let epochs: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch {
                epoch,
                of,
                dev_measure,
                train_loss,
            } => {
                assert!(train_loss.is_finite() && dev_measure.is_some());
                Some((*epoch, *of))
            }
            _ => None,
        })
        .collect();
    assert_eq!(epochs, [(1, 2), (2, 2)]);
    // Steps count up within their stage and never past its total.
    for event in events.iter() {
        if let Event::Step { id, done } = event {
            let total = events
                .iter()
                .find_map(|e| match e {
                    Event::Stage { id: i, total, .. } if i == id => Some(*total),
                    _ => None,
                })
                .expect("a step of a stage that began");
            assert!(*done <= total);
        }
    }
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Note { text } if text.contains("linear probe"))));
    drop(events);

    // A second run, cancelled as its first epoch begins: a cancelled error, and nothing
    // written (the cache is off, so the folder holds only the data file it was given).
    let token = CancelToken::new();
    let recorder = Arc::new(Recorder {
        events: Mutex::new(Vec::new()),
        cancel_at: Some(("epoch 1/", token.clone())),
    });
    let progress = Progress::new(recorder.clone(), token);
    let files_before = std::fs::read_dir(dir.path()).unwrap().count();
    let result = train_bundle(&request(file, base, None), &progress);
    assert!(
        matches!(result, Err(Error::Cancelled)),
        "{:?}",
        result.err()
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), files_before);
    let events = recorder.events.lock().unwrap();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Epoch { .. })),
        "no epoch finished after the cancel"
    );
}

#[test]
fn errors_say_whose_fault_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.csv");
    std::fs::write(
        &file,
        "essay_id,full_text,score\n1,An essay.,3\n2,Another.,four\n",
    )
    .unwrap();
    let request = TrainRequest {
        file: file.clone(),
        ..request(file, PathBuf::from("unused"), None)
    };
    let Err(error) = train_bundle(&request, &Progress::silent()) else {
        panic!("a bad score trained")
    };
    let located = error.data_error().expect("a located input error");
    assert_eq!(located.line, Some(3));
    assert!(matches!(error, Error::Input(_)));
    assert!(error.to_string().contains("bad.csv:3"), "{error}");

    let missing = TrainRequest {
        data: DataConfig {
            score: None,
            ..request.data.clone()
        },
        ..request
    };
    let Err(error) = train_bundle(&missing, &Progress::silent()) else {
        panic!("no score column trained")
    };
    assert!(matches!(error, Error::Input(_)), "{error}");
}

#[test]
fn the_student_kept_is_the_best_one_judged() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = demo_essays(dir.path(), 120);
    // A hidden head starts from random weights, not from the linear probe, so the student
    // it starts as must be judged as itself: an epoch better than that start is kept even
    // when the probe (which this student never was) would have judged better.
    let mut hidden = request(file, base, None);
    hidden.student = StudentConfig {
        tune: Some(Tune::Head),
        head_hidden: 16,
        head_lr: 3e-3,
        epochs: Some(3),
        patience: Some(3),
        // Development cut points alone: the kept student's development QWK is then the very
        // measure its epoch was judged by.
        cut_points: CutPoints::Qwk,
        ..hidden.student
    };
    let outcome = train_bundle(&hidden, &Progress::silent()).expect("training succeeds");
    let summary = &outcome.summary;
    let kept = summary.dev.qwk.expect("a development QWK");
    for log in &summary.history {
        let judged = log.dev_qwk.expect("each epoch judged");
        assert!(
            kept >= judged - 1e-9,
            "kept epoch {} with dev QWK {kept:.4}, but epoch {} was judged {judged:.4}",
            summary.best_epoch,
            log.epoch
        );
    }
    if summary.best_epoch > 0 {
        let judged = summary.history[summary.best_epoch - 1].dev_qwk.unwrap();
        assert!((kept - judged).abs() < 1e-9, "{kept} vs {judged}");
    }
}

/// The first `n` demo essays' id, text and score.
fn demo_records(n: usize) -> Vec<[String; 3]> {
    let mut reader = csv::Reader::from_path(repo().join("data/demo/train.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name| headers.iter().position(|h| h == name).unwrap();
    let columns = [column("essay_id"), column("full_text"), column("score")];
    reader
        .records()
        .take(n)
        .map(|record| columns.map(|c| record.as_ref().unwrap()[c].to_string()))
        .collect()
}

fn write_csv<const N: usize>(path: &Path, header: [&str; N], rows: &[[String; N]]) {
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(header).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

#[test]
fn only_levels_people_gave_place_the_cut_points() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let essays = demo_records(300);
    // 150 essays people scored, and 150 more a teacher put at the top level whatever they
    // say: rounded, its labels would place the cut points as much as the people's scores.
    let labels = dir.path().join("labels.csv");
    let provenance: Vec<[String; 8]> = essays
        .iter()
        .enumerate()
        .map(|(i, [id, text, score])| {
            let (level, source, by) = match i < 150 {
                true => (score.clone(), "human", ""),
                false => ("6".to_string(), "teacher", "local: test"),
            };
            let expected = format!("{level}.0");
            [id, text, &level, &expected, source, by, "", ""].map(|f| f.to_string())
        })
        .collect();
    write_csv(&labels, PROVENANCE_COLUMNS, &provenance);
    // A second rater one level above the first on every essay: the mean of the two, rounded,
    // is a level neither gave (1.5 rounds to 2).
    let raters = dir.path().join("raters.csv");
    let second: Vec<[String; 4]> = essays[..150]
        .iter()
        .map(|[id, text, score]| {
            let above = (score.parse::<i64>().unwrap() + 1).min(6).to_string();
            [id.clone(), text.clone(), score.clone(), above]
        })
        .collect();
    write_csv(&raters, ["id", "text", "score", "second"], &second);

    let cache = Some(dir.path().join("cache"));
    for (file, cut_points) in [
        (&labels, CutPoints::Pooled),
        (&labels, CutPoints::Shares),
        (&raters, CutPoints::Pooled),
    ] {
        let mut run = request(file.clone(), base.clone(), cache.clone());
        run.from_labels = file == &labels;
        run.second_score = (file == &raters).then(|| "second".to_string());
        run.data = DataConfig {
            text: "text".into(),
            score: Some("score".into()),
            id: Some("id".into()),
            ..DataConfig::default()
        };
        run.split.range = Some(ScoreRange { min: 1, max: 6 });
        run.student = StudentConfig {
            tune: Some(Tune::Head),
            cut_points,
            ..run.student
        };
        let dev = train_bundle(&run, &Progress::silent()).unwrap().summary.dev;
        let gap = dev.machine_mean - dev.human_mean;
        assert!(
            gap.abs() < 0.4,
            "{} {cut_points:?}: the development essays' mean level {:.2} against the people's {:.2}",
            file.display(),
            dev.machine_mean,
            dev.human_mean
        );
    }
}
