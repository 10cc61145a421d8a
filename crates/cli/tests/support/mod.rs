//! Helpers shared by the integration tests; each test file uses some of them.
#![allow(dead_code)]

pub mod chat_double;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `cyborg` binary under test, ready for arguments; LLM tests read their key from
/// `CYBORG_TEST_KEY` (`--api-key-env CYBORG_TEST_KEY`).
pub fn cyborg_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cyborg"));
    command.env("CYBORG_TEST_KEY", "sk-test");
    command
}

/// Runs `cyborg` with `args` to the end.
pub fn cyborg<S: AsRef<OsStr>>(args: &[S]) -> Output {
    cyborg_command().args(args).output().expect("cyborg runs")
}

/// Its standard output, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Its standard error, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The base model folder, or `None` (with the reason printed) when absent and not required.
pub fn base_model() -> Option<PathBuf> {
    let dir = repo().join("models/all-MiniLM-L6-v2");
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    if std::env::var_os("CYBORG_REQUIRE_MODEL").is_some() {
        panic!(
            "CYBORG_REQUIRE_MODEL is set but {} is missing",
            dir.display()
        );
    }
    eprintln!(
        "skipped: {} is not installed (scripts/setup.sh)",
        dir.display()
    );
    None
}

/// A second encoder folder, `dir/teacher-encoder`, whose files link to `base`'s: a teacher
/// encoder of its own for the tests, named apart from the student's.
pub fn teacher_encoder(dir: &Path, base: &Path) -> PathBuf {
    let folder = dir.join("teacher-encoder");
    std::fs::create_dir(&folder).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::os::unix::fs::symlink(base.canonicalize().unwrap().join(file), folder.join(file))
            .unwrap();
    }
    folder
}

/// The tiny GGUF chat model, or `None` (with the reason printed) when absent and not required.
pub fn gguf_model() -> Option<PathBuf> {
    let path = repo().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if path.is_file() {
        return Some(path);
    }
    if std::env::var_os("CYBORG_REQUIRE_MODEL").is_some() {
        panic!(
            "CYBORG_REQUIRE_MODEL is set but {} is missing",
            path.display()
        );
    }
    eprintln!(
        "skipped: {} is not installed (scripts/setup.sh)",
        path.display()
    );
    None
}

/// `../shared/data/<name>`, or `None` (with the reason printed) when absent and not required.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let dir = repo().join("../shared/data").join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CYBORG_REQUIRE_DATA").is_some() {
        panic!(
            "CYBORG_REQUIRE_DATA is set but {} is missing",
            dir.display()
        );
    }
    eprintln!("skipped: {} is absent", dir.display());
    None
}

/// The first `n` rows of a demo file, as a new CSV in `dir`.
pub fn demo_rows(dir: &Path, file: &str, n: usize) -> PathBuf {
    let mut reader = csv::Reader::from_path(repo().join("data/demo").join(file)).unwrap();
    let out = dir.join(format!("{n}-{file}"));
    let mut writer = csv::Writer::from_path(&out).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    for record in reader.records().take(n) {
        writer.write_record(&record.unwrap()).unwrap();
    }
    writer.flush().unwrap();
    out
}

/// Every row of a Markdown table follows another row, or starts a table over its rule (a row
/// after a paragraph would render as text), and a table ends at a blank line (text right
/// under a table's last row would render as one more row).
pub fn assert_markdown_tables_whole(markdown: &str) {
    let lines: Vec<&str> = markdown.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let follows_row = i > 0 && lines[i - 1].starts_with('|');
        let starts_table = lines
            .get(i + 1)
            .is_some_and(|next| next.starts_with("|---"));
        assert!(
            !line.starts_with('|') || follows_row || starts_table,
            "line {} is a table row cut off from its table:\n{markdown}",
            i + 1
        );
        assert!(
            line.starts_with('|') || line.is_empty() || !follows_row,
            "line {} runs on from the table above it:\n{markdown}",
            i + 1
        );
    }
}
