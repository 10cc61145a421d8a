//! CSV, TSV and JSONL bytes, as an upload is scanned and as a data file is read: the first
//! byte picks the format and quoting, the rest is the file.
#![no_main]

use std::path::Path;

use cyborg_trainer::data::{parse_table, scan_table, Format, ReadSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    let format = [Format::Csv, Format::Tsv, Format::Jsonl][usize::from(selector % 3)];
    let no_quoting = selector & 0x80 != 0;
    let path = Path::new("fuzz.csv");
    let _ = scan_table(path, bytes, Some(format), no_quoting);
    let spec = ReadSpec {
        format: Some(format),
        no_quoting,
        text: "text".into(),
        score: Some("score".into()),
        id: Some("id".into()),
        groups: vec!["group".into()],
        traits: vec!["trait".into()],
        optional_traits: true,
        ..ReadSpec::default()
    };
    let _ = parse_table(path, bytes, &spec);
});
