//! The LLM teacher end to end, against a chat-completions double on 127.0.0.1: the protocol,
//! structured-output fallback, soft labels, retries and their timing, failures recorded per
//! row, the answer cache, and resuming a killed run. No test calls a real API.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::chat_double::{double_score, Behaviour, ChatDouble};
use support::{cyborg, cyborg_command, stderr};

/// A response whose double score is `score`, made distinct by `n`.
fn essay(score: i64, n: usize) -> String {
    let goods = vec!["good"; (score - 1) as usize].join(" ");
    format!("Essay number {n} about the topic. {goods} The end.")
}

/// 30 human-scored responses, five per level 1-6, as CSV.
fn human_file(dir: &Path) -> PathBuf {
    let mut writer = csv::Writer::from_path(dir.join("human.csv")).unwrap();
    writer.write_record(["id", "text", "score"]).unwrap();
    for n in 0..30 {
        let score = (n % 6) as i64 + 1;
        writer
            .write_record([format!("h{n}"), essay(score, n), score.to_string()])
            .unwrap();
    }
    writer.flush().unwrap();
    dir.join("human.csv")
}

/// A pool of `texts`, ids p0, p1, …
fn pool_file(dir: &Path, texts: &[String]) -> PathBuf {
    let path = dir.join("pool.csv");
    let mut writer = csv::Writer::from_path(&path).unwrap();
    writer.write_record(["id", "text"]).unwrap();
    for (i, text) in texts.iter().enumerate() {
        writer
            .write_record([format!("p{i}"), text.clone()])
            .unwrap();
    }
    writer.flush().unwrap();
    path
}

fn teach_args(dir: &Path, base_url: &str, pool: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "teach",
        "label",
        human_file(dir).to_str().unwrap(),
        "--text",
        "text",
        "--score",
        "score",
        "--id",
        "id",
        "--pool",
        pool.to_str().unwrap(),
        "--teacher",
        "llm",
        "--base-url",
        base_url,
        "--llm-model",
        "test-model",
        "--api-key-env",
        "CYBORG_TEST_KEY",
        "--llm-cache",
        dir.join("answers").to_str().unwrap(),
        "--out",
        dir.join("labels.csv").to_str().unwrap(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The labels file as id → record.
fn labels(dir: &Path) -> HashMap<String, csv::StringRecord> {
    let mut reader = csv::Reader::from_path(dir.join("labels.csv")).unwrap();
    let mut by_id = HashMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let previous = by_id.insert(record[0].to_string(), record);
        assert!(previous.is_none(), "an id appears twice in the labels");
    }
    by_id
}

#[test]
fn the_llm_teacher_speaks_the_protocol_retries_and_records_failures() {
    let dir = tempfile::tempdir().unwrap();
    let double = ChatDouble::start(Behaviour {
        reject_json_schema: Some(400),
        ..Behaviour::default()
    });
    let texts: Vec<String> = vec![
        essay(3, 100),
        format!("{} [[429]]", essay(5, 101)),
        format!("{} [[500]]", essay(2, 102)),
        format!("{} [[garbage]]", essay(6, 103)),
        format!("{} [[slow]]", essay(1, 104)),
        format!("{} [[refuse]]", essay(4, 105)),
        format!("{} [[nine]]", essay(4, 106)),
        format!("{} [[mute]]", essay(4, 107)),
    ];
    let pool = pool_file(dir.path(), &texts);
    let first = cyborg(&teach_args(dir.path(), &double.base_url, &pool, &[]));
    assert!(first.status.success(), "{}", stderr(&first));
    let summary: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();

    // The protocol: json_schema refused once, then json_object for every request.
    let received = double.received();
    assert_eq!(received[0].body["response_format"]["type"], "json_schema");
    assert_eq!(received[0].status, 400);
    assert!(received[1..]
        .iter()
        .all(|r| r.body["response_format"]["type"] == "json_object"));
    for r in &received {
        assert_eq!(r.authorization.as_deref(), Some("Bearer sk-test"));
        assert_eq!(r.body["model"], "test-model");
        assert_eq!(r.body["temperature"], 0.0);
        assert_eq!(r.body["seed"], 1);
        assert_eq!(r.body["logprobs"], true);
        // System, one example per level (user and assistant turns), then the response.
        let messages = r.body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 1 + 2 * 6 + 1);
        assert_eq!(messages[0]["role"], "system");
        assert!(messages[0]["content"]
            .as_str()
            .unwrap()
            .contains("from 1 to 6"));
    }

    // Retries: the 429 is retried after its Retry-After (1 s); 500 and garbage are retried.
    let attempts = |marker: &str| -> Vec<(Instant, u16)> {
        received
            .iter()
            .filter(|r| {
                r.text().contains(marker) && r.body["response_format"]["type"] == "json_object"
            })
            .map(|r| (r.at, r.status))
            .collect()
    };
    let limited = attempts("[[429]]");
    assert_eq!(limited.len(), 2, "{limited:?}");
    assert_eq!((limited[0].1, limited[1].1), (429, 200));
    let waited = limited[1].0 - limited[0].0;
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(3),
        "waited {waited:?} after Retry-After: 1"
    );
    assert_eq!(attempts("[[500]]").len(), 2);
    assert_eq!(attempts("[[garbage]]").len(), 2);

    // Labels: soft (0.7 on the score, 0.3 on its neighbour); failures recorded with reasons.
    let by_id = labels(dir.path());
    assert_eq!(
        by_id.len(),
        24 + texts.len(),
        "human rows and every pool row"
    );
    for (i, text) in texts.iter().enumerate() {
        let record = &by_id[&format!("p{i}")];
        let expect_failure = ["[[refuse]]", "[[nine]]", "[[mute]]"]
            .iter()
            .find(|m| text.contains(*m));
        match expect_failure {
            Some(marker) => {
                assert_eq!(&record[4], "failed", "{marker}");
                let reason = &record[7];
                let wanted = match *marker {
                    "[[refuse]]" => "refused",
                    "[[nine]]" => "outside 1-6",
                    _ => "no score",
                };
                assert!(reason.contains(wanted), "{marker}: {reason}");
                assert_eq!(&record[2], "");
            }
            None => {
                let score = double_score(text);
                let neighbour = if score >= 4 { score - 1 } else { score + 1 };
                assert_eq!(&record[4], "teacher");
                assert_eq!(record[2].parse::<i64>().unwrap(), score);
                let expected: f64 = record[3].parse().unwrap();
                let soft = 0.7 * score as f64 + 0.3 * neighbour as f64;
                assert!((expected - soft).abs() < 1e-5, "{expected} vs {soft}");
                assert_eq!(&record[6], "0.700");
                assert!(record[5].starts_with("llm: test-model"), "{}", &record[5]);
            }
        }
    }
    assert_eq!(summary["teacher"]["failed"].as_array().unwrap().len(), 3);
    // The double scores by the rule the human scores follow, so the teacher is exact on dev.
    assert!(summary["teacher"]["dev_qwk"].as_f64().unwrap() > 0.9999);
    assert!(summary["teacher"]["tokens_per_1000"].as_u64().unwrap() > 0);
    assert!(
        summary["teacher"]["usage"]["prompt_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    // A rerun is answered from the cache: only the refused json_schema probe goes out.
    let before = received.len();
    let labels_before = std::fs::read(dir.path().join("labels.csv")).unwrap();
    let second = cyborg(&teach_args(dir.path(), &double.base_url, &pool, &[]));
    assert!(second.status.success(), "{}", stderr(&second));
    let again: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(double.received().len() - before, 1);
    assert_eq!(again["teacher"]["usage"]["requests_sent"], 1);
    assert_eq!(
        std::fs::read(dir.path().join("labels.csv")).unwrap(),
        labels_before
    );
}

/// llama.cpp's Python server answers a `json_schema` response format with HTTP 500, not 400:
/// the probe tries it three times, then asks for JSON objects, and every row is labelled.
#[test]
fn a_server_that_fails_json_schema_with_500_is_asked_for_json_objects() {
    let dir = tempfile::tempdir().unwrap();
    let double = ChatDouble::start(Behaviour {
        reject_json_schema: Some(500),
        ..Behaviour::default()
    });
    let texts: Vec<String> = (0..4).map(|i| essay(i + 2, 200 + i as usize)).collect();
    let pool = pool_file(dir.path(), &texts);
    let run = cyborg(&teach_args(dir.path(), &double.base_url, &pool, &[]));
    assert!(run.status.success(), "{}", stderr(&run));
    let shapes: Vec<(String, u16)> = double
        .received()
        .iter()
        .map(|r| (r.body["response_format"]["type"].to_string(), r.status))
        .collect();
    let schema = (r#""json_schema""#.to_string(), 500);
    assert_eq!(shapes[..3], [schema.clone(), schema.clone(), schema]);
    assert!(
        shapes[3..]
            .iter()
            .all(|s| s == &(r#""json_object""#.to_string(), 200)),
        "{shapes:?}"
    );
    let by_id = labels(dir.path());
    for (i, text) in texts.iter().enumerate() {
        let record = &by_id[&format!("p{i}")];
        assert_eq!(&record[4], "teacher", "{record:?}");
        assert_eq!(record[2].parse::<i64>().unwrap(), double_score(text));
        assert!(record[5].ends_with("json_object output"), "{}", &record[5]);
    }
}

/// kill -9 of `teach label` at 20 seeded points, among seeded faults (429 with Retry-After, 500,
/// a dropped connection, a body that is not JSON, a refusal), then a run to the end: every pool
/// row has one label or one recorded failure, and no answer that reached the cache is asked
/// for again — only those in flight at a kill (at most two each, the concurrency) are.
#[test]
fn runs_killed_at_twenty_points_resume_without_lost_duplicated_or_repeated_requests() {
    let dir = tempfile::tempdir().unwrap();
    let double = ChatDouble::start(Behaviour {
        delay: Duration::from_millis(50),
        ..Behaviour::default()
    });
    let mut state = 19u64;
    let mut random = move |below: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % below
    };
    let faults = [
        "[[429]]",
        "[[500]]",
        "[[drop]]",
        "[[garbage]]",
        "[[refuse]]",
    ];
    let texts: Vec<String> = (0..60)
        .map(|n| {
            let fault = if random(4) == 0 {
                faults[random(faults.len())]
            } else {
                ""
            };
            format!("Pool {} {fault}", essay((n % 6) as i64 + 1, n))
        })
        .collect();
    let pool = pool_file(dir.path(), &texts);
    let args = teach_args(dir.path(), &double.base_url, &pool, &["--concurrency", "2"]);
    let pool_answers = |double: &ChatDouble| {
        double
            .received()
            .iter()
            .filter(|r| r.status == 200 && r.text().starts_with("Pool "))
            .count()
    };
    // Answers given well before a kill (half a second) must have reached the cache: each text
    // with the moment of the kill it was settled before.
    let mut settled: HashMap<String, Instant> = HashMap::new();
    let kills = 20;
    for kill in 0..kills {
        let wanted = pool_answers(&double) + 1 + random(3);
        let mut child = cyborg_command()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while pool_answers(&double) < wanted && child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < Duration::from_secs(60), "the run stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "run {kill} ended before its kill point: too few responses left"
        );
        let killed = Instant::now();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            !dir.path().join("labels.csv").exists(),
            "a killed run leaves no partial file"
        );
        let mut unreadable = std::collections::HashSet::new();
        for r in double.received().into_iter().filter(|r| r.status == 200) {
            let text = r.text();
            if text.contains("[[garbage]]") && unreadable.insert(text.clone()) {
                continue; // its first answer is not JSON and is asked again
            }
            if r.at + Duration::from_millis(500) < killed {
                settled.entry(text).or_insert(killed);
            }
        }
    }

    let resumed = cyborg(&args);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let by_id = labels(dir.path());
    for (i, text) in texts.iter().enumerate() {
        let record = &by_id[&format!("p{i}")];
        if text.contains("[[refuse]]") {
            assert_eq!((&record[4], &record[2]), ("failed", ""), "{text}");
        } else {
            assert_eq!(&record[4], "teacher");
            assert_eq!(record[2].parse::<i64>().unwrap(), double_score(text));
        }
    }
    let mut answers: HashMap<String, usize> = HashMap::new();
    for r in double.received().iter().filter(|r| r.status == 200) {
        *answers.entry(r.text()).or_default() += 1;
    }
    let asked_again: usize = texts.iter().map(|t| answers[t] - 1).sum();
    assert!(
        asked_again <= 2 * kills,
        "{asked_again} answers were asked for again over {kills} kills"
    );
    for r in double.received() {
        if let Some(&killed) = settled.get(&r.text()) {
            assert!(
                r.at < killed,
                "asked again after its answer reached the cache: {}",
                r.text()
            );
        }
    }
}

#[test]
fn llm_faults_are_explained_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool_file(dir.path(), &[essay(2, 300), essay(3, 301)]);
    let out = dir.path().join("labels.csv");
    let fails_with = |args: Vec<String>, wanted: &str| {
        let output = cyborg(&args);
        assert!(!output.status.success());
        let message = stderr(&output);
        assert!(message.contains(wanted), "wanted {wanted:?} in: {message}");
        assert!(!out.exists());
    };

    let broke = ChatDouble::start(Behaviour {
        no_quota: true,
        ..Behaviour::default()
    });
    fails_with(
        teach_args(dir.path(), &broke.base_url, &pool, &[]),
        "insufficient_quota",
    );
    assert_eq!(broke.received().len(), 1, "no retries on an empty quota");

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", listener.local_addr().unwrap())
    };
    fails_with(
        teach_args(dir.path(), &closed, &pool, &["--retries", "1"]),
        "cannot reach",
    );

    let double = ChatDouble::start(Behaviour::default());
    fails_with(
        teach_args(
            dir.path(),
            &double.base_url,
            &pool,
            &["--rubric", "no-such-rubric.txt"],
        ),
        "cannot read the rubric no-such-rubric.txt",
    );
    let mut no_model = teach_args(dir.path(), &double.base_url, &pool, &[]);
    let at = no_model.iter().position(|a| a == "--llm-model").unwrap();
    no_model.drain(at..at + 2);
    fails_with(
        no_model,
        "--teacher llm needs --base-url URL and --llm-model NAME",
    );
}

#[test]
fn generated_responses_are_filtered_deduplicated_and_carry_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let double = ChatDouble::start(Behaviour::default());
    let out = dir.path().join("augmented.csv");
    let args: Vec<String> = [
        "teach",
        "generate",
        human_file(dir.path()).to_str().unwrap(),
        "--text",
        "text",
        "--score",
        "score",
        "--id",
        "id",
        "--per-level",
        "3",
        "--filter",
        "consistent",
        "--base-url",
        &double.base_url,
        "--llm-model",
        "writer-model",
        "--llm-cache",
        dir.path().join("answers").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let run = cyborg(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();

    // Writing requests: the default temperature 0.3, a distinct seed per sample; the
    // consistency filter re-scores greedily.
    let received = double.received();
    let writes: Vec<_> = received
        .iter()
        .filter(|r| support::chat_double::is_generation(&r.body))
        .collect();
    assert_eq!(writes.len(), 18);
    assert!(writes.iter().all(|r| r.body["temperature"] == 0.3));
    let seeds: std::collections::HashSet<String> =
        writes.iter().map(|r| r.body["seed"].to_string()).collect();
    assert_eq!(seeds.len(), 3, "seeds differ by sample number");
    let rescoring: Vec<_> = received
        .iter()
        .filter(|r| !support::chat_double::is_generation(&r.body))
        .collect();
    assert!(rescoring.iter().all(|r| r.body["temperature"] == 0.0));

    let mut reader = csv::Reader::from_path(&out).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        records.len(),
        30 + 18,
        "every human row and every requested sample"
    );
    let synthetic: Vec<_> = records.iter().filter(|r| &r[4] == "synthetic").collect();
    let dropped: Vec<_> = records.iter().filter(|r| &r[4] == "dropped").collect();
    // Per level: sample 1 kept, sample 2 a copy of it, sample 3 scored one level up (kept
    // only at level 6, where the double's score is capped).
    assert_eq!(synthetic.len(), 7);
    assert_eq!(dropped.len(), 11);
    assert_eq!(
        dropped
            .iter()
            .filter(|r| r[7].contains("near-duplicate of synthetic-"))
            .count(),
        6
    );
    assert_eq!(
        dropped
            .iter()
            .filter(|r| r[7].contains("inconsistent"))
            .count(),
        5
    );
    for r in &synthetic {
        let level: i64 = r[2].parse().unwrap();
        assert_eq!(double_score(&r[1]), level, "kept samples score as written");
        assert!(r[5].contains("writer-model") && r[5].contains("temperature 0.3"));
        assert_eq!(&r[6], "0.700", "the filter's confidence");
    }
    assert_eq!(summary["kept"], 7);
}

#[test]
fn an_experiment_grid_with_pool_and_synthetic_arms_resumes_from_its_cells() {
    let Some(base) = support::base_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let double = ChatDouble::start(Behaviour::default());
    let data = support::demo_rows(dir.path(), "train.csv", 100);
    let out = dir.path().join("experiment");
    let args: Vec<String> = [
        "experiment",
        data.to_str().unwrap(),
        "--text",
        "full_text",
        "--score",
        "score",
        "--id",
        "essay_id",
        "--range",
        "1:6",
        "--fractions",
        "0.5,1",
        "--arms",
        "none,pool,synthetic:0.5",
        "--tune",
        "head",
        "--teacher-members",
        "1",
        "--bootstrap",
        "200",
        "--base",
        base.to_str().unwrap(),
        "--cache",
        dir.path().join("cache").to_str().unwrap(),
        "--base-url",
        &double.base_url,
        "--llm-model",
        "writer",
        "--out-dir",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    // A mistyped data file fails before any cell, and leaves no settings to refuse the next.
    let mut mistyped = args.clone();
    mistyped[1] = dir.path().join("no-such.csv").to_str().unwrap().into();
    assert!(!cyborg(&mistyped).status.success());
    let first = cyborg(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    let printed = String::from_utf8_lossy(&first.stdout).into_owned();
    // No pool is left to label at 100% human, so 5 cells, not 6.
    assert!(
        printed.contains("5 cells: 5 trained now, 0 reused"),
        "{printed}"
    );
    assert!(
        printed.contains("| 50% | teacher pool labels | 1 |"),
        "{printed}"
    );

    let mut reader = csv::Reader::from_path(out.join("results.csv")).unwrap();
    let cells: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(cells.len(), 5);
    let extra = |arm: &str, fraction: &str| -> usize {
        let c = cells
            .iter()
            .find(|c| &c[1] == arm && &c[0] == fraction)
            .unwrap();
        c[5].parse().unwrap()
    };
    let human_at_half: usize = cells.iter().find(|c| &c[0] == "0.5").unwrap()[4]
        .parse()
        .unwrap();
    assert_eq!(extra("none", "0.5"), 0);
    assert!(
        extra("pool", "0.5") >= human_at_half - 1,
        "the other half is the pool"
    );
    // 50% synthetic: as many responses asked for as there are human ones (then as many
    // again at 100%); the double's copies of each level's first sample are dropped.
    let asked_at_half = double
        .received()
        .iter()
        .filter(|r| support::chat_double::is_generation(&r.body))
        .filter(|r| r.body["seed"].as_u64().is_some())
        .count();
    let all_human: usize = cells.iter().find(|c| &c[0] == "1").unwrap()[4]
        .parse()
        .unwrap();
    assert_eq!(asked_at_half, human_at_half + all_human);
    let kept = extra("synthetic:0.5", "0.5");
    assert!(
        kept > 0 && kept < human_at_half,
        "{kept} kept of {human_at_half}"
    );

    let svg = std::fs::read_to_string(out.join("learning-curve.svg")).unwrap();
    assert_eq!(svg.matches("<g data-arm=").count(), 3);
    assert_eq!(svg.matches("<polyline").count(), 3);

    // Resuming: nothing is recomputed, even with requests sent otherwise; a lost cell is
    // recomputed alone; a setting that changes results is refused before anything runs.
    let with =
        |extra: &[&str]| [args.clone(), extra.iter().map(|a| a.to_string()).collect()].concat();
    let again = cyborg(&with(&["--concurrency", "1", "--retries", "2"]));
    assert!(String::from_utf8_lossy(&again.stdout).contains("5 cells: 0 trained now, 5 reused"));
    std::fs::remove_file(out.join("cells/h0.5_none_s1.json")).unwrap();
    let third = cyborg(&args);
    assert!(String::from_utf8_lossy(&third.stdout).contains("5 cells: 1 trained now, 4 reused"));
    let other = cyborg(&with(&["--head-lr", "0.001"]));
    assert!(!other.status.success());
    let said = stderr(&other);
    assert!(
        said.contains(
            "cells holds cells run with other settings (head_lr: 0.0005 then, head_lr: 0.001 now)"
        ),
        "{said}"
    );
    assert_eq!(std::fs::read_dir(out.join("cells")).unwrap().count(), 6);
}

#[test]
fn a_batch_api_round_trip_joins_answers_on_custom_id() {
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..5)
        .map(|n| format!("Pool {}", essay(n % 6 + 1, n as usize)))
        .collect();
    let pool = pool_file(dir.path(), &texts);
    let batch = dir.path().join("batch.jsonl");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", listener.local_addr().unwrap())
    };
    // Writing the batch sends nothing: the endpoint is not even listening.
    let written = cyborg(&teach_args(
        dir.path(),
        &closed,
        &pool,
        &["--batch-write", batch.to_str().unwrap()],
    ));
    assert!(written.status.success(), "{}", stderr(&written));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&batch)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6 + 5, "development and pool rows");
    for line in &lines {
        let id = line["custom_id"].as_str().unwrap();
        assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(line["method"], "POST");
        assert_eq!(line["url"], "/v1/chat/completions");
        assert_eq!(line["body"]["response_format"]["type"], "json_schema");
    }

    // The provider's output, in its order (not ours), one of them failed.
    let mut output = String::new();
    for (i, line) in lines.iter().enumerate().rev() {
        let body = &line["body"];
        let text = body["messages"].as_array().unwrap().last().unwrap()["content"]
            .as_str()
            .unwrap()
            .trim_start_matches("Response to score:\n\n")
            .to_string();
        let response = if i == 8 {
            serde_json::json!({"status_code": 500, "body": {"error": {"message": "server error"}}})
        } else {
            serde_json::json!({"status_code": 200, "body": support::chat_double::completion(body, &text)})
        };
        let entry = serde_json::json!({"id": format!("batch_req_{i}"), "custom_id": line["custom_id"], "response": response});
        output.push_str(&format!("{entry}\n"));
    }
    let output_path = dir.path().join("batch-output.jsonl");
    std::fs::write(&output_path, output).unwrap();

    // Reading it back: only the failed request goes to the endpoint.
    let double = ChatDouble::start(Behaviour::default());
    let read = cyborg(&teach_args(
        dir.path(),
        &double.base_url,
        &pool,
        &["--batch-read", output_path.to_str().unwrap()],
    ));
    assert!(read.status.success(), "{}", stderr(&read));
    assert_eq!(double.received().len(), 1);
    let by_id = labels(dir.path());
    for (i, text) in texts.iter().enumerate() {
        let record = &by_id[&format!("p{i}")];
        assert_eq!(&record[4], "teacher");
        assert_eq!(record[2].parse::<i64>().unwrap(), double_score(text));
    }

    let forged = dir.path().join("forged.jsonl");
    std::fs::write(
        &forged,
        "{\"custom_id\": \"../../etc/passwd\", \"response\": {}}\n",
    )
    .unwrap();
    let refused = cyborg(&teach_args(
        dir.path(),
        &double.base_url,
        &pool,
        &["--batch-read", forged.to_str().unwrap()],
    ));
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("forged.jsonl:1: custom_id"));
}

#[test]
fn a_local_gguf_model_labels_and_writes_with_provenance() {
    let Some(gguf) = support::gguf_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..3).map(|n| essay(n as i64 * 2 + 1, 400 + n)).collect();
    let pool = pool_file(dir.path(), &texts);
    let mut args = teach_args(
        dir.path(),
        "unused",
        &pool,
        &["--gguf", gguf.to_str().unwrap()],
    );
    let at = args.iter().position(|a| a == "llm").unwrap();
    args[at] = "gguf".into();
    let first = cyborg(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    let summary: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert!(summary["teacher"]["dev_qwk"].is_number() || summary["teacher"]["dev_qwk"].is_null());
    let by_id = labels(dir.path());
    for i in 0..texts.len() {
        let record = &by_id[&format!("p{i}")];
        assert_eq!(&record[4], "teacher");
        assert!(record[5].starts_with("gguf: SmolLM2-135M-Instruct.Q4_1.gguf"));
        let level: i64 = record[2].parse().unwrap();
        let expected: f64 = record[3].parse().unwrap();
        let confidence: f64 = record[6].parse().unwrap();
        assert!((1..=6).contains(&level));
        assert!((1.0..=6.0).contains(&expected));
        assert!(confidence > 0.0 && confidence <= 1.0);
    }
    // Greedy and seeded: the same labels again.
    let labels_before = std::fs::read(dir.path().join("labels.csv")).unwrap();
    let second = cyborg(&args);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        std::fs::read(dir.path().join("labels.csv")).unwrap(),
        labels_before
    );

    let out = dir.path().join("written.csv");
    let generate: Vec<String> = [
        "teach",
        "generate",
        human_file(dir.path()).to_str().unwrap(),
        "--text",
        "text",
        "--score",
        "score",
        "--id",
        "id",
        "--per-level",
        "1",
        "--gguf",
        gguf.to_str().unwrap(),
        "--max-tokens",
        "40",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let written = cyborg(&generate);
    assert!(written.status.success(), "{}", stderr(&written));
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let samples: Vec<csv::StringRecord> = reader
        .records()
        .map(Result::unwrap)
        .filter(|r| r[0].starts_with("synthetic-"))
        .collect();
    assert_eq!(samples.len(), 6, "one per level");
    for s in &samples {
        assert!(["synthetic", "dropped"].contains(&&s[4]));
        assert!(s[5].contains("gguf: SmolLM2") && s[5].contains("temperature 0.3"));
        if &s[4] == "synthetic" {
            assert!(!s[1].trim().is_empty());
        }
    }
}
