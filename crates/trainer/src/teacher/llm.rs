//! The LLM teacher: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
//! llama.cpp's server) scores each response from a prompt built of the rubric and a few
//! human-scored examples.
//!
//! Every answer is kept in an on-disk cache keyed by the exact request, so a rerun after a
//! crash or Ctrl-C sends only what was never answered. Transient refusals by the server
//! (408, 409, 429, 5xx, a reply that is not JSON) are retried, honouring `Retry-After`; an
//! exhausted quota or a rejected key stops the run at once. A response the model will not
//! score, or scores outside the scale, is recorded as failed with the reason, never dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cyborg_scorer::metrics::ScoreRange;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::TeacherLabel;
use crate::data::Row;
use crate::output::write_atomically;
use crate::progress::Progress;

/// Words of a few-shot example kept in the prompt: enough to show a level, bounded in tokens.
const EXAMPLE_WORDS: usize = 300;

/// Retries of a request shape while probing: a server that fails it three times running is
/// taken not to support it, rather than spending the full backoff on every run's first row.
const PROBE_RETRIES: u32 = 2;

/// How to reach the model and how to ask it.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// The API root, e.g. `http://127.0.0.1:8080/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// The model name the server expects.
    pub model: String,
    /// The API key, if the server wants one.
    pub api_key: Option<String>,
    /// Sampling temperature.
    pub temperature: f64,
    /// Sampling seed, for servers that honour it.
    pub seed: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Retries of one request after a transient failure.
    pub retries: u32,
    /// The scoring guide given to the model.
    pub rubric: Option<String>,
    /// Human-scored examples per score level in the prompt.
    pub examples_per_level: usize,
    /// Where answers are cached.
    pub cache: PathBuf,
    /// US dollars per million prompt and completion tokens, for the cost estimate.
    pub price_per_million: (f64, f64),
    /// Longest wait for one reply.
    pub timeout: Duration,
}

/// How the model is asked to shape its answer; probed once, strictest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// `response_format: json_schema` with an integer `score` in range.
    JsonSchema,
    /// `response_format: json_object`.
    JsonObject,
    /// Plain text: the first whole number in the reply.
    PlainText,
}

/// Tokens and requests spent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Usage {
    /// Prompt tokens over every answer used (cached ones included).
    pub prompt_tokens: u64,
    /// Completion tokens over every answer used.
    pub completion_tokens: u64,
    /// Requests sent in this run (retries included).
    pub requests_sent: u64,
    /// Answers taken from the cache.
    pub cached: u64,
}

/// Why one response got no label.
#[derive(Debug)]
enum Failure {
    /// The row cannot be scored; recorded and the run goes on.
    Row(String),
    /// The server answered the request only with errors: at once (400, 422), or until the
    /// retries ran out. A row failure, except while probing, where it means the server does
    /// not support the request's shape (llama.cpp's Python server answers `json_schema` with
    /// HTTP 500).
    Rejected(String),
    /// Nothing will work: bad key, no quota, unreachable server.
    Fatal(anyhow::Error),
}

/// The LLM teacher, ready to ask.
pub struct LlmTeacher {
    settings: LlmSettings,
    range: ScoreRange,
    agent: ureq::Agent,
    /// The system message and few-shot turns, the same for every request.
    preamble: Vec<Value>,
    /// Human-scored examples `(level, text)` shown to the model.
    examples: Vec<(i64, String)>,
    mode: Mutex<Option<OutputMode>>,
    usage: Mutex<Usage>,
    progress: Progress,
}

impl LlmTeacher {
    /// A teacher whose prompt shows `examples_per_level` of the `human` rows at each level.
    pub fn new(
        settings: LlmSettings,
        human: &[&Row],
        range: ScoreRange,
        progress: &Progress,
    ) -> Result<LlmTeacher> {
        std::fs::create_dir_all(&settings.cache).with_context(|| {
            format!(
                "cannot create the LLM answer cache {}",
                settings.cache.display()
            )
        })?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(settings.timeout))
            .build()
            .into();
        let examples = examples(settings.seed, settings.examples_per_level, human, range);
        let preamble = preamble(&settings, &examples, range);
        Ok(LlmTeacher {
            settings,
            range,
            agent,
            preamble,
            examples,
            mode: Mutex::new(None),
            usage: Mutex::new(Usage::default()),
            progress: progress.clone(),
        })
    }

    /// The model, endpoint and sampling, for provenance.
    pub fn describe(&self) -> String {
        format!(
            "llm: {} at {}, temperature {}, seed {}, {} examples per level, {}",
            self.settings.model,
            self.settings.base_url,
            self.settings.temperature,
            self.settings.seed,
            self.settings.examples_per_level,
            match *self.mode.lock().unwrap() {
                Some(OutputMode::JsonSchema) => "json_schema output",
                Some(OutputMode::JsonObject) => "json_object output",
                Some(OutputMode::PlainText) => "plain-text output",
                None => "output mode not probed",
            }
        )
    }

    /// Tokens and requests so far.
    pub fn usage(&self) -> Usage {
        self.usage.lock().unwrap().clone()
    }

    /// Estimated US dollars for the tokens so far, at the configured prices.
    pub fn cost(&self) -> f64 {
        let usage = self.usage();
        let (input, output) = self.settings.price_per_million;
        (usage.prompt_tokens as f64 * input + usage.completion_tokens as f64 * output) / 1e6
    }

    /// Labels `rows`, `concurrency` at a time. A row that cannot be scored gets the reason
    /// instead of a label; a fatal failure (rejected key, exhausted quota, unreachable
    /// server) ends the run with what was answered kept in the cache.
    pub fn label(&self, rows: &[&Row]) -> Result<Vec<Result<TeacherLabel, String>>> {
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let probed = if self.mode.lock().unwrap().is_none() {
            Some(self.probe(&first.text)?)
        } else {
            None
        };
        let mode = self.mode.lock().unwrap().expect("probed");
        let skip = usize::from(probed.is_some());
        let rest = self.in_parallel(rows.len() - skip, "teacher (LLM)", |i| {
            self.ask(&rows[i + skip].text, mode, self.settings.retries)
        })?;
        Ok(probed.into_iter().chain(rest).collect())
    }

    /// Writes `jobs.len()` new responses, job `(level, k)` being the `k`-th at `level`, at
    /// `temperature`. A job the model would not do gets the reason instead.
    pub fn generate(
        &self,
        jobs: &[(i64, usize)],
        temperature: f64,
    ) -> Result<Vec<Result<String, String>>> {
        self.in_parallel(jobs.len(), "generating (LLM)", |i| {
            let (level, sample) = jobs[i];
            let request = self.generation_request(level, sample, temperature);
            let reply = self.complete(&request, self.settings.retries)?;
            let message = &reply["choices"][0]["message"];
            if let Some(refusal) = message["refusal"].as_str().filter(|r| !r.is_empty()) {
                return Err(Failure::Row(format!(
                    "the model refused: {}",
                    snippet(refusal)
                )));
            }
            match message["content"].as_str().map(str::trim) {
                Some(text) if !text.is_empty() => Ok(text.to_string()),
                _ => Err(Failure::Row("the reply has no text".into())),
            }
        })
    }

    /// Runs `work(0..n)`, `concurrency` at a time, with a progress bar. Row failures are kept
    /// as reasons; the first fatal one stops the run.
    fn in_parallel<T: Send>(
        &self,
        n: usize,
        what: &str,
        work: impl Fn(usize) -> Result<T, Failure> + Sync,
    ) -> Result<Vec<Result<T, String>>> {
        let bar = self.progress.bar(n as u64, what, "responses");
        let next = AtomicUsize::new(0);
        let slots: Mutex<Vec<Option<Result<T, String>>>> =
            Mutex::new((0..n).map(|_| None).collect());
        let fatal: Mutex<Option<anyhow::Error>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..self.settings.concurrency.max(1) {
                scope.spawn(|| loop {
                    if fatal.lock().unwrap().is_some() {
                        return;
                    }
                    if let Err(cancelled) = self.progress.check() {
                        fatal.lock().unwrap().get_or_insert(cancelled.into());
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        return;
                    }
                    let outcome = match work(i) {
                        Ok(value) => Ok(value),
                        Err(Failure::Row(reason)) | Err(Failure::Rejected(reason)) => Err(reason),
                        Err(Failure::Fatal(error)) => {
                            fatal.lock().unwrap().get_or_insert(error);
                            return;
                        }
                    };
                    slots.lock().unwrap()[i] = Some(outcome);
                    bar.inc(1);
                });
            }
        });
        bar.finish_and_clear();
        let slots = slots.into_inner().unwrap();
        if let Some(error) = fatal.into_inner().unwrap() {
            let answered = slots.iter().flatten().count();
            return Err(error.context(format!(
                "the LLM stopped after {answered} of {n} requests; their answers are cached in \
                 {}, so running the same command again resumes where it stopped",
                self.settings.cache.display()
            )));
        }
        Ok(slots
            .into_iter()
            .map(|r| r.expect("every job done"))
            .collect())
    }

    /// OpenAI Batch API input for scoring `rows`: one JSON line per request not yet answered
    /// in the cache, in the json_schema output mode, with the request's cache key as its
    /// `custom_id`. Returns the lines and how many rows the cache already answers.
    pub fn batch_requests(&self, rows: &[&Row]) -> (String, usize) {
        let (mut lines, mut cached) = (String::new(), 0);
        for row in rows {
            let request = self.request(&row.text, OutputMode::JsonSchema);
            let key = cache_key(&request);
            if self.settings.cache.join(format!("{key}.json")).exists() {
                cached += 1;
                continue;
            }
            let line = json!({
                "custom_id": key,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": request,
            });
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
        (lines, cached)
    }

    /// Scores `text` in the strictest output mode the server accepts, and remembers it.
    fn probe(&self, text: &str) -> Result<Result<TeacherLabel, String>> {
        let mut refusals = Vec::new();
        for mode in [
            OutputMode::JsonSchema,
            OutputMode::JsonObject,
            OutputMode::PlainText,
        ] {
            match self.ask(text, mode, self.settings.retries.min(PROBE_RETRIES)) {
                Err(Failure::Rejected(reason)) => refusals.push(format!("{mode:?}: {reason}")),
                Err(Failure::Fatal(error)) => return Err(error),
                outcome => {
                    *self.mode.lock().unwrap() = Some(mode);
                    return Ok(outcome.map_err(|f| match f {
                        Failure::Row(reason) => reason,
                        _ => unreachable!("handled above"),
                    }));
                }
            }
        }
        bail!(
            "the server at {} accepted no request shape: {}",
            self.settings.base_url,
            refusals.join("; ")
        )
    }

    /// The request for `text` in `mode`.
    fn request(&self, text: &str, mode: OutputMode) -> Value {
        let mut messages = self.preamble.clone();
        messages.push(json!({"role": "user", "content": format!("Response to score:\n\n{text}")}));
        let mut body = json!({
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "seed": self.settings.seed,
            "logprobs": true,
            "top_logprobs": 10,
            "max_tokens": 20,
        });
        let (min, max) = (self.range.min, self.range.max);
        match mode {
            OutputMode::JsonSchema => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {
                        "name": "score",
                        "strict": true,
                        "schema": {
                            "type": "object",
                            "properties": {"score": {"type": "integer", "minimum": min, "maximum": max}},
                            "required": ["score"],
                            "additionalProperties": false
                        }
                    }
                });
            }
            OutputMode::JsonObject => body["response_format"] = json!({"type": "json_object"}),
            OutputMode::PlainText => {}
        }
        body
    }

    /// The request for a new response at `level`; `sample` makes each request (and so its
    /// cache entry and its seed) distinct.
    fn generation_request(&self, level: i64, sample: usize, temperature: f64) -> Value {
        let shown: Vec<String> = self
            .examples
            .iter()
            .map(|(l, text)| format!("[score {l}]\n{text}"))
            .collect();
        let system = format!(
            "You write realistic student responses for assessment research. The scoring \
             guide: {}\nScores run from {} to {}.",
            guide(self.settings.rubric.as_deref()),
            self.range.min,
            self.range.max
        );
        let user = format!(
            "Real responses with their scores:\n\n{}\n\nWrite one new, original response, \
             in a student's own voice and with a student's mistakes, that a rater would score \
             {level}. Do not copy the examples. Reply with the response only. (Sample {sample}.)",
            shown.join("\n\n")
        );
        json!({
            "model": self.settings.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user}
            ],
            "temperature": temperature,
            "seed": self.settings.seed + sample as u64,
            "max_tokens": 1024,
        })
    }

    /// One response's label: from the cache, else from the server (with up to `retries`).
    fn ask(&self, text: &str, mode: OutputMode, retries: u32) -> Result<TeacherLabel, Failure> {
        let reply = self.complete(&self.request(text, mode), retries)?;
        parse_reply(&reply, self.range).map_err(Failure::Row)
    }

    /// The reply to `request`: from the cache, else from the server (with up to `retries`, and
    /// then cached). Counts its tokens either way.
    fn complete(&self, request: &Value, retries: u32) -> Result<Value, Failure> {
        let body = request.to_string();
        let key = cache_key(request);
        let cached = self.settings.cache.join(format!("{key}.json"));
        let reply: Value = match std::fs::read(&cached)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(reply) => {
                self.usage.lock().unwrap().cached += 1;
                reply
            }
            None => {
                let reply = self.send(&body, retries)?;
                write_atomically(&cached, reply.to_string().as_bytes()).map_err(Failure::Fatal)?;
                reply
            }
        };
        let mut usage = self.usage.lock().unwrap();
        usage.prompt_tokens += reply["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
        usage.completion_tokens += reply["usage"]["completion_tokens"].as_u64().unwrap_or(0);
        Ok(reply)
    }

    /// Posts `body`, retrying transient failures up to `retries` times; returns the parsed reply.
    fn send(&self, body: &str, retries: u32) -> Result<Value, Failure> {
        let url = format!(
            "{}/chat/completions",
            self.settings.base_url.trim_end_matches('/')
        );
        let mut last = String::new();
        for attempt in 0..=retries {
            self.usage.lock().unwrap().requests_sent += 1;
            let backoff = Duration::from_millis(500 * 2u64.pow(attempt.min(6)));
            let wait = match self.post(&url, body) {
                // Nothing listening, or no reply in time: worth a retry, then fatal.
                Err(error) if attempt == retries => {
                    return Err(Failure::Fatal(anyhow::anyhow!(
                        "cannot reach {url}: {error}"
                    )))
                }
                Err(error) => {
                    last = format!("cannot reach {url}: {error}");
                    backoff
                }
                Ok(reply) => match reply.outcome(&url) {
                    Outcome::Answer(value) => return Ok(value),
                    Outcome::Stop(failure) => return Err(failure),
                    Outcome::Retry(why) => {
                        last = why;
                        reply.retry_after.unwrap_or(backoff)
                    }
                },
            };
            if attempt < retries {
                std::thread::sleep(wait);
            }
        }
        Err(Failure::Rejected(format!(
            "no usable reply after {} attempts; last: {last}",
            retries + 1
        )))
    }

    /// One POST of `body` to `url`, with the key when there is one.
    fn post(&self, url: &str, body: &str) -> Result<HttpReply, ureq::Error> {
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        if let Some(key) = &self.settings.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = request.send(body)?;
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64);
        let text = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_string()
            .unwrap_or_default();
        Ok(HttpReply {
            status: response.status().as_u16(),
            retry_after,
            text,
        })
    }
}

/// What a chat-completions server answered.
struct HttpReply {
    status: u16,
    /// How long the server asked to be left alone (`Retry-After`, in seconds).
    retry_after: Option<Duration>,
    text: String,
}

/// What to do after one reply.
enum Outcome {
    Answer(Value),
    /// Give up on the request (or the run): retrying will not help.
    Stop(Failure),
    /// A transient failure, and what it was.
    Retry(String),
}

impl HttpReply {
    /// Judges the reply by its status and the error the body names, if any.
    fn outcome(&self, url: &str) -> Outcome {
        let status = self.status;
        let parsed: Option<Value> = serde_json::from_str(&self.text).ok();
        let error_code = parsed
            .as_ref()
            .and_then(|v| v["error"]["code"].as_str().or(v["error"]["type"].as_str()))
            .unwrap_or("")
            .to_string();
        let error_message = parsed
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str())
            .map_or_else(|| snippet(&self.text), str::to_string);
        let fatal = |message: String| Outcome::Stop(Failure::Fatal(anyhow::anyhow!(message)));
        match status {
            200 => match parsed {
                Some(reply) => Outcome::Answer(reply),
                None => Outcome::Retry(format!("the reply was not JSON: {}", snippet(&self.text))),
            },
            429 if error_code == "insufficient_quota" => fatal(format!(
                "{url}: the account has no quota left (insufficient_quota): {error_message}"
            )),
            401 | 403 => fatal(format!(
                "{url} refused the key (HTTP {status}): {error_message}; set the variable \
                 --api-key-env names"
            )),
            400 | 422 => {
                Outcome::Stop(Failure::Rejected(format!("HTTP {status}: {error_message}")))
            }
            408 | 409 | 429 | 500..=599 => {
                Outcome::Retry(format!("HTTP {status}: {error_message}"))
            }
            _ => fatal(format!("{url} answered HTTP {status}: {error_message}")),
        }
    }
}

/// The name of a request's answer in the cache: the SHA-256 of its JSON body.
fn cache_key(request: &Value) -> String {
    hex(&Sha256::digest(request.to_string().as_bytes()))
}

/// Puts the answers in an OpenAI Batch API output file (JSON lines with `custom_id` and
/// `response.body`) into the answer cache at `cache`, so that labelling finds them there.
/// Returns how many were stored and, for the lines that hold no answer, why.
pub fn import_batch(cache: &Path, output: &Path) -> Result<(usize, Vec<String>)> {
    let text = std::fs::read_to_string(output)
        .with_context(|| format!("cannot read the batch output {}", output.display()))?;
    std::fs::create_dir_all(cache)
        .with_context(|| format!("cannot create the LLM answer cache {}", cache.display()))?;
    let (mut stored, mut problems) = (0, Vec::new());
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = format!("{}:{}", output.display(), n + 1);
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            bail!("{at}: not a JSON object");
        };
        // The id names a cache file, so it must be a key this program made, nothing else.
        let id = entry["custom_id"].as_str().unwrap_or("");
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{at}: custom_id \"{id}\" was not written by `teach label --batch-write`");
        }
        let status = entry["response"]["status_code"].as_u64();
        let body = &entry["response"]["body"];
        if status == Some(200) && body.is_object() {
            write_atomically(
                &cache.join(format!("{id}.json")),
                body.to_string().as_bytes(),
            )?;
            stored += 1;
        } else {
            let reason = entry["error"]["message"]
                .as_str()
                .or(body["error"]["message"].as_str())
                .unwrap_or("no answer");
            problems.push(format!(
                "{at}: status {}: {reason}",
                status.map_or("none".into(), |s| s.to_string())
            ));
        }
    }
    Ok((stored, problems))
}

/// The rubric, or a plain holistic instruction without one.
pub fn guide(rubric: Option<&str>) -> String {
    rubric.map(str::to_string).unwrap_or_else(|| {
        "Score the student's response holistically: how well it answers the task, with \
         evidence, organisation and control of language."
            .into()
    })
}

/// `per_level` human responses per level, chosen with `seed`, cut to [`EXAMPLE_WORDS`] words.
pub fn examples(
    seed: u64,
    per_level: usize,
    human: &[&Row],
    range: ScoreRange,
) -> Vec<(i64, String)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut chosen = Vec::new();
    for level in range.min..=range.max {
        let mut at_level: Vec<&&Row> = human.iter().filter(|r| r.score == Some(level)).collect();
        at_level.shuffle(&mut rng);
        for row in at_level.into_iter().take(per_level) {
            let words: Vec<&str> = row.text.split_whitespace().collect();
            let mut shown = words[..words.len().min(EXAMPLE_WORDS)].join(" ");
            if words.len() > EXAMPLE_WORDS {
                shown.push_str(" […]");
            }
            chosen.push((level, shown));
        }
    }
    chosen
}

/// The scoring prompt's system message and few-shot turns.
fn preamble(settings: &LlmSettings, examples: &[(i64, String)], range: ScoreRange) -> Vec<Value> {
    let system = format!(
        "You are an experienced rater of student writing. {}\n\nGive one whole-number \
         score from {} to {}. Reply with JSON only: {{\"score\": N}}.",
        guide(settings.rubric.as_deref()),
        range.min,
        range.max
    );
    let mut messages = vec![json!({"role": "system", "content": system})];
    for (level, text) in examples {
        messages.push(json!({"role": "user", "content": format!("Response to score:\n\n{text}")}));
        messages.push(json!({"role": "assistant", "content": format!("{{\"score\": {level}}}")}));
    }
    messages
}

/// The label in a chat-completions reply: the score in the message (JSON or the first whole
/// number), and, when the server gave log-probabilities, the expected score over the
/// in-range alternatives of the score token.
pub fn parse_reply(reply: &Value, range: ScoreRange) -> Result<TeacherLabel, String> {
    let message = &reply["choices"][0]["message"];
    if let Some(refusal) = message["refusal"].as_str().filter(|r| !r.is_empty()) {
        return Err(format!("the model refused: {}", snippet(refusal)));
    }
    let content = message["content"]
        .as_str()
        .ok_or("the reply has no message content")?;
    let score = serde_json::from_str::<Value>(content.trim())
        .ok()
        .and_then(|v| v["score"].as_i64())
        .or_else(|| first_integer(content))
        .ok_or_else(|| format!("the reply holds no score: {}", snippet(content)))?;
    if !(range.min..=range.max).contains(&score) {
        return Err(format!(
            "the reply's score {score} is outside {}-{}",
            range.min, range.max
        ));
    }
    let score_token = reply["choices"][0]["logprobs"]["content"]
        .as_array()
        .and_then(|tokens| {
            tokens
                .iter()
                .find(|t| t["token"].as_str().map(str::trim) == Some(&score.to_string()))
        });
    let distribution: Vec<(i64, f64)> = score_token
        .and_then(|t| t["top_logprobs"].as_array())
        .map(|alternatives| {
            let mut seen = std::collections::BTreeMap::new();
            for a in alternatives {
                let level = a["token"]
                    .as_str()
                    .and_then(|t| t.trim().parse::<i64>().ok());
                if let (Some(level), Some(logprob)) = (level, a["logprob"].as_f64()) {
                    if (range.min..=range.max).contains(&level) {
                        *seen.entry(level).or_insert(0.0) += logprob.exp();
                    }
                }
            }
            seen.into_iter().collect()
        })
        .unwrap_or_default();
    let total: f64 = distribution.iter().map(|(_, p)| p).sum();
    if total > 0.0 {
        let expected = distribution.iter().map(|(l, p)| *l as f64 * p).sum::<f64>() / total;
        let chosen = distribution
            .iter()
            .find(|(l, _)| *l == score)
            .map_or(0.0, |(_, p)| p / total);
        Ok(TeacherLabel {
            expected,
            level: score,
            confidence: Some(chosen),
        })
    } else {
        Ok(TeacherLabel {
            expected: score as f64,
            level: score,
            confidence: None,
        })
    }
}

fn first_integer(text: &str) -> Option<i64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let negative = text[..start].ends_with('-');
    digits
        .parse::<i64>()
        .ok()
        .map(|n| if negative { -n } else { n })
}

/// The first 200 characters of `text`, for messages.
fn snippet(text: &str) -> String {
    let cut: String = text.chars().take(200).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: ScoreRange = ScoreRange { min: 1, max: 6 };

    fn reply(content: &str, logprobs: Value) -> Value {
        json!({"choices": [{"message": {"content": content}, "logprobs": logprobs}]})
    }

    #[test]
    fn the_expected_score_weighs_the_score_token_alternatives() {
        let logprobs = json!({"content": [
            {"token": "{\"", "top_logprobs": []},
            {"token": "score", "top_logprobs": []},
            {"token": "4", "top_logprobs": [
                {"token": "4", "logprob": (0.6f64).ln()},
                {"token": "5", "logprob": (0.3f64).ln()},
                {"token": "9", "logprob": (0.05f64).ln()},
                {"token": "x", "logprob": (0.05f64).ln()}
            ]}
        ]});
        let label = parse_reply(&reply("{\"score\": 4}", logprobs), RANGE).unwrap();
        // 9 is out of range and x is no number: 4 and 5 renormalised to 2/3 and 1/3.
        assert!((label.expected - (4.0 * 2.0 / 3.0 + 5.0 / 3.0)).abs() < 1e-9);
        assert_eq!(label.level, 4);
        assert!((label.confidence.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn plain_text_json_refusals_and_out_of_range_scores() {
        let plain = parse_reply(
            &reply("I would give this a 3 out of 6.", Value::Null),
            RANGE,
        );
        assert_eq!(plain.unwrap().expected, 3.0);
        let none = parse_reply(&reply("I cannot say.", Value::Null), RANGE);
        assert!(none.unwrap_err().contains("no score"));
        let high = parse_reply(&reply("{\"score\": 9}", Value::Null), RANGE);
        assert!(high.unwrap_err().contains("outside 1-6"));
        let refused = json!({"choices": [{"message": {"content": null, "refusal": "I can't help with that."}}]});
        assert!(parse_reply(&refused, RANGE)
            .unwrap_err()
            .contains("refused"));
    }
}
