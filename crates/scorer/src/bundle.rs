//! The `*.cyborg` bundle: one file that carries everything needed to score, checksummed.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | what |
//! |---|---|
//! | 8 | magic `\x89CYBORG\n` |
//! | 4 | format version ([`FORMAT_VERSION`]) |
//! | 8 | total length of the file, this header and the checksum included |
//! | 4 | number of sections |
//! | per section | name length (u16), name (UTF-8), data length (u64), data |
//! | 32 | SHA-256 of every byte before it |
//!
//! The version comes before anything else that could fail, so a bundle from another version
//! is named as such rather than as corrupt; the total length makes a truncated download
//! recognisable as truncated.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The first eight bytes of every bundle.
pub const MAGIC: [u8; 8] = *b"\x89CYBORG\n";

/// The bundle format this build writes. Version 3 may give the head a lexical block, which a
/// build that reads only version 2 would silently leave out of the score.
pub const FORMAT_VERSION: u32 = 3;

/// The oldest bundle format this build reads: it differs from the newest only in what it
/// cannot hold.
pub const OLDEST_FORMAT_VERSION: u32 = 2;

const HEADER_LEN: usize = 8 + 4 + 8 + 4;
const CHECKSUM_LEN: usize = 32;

/// How many bytes [`sha256`] hands the hasher at a time.
const HASH_CHUNK: usize = 64 * 1024;

/// The SHA-256 of `bytes`, fed to the hasher a chunk at a time. In the browser this is not a
/// detail: V8 first runs WebAssembly in its baseline compiler and swaps in optimised code for
/// a function only at its next call, so one call that hashes a whole 91 MB bundle ran at
/// ~29 MB/s (3.1 s), where calls of 64 KiB switch to the optimised code after the first few.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for chunk in bytes.chunks(HASH_CHUNK) {
        hasher.update(chunk);
    }
    hasher.finalize().into()
}

/// The named byte sections of a bundle, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sections {
    sections: Vec<(String, Vec<u8>)>,
}

impl Sections {
    /// No sections.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) section `name`.
    pub fn insert(&mut self, name: &str, data: Vec<u8>) {
        match self.sections.iter_mut().find(|(n, _)| n == name) {
            Some((_, existing)) => *existing = data,
            None => self.sections.push((name.to_string(), data)),
        }
    }

    /// Section `name`, or an error naming `source_name` and what is missing.
    pub fn get(&self, name: &str, source_name: &str) -> Result<&[u8]> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, data)| data.as_slice())
            .ok_or_else(|| {
                Error::invalid(source_name, format!("the bundle has no \"{name}\" section"))
            })
    }

    /// The section names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|(n, _)| n.as_str())
    }

    /// The complete bundle file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body: usize = self
            .sections
            .iter()
            .map(|(name, data)| 2 + name.len() + 8 + data.len())
            .sum();
        let total = HEADER_LEN + body + CHECKSUM_LEN;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(total as u64).to_le_bytes());
        out.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        for (name, data) in &self.sections {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            out.extend_from_slice(data);
        }
        out.extend_from_slice(&sha256(&out));
        out
    }

    /// Parses and verifies a bundle; `source_name` (a path or URL) names it in errors.
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<Self> {
        Self::from_bytes_hashed(bytes, source_name, None)
    }

    /// As [`Sections::from_bytes`], with the SHA-256 of everything before the checksum
    /// (`content_sha256`) computed by a caller that has a faster one: the browser's own is
    /// native code, several times this crate's compiled to wasm.
    pub fn from_bytes_hashed(
        bytes: &[u8],
        source_name: &str,
        content_sha256: Option<[u8; 32]>,
    ) -> Result<Self> {
        let fail = |message: String| Error::invalid(source_name, message);
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(fail(not_a_bundle(bytes)));
        }
        if bytes.len() < HEADER_LEN {
            return Err(fail(format!(
                "the bundle is truncated: {} bytes, shorter than its {HEADER_LEN}-byte header",
                bytes.len()
            )));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(fail(format!(
                "bundle format version {version}; this build of Cyborg reads versions \
                 {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION} — export the model again with a \
                 matching `cyborg`"
            )));
        }
        let total = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        if (bytes.len() as u64) < total {
            return Err(fail(format!(
                "the bundle is truncated: {} of its {total} bytes are present \
                 (an interrupted download or copy?)",
                bytes.len()
            )));
        }
        if bytes.len() as u64 != total {
            return Err(fail(format!(
                "the bundle has {} bytes but its header says {total}: extra bytes at the end",
                bytes.len()
            )));
        }
        let (content, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if content_sha256.unwrap_or_else(|| sha256(content)) != checksum {
            return Err(fail(
                "the bundle's checksum does not match its contents: the file is corrupt".into(),
            ));
        }
        let count = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let mut reader = SectionReader {
            bytes: content,
            at: HEADER_LEN,
        };
        let mut sections = Sections::new();
        for _ in 0..count {
            let name_len =
                u16::from_le_bytes(reader.take(2).map_err(&fail)?.try_into().expect("2"));
            let name = std::str::from_utf8(reader.take(name_len as usize).map_err(&fail)?)
                .map_err(|_| fail("a section name is not UTF-8".into()))?
                .to_string();
            let len = u64::from_le_bytes(reader.take(8).map_err(&fail)?.try_into().expect("8"));
            let data = reader.take(len as usize).map_err(&fail)?.to_vec();
            sections.sections.push((name, data));
        }
        if reader.at != content.len() {
            return Err(fail("the bundle has bytes after its last section".into()));
        }
        Ok(sections)
    }
}

struct SectionReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> SectionReader<'a> {
    fn take(&mut self, len: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "the bundle's section table is inconsistent at byte {} (wants {len} bytes, {} left)",
                self.at,
                self.bytes.len() - self.at
            )
        })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
}

/// Explains what a file that is not a bundle seems to be instead.
fn not_a_bundle(bytes: &[u8]) -> String {
    let start = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).to_lowercase();
    let start = start.trim_start();
    let guess = if bytes.is_empty() {
        "the file is empty"
    } else if start.starts_with("<!doctype html") || start.starts_with("<html") {
        "it is an HTML page (a wrong link, or a server error page?)"
    } else if start.starts_with('{') || start.starts_with('[') {
        "it is JSON (a model's config.json rather than its bundle?)"
    } else if bytes.starts_with(b"PK") {
        "it is a zip archive"
    } else {
        "it does not start with the bundle signature"
    };
    format!("not a Cyborg bundle (*.cyborg): {guess}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_fed_in_chunks_is_the_sha256_of_the_whole() {
        // Lengths around the chunk size, and the standard "abc" test vector.
        for length in [0, 1, HASH_CHUNK - 1, HASH_CHUNK, 3 * HASH_CHUNK + 17] {
            let bytes: Vec<u8> = (0..length).map(|i| (i * 31 % 251) as u8).collect();
            assert_eq!(sha256(&bytes).as_slice(), Sha256::digest(&bytes).as_slice());
        }
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hex: String = sha256(b"abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, abc);
    }

    #[test]
    fn a_checksum_computed_by_the_caller_is_checked_like_our_own() {
        let bytes = sample();
        let content = &bytes[..bytes.len() - CHECKSUM_LEN];
        assert!(Sections::from_bytes_hashed(&bytes, "t", Some(sha256(content))).is_ok());
        let mut wrong = sha256(content);
        wrong[0] ^= 1;
        let err = Sections::from_bytes_hashed(&bytes, "t", Some(wrong)).unwrap_err();
        assert!(err.to_string().contains("checksum does not match"), "{err}");
    }

    fn sample() -> Vec<u8> {
        let mut sections = Sections::new();
        sections.insert("a.json", b"{\"x\":1}".to_vec());
        sections.insert("weights", vec![7u8; 1000]);
        sections.to_bytes()
    }

    #[test]
    fn round_trips() {
        let parsed = Sections::from_bytes(&sample(), "t").unwrap();
        assert_eq!(parsed.get("a.json", "t").unwrap(), b"{\"x\":1}");
        assert_eq!(parsed.get("weights", "t").unwrap(), &[7u8; 1000][..]);
        assert_eq!(parsed.names().collect::<Vec<_>>(), ["a.json", "weights"]);
    }

    #[test]
    fn every_truncation_is_reported_as_truncated() {
        let bytes = sample();
        for len in [
            MAGIC.len() + 1,
            HEADER_LEN,
            HEADER_LEN + 10,
            bytes.len() - 1,
        ] {
            let err = Sections::from_bytes(&bytes[..len], "x.cyborg")
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("x.cyborg: the bundle is truncated"),
                "{len}: {err}"
            );
        }
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let mut bytes = sample();
        bytes[HEADER_LEN + 20] ^= 1;
        let err = Sections::from_bytes(&bytes, "x").unwrap_err().to_string();
        assert!(err.contains("checksum does not match"), "{err}");
    }

    #[test]
    fn another_format_version_is_named_not_called_corrupt() {
        let mut bytes = sample();
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        let err = Sections::from_bytes(&bytes, "x").unwrap_err().to_string();
        assert!(err.contains("bundle format version 1"), "{err}");
        assert!(err.contains("reads versions 2 to 3"), "{err}");
    }

    #[test]
    fn a_bundle_of_the_oldest_readable_version_is_still_read() {
        let mut bytes = sample();
        bytes[8..12].copy_from_slice(&OLDEST_FORMAT_VERSION.to_le_bytes());
        let body = bytes.len() - CHECKSUM_LEN;
        let checksum = sha256(&bytes[..body]);
        bytes[body..].copy_from_slice(&checksum);
        let parsed = Sections::from_bytes(&bytes, "t").unwrap();
        assert_eq!(parsed.get("a.json", "t").unwrap(), b"{\"x\":1}");
    }

    #[test]
    fn other_files_are_recognised() {
        let err = |b: &[u8]| Sections::from_bytes(b, "f").unwrap_err().to_string();
        assert!(err(b"<!DOCTYPE html><html>").contains("HTML page"));
        assert!(err(b"{\"vocab_size\": 3}").contains("JSON"));
        assert!(err(b"").contains("empty"));
    }
}
