//! Multi-trait bundles end to end: `train --trait`, then `info`, `score` and `eval`, on ASAP-AES
//! set 7's essays and trait scores (from ../shared, never copied into the repository).

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::{base_model, cyborg, shared_data};

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The first `n` set-7 essays with their holistic score and two traits, plus `blend`, the mean
/// of the two traits (halves, so continuous), as a CSV in `dir`.
fn set7_with_traits(asap: &Path, dir: &Path, n: usize) -> PathBuf {
    let mut traits = HashMap::new();
    let mut reader = csv::Reader::from_path(asap.join("asap_plus_plus_traits.csv")).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        if &record[1] == "7" {
            traits.insert(
                record[0].to_string(),
                (record[3].to_string(), record[5].to_string()),
            );
        }
    }
    let mut essays = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .quoting(false)
        .from_path(asap.join("training_set_rel3.utf8.tsv"))
        .unwrap();
    let out = dir.join("set7.csv");
    let mut writer = csv::Writer::from_path(&out).unwrap();
    writer
        .write_record(["id", "essay", "score", "ideas", "style", "blend"])
        .unwrap();
    for record in essays
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[1] == "7")
        .take(n)
    {
        let (ideas, style) = &traits[&record[0]];
        let blend = (ideas.parse::<f64>().unwrap() + style.parse::<f64>().unwrap()) / 2.0;
        writer
            .write_record([
                &record[0],
                &record[2],
                &record[6],
                ideas,
                style,
                &blend.to_string(),
            ])
            .unwrap();
    }
    writer.flush().unwrap();
    out
}

#[test]
fn a_multi_trait_bundle_scores_every_trait_and_matches_single_trait_students() {
    let (Some(_), Some(asap)) = (base_model(), shared_data("asap-aes")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = set7_with_traits(&asap, dir.path(), 300);
    let data = data.to_str().unwrap();
    let multi = dir.path().join("multi.cyborg");
    // One split for every student: a score-stratified split would differ by primary score.
    let ids: Vec<String> = csv::Reader::from_path(data)
        .unwrap()
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    let (train_ids, dev_ids) = (dir.path().join("train.txt"), dir.path().join("dev.txt"));
    std::fs::write(&train_ids, ids[..220].join("\n")).unwrap();
    std::fs::write(&dev_ids, ids[220..].join("\n")).unwrap();
    let common = [
        "--text",
        "essay",
        "--id",
        "id",
        "--train-ids",
        train_ids.to_str().unwrap(),
        "--dev-ids",
        dev_ids.to_str().unwrap(),
        "--tune",
        "head",
        "--json",
    ];
    let train = |score: &str, traits: &[&str], out: &Path| -> serde_json::Value {
        let mut args = vec![
            "train",
            data,
            "--score",
            score,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(&common);
        for t in traits {
            args.extend(["--trait", t]);
        }
        serde_json::from_str(&ok(cyborg(&args))).unwrap()
    };
    let summary = train("score", &["ideas,style", "blend"], &multi);
    let dev_traits = summary["dev_traits"].as_array().unwrap();
    let metrics: Vec<(&str, &str)> = dev_traits
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["metric"].as_str().unwrap()))
        .collect();
    assert_eq!(
        metrics,
        [("ideas", "QWK"), ("style", "QWK"), ("blend", "Pearson r")]
    );
    for t in dev_traits {
        // A trait wired to the wrong column or scale would not reach this on held-out essays.
        assert!(t["value"].as_f64().unwrap() > 0.4, "{t}");
    }

    let info = ok(cyborg(&["info", multi.to_str().unwrap()]));
    assert!(info.contains("trait          ideas: levels 0-6"), "{info}");
    assert!(info.contains("trait          blend: continuous"), "{info}");

    // With a linear head on the frozen encoder each output is its own ridge fit, so the
    // bundle's `ideas` must equal a student trained on `ideas` alone, level for level.
    let single = dir.path().join("ideas.cyborg");
    train("ideas", &[], &single);
    let score = |model: &Path| -> Vec<csv::StringRecord> {
        let out = ok(cyborg(&[
            "score",
            model.to_str().unwrap(),
            data,
            "--text",
            "essay",
            "--id",
            "id",
        ]));
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        let header = reader.headers().unwrap().clone();
        std::iter::once(header)
            .chain(reader.records().map(Result::unwrap))
            .collect()
    };
    let multi_scores = score(&multi);
    assert_eq!(
        multi_scores[0].iter().collect::<Vec<_>>(),
        [
            "id",
            "score",
            "raw_score",
            "ideas",
            "ideas_raw",
            "style",
            "style_raw",
            "blend",
            "advisories"
        ]
    );
    let single_scores = score(&single);
    for (m, s) in multi_scores[1..].iter().zip(&single_scores[1..]) {
        assert_eq!(&m[3], &s[1], "essay {}: ideas level", &m[0]);
        let (a, b): (f64, f64) = (m[4].parse().unwrap(), s[2].parse().unwrap());
        assert!(
            (a - b).abs() < 1e-3,
            "essay {}: ideas raw {a} vs {b}",
            &m[0]
        );
    }

    let eval: serde_json::Value = serde_json::from_str(&ok(cyborg(&[
        "eval",
        multi.to_str().unwrap(),
        data,
        "--text",
        "essay",
        "--score",
        "score",
        "--id",
        "id",
        "--json",
    ])))
    .unwrap();
    let traits = eval["traits"].as_array().unwrap();
    assert_eq!(traits.len(), 3);
    assert!(traits[0]["levels"]["qwk"].as_f64().unwrap() > 0.4);
    assert!(traits[2]["levels"].is_null());
    assert!(eval["mcrmse"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_trait_columns_are_located_and_traits_do_not_mix_with_teachers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    std::fs::write(&data, "id,text,score,ideas\n1,one,2,3\n2,two,3,lots\n").unwrap();
    let data = data.to_str().unwrap();
    let out = dir.path().join("m.cyborg");
    let run = |extra: &[&str]| {
        let mut args = vec!["train", data, "--text", "text", "--score", "score", "--out"];
        args.push(out.to_str().unwrap());
        args.extend_from_slice(extra);
        cyborg(&args)
    };
    let stderr = |o: Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let missing = stderr(run(&["--trait", "idea"]));
    assert!(
        missing
            .contains("d.csv:1: no trait column \"idea\"; the columns are: id, text, score, ideas"),
        "{missing}"
    );
    let bad = stderr(run(&["--trait", "ideas"]));
    assert!(
        bad.contains("d.csv:3:4: column \"ideas\": \"lots\" is not a number"),
        "{bad}"
    );
    let with_teacher = stderr(run(&["--trait", "ideas", "--teacher", "local"]));
    assert!(
        with_teacher.contains("cannot be used with"),
        "{with_teacher}"
    );
    assert!(!out.exists());
}

#[test]
fn data_check_reads_trait_columns_as_training_would() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    std::fs::write(
        &data,
        "id,text,score,ideas,wording\n1,one,2,3,-0.5\n2,two,3,1,1.25\n3,three,3,4,0\n",
    )
    .unwrap();
    let check = |traits: &str| {
        let data = data.to_str().unwrap();
        cyborg(&[
            "data", "check", data, "--text", "text", "--score", "score", "--trait", traits,
        ])
    };
    let text = ok(check("ideas,wording"));
    assert!(
        text.contains("trait ideas: levels 1-4, mean 2.667"),
        "{text}"
    );
    assert!(
        text.contains("trait wording: continuous, -0.500 to 1.250, mean 0.250"),
        "{text}"
    );
    let missing = String::from_utf8_lossy(&check("idea").stderr).into_owned();
    assert!(
        missing.contains("d.csv:1: no trait column \"idea\""),
        "{missing}"
    );
}
