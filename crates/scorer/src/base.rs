//! Loading a base encoder from a local Hugging Face model folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::config::BertConfig;
use crate::encoder::{Encoder, Weights};
use crate::error::{Error, Result};
use crate::model::TextEncoder;
use crate::tokenize::{WindowConfig, WindowTokenizer};

/// The files a BERT-family model folder must hold.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// A base encoder read from a folder, with what identifies it.
pub struct BaseModel {
    /// Tokenizer and encoder.
    pub text_encoder: TextEncoder,
    /// The folder's name, e.g. `all-MiniLM-L6-v2`.
    pub name: String,
    /// SHA-256 of `model.safetensors`, hex.
    pub weights_sha256: String,
}

impl BaseModel {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`, naming every
    /// missing file at once and any mismatch between them.
    pub fn load(dir: &Path, windows: WindowConfig, device: &Device) -> Result<Self> {
        let shown = dir.display().to_string();
        check_model_folder(dir, &shown)?;
        let path = |f: &str| -> PathBuf { dir.join(f) };
        let read = |f: &str| {
            std::fs::read(path(f))
                .map_err(|e| Error::invalid(path(f).display(), format!("cannot be read: {e}")))
        };
        let config_name = path("config.json").display().to_string();
        let config_json = String::from_utf8(read("config.json")?)
            .map_err(|_| Error::invalid(&config_name, "is not UTF-8 text"))?;
        let config = BertConfig::from_json(&config_json, &config_name)?;
        let tokenizer = WindowTokenizer::from_json(
            &read("tokenizer.json")?,
            windows,
            &path("tokenizer.json").display().to_string(),
        )?;
        check_tokenizer_fits(&config, &tokenizer, windows, (&shown, &config_name))?;
        let weights_name = path("model.safetensors").display().to_string();
        let bytes = read("model.safetensors")?;
        let weights_sha256 = hex(&crate::bundle::sha256(&bytes));
        let tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| {
                Error::invalid(&weights_name, format!("is not a safetensors file: {e}"))
            })?;
        let encoder = Encoder::load(&Weights::new(tensors, weights_name), &config)?;
        Ok(BaseModel {
            text_encoder: TextEncoder {
                tokenizer,
                encoder,
                device: device.clone(),
            },
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(shown),
            weights_sha256,
        })
    }
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Names every file the model folder `dir` (shown as `shown`) lacks, or says it is no folder.
fn check_model_folder(dir: &Path, shown: &str) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::invalid(
            shown,
            "is not a folder; an encoder is a model folder holding config.json, \
             tokenizer.json and model.safetensors",
        ));
    }
    let missing: Vec<&str> = REQUIRED_FILES
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            shown,
            format!(
                "missing {} (a BERT-family model folder holds {})",
                missing.join(", "),
                REQUIRED_FILES.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Checks that the tokenizer's ids fit the encoder's vocabulary and the windows its positions;
/// `(folder, config_file)` are the names the errors give.
fn check_tokenizer_fits(
    config: &BertConfig,
    tokenizer: &WindowTokenizer,
    windows: WindowConfig,
    (folder, config_file): (&str, &str),
) -> Result<()> {
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(Error::invalid(
            folder,
            format!(
                "tokenizer.json has {} tokens but config.json's vocab_size is {}: \
                 the files belong to different models",
                tokenizer.vocab_size(),
                config.vocab_size
            ),
        ));
    }
    if windows.max_tokens > config.max_tokens() {
        return Err(Error::invalid(
            config_file,
            format!(
                "the encoder has {} positions, fewer than the {}-token windows asked for",
                config.max_tokens(),
                windows.max_tokens
            ),
        ));
    }
    Ok(())
}
