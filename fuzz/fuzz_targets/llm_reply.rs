//! Chat-completions replies: any JSON, and any text as the message content.
#![no_main]

use cyborg_scorer::metrics::ScoreRange;
use cyborg_trainer::teacher::llm::parse_reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let range = ScoreRange { min: 1, max: 6 };
    if let Ok(reply) = serde_json::from_slice::<serde_json::Value>(input) {
        let _ = parse_reply(&reply, range);
    }
    let content = String::from_utf8_lossy(input);
    let reply = serde_json::json!({"choices": [{"message": {"content": content}}]});
    let _ = parse_reply(&reply, range);
});
