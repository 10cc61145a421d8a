//! Bad input, one table: malformed data files, damaged or hand-edited bundles, and arguments
//! that must be refused. Each case must fail with a non-zero exit, say what was wrong and where
//! (file:line:column, or the flag), never panic, and leave every file as it was.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use cyborg_scorer::bundle::Sections;
use support::{base_model, cyborg, cyborg_command, demo_rows, stderr};

/// One bad input: the `cyborg` arguments (`{d}` is the test folder) and the start of the error
/// line it must print after `error: ` (`{d}/` is left out of paths for brevity: the expected
/// text is matched after removing it).
struct Case {
    args: &'static str,
    error: &'static str,
}

const fn case(args: &'static str, error: &'static str) -> Case {
    Case { args, error }
}

/// Data files: each `data check`ed as `--text text --score score --id id`.
const DATA_FILES: &[(&str, &[u8], &str)] = &[
    (
        "no-text.csv",
        b"id,answer,score\n1,a,2\n",
        "no-text.csv:1: no text column \"text\"; the columns are: id, answer, score",
    ),
    (
        "no-score.csv",
        b"id,text,grade\n1,a,2\n",
        "no-score.csv:1: no score column \"score\"",
    ),
    (
        "case.csv",
        b"id,Text,score\n1,a,2\n",
        "case.csv:1: no text column \"text\" (did you mean \"Text\"?)",
    ),
    (
        "empty-text.csv",
        b"id,text,score\n1,fine,2\n2,  ,3\n",
        "empty-text.csv:3:2: column \"text\": the response is empty",
    ),
    (
        "off-range.csv",
        b"id,text,score\n1,fine,2\n2,also,9\n",
        "off-range.csv:3:3: column \"score\": score 9 is outside the declared range 1-6",
    ),
    (
        "word-score.csv",
        b"id,text,score\n1,fine,two\n",
        "word-score.csv:2:3: column \"score\": \"two\" is not a number",
    ),
    (
        "half-score.csv",
        b"id,text,score\n1,fine,2.5\n",
        "half-score.csv:2:3: column \"score\": \"2.5\" is not a whole number",
    ),
    (
        "nan-score.csv",
        b"id,text,score\n1,fine,NaN\n",
        "nan-score.csv:2:3: column \"score\": \"NaN\" is not a finite number",
    ),
    (
        "dup-id.csv",
        b"id,text,score\n1,a,2\n2,b,3\n1,c,4\n",
        "dup-id.csv:4:1: duplicate id \"1\" (first seen on line 2)",
    ),
    (
        "empty-id.csv",
        b"id,text,score\n,a,2\n",
        "empty-id.csv:2:1: column \"id\": the id is empty",
    ),
    (
        "latin1.csv",
        b"id,text,score\n1,caf\xe9,2\n",
        "latin1.csv:2:2: column \"text\": not UTF-8: invalid byte 0xE9",
    ),
    (
        "latin1-header.csv",
        b"id,t\xe9xt,score\n1,a,2\n",
        "latin1-header.csv:1:2: header: not UTF-8",
    ),
    (
        "bom-ragged.csv",
        b"\xef\xbb\xbfid,text,score\n1,a,2\n2,b\n",
        "bom-ragged.csv:3:3: this row has 2 fields but the header has 3",
    ),
    (
        "crlf-ragged.csv",
        b"id,text,score\r\n1,a,2\r\n2,b\r\n3,c,4\r\n",
        "crlf-ragged.csv:3:3: this row has 2 fields but the header has 3",
    ),
    (
        "long-row.csv",
        b"id,text,score\n1,a,2,extra\n",
        "long-row.csv:2:4: this row has 4 fields but the header has 3",
    ),
    (
        "open-quote.csv",
        b"id,text,score\n1,a,2\n2,\"never closed,3\n3,c,4\n",
        "open-quote.csv:3:2: a quote opened here is never closed",
    ),
    (
        "joined.csv",
        b"id,text,score\n1,\"abc,3\n2,def\",4\n3,ghi,2\n",
        "joined.csv:2:2: a quote opened here joins lines 2 to 3 into one field",
    ),
    (
        "joined.tsv",
        b"id\ttext\tscore\n1\t\"a\t2\n2\tb\t3\n3\tc\"\t1\n",
        "joined.tsv:2:2: a quote opened here joins lines 2 to 4",
    ),
    (
        "twice.csv",
        b"id,score,text,score\n1,2,a,3\n",
        "twice.csv:1:4: header: column \"score\" appears twice (columns 2 and 4)",
    ),
    ("empty.csv", b"", "empty.csv: the file is empty"),
    ("blank.csv", b"\n \n", "blank.csv: the file is empty"),
    (
        "header-only.csv",
        b"id,text,score\n",
        "header-only.csv: the file has a header but no rows",
    ),
    (
        "no-key.jsonl",
        b"{\"id\":1,\"text\":\"a\",\"score\":2}\n{\"id\":2,\"score\":3}\n",
        "no-key.jsonl:2: column \"text\": missing from this object",
    ),
    (
        "bad.jsonl",
        b"{\"id\":1,\"text\":\"a\",\"score\":2}\n{\"id\":2,\"text\" \"b\"}\n",
        "bad.jsonl:2:16: not a JSON object",
    ),
    (
        "array.jsonl",
        b"{\"id\":1,\"text\":[\"a\"],\"score\":2}\n",
        "array.jsonl:1: column \"text\": \"text\" holds an array",
    ),
    (
        "not-object.jsonl",
        b"[1,2]\n",
        "not-object.jsonl:1:1: not a JSON object",
    ),
];

/// Arguments, bundles and outputs. `{d}/good.csv` is 80 demo essays, `{d}/model.cyborg` a
/// student trained on them; the damaged bundles are made from it.
const CASES: &[Case] = &[
    case("data check {d}/missing.csv --text text", "{d}/missing.csv: cannot be read: No such file"),
    case("data check {d} --text text", "{d}: cannot be read"),
    case("data check {d}/good.csv --text full_text --score full_text", "{d}/good.csv:1: \"full_text\" is named as the text column and as a score"),
    case("data check {d}/good.csv --text full_text --where essay_id=nope", "{d}/good.csv: none of its 80 rows passes the filters (essay_id=nope)"),
    case("data check {d}/good.csv --text full_text --id essay_id --ids {d}/empty-ids.txt", "{d}/empty-ids.txt: the id list is empty"),
    case("train {d}/good.csv --text full_text --score score --out {d}/good.csv", "refusing to write {d}/good.csv: it is the input {d}/good.csv"),
    case("train {d}/good.csv --text full_text --score score --out {d}/./good.csv", "refusing to write {d}/./good.csv: it is the input {d}/good.csv"),
    case("train {d}/good.csv --text full_text --score score --out {d}/model.cyborg --labels-out {d}/model.cyborg --teacher local", "{d}/model.cyborg and {d}/model.cyborg are the same file"),
    case("train {d}/good.csv --text full_text --score score --out {d}", "cannot write {d}: it is a folder; give a file name"),
    case("train {d}/good.csv --text full_text --score score --out {d}/no/such/m.cyborg", "cannot write {d}/no/such/m.cyborg (does its folder exist?)"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --lr NaN", "--lr must be a finite number, zero or more, not NaN"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --head-lr inf", "--head-lr must be a finite number, zero or more, not inf"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --weight-decay=-1", "--weight-decay must be a finite number, zero or more, not -1"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --warmup 1.5", "--warmup must be a share of the steps from 0 to 1, not 1.5"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --warmup NaN", "--warmup must be a share of the steps from 0 to 1, not NaN"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --cut-points median", "\"median\" is not qwk, shares or pooled"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --batch-size 0", "--batch-size must be at least 1, not 0"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --max-windows 0", "--max-windows must be at least 1, not 0"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --teacher-members 0 --human-fraction 0.5", "--teacher-members must be at least 1, not 0"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --teacher-base {d}/no-encoder --human-fraction 0.5", "--teacher-base {d}/no-encoder is not a folder; give an encoder folder"),
    case("serve --addr 127.0.0.1:0 --data-dir {d}/serve-data --teacher-base {d}/no-encoder", "--teacher-base {d}/no-encoder is not a folder; give an encoder folder"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --teacher-weight NaN --human-fraction 0.5", "--teacher-weight must be a finite number, zero or more, not NaN"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --tune top:1 --lr 1e30 --head-lr 1e30", "training diverged: the loss became NaN at step 2 of epoch 1/3"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --dev-fraction 1.5", "--dev-fraction must be between 0 and 1 (exclusive), not 1.5"),
    case("train {d}/good.csv --text full_text --score score --out {d}/new.cyborg --train-ids {d}/empty-ids.txt", "the following required arguments were not provided:\n  --dev-ids <FILE>"),
    case("score {d}/model.cyborg {d}/good.csv --text full_text --out {d}/good.csv", "refusing to write {d}/good.csv: it is the input {d}/good.csv"),
    case("score {d}/model.cyborg {d}/good.csv --text full_text --out {d}/model-link.cyborg", "refusing to write {d}/model-link.cyborg: it is the input {d}/model.cyborg"),
    case("eval {d}/model.cyborg {d}/good.csv --text full_text --score score --report {d}/good.csv", "refusing to write {d}/good.csv: it is the input {d}/good.csv"),
    case("eval {d}/model.cyborg {d}/good.csv --text full_text --score score --report {d}/r.html --summary {d}/r.html", "{d}/r.html and {d}/r.html are the same file"),
    case("teach label {d}/good.csv --text full_text --score score --pool {d}/pool.csv --out {d}/pool.csv", "refusing to write {d}/pool.csv: it is the input {d}/pool.csv"),
    case("teach label {d}/good.csv --text full_text --score score --teacher llm --batch-write {d}/b.jsonl --batch-read {d}/b.jsonl --out {d}/l.csv", "the argument '--batch-write <FILE>' cannot be used with '--batch-read <FILE>'"),
    case("score {d}/missing.cyborg {d}/good.csv --text full_text", "cannot read the model {d}/missing.cyborg: No such file"),
    case("score {d}/good.csv {d}/good.csv --text full_text", "{d}/good.csv: not a Cyborg bundle"),
    case("info {d}/truncated.cyborg", "{d}/truncated.cyborg: the bundle is truncated"),
    case("info {d}/corrupt.cyborg", "{d}/corrupt.cyborg: the bundle's checksum does not match its contents"),
    case("info {d}/future.cyborg", "{d}/future.cyborg: bundle format version 9"),
    case("info {d}/huge.cyborg", "{d}/huge.cyborg: the bundle is truncated"),
    case("info {d}/descending.cyborg", "{d}/descending.cyborg: trait \"score\": its cut points are not finite and ascending"),
    case("info {d}/backwards.cyborg", "{d}/backwards.cyborg: trait \"score\": its range 6:1 does not rise"),
    case("info {d}/few-cuts.cyborg", "{d}/few-cuts.cyborg: trait \"score\": 2 cut points for the 5 levels of 1-5 (it needs 4)"),
    case("info {d}/no-windows.cyborg", "{d}/no-windows.cyborg: max_windows is 0"),
    case("info {d}/wide.cyborg", "{d}/wide.cyborg: tensor \"encoder.layer.0.intermediate.dense.weight\" has shape [1536, 384] but config.json implies [1000, 384]"),
    case("info {d}/bad-range.cyborg", "{d}/bad-range.cyborg: its feature range needs 5 finite minimums"),
];

/// Every entry of `dir` with its size, modification time and inode: a write in place or a
/// replacement by rename changes one of them.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, std::time::SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        files.insert(name, (meta.len(), meta.modified().unwrap(), meta.ino()));
    }
    files
}

/// Rewrites `model`'s config.json with `edit` and seals it again with a valid checksum, as a
/// person editing a bundle by hand would.
fn hand_edited(model: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut sections = Sections::from_bytes(model, "model").unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(sections.get("config.json", "model").unwrap()).unwrap();
    edit(&mut config);
    sections.insert("config.json", serde_json::to_vec(&config).unwrap());
    sections.to_bytes()
}

/// The damaged and hand-edited bundles the cases read.
fn write_bad_bundles(dir: &Path, model: &[u8]) {
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    write("truncated.cyborg", &model[..model.len() / 3]);
    let mut corrupt = model.to_vec();
    corrupt[model.len() / 2] ^= 0x55;
    write("corrupt.cyborg", &corrupt);
    let mut future = model.to_vec();
    future[8] = 9;
    write("future.cyborg", &future);
    let mut huge = model.to_vec();
    huge[12..20].copy_from_slice(&(2u64 << 30).to_le_bytes());
    write("huge.cyborg", &huge);
    write(
        "descending.cyborg",
        &hand_edited(model, |c| {
            let cuts = &mut c["traits"][0]["scale"]["levels"]["cuts"];
            let reversed: Vec<_> = cuts.as_array().unwrap().iter().rev().cloned().collect();
            *cuts = reversed.into();
        }),
    );
    write(
        "backwards.cyborg",
        &hand_edited(model, |c| {
            c["traits"][0]["scale"]["levels"]["range"] = serde_json::json!({"min": 6, "max": 1});
        }),
    );
    write(
        "few-cuts.cyborg",
        &hand_edited(model, |c| {
            c["traits"][0]["scale"]["levels"]["cuts"] = serde_json::json!([1.5, 2.5]);
        }),
    );
    write(
        "no-windows.cyborg",
        &hand_edited(model, |c| c["windows"]["max_windows"] = 0.into()),
    );
    // The weights no longer fit the architecture the config describes.
    write(
        "wide.cyborg",
        &hand_edited(model, |c| c["encoder"]["intermediate_size"] = 1000.into()),
    );
    write(
        "bad-range.cyborg",
        &hand_edited(model, |c| {
            c["head"]["feature_range"]["min"][0] = 99.0.into();
        }),
    );
}

/// Trains a student on `data`'s demo columns with `tune` (and `extra` flags) into `out`, with
/// a cache of its own.
fn train_student(data: &Path, out: &Path, tune: &str, extra: &[&str]) {
    let cache = tempfile::tempdir().unwrap();
    let mut args = train_args(data, out, tune, cache.path());
    args.extend(extra.iter().map(|a| a.to_string()));
    let trained = cyborg(&args);
    assert!(trained.status.success(), "{}", stderr(&trained));
}

/// `cyborg train` of the demo columns in `data`, quietly, with its cache in `cache`.
fn train_args(data: &Path, out: &Path, tune: &str, cache: &Path) -> Vec<String> {
    let paths = [data, cache, out].map(|p| p.to_str().unwrap().to_string());
    let [data, cache, out] = paths;
    [
        "train",
        &data,
        "--text",
        "full_text",
        "--score",
        "score",
        "--tune",
        tune,
        "--quiet",
        "--cache",
        &cache,
        "--out",
        &out,
    ]
    .map(String::from)
    .to_vec()
}

/// A student with a trained head only (seconds), next to `data`.
fn train_head_only(data: &Path) -> std::path::PathBuf {
    let model = data.with_file_name("model.cyborg");
    train_student(data, &model, "head", &[]);
    model
}

/// Length cannot buy a score: a run of one letter, a long URL appended to a weak essay and a
/// million characters get scores inside the range, from features clamped to the training
/// range. They and the essay pasted three times, its words sorted, another language and
/// another topic are flagged for a person, each for what it is; the essay itself is not.
#[test]
fn responses_that_game_the_score_are_clamped_and_flagged() {
    let Some(_) = base_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = demo_rows(dir.path(), "train.csv", 80);
    let model = train_head_only(&data);
    let essays: Vec<csv::StringRecord> = csv::Reader::from_path(&data)
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect();
    let weak = essays
        .iter()
        .find(|r| &r[2] == "2")
        .expect("an essay scored 2");
    let mut writer = csv::Writer::from_path(dir.path().join("gamed.csv")).unwrap();
    writer.write_record(["id", "text"]).unwrap();
    let url = format!("{} https://example.org/{}", &weak[1], "a".repeat(3000));
    let mut scrambled: Vec<&str> = weak[1].split_whitespace().collect();
    scrambled.sort_unstable();
    let spanish = "Los coches son muy importantes para la vida de las personas en la ciudad, \
        pero también contaminan el aire y hacen mucho ruido. Por eso creo que debemos usar \
        más el autobús, la bicicleta y el tren, y caminar cuando sea posible.";
    // Chinese is written without spaces, so each character counts as a word.
    let chinese = "汽车对城市里的人们的生活非常重要，但是它们也污染空气，制造很多噪音。\
        所以我认为我们应该多坐公共汽车、骑自行车和坐火车，能走路的时候就走路。";
    let recipe = "Preheat the oven to two hundred degrees. Whisk the eggs with sugar and melted \
        butter, fold in the flour and a pinch of salt, pour the batter into a greased tin and \
        bake for forty minutes until a skewer comes out clean. Let the cake cool on a rack.";
    // Each gamed response and one advisory it must get.
    let cases = [
        ("essay", weak[1].to_string(), ""),
        ("letters", "a".repeat(200), "too_short"),
        ("url", url, "unusual_words"),
        ("million", "a".repeat(1_000_000), "unusual_words"),
        ("pasted", [&weak[1]; 3].join("\n\n"), "repetition"),
        ("sorted", scrambled.join(" "), "word_salad"),
        ("spanish", spanish.to_string(), "other_language"),
        ("chinese", chinese.to_string(), "other_language"),
        ("recipe", recipe.to_string(), "off_topic"),
    ];
    for (id, text, _) in &cases {
        writer.write_record([id, text.as_str()]).unwrap();
    }
    writer.flush().unwrap();
    let scored = cyborg(&[
        "score",
        model.to_str().unwrap(),
        dir.path().join("gamed.csv").to_str().unwrap(),
        "--text",
        "text",
        "--id",
        "id",
    ]);
    assert!(scored.status.success(), "{}", stderr(&scored));
    let out = support::stdout(&scored);
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["id", "score", "raw_score", "advisories"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    for (row, (id, _, advisory)) in rows.iter().zip(&cases) {
        let raw: f64 = row[2].parse().unwrap();
        assert!((0.0..=7.0).contains(&raw), "{out}");
        let flags: Vec<&str> = row[3].split(';').filter(|a| !a.is_empty()).collect();
        match *advisory {
            "" => assert!(flags.is_empty(), "{id} is flagged: {out}"),
            expected => assert!(flags.contains(&expected), "{id} is not {expected}: {out}"),
        }
    }
    let level = |i: usize| rows[i][1].parse::<i64>().unwrap();
    assert!(
        level(2) <= level(0) + 1,
        "the URL raised the essay's score: {out}"
    );
}

#[test]
fn every_bad_input_is_refused_located_and_changes_nothing() {
    let Some(_) = base_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = demo_rows(d, "train.csv", 80);
    std::fs::rename(&good, d.join("good.csv")).unwrap();
    let pool = demo_rows(d, "sample.csv", 10);
    std::fs::rename(&pool, d.join("pool.csv")).unwrap();
    std::fs::write(d.join("empty-ids.txt"), "\n").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let model = train_head_only(&d.join("good.csv"));
    std::fs::hard_link(&model, d.join("model-link.cyborg")).unwrap();
    write_bad_bundles(d, &std::fs::read(&model).unwrap());
    for (name, content, _) in DATA_FILES {
        std::fs::write(d.join(name), content).unwrap();
    }

    let big_error = write_big_file(&d.join("big.csv"));

    let folder = d.to_str().unwrap();
    let mut cases: Vec<(Vec<String>, String)> = DATA_FILES
        .iter()
        .map(|(name, _, error)| {
            let args =
                format!("data check {folder}/{name} --text text --score score --id id --range 1:6");
            (
                args.split(' ').map(String::from).collect(),
                format!("{folder}/{error}"),
            )
        })
        .collect();
    cases.extend(CASES.iter().map(|c| {
        let args = c.args.replace("{d}", folder);
        (
            args.split(' ').map(String::from).collect(),
            c.error.replace("{d}", folder),
        )
    }));
    let args = format!("data check {folder}/big.csv --text text --score score --id id");
    cases.push((
        args.split(' ').map(String::from).collect(),
        format!("{folder}/{big_error}"),
    ));
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let before = snapshot(d);
    let mut failures = Vec::new();
    for (args, expected) in &cases {
        let output = cyborg_command()
            .args(args)
            .env("CYBORG_CACHE", cache.path())
            .output()
            .unwrap();
        let said = stderr(&output);
        let refused = matches!(output.status.code(), Some(1 | 2));
        let located = said.contains(expected.as_str());
        let changed = snapshot(d) != before;
        if !refused || !located || said.contains("panicked") || changed {
            failures.push(format!(
                "cyborg {}\n  exit {:?}, files changed: {changed}\n  expected: {expected}\n  said: {}",
                args.join(" "),
                output.status.code(),
                said.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Writes a 200 MB data file whose last row has a score that is not a number; returns the error
/// that must locate it.
fn write_big_file(path: &Path) -> String {
    use std::io::Write;
    let text = "word ".repeat(200);
    let rows = 210_000;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(file, "id,text,score").unwrap();
    for id in 0..rows {
        writeln!(file, "{id},{text},3").unwrap();
    }
    writeln!(file, "{rows},{text},x").unwrap();
    file.flush().unwrap();
    assert!(std::fs::metadata(path).unwrap().len() > 200 << 20);
    format!(
        "big.csv:{}:3: column \"score\": \"x\" is not a number",
        rows + 2
    )
}

/// `cyborg … | head -1`: a reader that closes the pipe ends the command quietly, not with a
/// panic about a broken pipe.
#[test]
#[cfg(unix)]
fn a_closed_pipe_ends_a_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let data = demo_rows(dir.path(), "train.csv", 300);
    let mut child = cyborg_command()
        .args([
            "data",
            "check",
            data.to_str().unwrap(),
            "--text",
            "full_text",
            "--score",
            "score",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let said = stderr(&output);
    assert!(
        !said.contains("panicked") && !said.contains("Broken pipe"),
        "{said}"
    );
    assert!(
        output.status.success() || output.status.signal() == Some(13),
        "{:?}",
        output.status
    );
}

/// The same data, seed and settings give the same bundle (all but the card's creation time and
/// training seconds) and the same training losses, trained with two threads or one; scoring
/// with one thread or two gives the same bytes.
#[test]
fn training_repeats_exactly_and_threads_do_not_change_scores() {
    let Some(_) = base_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = demo_rows(dir.path(), "train.csv", 80);
    let train = |name: &str, threads: &str| {
        let out = dir.path().join(name);
        let cache = tempfile::tempdir().unwrap();
        let trained = cyborg_command()
            .args(train_args(&data, &out, "top:1", cache.path()))
            .args(["--epochs", "1", "--json"])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(trained.status.success(), "{}", stderr(&trained));
        // The epochs' losses and development QWK: the fine-tuned weights' arithmetic, even
        // where early stopping keeps the probe.
        let summary: serde_json::Value = serde_json::from_str(&support::stdout(&trained)).unwrap();
        let mut history = summary["history"].clone();
        for epoch in history.as_array_mut().unwrap() {
            epoch["seconds"] = serde_json::Value::Null;
        }
        let sections = Sections::from_bytes(&std::fs::read(&out).unwrap(), name).unwrap();
        let mut card: serde_json::Value =
            serde_json::from_slice(sections.get("card.json", name).unwrap()).unwrap();
        card["created"] = serde_json::Value::Null;
        card["training"]["wall_seconds"] = serde_json::Value::Null;
        let names: Vec<String> = sections.names().map(String::from).collect();
        let rest: Vec<Vec<u8>> = names
            .iter()
            .filter(|n| n.as_str() != "card.json")
            .map(|n| sections.get(n, name).unwrap().to_vec())
            .collect();
        (out, card, rest, history)
    };
    let (model, first_card, first, first_history) = train("first.cyborg", "2");
    let (_, second_card, second, second_history) = train("second.cyborg", "1");
    assert_eq!(first_card, second_card);
    assert_eq!(first_history, second_history);
    assert!(first_history[0]["train_loss"].as_f64().unwrap() > 0.0);
    assert!(
        first == second,
        "the weights, tokenizer or configuration differ"
    );
    let score = |threads: &str| {
        cyborg_command()
            .args(["score", model.to_str().unwrap(), data.to_str().unwrap()])
            .args(["--text", "full_text", "--id", "essay_id"])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap()
    };
    let (one, two) = (score("1"), score("2"));
    assert!(one.status.success(), "{}", stderr(&one));
    assert_eq!(support::stdout(&one), support::stdout(&two));
}

/// kill -9 of `cyborg train` at eight points spread over a run, from reading the data to
/// writing the bundle: the output name never holds anything but a whole bundle, and the next
/// run's write removes what a killed one left beside it.
#[test]
fn a_killed_train_leaves_no_partial_bundle() {
    let Some(_) = base_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = demo_rows(dir.path(), "train.csv", 80);
    let out = dir.path().join("model.cyborg");
    let args = train_args(&data, &out, "head", &dir.path().join("cache"));
    let whole_run = || {
        let started = std::time::Instant::now();
        let trained = cyborg(&args);
        assert!(trained.status.success(), "{}", stderr(&trained));
        started.elapsed()
    };
    whole_run(); // fills the cache, so that the timed run is what the killed ones repeat
    let duration = whole_run();
    std::fs::remove_file(&out).unwrap();
    let kill_points = 8;
    for point in 0..kill_points {
        let mut child = cyborg_command().args(&args).spawn().unwrap();
        std::thread::sleep(duration.mul_f64((point as f64 + 0.5) / kill_points as f64));
        child.kill().unwrap();
        child.wait().unwrap();
        if out.exists() {
            let info = cyborg(&["info", out.to_str().unwrap()]);
            assert!(
                info.status.success(),
                "killed at point {point}, the output is not a whole bundle: {}",
                stderr(&info)
            );
            std::fs::remove_file(&out).unwrap();
        }
    }
    whole_run();
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".model.cyborg."))
        .collect();
    assert!(
        left.is_empty(),
        "killed runs' temporary files remain: {left:?}"
    );
}
