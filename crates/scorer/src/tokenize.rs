//! Splits a whole response into encoder windows, so no part of a long essay goes unseen.

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::{Error, Result};

/// How a text is cut into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowConfig {
    /// Tokens per window, the two special tokens included (sentence-transformers uses 256 for
    /// all-MiniLM-L6-v2).
    pub max_tokens: usize,
    /// At most this many windows per text; a text longer than that is cut at the end. Keeps a
    /// pathological input from taking minutes.
    pub max_windows: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            max_tokens: 256,
            max_windows: 16,
        }
    }
}

/// A word-piece tokenizer that frames each window as `[CLS] … [SEP]` (MPNet: `<s> … </s>`).
#[derive(Clone)]
pub struct WindowTokenizer {
    tokenizer: Tokenizer,
    cls: u32,
    sep: u32,
    windows: WindowConfig,
}

/// A text cut into windows of token ids, each framed with the special tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    /// The windows, in text order; never empty (an empty text gives `[CLS] [SEP]`).
    pub windows: Vec<Vec<u32>>,
    /// Word pieces in the whole text, before any cut at `max_windows`.
    pub text_tokens: usize,
}

impl WindowTokenizer {
    /// Parses a Hugging Face `tokenizer.json`; `source_name` names it in errors.
    ///
    /// The file's own truncation and padding settings are switched off: windowing replaces
    /// them.
    pub fn from_json(json: &[u8], windows: WindowConfig, source_name: &str) -> Result<Self> {
        // The tokenizers crate panics on some malformed JSON (found by fuzzing: a syntax error
        // inside "decoder"), so the JSON is checked first.
        serde_json::from_slice::<serde::de::IgnoredAny>(json).map_err(|e| {
            Error::invalid(source_name, format!("its tokenizer is not valid JSON: {e}"))
        })?;
        let mut tokenizer = Tokenizer::from_bytes(json)
            .map_err(|e| Error::invalid(source_name, format!("not a usable tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        // The tokenizer's own framing of an empty text gives its two special tokens: BERT's
        // [CLS] … [SEP], or MPNet's (RoBERTa's) <s> … </s>.
        let framed = tokenizer
            .encode("", true)
            .map_err(|e| Error::invalid(source_name, format!("not a usable tokenizer: {e}")))?;
        // Without a post-processor, BERT's names are looked up.
        let named = || {
            Some((
                tokenizer.token_to_id("[CLS]")?,
                tokenizer.token_to_id("[SEP]")?,
            ))
        };
        let (cls, sep) = match framed.get_ids() {
            &[cls, sep] => (cls, sep),
            _ => named().ok_or_else(|| {
                Error::invalid(
                    source_name,
                    "neither frames a text with two special tokens nor has [CLS] and [SEP]; \
                     Cyborg needs a BERT or MPNet word-piece tokenizer",
                )
            })?,
        };
        if windows.max_tokens < 3 {
            return Err(Error::invalid(
                source_name,
                "windows need room for at least one token besides [CLS] and [SEP]",
            ));
        }
        if windows.max_windows == 0 {
            return Err(Error::invalid(
                source_name,
                "max_windows is 0: a response needs at least one window",
            ));
        }
        Ok(WindowTokenizer {
            tokenizer,
            cls,
            sep,
            windows,
        })
    }

    /// The windowing settings.
    pub fn window_config(&self) -> WindowConfig {
        self.windows
    }

    /// Number of tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The tokenizer as `tokenizer.json` bytes, for a bundle.
    pub fn to_json(&self) -> Result<String> {
        self.tokenizer
            .to_string(false)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// Cuts `text` into consecutive, non-overlapping windows of at most `max_tokens`.
    pub fn windows(&self, text: &str) -> Result<Windows> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let ids = encoding.get_ids();
        let per_window = self.windows.max_tokens - 2;
        let frame = |chunk: &[u32]| {
            let mut window = Vec::with_capacity(chunk.len() + 2);
            window.push(self.cls);
            window.extend_from_slice(chunk);
            window.push(self.sep);
            window
        };
        let windows = if ids.is_empty() {
            vec![frame(&[])]
        } else {
            ids.chunks(per_window)
                .take(self.windows.max_windows)
                .map(frame)
                .collect()
        };
        Ok(Windows {
            windows,
            text_tokens: ids.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing the bundle reader: the tokenizers crate panicked on this.
    #[test]
    fn a_tokenizer_with_a_syntax_error_is_refused_not_a_panic() {
        let json = br#"{"version": "1.0", "decoder":=null, "model": {"type": "WordPiece"}}"#;
        let error = WindowTokenizer::from_json(json, WindowConfig::default(), "m.cyborg")
            .err()
            .expect("refused");
        assert!(
            error
                .to_string()
                .contains("its tokenizer is not valid JSON"),
            "{error}"
        );
    }
}
