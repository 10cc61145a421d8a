//! Bundles: the raw bytes through the container parser, and the same bytes cut into sections
//! and sealed with a valid checksum, so that the configuration (its screen too), card, tokenizer,
//! weights (every precision safetensors holds) and screen vocabulary parsers see them too.
#![no_main]

use candle_core::Device;
use cyborg_scorer::bundle::Sections;
use cyborg_scorer::Scorer;
use libfuzzer_sys::fuzz_target;

const SECTIONS: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "weights.safetensors",
    "card.json",
    "vocabulary.bin",
];

fuzz_target!(|input: &[u8]| {
    let _ = Sections::from_bytes(input, "fuzz");
    // Each section: one byte naming it, two bytes of length, then its data.
    let mut sections = Sections::new();
    let mut rest = input;
    while let [which, low, high, tail @ ..] = rest {
        let length = usize::from(u16::from_le_bytes([*low, *high])).min(tail.len());
        sections.insert(SECTIONS[usize::from(*which) % SECTIONS.len()], tail[..length].to_vec());
        rest = &tail[length..];
    }
    let _ = Scorer::from_bundle(&sections.to_bytes(), "fuzz", &Device::Cpu);
});
