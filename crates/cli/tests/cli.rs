//! The `cyborg` command end to end: real files in, real files out.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{
    assert_markdown_tables_whole, base_model, cyborg, cyborg_command, demo_rows, repo, shared_data,
    stderr, stdout,
};

#[test]
fn help_teaches_the_workflow() {
    let top = stdout(&cyborg(&["--help"]));
    for needle in [
        "cyborg train essays.csv",
        "cyborg eval",
        "cyborg score",
        "data check",
    ] {
        assert!(top.contains(needle), "--help lacks {needle}:\n{top}");
    }
    let train = stdout(&cyborg(&["train", "--help"]));
    for needle in [
        "--tune",
        "top:K",
        "--human-fraction",
        "--train-ids",
        "[default: 3 for essays, 6 for short answers]",
    ] {
        assert!(
            train.contains(needle),
            "train --help lacks {needle}:\n{train}"
        );
    }
}

#[test]
fn bad_data_is_located_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.csv");
    std::fs::write(
        &data,
        "id,text,score\n1,A fine answer.,2\n2,Another answer.,x\n",
    )
    .unwrap();
    let out = dir.path().join("model.cyborg");
    let o = cyborg(&[
        "train",
        data.to_str().unwrap(),
        "--text",
        "text",
        "--score",
        "score",
        "--id",
        "id",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("bad.csv:3:3: column \"score\": \"x\" is not a number"),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no stray files"
    );
}

#[test]
fn a_model_folder_missing_files_is_named_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    std::fs::create_dir(&base).unwrap();
    std::fs::write(base.join("config.json"), "{}").unwrap();
    let data = demo_rows(dir.path(), "train.csv", 20);
    let o = cyborg(&[
        "train",
        data.to_str().unwrap(),
        "--text",
        "full_text",
        "--score",
        "score",
        "--out",
        dir.path().join("m.cyborg").to_str().unwrap(),
        "--base",
        base.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(
        err.contains("missing tokenizer.json, model.safetensors (a BERT-family model folder holds config.json, tokenizer.json, model.safetensors)"),
        "{err}"
    );
}

/// Node with playwright-core and Debian's Chromium, or `None` (with the reason printed) when
/// absent and not required (`CYBORG_REQUIRE_BROWSER`).
fn browser_driver() -> Option<PathBuf> {
    let script = repo().join("tests/browser/report.mjs");
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let modules = repo().join("tests/browser/node_modules/playwright-core");
    let node = Command::new("node").arg("--version").output().is_ok();
    if chromium.is_file() && modules.is_dir() && node {
        return Some(script);
    }
    let reason = format!(
        "needs node, {} and {} (scripts/setup.sh installs them)",
        chromium.display(),
        modules.display()
    );
    if std::env::var_os("CYBORG_REQUIRE_BROWSER").is_some() {
        panic!("CYBORG_REQUIRE_BROWSER is set but the browser check {reason}");
    }
    eprintln!("skipped: the browser check {reason}");
    None
}

/// Every plot of an HTML report is laid out and drawn in headless Chromium, and the page asks
/// for nothing over the network; the screenshot is kept in target/artifacts.
fn report_renders_in_chromium(report: &Path) {
    let Some(script) = browser_driver() else {
        return;
    };
    let artifacts = repo().join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("eval-report.png");
    let o = Command::new("node")
        .arg(&script)
        .arg(report)
        .arg(&screenshot)
        .output()
        .expect("node runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let seen: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let plots = seen["plots"].as_array().unwrap();
    let names: Vec<&str> = plots.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["distribution", "confusion", "smd", "learning-curve"]
    );
    for plot in plots {
        assert!(
            plot["width"].as_f64().unwrap() > 100.0 && plot["height"].as_f64().unwrap() > 50.0,
            "plot not laid out: {plot}"
        );
        assert!(plot["marks"].as_u64().unwrap() > 0, "nothing drawn: {plot}");
    }
    assert_eq!(
        seen["requests"],
        serde_json::json!([]),
        "the report fetched something"
    );
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);
}

/// `eval --group --second-score` on the sample with made-up groups and a second rater; the
/// report also shows the learning curve of a small experiment on `train`.
fn eval_reports_fairness_gates_and_human_human_agreement(
    dir: &Path,
    model: &str,
    sample: &Path,
    train: &Path,
) {
    let mut reader = csv::Reader::from_path(sample).unwrap();
    let with_groups = dir.join("grouped.csv");
    let mut writer = csv::Writer::from_path(&with_groups).unwrap();
    writer
        .write_record(["essay_id", "full_text", "score", "group", "second"])
        .unwrap();
    let mut seconds = 0;
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let score: i64 = record[2].parse().unwrap();
        let group = ["a", "b", ""][i % 3];
        let second = match i % 4 {
            1 => ((score % 6) + 1).to_string(),
            3 => String::new(),
            _ => score.to_string(),
        };
        seconds += usize::from(!second.is_empty());
        writer
            .write_record([&record[0], &record[1], &record[2], group, &second])
            .unwrap();
    }
    writer.flush().unwrap();
    let path = with_groups.to_str().unwrap();
    let args = [
        "eval",
        model,
        path,
        "--text",
        "full_text",
        "--score",
        "score",
        "--group",
        "group",
        "--second-score",
        "second",
    ];
    let o = cyborg(&[&args[..], &["--json"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let groups = v["groups"].as_array().unwrap();
    let values: Vec<&str> = groups
        .iter()
        .map(|g| g["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["", "a", "b"]);
    assert_eq!(
        groups.iter().map(|g| g["n"].as_u64().unwrap()).sum::<u64>(),
        30
    );
    assert!(groups.iter().all(|g| g["small"] == true));
    assert_eq!(v["human_human"]["n"].as_u64().unwrap() as usize, seconds);
    let gates: Vec<&str> = v["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(gates.len(), 4, "{gates:?}");
    if let (Some(q), Some(ci)) = (v["qwk"].as_f64(), v["qwk_ci95"].as_object()) {
        let (low, high) = (ci["low"].as_f64().unwrap(), ci["high"].as_f64().unwrap());
        assert!(low <= q && q <= high, "{low} ≤ {q} ≤ {high}");
    }
    for key in ["spearman", "smd", "smd_human_sd", "kappa", "raw_scores"] {
        assert!(v.get(key).is_some(), "eval --json lacks {key}");
    }
    // RSMTool's statistics of the unrounded raw scores (crates/trainer/tests/rsmtool.rs pins
    // their arithmetic to RSMTool's).
    for key in ["pearson", "qwk", "rmse", "smd", "smd_human_sd"] {
        assert!(
            v["raw_scores"].get(key).is_some(),
            "raw_scores lacks {key}: {v}"
        );
    }
    // Four calibrations, each fitted out-of-fold, side by side.
    let methods: Vec<&str> = v["calibration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "rounding",
            "QWK-optimal thresholds",
            "distribution matching",
            "scale/trim/round"
        ]
    );
    // The SMD-constrained calibration over every group column, beside the unconstrained; its
    // groups of about ten responses are too small to fit an offset on, and it says so.
    let constrained = &v["smd_constrained"];
    assert_eq!(constrained["columns"], serde_json::json!(["group"]));
    assert_eq!(constrained["limit"], 0.1);
    assert_eq!(constrained["offsets"], serde_json::json!({}));
    assert_eq!(
        constrained["too_small"],
        serde_json::json!(["group=(empty)", "group=a", "group=b"])
    );
    assert_eq!(constrained["unconstrained_qwk"], v["calibration"][1]["qwk"]);
    // Only --group columns can be constrained.
    let o = cyborg(&[&args[..], &["--constrain", "second"]].concat());
    assert!(
        stderr(&o).contains("--constrain second: not one of the --group columns (group)"),
        "{}",
        stderr(&o)
    );
    // A model compared with itself differs by exactly 0 on every paired resample.
    let o = cyborg(&[&args[..], &["--compare", model, "--json"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let c = &v["comparison"];
    assert_eq!(c["qwk"], v["qwk"]);
    if v["qwk"].is_number() {
        assert_eq!(c["qwk_difference"], 0.0);
        assert_eq!(
            c["difference_ci95"],
            serde_json::json!({"low": 0.0, "high": 0.0})
        );
    }

    let text = cyborg(&args);
    let out = stdout(&text);
    assert!(out.contains("operational gates"), "{out}");
    assert!(out.contains("group=(empty) *"), "{out}");

    // A small experiment (head-only students) whose learning curve the report shows.
    let experiment = dir.join("experiment");
    let o = cyborg(&[
        "experiment",
        train.to_str().unwrap(),
        "--text",
        "full_text",
        "--score",
        "score",
        "--range",
        "1:6",
        "--fractions",
        "0.5,1",
        "--arms",
        "none",
        "--tune",
        "head",
        "--out-dir",
        experiment.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = dir.join("report.html");
    let summary = dir.join("summary.md");
    let o = cyborg(
        &[
            &args[..],
            &["--report", report.to_str().unwrap()],
            &["--summary", summary.to_str().unwrap()],
            &["--experiment", experiment.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("| QWK >= 0.70 |"), "{markdown}");
    assert!(markdown.contains("| \\|SMD\\| <= 0.15 |"), "{markdown}");
    assert!(
        markdown.contains("| group=(empty) \\* | 10 |"),
        "{markdown}"
    );
    assert!(markdown.contains("| scale/trim/round |"), "{markdown}");
    let html = std::fs::read_to_string(&report).unwrap();
    for plot in ["distribution", "confusion", "smd", "learning-curve"] {
        assert!(
            html.contains(&format!("data-plot=\"{plot}\"")),
            "no {plot} plot"
        );
    }
    for outside in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(
            !html.contains(outside),
            "the report refers outside itself: {outside}"
        );
    }
    report_renders_in_chromium(&report);

    // A second score that is not a number is located.
    let bad = dir.join("bad-second.csv");
    std::fs::write(
        &bad,
        "essay_id,full_text,score,group,second\n1,Some text.,3,a,x\n",
    )
    .unwrap();
    let o = cyborg(&[&args[..2], &[bad.to_str().unwrap()], &args[3..]].concat());
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "bad-second.csv:2:5: column \"second\" (the second score): \"x\" is not a number"
        ),
        "{}",
        stderr(&o)
    );

    // Few responses, every one scored 3: the numbers are warned about, and the summary's
    // tables stay whole around the warnings.
    let same = dir.join("same-score.csv");
    std::fs::write(
        &same,
        "essay_id,full_text,score,group,second\n\
         1,Cars pollute the air.,3,a,3\n2,Phones help us learn.,3,b,3\n3,School starts early.,3,a,3\n",
    )
    .unwrap();
    let summary = dir.join("same-score.md");
    let o = cyborg(
        &[
            &args[..2],
            &[same.to_str().unwrap()],
            &args[3..],
            &["--summary", summary.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for warning in ["only 3 responses (fewer than 30)", "every human score is 3"] {
        assert!(stderr(&o).contains(warning), "{}", stderr(&o));
    }
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(
        markdown.contains("**Warning:** every human score is 3"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| human-human QWK (n = 3) |"),
        "{markdown}"
    );
    assert_markdown_tables_whole(&markdown);
}

/// Thirty short answers in `dir`/answers.csv, scored 0, 1 and 2 in turn by the first rater
/// (`score`) and all 2 by a second (`second`).
fn short_answers(dir: &Path) -> PathBuf {
    let answers = dir.join("answers.csv");
    let mut rows = String::from("id,text,score,second\n");
    for i in 0..30 {
        let (score, text) = match i % 3 {
            0 => (0, "I do not know."),
            1 => (1, "Plants need light."),
            _ => (
                2,
                "Plants need light, water and carbon dioxide to make sugar.",
            ),
        };
        rows.push_str(&format!("{i},\"{text} ({i})\",{score},2\n"));
    }
    std::fs::write(&answers, rows).unwrap();
    answers
}

/// `train` without --tune, --epochs and --patience: short answers get the whole encoder for
/// up to six epochs, essays the top two layers for up to three, and a setting given wins.
#[test]
fn training_takes_its_defaults_from_the_responses_length() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let answers = short_answers(dir.path());
    let essays = demo_rows(dir.path(), "train.csv", 30);
    let model = dir.path().join("m.cyborg");
    let train = |data: &Path, text: &str, more: &[&str]| {
        let args = [
            &[
                "train",
                data.to_str().unwrap(),
                "--text",
                text,
                "--score",
                "score",
                "--out",
                model.to_str().unwrap(),
                "--base",
                base.to_str().unwrap(),
                "--no-cache",
            ],
            more,
        ]
        .concat();
        let o = cyborg(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let info = cyborg(&["info", model.to_str().unwrap(), "--json"]);
        let card: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
        (
            stderr(&o),
            card["training"]["tune"].as_str().unwrap().to_string(),
        )
    };
    let (said, tune) = train(&answers, "text", &[]);
    assert!(
        said.contains(
            "short answers (100% of the 24 training responses have at most 128 tokens): \
             tuning full for up to 6 epochs, patience 2"
        ),
        "{said}"
    );
    assert_eq!(tune, "full");
    let (said, tune) = train(&answers, "text", &["--tune", "head", "--patience", "1"]);
    assert!(
        said.contains("tuning head for up to 6 epochs, patience 1"),
        "{said}"
    );
    assert_eq!(tune, "head");
    let (said, tune) = train(&essays, "full_text", &["--tune", "head"]);
    assert!(
        said.contains(
            "essays (0% of the 25 training responses have at most 128 tokens): \
             tuning head for up to 3 epochs, patience 1"
        ),
        "{said}"
    );
    assert_eq!(tune, "head");
    let (said, _) = train(
        &answers,
        "text",
        &["--tune", "head", "--epochs", "1", "--patience", "1"],
    );
    assert!(!said.contains("training responses have at most"), "{said}");
}

/// `train --second-score`: each training answer learns the mean of its two raters' scores. A
/// second rater who gives every answer 2 pulls the answers the first scored 0 halfway up; the
/// card names the column, and a provenance file, with one score a row, is refused.
#[test]
fn a_second_raters_scores_are_averaged_into_the_training_targets() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let answers = short_answers(dir.path());
    let unknown = dir.path().join("unknown.csv");
    std::fs::write(&unknown, "id,text\nq,I do not know.\n").unwrap();
    let train = [
        "train",
        answers.to_str().unwrap(),
        "--text",
        "text",
        "--score",
        "score",
    ];
    let raw_of_unknown = |more: &[&str]| {
        let model = dir.path().join("m.cyborg");
        let m = model.to_str().unwrap();
        let args = [
            &train[..],
            &["--out", m, "--base", base.to_str().unwrap(), "--no-cache"],
            &["--tune", "head", "--epochs", "1", "--patience", "1"],
            more,
        ]
        .concat();
        let o = cyborg(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let scores = dir.path().join("scores.csv");
        let (unknown, out) = (unknown.to_str().unwrap(), scores.to_str().unwrap());
        let o = cyborg(&[
            "score", m, unknown, "--text", "text", "--id", "id", "--out", out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        (read_scores(&scores)["q"].1, stdout(&cyborg(&["info", m])))
    };
    let (alone, _) = raw_of_unknown(&[]);
    let (averaged, info) = raw_of_unknown(&["--second-score", "second"]);
    assert!(
        alone < 0.5 && averaged > alone + 0.5,
        "raw score of an answer like those scored 0 (and 2 by the second rater): {alone} \
         trained on the first score, {averaged} on the mean"
    );
    assert!(
        info.contains("score, trained on its mean with second"),
        "{info}"
    );
    let more = [
        "--second-score",
        "second",
        "--from-labels",
        "--out",
        "x.cyborg",
    ];
    let o = cyborg(&[&train[..], &more].concat());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}

#[test]
fn train_eval_score_and_info_agree_and_bad_bundles_are_explained() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let train = demo_rows(dir.path(), "train.csv", 80);
    let sample = demo_rows(dir.path(), "sample.csv", 30);
    let model = dir.path().join("m.cyborg");
    let cache = dir.path().join("cache");
    let train_args = |tune: &str| {
        vec![
            "train".to_string(),
            train.display().to_string(),
            "--text".into(),
            "full_text".into(),
            "--score".into(),
            "score".into(),
            "--id".into(),
            "essay_id".into(),
            "--range".into(),
            "1:6".into(),
            "--out".into(),
            model.display().to_string(),
            "--base".into(),
            base.display().to_string(),
            "--cache".into(),
            cache.display().to_string(),
            "--tune".into(),
            tune.into(),
            "--epochs".into(),
            "1".into(),
            "--json".into(),
        ]
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cyborg(&refs)
    };
    let first = run(train_args("top:1"));
    assert!(first.status.success(), "{}", stderr(&first));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&first)).unwrap();
    // A fifth of each score level, rounded, is held out.
    let (train_rows, dev_rows) = (
        summary["train_rows"].as_u64().unwrap(),
        summary["dev_rows"].as_u64().unwrap(),
    );
    assert_eq!(train_rows + dev_rows, 80);
    assert!((14..=18).contains(&dev_rows), "{dev_rows}");
    assert_eq!(summary["history"].as_array().unwrap().len(), 1);
    assert!(stderr(&first).contains("0 of 80 responses from the cache"));
    // The default cut points use the training responses' held-out scores only when the
    // student kept is the probe on the frozen encoder.
    let pooled = format!(
        "cut points fitted on {dev_rows} development and {train_rows} human-scored training \
         responses"
    );
    let alone = "cut points fitted on the development responses alone";
    let said = stderr(&first);
    match summary["best_epoch"].as_u64().unwrap() {
        0 => assert!(said.contains(&pooled) && !said.contains(alone), "{said}"),
        _ => assert!(said.contains(alone) && !said.contains(&pooled), "{said}"),
    }
    let probe_only = run(train_args("head"));
    let said = stderr(&probe_only);
    assert!(probe_only.status.success(), "{said}");
    assert!(said.contains(&pooled) && !said.contains(alone), "{said}");
    // The same data again: the frozen layers come from the cache.
    let second = run(train_args("top:1"));
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("80 of 80 responses from the cache"),
        "{}",
        stderr(&second)
    );

    let m = model.to_str().unwrap();
    let s = sample.to_str().unwrap();
    let eval = cyborg(&[
        "eval",
        m,
        s,
        "--text",
        "full_text",
        "--score",
        "score",
        "--id",
        "essay_id",
        "--json",
    ]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let metrics: serde_json::Value = serde_json::from_str(&stdout(&eval)).unwrap();
    for key in [
        "qwk",
        "linear_kappa",
        "exact",
        "adjacent",
        "pearson",
        "rmse",
        "n",
        "confusion",
    ] {
        assert!(
            metrics.get(key).is_some(),
            "eval --json lacks {key}: {metrics}"
        );
    }
    assert_eq!(metrics["n"], 30);
    eval_reports_fairness_gates_and_human_human_agreement(dir.path(), m, &sample, &train);

    let scores_path = dir.path().join("scores.csv");
    let score = cyborg(&[
        "score",
        m,
        s,
        "--text",
        "full_text",
        "--id",
        "essay_id",
        "--out",
        scores_path.to_str().unwrap(),
    ]);
    assert!(score.status.success(), "{}", stderr(&score));
    // The scores `score` writes give exactly the exact-agreement `eval` reported.
    let mut humans = std::collections::HashMap::new();
    for r in csv::Reader::from_path(&sample).unwrap().records() {
        let r = r.unwrap();
        humans.insert(r[0].to_string(), r[2].parse::<i64>().unwrap());
    }
    let mut rows = 0;
    let mut exact = 0;
    for r in csv::Reader::from_path(&scores_path).unwrap().records() {
        let r = r.unwrap();
        let level: i64 = r[1].parse().unwrap();
        let raw: f64 = r[2].parse().unwrap();
        assert!((1..=6).contains(&level));
        assert!(raw.is_finite());
        exact += usize::from(humans[&r[0]] == level);
        rows += 1;
    }
    assert_eq!(rows, 30);
    let reported = metrics["exact"].as_f64().unwrap();
    assert!((reported - exact as f64 / 30.0).abs() < 1e-12);

    // One response from standard input.
    let mut child = cyborg_command()
        .args(["score", m, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"The face on Mars is a natural landform, not made by aliens.",
    )
    .unwrap();
    drop(child.stdin.take());
    let piped = child.wait_with_output().unwrap();
    // One sentence, far shorter than any training essay: scored, and flagged for a person.
    assert!(
        stdout(&piped).starts_with("id,score,raw_score,advisories\n1,")
            && stdout(&piped).ends_with(",too_short\n"),
        "{}",
        stdout(&piped)
    );

    let info = cyborg(&["info", m, "--json"]);
    let card: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
    assert_eq!(card["data"]["train_rows"], train_rows);
    assert_eq!(card["base_model"]["name"], "all-MiniLM-L6-v2");
    assert_eq!(card["training"]["tune"], "top:1");
    assert_eq!(card["training"]["cut_points"], "pooled");

    let bytes = std::fs::read(&model).unwrap();
    let truncated = dir.path().join("truncated.cyborg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = stderr(&cyborg(&["info", truncated.to_str().unwrap()]));
    assert!(
        err.contains("truncated.cyborg: the bundle is truncated"),
        "{err}"
    );
    let mut other_version = bytes.clone();
    other_version[8] = 9;
    let future = dir.path().join("future.cyborg");
    std::fs::write(&future, &other_version).unwrap();
    let err = stderr(&cyborg(&["info", future.to_str().unwrap()]));
    assert!(
        err.contains("bundle format version 9; this build of Cyborg reads versions 2 to 3"),
        "{err}"
    );

    // The head's lexical block: left out by default, there when asked.
    assert_eq!(card["lexical_buckets"], 0);
    assert!(stdout(&cyborg(&["info", m])).contains("lexical block  none"));
    let mut with = train_args("head");
    with.extend(["--lexical-buckets", "4096", "--cut-points", "shares"].map(String::from));
    assert!(run(with).status.success());
    let described = stdout(&cyborg(&["info", m]));
    assert!(
        described.contains("lexical block  4096 buckets of words and word pairs")
            && described.contains("cut points shares"),
        "{described}"
    );
}

#[test]
fn asap_aes_reads_all_essays_only_with_quoting_off() {
    let Some(asap) = shared_data("asap-aes") else {
        return;
    };
    let tsv = asap.join("training_set_rel3.utf8.tsv");
    let check = |extra: &[&str]| {
        let mut args = vec![
            "data",
            "check",
            tsv.to_str().unwrap(),
            "--text",
            "essay",
            "--score",
            "domain1_score",
            "--id",
            "essay_id",
            "--json",
        ];
        args.extend_from_slice(extra);
        cyborg(&args)
    };
    let all = check(&["--no-quoting"]);
    assert!(all.status.success(), "{}", stderr(&all));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&all)).unwrap();
    assert_eq!(summary["rows"], 12978);
    // With CSV quoting, records merge: the reader must not silently return fewer essays.
    let quoted = check(&[]);
    assert!(!quoted.status.success());
    let said = stderr(&quoted);
    assert!(
        said.contains(":6975:3: a quote opened here joins lines 6975 to 6977")
            && said.contains("use --no-quoting if quotes are ordinary text here"),
        "{said}"
    );

    let fold = asap.join("folds/fold_0/test_ids.txt");
    let prompt3 = check(&[
        "--no-quoting",
        "--where",
        "essay_set=3",
        "--ids",
        fold.to_str().unwrap(),
    ]);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&prompt3)).unwrap();
    assert_eq!(summary["rows"], 346);
    assert_eq!(
        summary["score_range"],
        serde_json::json!({"min": 0, "max": 3})
    );
}

/// Rows `skip..skip + n` of a demo file as a new CSV in `dir`, with every score replaced by
/// `score` (a pool's scores must never be read).
fn demo_pool(dir: &Path, file: &str, skip: usize, n: usize, score: &str) -> PathBuf {
    let mut reader = csv::Reader::from_path(repo().join("data/demo").join(file)).unwrap();
    let headers = reader.headers().unwrap().clone();
    let score_column = headers.iter().position(|h| h == "score").unwrap();
    let out = dir.join(format!("pool-{skip}-{n}-{file}"));
    let mut writer = csv::Writer::from_path(&out).unwrap();
    writer.write_record(&headers).unwrap();
    for record in reader.records().skip(skip).take(n) {
        let record = record.unwrap();
        let fields: Vec<&str> = record
            .iter()
            .enumerate()
            .map(|(i, f)| if i == score_column { score } else { f })
            .collect();
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
    out
}

fn read_labels(path: &Path) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "text",
            "score",
            "expected_score",
            "source",
            "teacher",
            "confidence",
            "error"
        ]
    );
    reader.records().map(Result::unwrap).collect()
}

#[test]
fn a_teacher_labels_the_pool_with_provenance_and_the_student_trains_on_it() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let human = demo_rows(dir.path(), "train.csv", 60);
    // Scores that are not numbers: reading them would fail, so the test shows they are not.
    let pool = demo_pool(dir.path(), "train.csv", 60, 40, "hidden");
    let labels = dir.path().join("labels.csv");
    let cache = dir.path().join("cache");
    let common = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "--text",
            "full_text",
            "--score",
            "score",
            "--id",
            "essay_id",
            "--range",
            "1:6",
            "--base",
            base.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
            "--tune",
            "head",
            "--teacher-members",
            "2",
            "--json",
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |command: &[&str], extra: &[&str]| {
        let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        args.extend(common(extra));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cyborg(&refs)
    };

    let labelled = run(
        &["teach", "label", human.to_str().unwrap()],
        &[
            "--pool",
            pool.to_str().unwrap(),
            "--out",
            labels.to_str().unwrap(),
        ],
    );
    assert!(labelled.status.success(), "{}", stderr(&labelled));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&labelled)).unwrap();
    assert_eq!(summary["teacher"]["pool_rows"], 40);
    assert!(summary["teacher"]["seconds_per_1000"].as_f64().unwrap() > 0.0);
    assert_eq!(
        summary["teacher"]["fit"]["student_dev_qwk"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let human_rows = summary["human_rows"].as_u64().unwrap() as usize;
    assert_eq!(
        human_rows + summary["dev_rows"].as_u64().unwrap() as usize,
        60
    );

    let records = read_labels(&labels);
    assert_eq!(records.len(), human_rows + 40);
    let original: std::collections::HashMap<String, String> = {
        let mut reader = csv::Reader::from_path(&human).unwrap();
        let headers = reader.headers().unwrap().clone();
        let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (id, score) = (column("essay_id"), column("score"));
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[id].to_string(), r[score].to_string())
            })
            .collect()
    };
    let (from_humans, from_teacher): (Vec<_>, Vec<_>) =
        records.iter().partition(|r| &r[4] == "human");
    assert_eq!(from_humans.len(), human_rows);
    for r in &from_humans {
        assert_eq!(r[2], original[&r[0]], "a human row keeps its own score");
        assert_eq!(r[3].parse::<f64>().unwrap(), r[2].parse::<f64>().unwrap());
    }
    assert_eq!(from_teacher.len(), 40);
    for r in &from_teacher {
        assert_eq!(&r[4], "teacher");
        assert!(r[5].starts_with("local: 2 students (head)"), "{}", &r[5]);
        assert!(!original.contains_key(&r[0]), "pool ids come from the pool");
        let expected: f64 = r[3].parse().unwrap();
        let level: i64 = r[2].parse().unwrap();
        assert!((1.0..=6.0).contains(&expected), "{expected}");
        assert!((1..=6).contains(&level));
        let confidence: f64 = r[6].parse().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
    }

    // The whole path in one command, the teacher's students starting from an encoder folder
    // of their own; the bundle keeps the student's encoder and its card records the teacher.
    let teacher_base = support::teacher_encoder(dir.path(), &base);
    let model = dir.path().join("pooled.cyborg");
    let trained = run(
        &["train", human.to_str().unwrap()],
        &[
            "--pool",
            pool.to_str().unwrap(),
            "--teacher-base",
            teacher_base.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
        ],
    );
    assert!(trained.status.success(), "{}", stderr(&trained));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&trained)).unwrap();
    assert_eq!(summary["teacher"]["pool_rows"], 40);
    let info = cyborg(&["info", model.to_str().unwrap(), "--json"]);
    let card: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
    assert_eq!(card["data"]["teacher_rows"], 40);
    assert_eq!(
        card["data"]["train_rows"].as_u64().unwrap() as usize,
        human_rows
    );
    assert!(
        card["data"]["teacher"]
            .as_str()
            .unwrap()
            .starts_with("local: 2 students (head) on teacher-encoder + TF-IDF"),
        "{card}"
    );
    assert_eq!(card["base_model"]["name"], "all-MiniLM-L6-v2");

    // The pool's hidden human scores judge the teacher's labels beside the model's.
    let pool_scored = dir.path().join("pool-scored.csv");
    {
        let mut reader = csv::Reader::from_path(repo().join("data/demo/train.csv")).unwrap();
        let mut writer = csv::Writer::from_path(&pool_scored).unwrap();
        writer.write_record(reader.headers().unwrap()).unwrap();
        for record in reader.records().skip(60).take(40) {
            writer.write_record(&record.unwrap()).unwrap();
        }
        writer.flush().unwrap();
    }
    let report = dir.path().join("teacher-report.html");
    let eval = |labels: &Path| {
        cyborg(&[
            "eval",
            model.to_str().unwrap(),
            pool_scored.to_str().unwrap(),
            "--text",
            "full_text",
            "--score",
            "score",
            "--id",
            "essay_id",
            "--teacher-labels",
            labels.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--json",
        ])
    };
    let judged = eval(&labels);
    assert!(judged.status.success(), "{}", stderr(&judged));
    let v: serde_json::Value = serde_json::from_str(&stdout(&judged)).unwrap();
    assert_eq!(v["teacher"]["agreement"]["n"], 40);
    assert!(v["teacher"]["agreement"]["qwk"].is_number());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("class=\"legend\">teacher</text>"),
        "no teacher series"
    );

    // --human-fraction with a teacher: the set-aside rows become the pool.
    let half = dir.path().join("half.csv");
    let halved = run(
        &["teach", "label", human.to_str().unwrap()],
        &[
            "--teacher",
            "local",
            "--human-fraction",
            "0.5",
            "--out",
            half.to_str().unwrap(),
        ],
    );
    assert!(halved.status.success(), "{}", stderr(&halved));
    let records = read_labels(&half);
    let teacher_ids: Vec<&str> = records
        .iter()
        .filter(|r| &r[4] == "teacher")
        .map(|r| r.get(0).unwrap())
        .collect();
    let human_ids: Vec<&str> = records
        .iter()
        .filter(|r| &r[4] == "human")
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(human_ids.len() + teacher_ids.len(), human_rows);
    assert!((human_ids.len() as i64 - teacher_ids.len() as i64).abs() <= 1);
    assert!(teacher_ids.iter().all(|id| original.contains_key(*id)));
    assert!(teacher_ids.iter().all(|id| !human_ids.contains(id)));
    // Labels of other responses (rows of the human file, none in the pool) are refused, not
    // silently ignored.
    let o = eval(&half);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("none of its") && stderr(&o).contains("teacher rows has the id"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_teacher_without_a_pool_or_with_a_bad_pool_says_so_and_writes_nothing() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let human = demo_rows(dir.path(), "train.csv", 30);
    let out = dir.path().join("labels.csv");
    let base = base.to_str().unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "teach",
            "label",
            human.to_str().unwrap(),
            "--text",
            "full_text",
            "--score",
            "score",
            "--base",
            base,
            "--no-cache",
            "--tune",
            "head",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |extra: &[&str]| {
        let args = args(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cyborg(&refs)
    };
    let nothing = run(&[]);
    assert!(!nothing.status.success());
    assert!(
        stderr(&nothing).contains("nothing to label"),
        "{}",
        stderr(&nothing)
    );

    let pool = dir.path().join("pool.csv");
    std::fs::write(&pool, "full_text,score\nA fine answer.,\n   ,\n").unwrap();
    let bad = run(&["--pool", pool.to_str().unwrap()]);
    assert!(!bad.status.success());
    let message = stderr(&bad);
    assert!(
        message.contains("pool.csv:3") && message.contains("empty"),
        "{message}"
    );
    assert!(!out.exists(), "nothing is written when the input is bad");
}

#[test]
fn a_bundle_teaches_with_the_scores_it_gives() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let human = demo_rows(dir.path(), "train.csv", 60);
    let pool = demo_pool(dir.path(), "train.csv", 60, 30, "hidden");
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (teacher, labels, student) = (path("teacher.cyborg"), path("labels.csv"), path("s.cyborg"));
    let (base, cache, pool) = (
        base.to_str().unwrap(),
        path("cache"),
        pool.to_str().unwrap(),
    );
    // `command` on the human rows (scores 1-6, unless `extra` says otherwise), then `extra`.
    let run = |command: &[&str], extra: &[&str]| {
        let mut args = command.to_vec();
        args.extend([human.to_str().unwrap(), "--text", "full_text"]);
        args.extend(["--score", "score", "--id", "essay_id", "--base", base]);
        args.extend(["--tune", "head", "--cache", &cache]);
        if !extra.contains(&"--range") {
            args.extend(["--range", "1:6"]);
        }
        args.extend(extra);
        cyborg(&args)
    };
    let trained = run(&["train"], &["--out", &teacher]);
    assert!(trained.status.success(), "{}", stderr(&trained));

    let bundle_teacher = ["--pool", pool, "--teacher", "bundle", "--teacher-bundle"];
    let teaching = [&bundle_teacher[..], &[&teacher]].concat();
    let out = ["--out", &labels];
    let labelled = run(&["teach", "label"], &[&teaching[..], &out].concat());
    assert!(labelled.status.success(), "{}", stderr(&labelled));
    let scores = path("scores.csv");
    let scored = cyborg(&[
        "score",
        &teacher,
        pool,
        "--text",
        "full_text",
        "--id",
        "essay_id",
        "--out",
        &scores,
    ]);
    assert!(scored.status.success(), "{}", stderr(&scored));
    let scores = read_scores(Path::new(&scores));
    let taught: Vec<_> = read_labels(Path::new(&labels))
        .into_iter()
        .filter(|r| &r[4] == "teacher")
        .collect();
    assert_eq!(taught.len(), 30);
    for r in &taught {
        let (level, raw) = scores[&r[0]];
        assert_eq!(r[2].parse::<i64>().unwrap(), level, "the bundle's level");
        let expected: f64 = r[3].parse().unwrap();
        assert!(
            (expected - raw.clamp(1.0, 6.0)).abs() < 1e-5,
            "{expected} {raw}"
        );
        assert_eq!(&r[5], "bundle teacher.cyborg (all-MiniLM-L6-v2)");
        assert_eq!(&r[6], "", "one bundle has no members to agree");
    }

    // A student learns from it in one command, and its card names the teacher.
    let distilled = run(&["train"], &[&teaching[..], &["--out", &student]].concat());
    assert!(distilled.status.success(), "{}", stderr(&distilled));
    let info = cyborg(&["info", &student, "--json"]);
    let card: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
    assert_eq!(card["data"]["teacher_rows"], 30);
    assert_eq!(
        card["data"]["teacher"],
        "bundle teacher.cyborg (all-MiniLM-L6-v2)"
    );

    // A teacher on another range, a teacher half named, or a bundle teacher given an encoder
    // for students it does not train, is refused before any work.
    std::fs::remove_file(&labels).unwrap();
    let not_a_file = [&bundle_teacher[..], &[dir.path().to_str().unwrap()]].concat();
    for (extra, says) in [
        (
            [&teaching[..], &["--range", "0:6"]].concat(),
            "scores 1-6, the data 0-6",
        ),
        (
            teaching[..4].to_vec(),
            "--teacher bundle needs --teacher-bundle FILE",
        ),
        (
            vec!["--pool", pool, "--teacher-bundle", &teacher],
            "--teacher-bundle is for --teacher bundle",
        ),
        (not_a_file, "is not a file"),
        (
            [
                &teaching[..],
                &["--teacher-base", dir.path().to_str().unwrap()],
            ]
            .concat(),
            "the teacher named trains no students",
        ),
    ] {
        let refused = run(&["teach", "label"], &[&extra[..], &out].concat());
        assert!(!refused.status.success());
        assert!(stderr(&refused).contains(says), "{}", stderr(&refused));
        assert!(
            !Path::new(&labels).exists(),
            "nothing is written when the teacher is wrong"
        );
    }
}

#[test]
fn a_student_trains_from_a_provenance_file_and_bad_sources_are_located() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut reader = csv::Reader::from_path(repo().join("data/demo/train.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id, text, score) = (column("essay_id"), column("full_text"), column("score"));
    let labels = dir.path().join("labels.csv");
    let mut writer = csv::Writer::from_path(&labels).unwrap();
    writer
        .write_record([
            "id",
            "text",
            "score",
            "expected_score",
            "source",
            "teacher",
            "confidence",
            "error",
        ])
        .unwrap();
    for (i, record) in reader.records().take(73).enumerate() {
        let r = record.unwrap();
        let s: f64 = r[score].parse().unwrap();
        let row: [String; 8] = match i {
            0..50 => {
                [&r[id], &r[text], &r[score], &r[score], "human", "", "1", ""].map(String::from)
            }
            50..70 => [
                r[id].to_string(),
                r[text].to_string(),
                r[score].to_string(),
                format!("{:.3}", s - 0.25),
                "teacher".into(),
                "local: test".into(),
                "0.5".into(),
                String::new(),
            ],
            70..72 => [
                &r[id],
                &r[text],
                "",
                "",
                "failed",
                "llm: test",
                "",
                "refused",
            ]
            .map(String::from),
            _ => [
                &r[id],
                &r[text],
                &r[score],
                "",
                "dropped",
                "llm: test",
                "",
                "near-duplicate",
            ]
            .map(String::from),
        };
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
    let model = dir.path().join("from-labels.cyborg");
    let args = |file: &Path| -> Vec<String> {
        [
            "train",
            file.to_str().unwrap(),
            "--from-labels",
            "--text",
            "text",
            "--score",
            "score",
            "--id",
            "id",
            "--range",
            "1:6",
            "--tune",
            "head",
            "--no-cache",
            "--base",
            base.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
            "--json",
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cyborg(&refs)
    };
    let trained = run(args(&labels));
    assert!(trained.status.success(), "{}", stderr(&trained));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&trained)).unwrap();
    assert_eq!(summary["teacher_rows"], 20);
    assert_eq!(
        summary["train_rows"].as_u64().unwrap() + summary["dev_rows"].as_u64().unwrap(),
        50,
        "only human rows are split into training and development rows"
    );
    let info = cyborg(&["info", model.to_str().unwrap(), "--json"]);
    let card: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
    assert_eq!(card["data"]["teacher_rows"], 20);
    assert_eq!(card["data"]["teacher"], "local: test");

    let text = std::fs::read_to_string(&labels).unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        text.replacen(",teacher,local: test,", ",robot,local: test,", 1),
    )
    .unwrap();
    std::fs::remove_file(&model).unwrap();
    let refused = run(args(&bad));
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("bad.csv:") && message.contains("\"robot\" is not human, teacher"),
        "{message}"
    );
    assert!(!model.exists());
}

/// `id → (level, raw score)` from a file `cyborg score` wrote.
fn read_scores(path: &Path) -> std::collections::HashMap<String, (i64, f64)> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_string(),
                (r[1].parse().unwrap(), r[2].parse().unwrap()),
            )
        })
        .collect()
}

#[test]
fn smaller_bundles_score_150_real_essays_as_f32_does() {
    use cyborg_scorer::metrics::{agreement, ScoreRange};
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let train = demo_rows(dir.path(), "train.csv", 200);
    let sample = repo().join("data/demo/sample.csv");
    let model = dir.path().join("f32.cyborg");
    let (m, s) = (model.to_str().unwrap(), sample.to_str().unwrap());
    let trained = cyborg(&[
        "train",
        train.to_str().unwrap(),
        "--text",
        "full_text",
        "--score",
        "score",
        "--id",
        "essay_id",
        "--range",
        "1:6",
        "--tune",
        "top:1",
        "--epochs",
        "1",
        "--base",
        base.to_str().unwrap(),
        "--cache",
        dir.path().join("cache").to_str().unwrap(),
        "--out",
        m,
    ]);
    assert!(trained.status.success(), "{}", stderr(&trained));
    let humans: std::collections::HashMap<String, i64> = csv::Reader::from_path(&sample)
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[2].parse().unwrap())
        })
        .collect();
    let range = ScoreRange { min: 1, max: 6 };
    let score_with = |bundle: &Path, more: &[&str]| {
        let out = dir.path().join("scores.csv");
        let mut args = vec![
            "score",
            bundle.to_str().unwrap(),
            s,
            "--text",
            "full_text",
            "--id",
            "essay_id",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(more);
        let scored = cyborg(&args);
        assert!(scored.status.success(), "{}", stderr(&scored));
        read_scores(&out)
    };
    let qwk = |scores: &std::collections::HashMap<String, (i64, f64)>| {
        let ids: Vec<&String> = humans.keys().collect();
        let human: Vec<i64> = ids.iter().map(|id| humans[*id]).collect();
        let machine: Vec<i64> = ids.iter().map(|id| scores[*id].0).collect();
        agreement(&human, &machine, range).qwk.unwrap()
    };
    let reference = score_with(&model, &[]);
    assert_eq!(reference.len(), 150);
    let reference_qwk = qwk(&reference);
    let info = |bundle: &Path| -> serde_json::Value {
        serde_json::from_str(&stdout(&cyborg(&[
            "info",
            bundle.to_str().unwrap(),
            "--json",
        ])))
        .unwrap()
    };
    assert_eq!(info(&model)["weights"], "f32");
    let mut sizes = vec![std::fs::metadata(&model).unwrap().len()];
    // Issue 15's tolerance: the same level for at least 99% (149 of 150), and QWK against the
    // human scores no more than 0.005 lower (one essay changing level moves it about that far).
    let within_tolerance = |what: &str, scores: &std::collections::HashMap<String, (i64, f64)>| {
        let same = reference
            .iter()
            .filter(|(id, (level, _))| scores[*id].0 == *level)
            .count();
        let change = qwk(scores) - reference_qwk;
        eprintln!("{what}: {same}/150 at the f32 level, QWK {change:+.4} against f32's");
        assert!(same >= 149, "{what}: {same} of 150 keep their level");
        assert!(change >= -0.005, "{what}: QWK fell by {:.4}", -change);
    };
    for precision in ["f16", "int8"] {
        let bundle = dir.path().join(format!("{precision}.cyborg"));
        let exported = cyborg(&[
            "export",
            m,
            "--weights",
            precision,
            "--out",
            bundle.to_str().unwrap(),
        ]);
        assert!(exported.status.success(), "{}", stderr(&exported));
        assert!(
            stderr(&exported).contains(&format!("weights {precision} from f32")),
            "{}",
            stderr(&exported)
        );
        let card = info(&bundle);
        assert_eq!(card["weights"], precision);
        assert_eq!(
            card["bundle_bytes"],
            std::fs::metadata(&bundle).unwrap().len()
        );
        sizes.push(std::fs::metadata(&bundle).unwrap().len());
        within_tolerance(precision, &score_with(&bundle, &[]));
    }
    // int8 multiplied as integers (where the CPU has AVX-512 VNNI; elsewhere the same as
    // above) adds the rounding of its inputs, within the same tolerance.
    let int8 = dir.path().join("int8.cyborg");
    within_tolerance(
        "int8 with --int8-products",
        &score_with(&int8, &["--int8-products"]),
    );
    // Each smaller, and int8 within the 24 MB.
    assert!(sizes.windows(2).all(|w| w[1] < w[0]), "{sizes:?}");
    assert!(sizes[2] <= 24_000_000, "int8 bundle {} bytes", sizes[2]);
    // Exporting a rounded bundle again says the roundings add up.
    let again = dir.path().join("again.cyborg");
    let exported = cyborg(&[
        "export",
        int8.to_str().unwrap(),
        "--weights",
        "f16",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(
        stderr(&exported).contains("f16 adds its rounding to int8's"),
        "{}",
        stderr(&exported)
    );
}
