//! An on-disk cache of frozen encoder layers' outputs.
//!
//! Training the top K layers needs the output of the layers below them for every window of
//! every response, and those never change for a given base model. Computing them is most of
//! the cost of a training run, so they are kept on disk, one file per response, keyed by the
//! base model's weights, the layer, and the response's token ids: a second run on the same
//! data (another seed, another human fraction) skips the encoder's frozen part entirely.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use cyborg_scorer::model::{PreparedText, TextEncoder};
use sha2::{Digest, Sha256};

use crate::progress::Progress;

const MAGIC: &[u8; 8] = b"CYBSTAT1";

/// Where the hidden states after one encoder layer are kept.
pub struct StateCache {
    /// `None` when caching is off.
    dir: Option<PathBuf>,
    key: Vec<u8>,
    layer: usize,
}

impl StateCache {
    /// The cache for the output of the first `layer` layers of the model identified by
    /// `model_id` (e.g. its weights' SHA-256), under `root` (`None`: no caching).
    pub fn new(root: Option<&Path>, model_id: &str, layer: usize) -> Self {
        let key = format!(
            "{model_id}/layer-{layer}/numerics-{}",
            cyborg_scorer::NUMERICS_VERSION
        )
        .into_bytes();
        let dir = root.map(|r| {
            let short: String = model_id.chars().take(16).collect();
            r.join(format!("{short}-layer{layer}"))
        });
        StateCache { dir, key, layer }
    }

    /// How many encoder layers the cached states have been through.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// The default cache folder: `$CYBORG_CACHE`, else `$XDG_CACHE_HOME/cyborg`, else
    /// `~/.cache/cyborg`.
    pub fn default_root() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("CYBORG_CACHE") {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("cyborg"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cyborg"))
    }

    fn path(&self, text: &PreparedText) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut hasher = Sha256::new();
        hasher.update(&self.key);
        for window in &text.windows {
            hasher.update((window.len() as u32).to_le_bytes());
            for id in window {
                hasher.update(id.to_le_bytes());
            }
        }
        let hash = cyborg_scorer::base::hex(&hasher.finalize());
        Some(dir.join(&hash[..2]).join(format!("{}.bin", &hash[2..])))
    }

    /// The cached window states of `text`, if present and intact.
    fn get(&self, text: &PreparedText, device: &Device) -> Option<Vec<Tensor>> {
        let bytes = std::fs::read(self.path(text)?).ok()?;
        decode(&bytes, text, device)
    }

    /// Stores the window states of `text`; a failure to write only costs a recomputation.
    fn put(&self, text: &PreparedText, states: &[Tensor]) -> Result<()> {
        let Some(path) = self.path(text) else {
            return Ok(());
        };
        let dir = path.parent().expect("cache files live in a folder");
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the cache folder {}", dir.display()))?;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(states.len() as u32).to_le_bytes());
        for state in states {
            let (len, width) = state.dims2()?;
            bytes.extend_from_slice(&(len as u32).to_le_bytes());
            bytes.extend_from_slice(&(width as u32).to_le_bytes());
        }
        for state in states {
            for value in state.flatten_all()?.to_vec1::<f32>()? {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
        }
        crate::output::write_atomically(&path, &bytes)
    }

    /// The hidden states after the first `layer` layers for every window of every text,
    /// from the cache where present, computed (and cached) otherwise.
    pub fn states(
        &self,
        encoder: &TextEncoder,
        texts: &[PreparedText],
        layer: usize,
        progress: &Progress,
    ) -> Result<Vec<Vec<Tensor>>> {
        let mut states: Vec<Option<Vec<Tensor>>> =
            texts.iter().map(|t| self.get(t, &encoder.device)).collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| states[i].is_none()).collect();
        let hits = texts.len() - missing.len();
        let tokens: usize = missing.iter().map(|&i| texts[i].tokens()).sum();
        // With every layer tuned, only the embedding lookup is frozen.
        let frozen = match layer {
            0 => "the embeddings".to_string(),
            _ => format!("frozen layers 1-{layer}"),
        };
        progress.note(&format!(
            "{frozen}: {hits} of {} responses from the cache, {} to encode ({tokens} tokens)",
            texts.len(),
            missing.len()
        ));
        let bar = progress.bar(
            tokens as u64,
            &format!(
                "encoding {} responses through {frozen} ({hits} cached)",
                missing.len()
            ),
            "tokens",
        );
        const GROUP: usize = 16;
        for group in missing.chunks(GROUP) {
            let prepared: Vec<PreparedText> = group.iter().map(|&i| texts[i].clone()).collect();
            let windows = encoder.window_states(&prepared, 0..layer)?;
            let mut windows = windows.into_iter();
            for &i in group {
                let mine: Vec<Tensor> = windows.by_ref().take(texts[i].windows.len()).collect();
                if let Err(e) = self.put(&texts[i], &mine) {
                    progress.note(&format!("warning: not cached: {e:#}"));
                }
                bar.inc(texts[i].tokens() as u64);
                states[i] = Some(mine);
            }
            progress.check()?;
        }
        bar.finish_and_clear();
        Ok(states
            .into_iter()
            .map(|s| s.expect("every text encoded"))
            .collect())
    }
}

fn decode(bytes: &[u8], text: &PreparedText, device: &Device) -> Option<Vec<Tensor>> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let read_u32 = |b: &[u8], at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let count = read_u32(rest, 0)?;
    if count != text.windows.len() {
        return None;
    }
    let mut shapes = Vec::with_capacity(count);
    for i in 0..count {
        let len = read_u32(rest, 4 + 8 * i)?;
        let width = read_u32(rest, 8 + 8 * i)?;
        if len != text.windows[i].len() {
            return None;
        }
        shapes.push((len, width));
    }
    let mut at = 4 + 8 * count;
    let mut states = Vec::with_capacity(count);
    for (len, width) in shapes {
        let n = len * width;
        let data = rest.get(at..at + 4 * n)?;
        let values: Vec<f32> = data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        states.push(Tensor::from_vec(values, (len, width), device).ok()?);
        at += 4 * n;
    }
    (at == rest.len()).then_some(states)
}
