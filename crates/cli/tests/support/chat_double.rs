//! A stand-in for an OpenAI-compatible chat-completions server, on 127.0.0.1, speaking
//! HTTP/1.1 and the endpoint's JSON, so the LLM teacher is tested without any paid API.
//!
//! It scores a response by counting the word "good" in it (1 + count, at most 6) and gives
//! log-probabilities for the score token. Markers in a response's text make it misbehave:
//! `[[429]]` and `[[500]]` fail the first request for that text (429 with `Retry-After: 1`),
//! `[[garbage]]` answers the first one with a body that is not JSON, `[[drop]]` closes the
//! first one's connection without a reply (logged with status 0), `[[slow]]` waits
//! 300 ms, `[[refuse]]` refuses, `[[nine]]` scores 9, `[[mute]]` answers without a number.
//!
//! Asked to write a response ("would score L … (Sample K.)"), it writes one that it would
//! itself score L, except that sample 2 repeats sample 1 word for word and sample 3 carries
//! one "good" too many (so it scores L + 1, up to 6).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How the double behaves overall.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Answer `response_format: json_schema` with this status: 400 as servers without it
    /// should, 500 as llama.cpp's Python server does.
    pub reject_json_schema: Option<u16>,
    /// Answer every request with 429 `insufficient_quota`.
    pub no_quota: bool,
    /// Wait this long before every answer.
    pub delay: Duration,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: Value,
    /// The status answered.
    pub status: u16,
}

impl Received {
    /// The response being scored: the last user message, without the prompt's prefix.
    pub fn text(&self) -> String {
        let messages = self.body["messages"].as_array().unwrap();
        if is_generation(&self.body) {
            return String::new();
        }
        let last = messages.last().unwrap()["content"].as_str().unwrap();
        last.trim_start_matches("Response to score:\n\n")
            .to_string()
    }
}

/// A running double.
pub struct ChatDouble {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    log: Arc<Mutex<Vec<Received>>>,
}

impl ChatDouble {
    /// Starts the double on a free port; it runs until the test process ends.
    pub fn start(behaviour: Behaviour) -> ChatDouble {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let server_log = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let (log, behaviour) = (server_log.clone(), behaviour.clone());
                std::thread::spawn(move || serve(stream.unwrap(), &behaviour, &log));
            }
        });
        ChatDouble { base_url, log }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

/// The score the double gives `text`.
pub fn double_score(text: &str) -> i64 {
    let goods = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| *w == "good")
        .count() as i64;
    (1 + goods).min(6)
}

fn serve(stream: TcpStream, behaviour: &Behaviour, log: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return; // the client closed the connection
        }
        let mut length = 0;
        let mut authorization = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let at = Instant::now();
        assert!(
            request_line.starts_with("POST /v1/chat/completions "),
            "{request_line}"
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        let mut received = Received {
            at,
            authorization,
            body,
            status: 200,
        };
        let text = received.text();
        let seen_before = log.lock().unwrap().iter().any(|r| {
            r.text() == text && r.body["response_format"] == received.body["response_format"]
        });
        std::thread::sleep(behaviour.delay);
        if text.contains("[[slow]]") {
            std::thread::sleep(Duration::from_millis(300));
        }
        if text.contains("[[drop]]") && !seen_before {
            received.status = 0;
            log.lock().unwrap().push(received);
            return; // the connection closes with no reply
        }
        let schema = received.body["response_format"]["type"] == "json_schema";
        let (status, extra_headers, reply) = if behaviour.no_quota {
            let error = json!({"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"}});
            (429, "", error.to_string())
        } else if let (true, Some(status)) = (schema, behaviour.reject_json_schema) {
            let error = json!({"error": {"message": "response_format json_schema is not supported", "type": "invalid_request_error"}});
            (status, "", error.to_string())
        } else if text.contains("[[429]]") && !seen_before {
            let error = json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}});
            (429, "Retry-After: 1\r\n", error.to_string())
        } else if text.contains("[[500]]") && !seen_before {
            (
                500,
                "",
                json!({"error": {"message": "internal error"}}).to_string(),
            )
        } else if text.contains("[[garbage]]") && !seen_before {
            (200, "", "{\"choices\": [{\"message\": ".to_string())
        } else {
            (200, "", completion(&received.body, &text).to_string())
        };
        received.status = status;
        log.lock().unwrap().push(received);
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            429 => "Too Many Requests",
            _ => "Internal Server Error",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{extra_headers}\
             Content-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Whether `request` asks for a new response rather than a score.
pub fn is_generation(request: &Value) -> bool {
    request["messages"][0]["content"]
        .as_str()
        .is_some_and(|s| s.starts_with("You write realistic student responses"))
}

/// The number after `marker` in `text`.
fn number_after(text: &str, marker: &str) -> i64 {
    let rest = &text[text.find(marker).unwrap() + marker.len()..];
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// The response the double writes for `level`, sample `sample` (0-based).
pub fn written_response(level: i64, sample: i64) -> String {
    let (sample, extra) = match sample {
        1 => (0, 0),
        2 => (2, 1),
        k => (k, 0),
    };
    let goods = vec!["good"; (level - 1 + extra) as usize].join(" ");
    format!("A synthetic answer {sample} at level {level} written here. {goods} Finally done.")
}

/// A chat completion scoring `text`, shaped as the request asked.
pub fn completion(request: &Value, text: &str) -> Value {
    if is_generation(request) {
        let user = request["messages"][1]["content"].as_str().unwrap();
        let level = number_after(user, "would score ");
        let sample = number_after(user, "(Sample ");
        return json!({
            "id": "chatcmpl-double",
            "object": "chat.completion",
            "model": request["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": written_response(level, sample)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        });
    }
    let score = if text.contains("[[nine]]") {
        9
    } else {
        double_score(text)
    };
    let prompt_tokens: usize = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["content"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .count()
        })
        .sum();
    let (content, refusal) = if text.contains("[[refuse]]") {
        (Value::Null, json!("I can't help with grading this."))
    } else if text.contains("[[mute]]") {
        (json!("This essay is hard to judge."), Value::Null)
    } else if request["response_format"]["type"].is_string() {
        (json!(format!("{{\"score\": {score}}}")), Value::Null)
    } else {
        (json!(format!("Score: {score}")), Value::Null)
    };
    // The score token: 70% on the score, 30% on its neighbour towards the middle.
    let neighbour = if score >= 4 { score - 1 } else { score + 1 };
    let logprobs = if request["logprobs"] == true {
        json!({"content": [
            {"token": "{\"score\": ", "logprob": -0.01, "top_logprobs": []},
            {"token": score.to_string(), "logprob": (0.7f64).ln(), "top_logprobs": [
                {"token": score.to_string(), "logprob": (0.7f64).ln()},
                {"token": neighbour.to_string(), "logprob": (0.3f64).ln()}
            ]},
            {"token": "}", "logprob": -0.01, "top_logprobs": []}
        ]})
    } else {
        Value::Null
    };
    json!({
        "id": "chatcmpl-double",
        "object": "chat.completion",
        "created": 0,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "logprobs": logprobs,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 5, "total_tokens": prompt_tokens + 5}
    })
}
