//! `cyborg bench asap` over several folds, resumed from its cells, on a stand-in for the
//! ASAP-AES folder made from the demo essays (so it runs without ../shared).

mod support;

use std::path::{Path, PathBuf};

use support::{
    assert_markdown_tables_whole, base_model, cyborg, cyborg_command, repo, shared_data, stderr,
    stdout,
};

/// An ASAP-AES-shaped folder in `dir`: 60 demo essays as prompt 2 (scores 1-6) of a TSV read
/// with quoting off, and folds 0 and 1, each with its own training, development and test ids.
fn asap_stand_in(dir: &Path) -> PathBuf {
    let mut reader = csv::Reader::from_path(repo().join("data/demo/train.csv")).unwrap();
    let mut tsv = String::from("essay_id\tessay_set\tessay\tdomain1_score\n");
    let mut ids = Vec::new();
    for record in reader.records().take(60) {
        let record = record.unwrap();
        let text = record[1].replace(['\t', '\r', '\n'], " ");
        tsv += &format!("{}\t2\t{text}\t{}\n", &record[0], &record[2]);
        ids.push(record[0].to_string());
    }
    let asap = dir.join("asap");
    std::fs::create_dir_all(&asap).unwrap();
    std::fs::write(asap.join("training_set_rel3.utf8.tsv"), tsv).unwrap();
    for fold in 0..2 {
        let folder = asap.join(format!("folds/fold_{fold}"));
        std::fs::create_dir_all(&folder).unwrap();
        let mut rotated = ids.clone();
        rotated.rotate_left(24 * fold);
        for (name, part) in [
            ("train_ids.txt", &rotated[..36]),
            ("dev_ids.txt", &rotated[36..48]),
            ("test_ids.txt", &rotated[48..]),
        ] {
            std::fs::write(folder.join(name), part.join("\n") + "\n").unwrap();
        }
    }
    asap
}

fn mean_sd(values: &[f64]) -> String {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let variance =
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    format!("{mean:.3} ± {:.3}", variance.sqrt())
}

#[test]
fn bench_asap_runs_several_folds_and_resumes_from_its_cells() {
    let Some(base) = base_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let asap = asap_stand_in(dir.path());
    let (cells, table) = (dir.path().join("cells"), dir.path().join("asap.md"));
    let bench = |extra: &[&str]| {
        let mut args: Vec<&str> = vec![
            "bench",
            "asap",
            "--asap",
            asap.to_str().unwrap(),
            "--folds",
            "0,1",
            "--prompts",
            "2",
            "--fractions",
            "1.0",
            "--tune",
            "head",
            "--base",
            base.to_str().unwrap(),
            "--no-cache",
            "--cells",
            cells.to_str().unwrap(),
            "--json",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        cyborg(&args)
    };
    let first = bench(&["--out", table.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let result: serde_json::Value = serde_json::from_str(&stdout(&first)).unwrap();
    assert_eq!(result["reused_cells"], 0);
    let rows = result["results"].as_array().unwrap();
    let folds: Vec<u64> = rows.iter().map(|r| r["fold"].as_u64().unwrap()).collect();
    assert_eq!(folds, [0, 1]);
    assert!(rows
        .iter()
        .all(|r| r["test_rows"] == 12 && r["train_rows"] == 36));
    // A linear head on the frozen encoder runs no epochs: each cell kept its probe, epoch 0.
    assert!(rows.iter().all(|r| r["kept_epoch"] == 0), "{rows:?}");
    let qwks: Vec<f64> = rows
        .iter()
        .map(|r| r["test_qwk"].as_f64().unwrap())
        .collect();

    // Each prompt's mean ± SD over the folds, and each fold's own table below it.
    let markdown = std::fs::read_to_string(&table).unwrap();
    assert_markdown_tables_whole(&markdown);
    assert!(markdown.contains("NEA folds 0, 1,"), "{markdown}");
    assert!(markdown.contains("Mean ± SD over 2 folds"), "{markdown}");
    assert!(
        markdown.contains(&format!("| 2 | {} |", mean_sd(&qwks))),
        "{markdown}"
    );
    for (fold, qwk) in qwks.iter().enumerate() {
        let details = format!("<details><summary>fold {fold}</summary>");
        let section = &markdown[markdown.find(&details).expect(&details)..];
        assert!(section.contains(&format!("| 2 | {qwk:.3}")), "{section}");
    }

    // A second run trains nothing and gives the same results; other settings are refused.
    let again = bench(&[]);
    assert!(again.status.success(), "{}", stderr(&again));
    let resumed: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(resumed["reused_cells"], 2);
    assert_eq!(resumed["results"], result["results"]);
    let other = bench(&["--seed", "2"]);
    assert!(!other.status.success());
    let said = stderr(&other);
    assert!(
        said.contains("fold0-prompt2-human1.json holds a cell trained with other settings")
            && said.contains("(seed: 1 then, seed: 2 now)"),
        "{said}"
    );
}

/// The `bench asap` commands BENCHMARKS.md gives for the committed cells
/// (`--cells benches/asap-cells/…`), each as its arguments after `cyborg`.
fn documented_cells_commands() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(repo().join("BENCHMARKS.md")).unwrap();
    let mut commands = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(start) = line.trim().strip_prefix("target/release/cyborg bench asap") else {
            continue;
        };
        let mut command = format!("bench asap {start}");
        while command.trim_end().ends_with('\\') {
            command = command.trim_end().trim_end_matches('\\').to_string() + lines.next().unwrap();
        }
        let command = command.split(" #").next().unwrap();
        if command.contains("--cells benches/asap-cells/") {
            commands.push(command.split_whitespace().map(String::from).collect());
        }
    }
    commands
}

#[test]
fn every_documented_command_reuses_its_committed_cells() {
    let Some(asap) = shared_data("asap-aes") else {
        return;
    };
    let commands = documented_cells_commands();
    assert!(commands.len() >= 6, "{commands:?}");
    let dir = tempfile::tempdir().unwrap();
    for mut args in commands {
        // A copy of the cells, so that a run could not change the committed ones.
        let at = args.iter().position(|a| a == "--cells").unwrap() + 1;
        let cells = dir.path().join(args[at].replace('/', "_"));
        let committed = repo().join(&args[at]);
        std::fs::create_dir_all(&cells).unwrap();
        let mut saved = 0;
        for entry in std::fs::read_dir(&committed).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), cells.join(entry.file_name())).unwrap();
            saved += 1;
        }
        args[at] = cells.to_str().unwrap().into();
        let table = dir.path().join("table.md");
        match args.iter().position(|a| a == "--out") {
            Some(out) => args[out + 1] = table.to_str().unwrap().into(),
            None => args.extend(["--out".into(), table.to_str().unwrap().into()]),
        }
        args.extend(["--asap", asap.to_str().unwrap(), "--json", "--quiet"].map(String::from));
        // No base model: a cell that is not reused fails at once instead of training for hours.
        let run = cyborg_command()
            .args(&args)
            .env("CYBORG_BASE_MODEL", dir.path().join("no-base-model"))
            .output()
            .unwrap();
        assert!(run.status.success(), "{args:?}: {}", stderr(&run));
        let result: serde_json::Value = serde_json::from_str(&stdout(&run)).unwrap();
        assert_eq!(result["reused_cells"], saved, "{args:?}");
        assert_markdown_tables_whole(&std::fs::read_to_string(&table).unwrap());
    }
}
