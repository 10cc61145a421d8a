//! `cyborg serve` end to end: the real binary on 127.0.0.1 (any free port) with a temporary
//! data folder, spoken to over HTTP.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::chat_double::{Behaviour, ChatDouble};
use support::{base_model, cyborg, cyborg_command, demo_rows, stderr};

/// A running server, killed when dropped.
struct Served {
    child: Child,
    url: String,
    token: String,
    agent: ureq::Agent,
}

impl Served {
    /// Starts `cyborg serve` on `data_dir`, serving `dist`, with `extra` flags.
    fn start(data_dir: &Path, dist: &Path, extra: &[&str]) -> Served {
        Self::start_reading(data_dir, dist, extra, true)
    }

    /// [`start`](Self::start); with `drain`, its standard output is read to the end, else
    /// only its first line is read before the pipe is closed.
    fn start_reading(data_dir: &Path, dist: &Path, extra: &[&str], drain: bool) -> Served {
        let mut child = cyborg_command()
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--dist")
            .arg(dist)
            .args(extra)
            .env(
                "CYBORG_BASE_MODEL",
                support::repo().join("models/all-MiniLM-L6-v2"),
            )
            .stdout(Stdio::piped())
            .spawn()
            .expect("cyborg serve starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        if drain {
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        }
        let url = first
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .trim_end_matches('/')
            .to_string();
        let token = std::fs::read_to_string(data_dir.join("token")).unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Served {
            child,
            url,
            token,
            agent,
        }
    }

    /// `method path` with `body`, with the token when `auth`; the status and the body as JSON
    /// (or as a JSON string when it is not JSON).
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        auth: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let bearer = auth.map(|token| format!("Bearer {token}"));
        let result = match (method, body) {
            ("POST", body) => {
                let request = self.agent.post(&url);
                let request = match &bearer {
                    Some(b) => request.header("Authorization", b),
                    None => request,
                };
                request.send(body.unwrap_or_default())
            }
            ("DELETE", _) => {
                let request = self.agent.delete(&url);
                match &bearer {
                    Some(b) => request.header("Authorization", b),
                    None => request,
                }
                .call()
            }
            _ => self.agent.get(&url).call(),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (response.status().as_u16(), value)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None, None)
    }

    fn post(&self, path: &str, body: &[u8]) -> (u16, Value) {
        self.call("POST", path, Some(body), Some(&self.token.clone()))
    }

    /// POSTs `body` over a plain socket and reads the status and JSON body, whether or not the
    /// server read the whole request: it answers an upload over the limit (413) as soon as it
    /// sees the length and closes the connection, and an HTTP client would only report the
    /// broken pipe of the rest of its write.
    fn post_unread(&self, path: &str, body: &[u8]) -> (u16, Value) {
        use std::io::Read;
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.token,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        let _ = stream.write_all(body); // may end early: the server need not read it
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        let status = reply[9..12].parse().unwrap();
        let json = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json = json
            .find('{')
            .map_or("", |start| &json[start..json.rfind('}').unwrap() + 1]);
        (status, serde_json::from_str(json).unwrap_or(Value::Null))
    }

    /// The raw bytes at `path`.
    fn download(&self, path: &str) -> (u16, Vec<u8>) {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.url))
            .call()
            .unwrap();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap();
        (response.status().as_u16(), bytes)
    }

    /// Every event of `job` until it ends (the stream closes), as JSON.
    fn follow(&self, job: &str) -> Vec<Value> {
        let response = self
            .agent
            .get(format!("{}/api/jobs/{job}/events", self.url))
            .call()
            .unwrap();
        BufReader::new(response.into_body().into_reader())
            .lines()
            .map(Result::unwrap)
            .filter_map(|line| Some(serde_json::from_str(line.strip_prefix("data: ")?).unwrap()))
            .collect()
    }

    /// Uploads `file` under `name`; its dataset id.
    fn upload(&self, file: &Path, name: &str) -> String {
        let (status, dataset) = self.post(
            &format!("/api/datasets?name={name}"),
            &std::fs::read(file).unwrap(),
        );
        assert_eq!(status, 201, "{dataset}");
        dataset["id"].as_str().unwrap().to_string()
    }

    /// Posts a job; its id.
    fn queue(&self, job: Value) -> String {
        let (status, queued) = self.post("/api/jobs", job.to_string().as_bytes());
        assert_eq!(status, 202, "{queued}");
        assert_eq!(queued["state"], "queued");
        queued["id"].as_str().unwrap().to_string()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A dist/ folder with a page in it.
fn dist(root: &Path) -> PathBuf {
    let dist = root.join("dist");
    std::fs::create_dir_all(dist.join("bundles")).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>app</title>").unwrap();
    dist
}

/// Asserts that no event names a file by its path in the server's data folder.
fn assert_no_server_paths(events: &[Value], data_dir: &Path) {
    let data_dir = data_dir.display().to_string();
    for event in events {
        assert!(!event.to_string().contains(&data_dir), "{event}");
    }
}

/// The scores `cyborg score` gives with `bundle` to `essays`.
fn cli_scores(bundle: &Path, essays: &Path, out: &Path) -> String {
    let scored = cyborg(&[
        "score".as_ref(),
        bundle.as_os_str(),
        essays.as_os_str(),
        "--text".as_ref(),
        "full_text".as_ref(),
        "--id".as_ref(),
        "essay_id".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(scored.status.success(), "{}", stderr(&scored));
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn a_job_trains_follows_and_shares_the_same_student_as_cyborg_train() {
    let Some(base) = base_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // The operator gives the local teacher an encoder folder of its own (a request cannot).
    let teacher_base = support::teacher_encoder(dir.path(), &base);
    let served = Served::start(
        &data_dir,
        &dist(dir.path()),
        &["--teacher-base", teacher_base.to_str().unwrap()],
    );
    let essays = demo_rows(dir.path(), "sample.csv", 60);

    assert_eq!(served.get("/api/health").0, 200);
    let (status, page) = served.get("/");
    assert_eq!(
        (status, page.as_str().unwrap().contains("<title>app")),
        (200, true)
    );
    let dataset = served.upload(&essays, "essays.csv");
    let (status, summary) = served.get(&format!(
        "/api/datasets/{dataset}/summary?text=full_text&score=score&id=essay_id"
    ));
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["rows"], 60);
    assert_eq!(summary["file"], "essays.csv");
    // Every bad row is reported, each after the first by its file: the name it was uploaded
    // under, not the server's copy.
    let (status, refused) = served.get(&format!(
        "/api/datasets/{dataset}/summary?text=full_text&score=essay_id"
    ));
    let says = refused["error"].as_str().unwrap_or_default();
    assert_eq!(status, 422, "{refused}");
    assert!(says.contains("\nessays.csv:"), "{refused}");
    assert_no_server_paths(std::slice::from_ref(&refused), &data_dir);
    let counts: u64 = summary["score_counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 60);

    let job = served.queue(json!({
        "dataset": dataset, "text": "full_text", "score": "score", "id": "essay_id",
        "range": "1:6", "tune": "head", "seed": 7
    }));
    let events = served.follow(&job);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"state"), "{kinds:?}");
    assert!(
        kinds.contains(&"stage") && kinds.contains(&"step") && kinds.contains(&"note"),
        "{kinds:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["state"].as_str()),
        (Some("state"), Some("done")),
        "{last}"
    );
    assert!(last["metrics"]["dev_qwk"].as_f64().is_some(), "{last}");
    assert_eq!(last["metrics"]["range"], "1:6", "{last}");
    assert_no_server_paths(&events, &data_dir);
    let (status, finished) = served.get(&format!("/api/jobs/{job}"));
    assert_eq!((status, finished["state"].as_str()), (200, Some("done")));

    let (status, bundle) = served.download(&format!("/bundles/{job}.cyborg"));
    assert_eq!(status, 200);
    let served_bundle = dir.path().join("served.cyborg");
    std::fs::write(&served_bundle, bundle).unwrap();
    let (status, report) = served.get(&format!("/reports/{job}.html"));
    assert_eq!(status, 200);
    assert!(report.as_str().unwrap().contains("QWK"));

    let cli_bundle = dir.path().join("cli.cyborg");
    let trained = cyborg(&[
        "train".as_ref(),
        essays.as_os_str(),
        "--text".as_ref(),
        "full_text".as_ref(),
        "--score".as_ref(),
        "score".as_ref(),
        "--id".as_ref(),
        "essay_id".as_ref(),
        "--range".as_ref(),
        "1:6".as_ref(),
        "--tune".as_ref(),
        "head".as_ref(),
        "--seed".as_ref(),
        "7".as_ref(),
        "--no-cache".as_ref(),
        "--base".as_ref(),
        base.as_os_str(),
        "--out".as_ref(),
        cli_bundle.as_os_str(),
    ]);
    assert!(trained.status.success(), "{}", stderr(&trained));

    // A local teacher labels the half of the training rows whose scores are set aside; the
    // bundle stores the encoder's matrices as int8.
    let taught = served.queue(json!({
        "dataset": dataset, "text": "full_text", "score": "score", "tune": "head",
        "human_fraction": 0.5, "teacher": {"kind": "local", "members": 1}, "weights": "int8",
        "cut_points": "shares", "lexical_buckets": 256
    }));
    let last = served.follow(&taught).pop().unwrap();
    assert_eq!(last["state"], "done", "{last}");
    assert!(
        last["metrics"]["teacher_rows"].as_u64().unwrap() > 0,
        "{last}"
    );
    let taught_bundle = dir.path().join("taught.cyborg");
    let (status, bytes) = served.download(&format!("/bundles/{taught}.cyborg"));
    assert_eq!(status, 200);
    std::fs::write(&taught_bundle, bytes).unwrap();
    let info = cyborg(&[
        "info".as_ref(),
        taught_bundle.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(info.status.success(), "{}", stderr(&info));
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(
        (
            info["weights"].as_str(),
            info["training"]["cut_points"].as_str(),
            info["lexical_buckets"].as_u64()
        ),
        (Some("int8"), Some("shares"), Some(256)),
        "{info}"
    );
    let teacher = info["data"]["teacher"].as_str().unwrap_or_default();
    assert!(
        teacher.starts_with("local: 1 students (head) on teacher-encoder + TF-IDF")
            && info["base_model"]["name"] == "all-MiniLM-L6-v2",
        "{info}"
    );

    // An LLM teacher's job trains no teacher students, so the operator's teacher encoder is
    // not given to it (the trainer would refuse it).
    let double = ChatDouble::start(Behaviour::default());
    let by_llm = served.queue(json!({
        "dataset": dataset, "text": "full_text", "score": "score", "tune": "head",
        "human_fraction": 0.5,
        "teacher": {"kind": "llm", "base_url": double.base_url, "llm_model": "double"}
    }));
    let last = served.follow(&by_llm).pop().unwrap();
    assert_eq!(last["state"], "done", "{last}");
    assert!(
        last["metrics"]["teacher_rows"].as_u64().unwrap() > 0 && !double.received().is_empty(),
        "{last}"
    );

    // The first job's student labels the pool of another (it has seen the pool's scores, so
    // this tests the route, not what a teacher adds), on the teacher's range: another is
    // refused before the job is queued.
    let taught_by = |range: &str| {
        json!({"dataset": dataset, "text": "full_text", "score": "score", "range": range,
            "tune": "head", "human_fraction": 0.5, "teacher": {"kind": "bundle", "job": job}})
    };
    let (status, body) = served.post("/api/jobs", taught_by("0:3").to_string().as_bytes());
    assert_eq!(status, 400, "{body}");
    let says = format!("the teacher job {job} scores 1:6, and this job asks for range 0:3");
    assert!(body["error"].as_str().unwrap().starts_with(&says), "{body}");
    let mut request = taught_by("");
    request.as_object_mut().unwrap().remove("range");
    let by_bundle = served.queue(request);
    let events = served.follow(&by_bundle);
    assert_no_server_paths(&events, &data_dir);
    let last = events.last().unwrap();
    assert_eq!(
        (last["state"].as_str(), last["metrics"]["range"].as_str()),
        (Some("done"), Some("1:6")),
        "{last}"
    );
    assert!(
        last["metrics"]["teacher"]
            .as_str()
            .is_some_and(|teacher| teacher.starts_with("teacher bundle ")),
        "{last}"
    );

    let sample = support::repo().join("data/demo/sample.csv");
    assert_eq!(
        cli_scores(&served_bundle, &sample, &dir.path().join("served.csv")),
        cli_scores(&cli_bundle, &sample, &dir.path().join("cli.csv")),
        "the server's student scores as `cyborg train`'s with the same settings and seed"
    );
}

#[test]
fn writes_need_the_token_and_bad_requests_are_refused_without_writing_outside() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // Whoever reads its first line and closes the pipe does not stop it.
    let served = Served::start_reading(
        &data_dir,
        &dist(dir.path()),
        &["--max-upload-mb", "1"],
        false,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(served.get("/api/health").0, 200);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.join("token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let csv = b"text,score\nA fine answer.,2\nAnother one.,1\n";
    let upload = "/api/datasets?name=a.csv";
    assert_eq!(served.call("POST", upload, Some(csv), None).0, 401);
    let (status, body) = served.call("POST", upload, Some(csv), Some("wrong"));
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("the token is wrong"))
    );
    assert_eq!(
        served
            .call("DELETE", "/api/jobs/0123456789abcdef", None, None)
            .0,
        401
    );

    let big = vec![b'a'; 2 << 20];
    let (status, body) = served.post_unread(upload, &big);
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("1 MB"), "{body}");

    let (status, body) = served.post(upload, b"text,score\nfine,1\nshort row\nok,2\n");
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        (body["line"].as_u64(), body["column"].as_u64()),
        (Some(3), Some(2)),
        "{body}"
    );
    let (status, body) = served.post(
        "/api/datasets?name=a.jsonl",
        b"{\"text\": \"x\", \"score\": 1}\n{\"text\": oops}\n",
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["line"].as_u64(), Some(2), "{body}");

    for name in [
        "../evil.csv",
        "..%2Fevil.csv",
        "a/b.csv",
        "%2Ftmp%2Fevil.csv",
        ".hidden.csv",
        "notes.txt",
        "",
    ] {
        let (status, body) = served.post(&format!("/api/datasets?name={name}"), csv);
        assert_eq!(status, 400, "{name}: {body}");
    }
    for path in [
        "/api/jobs/..%2F..%2Ftoken",
        "/api/jobs/..%2Ftoken/events",
        "/api/datasets/..%2Fcyborg.sqlite/summary?text=text",
        "/bundles/..%2Ftoken",
        "/bundles/..%2F..%2Fdata%2Ftoken",
        "/reports/..%2Ftoken",
        "/reports/0123456789abcdef.html",
        "/api/jobs/0123456789abcdef",
        "/api/nothing",
    ] {
        let (status, body) = served.get(path);
        assert_eq!(status, 404, "{path}: {body}");
    }

    let dataset = served.upload(&write(dir.path(), "ok.csv", csv), "answers.csv");
    for (job, says) in [
        (
            json!({"dataset": "0123456789abcdef", "text": "text", "score": "score"}),
            "no dataset",
        ),
        (
            json!({"dataset": dataset, "text": "essay", "score": "score"}),
            "no column \"essay\"",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "text"}),
            "same column",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "tune": "most"}),
            "tune",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "epochs": 0}),
            "epochs",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "teacher": {"kind": "local"}}),
            "human_fraction below 1",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "teacher": {"kind": "oracle"}}),
            "not none, local, llm or bundle",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "human_fraction": 0.5, "teacher": {"kind": "bundle"}}),
            "needs teacher job",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "human_fraction": 0.5, "teacher": {"kind": "bundle", "job": "0123456789abcdef"}}),
            "there is no job \"0123456789abcdef\"",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "human_fraction": 0.5, "teacher": {"kind": "local", "job": "../x"}}),
            "teacher job is for teacher kind \"bundle\"",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "human_fraction": 1.5}),
            "not in (0, 1]",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "weights": "int4"}),
            "weights: \"int4\" is not a precision (f32, f16 or int8)",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "cut_points": "median"}),
            "cut_points: \"median\" is not qwk, shares or pooled",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "lexical_buckets": 1_000_000_000}),
            "lexical-buckets must be at most",
        ),
        (
            json!({"dataset": dataset, "text": "text", "score": "score", "colour": "red"}),
            "unknown field",
        ),
    ] {
        let (status, body) = served.post("/api/jobs", job.to_string().as_bytes());
        assert_eq!(status, 400, "{job}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{job}: {body}"
        );
    }
    let (_, datasets) = served.get("/api/datasets");
    assert_eq!(datasets.as_array().unwrap().len(), 1, "{datasets}");
    assert_eq!(datasets[0]["name"], "answers.csv");

    // Nothing was written outside the data folder, and inside it only what was accepted.
    let mut outside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    outside.sort();
    assert_eq!(outside, ["data", "dist", "ok.csv"]);
    let kept: Vec<_> = std::fs::read_dir(data_dir.join("datasets"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(kept, [format!("{dataset}.csv").as_str()]);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_job_cut_off_by_kill_is_failed_with_the_reason_and_nothing_else_is_lost() {
    if base_model().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let dist = dist(dir.path());
    let essays = demo_rows(dir.path(), "sample.csv", 80);
    let mut served = Served::start(&data_dir, &dist, &[]);
    let dataset = served.upload(&essays, "essays.csv");
    let job = |seed: u64| json!({"dataset": dataset, "text": "full_text", "score": "score", "tune": "top:1", "epochs": 3, "seed": seed});
    let running = served.queue(job(1));
    let waiting = served.queue(job(2));
    let cancelled = served.queue(job(3));
    let (status, body) = served.call(
        "DELETE",
        &format!("/api/jobs/{cancelled}"),
        None,
        Some(&served.token.clone()),
    );
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );

    // Killed once the first job is encoding, with an upload half sent.
    let essays_bytes = std::fs::read(&essays).unwrap();
    let address = served.url.trim_start_matches("http://").to_string();
    let mut half_sent = std::net::TcpStream::connect(&address).unwrap();
    let head = format!(
        "POST /api/datasets?name=half.csv HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer \
         {}\r\nContent-Length: {}\r\n\r\n",
        served.token,
        essays_bytes.len()
    );
    half_sent.write_all(head.as_bytes()).unwrap();
    half_sent
        .write_all(&essays_bytes[..essays_bytes.len() / 2])
        .unwrap();
    let response = served
        .agent
        .get(format!("{}/api/jobs/{running}/events", served.url))
        .call()
        .unwrap();
    let mut lines = BufReader::new(response.into_body().into_reader()).lines();
    assert!(lines.any(|l| l.unwrap().contains("\"event\":\"stage\"")));
    served.child.kill().unwrap();
    served.child.wait().unwrap();

    let served = Served::start(&data_dir, &dist, &[]);
    let (_, first) = served.get(&format!("/api/jobs/{running}"));
    assert_eq!(first["state"], "failed", "{first}");
    assert!(
        first["error"]["error"]
            .as_str()
            .unwrap()
            .contains("server stopped"),
        "{first}"
    );
    assert!(
        first["progress"]["stage"]["name"].as_str().is_some(),
        "how far it got is kept: {first}"
    );
    let (_, second) = served.get(&format!("/api/jobs/{waiting}"));
    assert!(
        matches!(second["state"].as_str(), Some("queued" | "running")),
        "{second}"
    );
    let (_, third) = served.get(&format!("/api/jobs/{cancelled}"));
    assert_eq!(third["state"], "cancelled");
    // Only a finished job's bundle can teach.
    for (teacher, state) in [(&running, "failed"), (&cancelled, "cancelled")] {
        let request = json!({"dataset": dataset, "text": "full_text", "score": "score",
            "human_fraction": 0.5, "teacher": {"kind": "bundle", "job": teacher}});
        let (status, body) = served.post("/api/jobs", request.to_string().as_bytes());
        let says = format!("the teacher job {teacher} is {state}: only a finished job's bundle");
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().starts_with(&says), "{body}");
    }
    let (_, datasets) = served.get("/api/datasets");
    assert_eq!(datasets.as_array().unwrap().len(), 1, "{datasets}");
    assert_eq!(datasets[0]["id"], dataset.as_str());
    let stored: Vec<_> = std::fs::read_dir(data_dir.join("datasets"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(stored.len(), 1, "the half-sent upload left {stored:?}");
    drop(half_sent);
    assert_eq!(
        served.download(&format!("/bundles/{running}.cyborg")).0,
        404
    );

    // The second job is running now; cancelling it stops it.
    let (status, _) = served.call(
        "DELETE",
        &format!("/api/jobs/{waiting}"),
        None,
        Some(&served.token.clone()),
    );
    assert_eq!(status, 200);
    let events = served.follow(&waiting);
    assert_eq!(
        events.last().unwrap()["state"],
        "cancelled",
        "{:?}",
        events.last()
    );
    drop(served);

    let db = rusqlite::Connection::open(data_dir.join("cyborg.sqlite")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
