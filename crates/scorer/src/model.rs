//! The scorer: text → windows → encoder → pooled embedding + surface features → head → raw
//! score per trait → level.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::advisory::Advisory;
use crate::bundle::Sections;
use crate::card::ModelCard;
use crate::config::BertConfig;
use crate::encoder::{mask_bias, masked_sum, Encoder, TokenBatch, Weights};
use crate::error::{Error, Result};
use crate::features::{text_features, FEATURE_COUNT};
use crate::head::{Head, HeadConfig};
use crate::int8::Products;
use crate::metrics::{ScoreRange, Thresholds};
use crate::quantize::{self, Precision};
use crate::screen::{word_hashes, Screen, Vocabulary};
use crate::tokenize::{WindowConfig, WindowTokenizer};
use crate::traits::{TraitConfig, TraitScore};

/// Padded tokens per encoder batch: large enough for efficient matrix products, small enough
/// that no intermediate tensor (the attention scores are the largest, 25 MB at 256-token
/// windows) exceeds the 32 MiB below which the trainer's allocator keeps freed memory.
pub const MAX_BATCH_TOKENS: usize = 2048;

/// A response ready for the encoder: its windows and surface features.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedText {
    /// Token ids per window, special tokens included.
    pub windows: Vec<Vec<u32>>,
    /// The surface features of the whole text.
    pub features: [f32; FEATURE_COUNT],
    /// The hashes of its words, in order, for screening ([`crate::screen`]).
    pub words: Vec<u32>,
}

impl PreparedText {
    /// Total tokens over all windows.
    pub fn tokens(&self) -> usize {
        self.windows.iter().map(Vec::len).sum()
    }
}

/// A tokenizer and encoder: turns texts into pooled embeddings.
#[derive(Clone)]
pub struct TextEncoder {
    /// Cuts texts into windows.
    pub tokenizer: WindowTokenizer,
    /// The BERT encoder.
    pub encoder: Encoder,
    /// Where tensors live.
    pub device: Device,
}

impl TextEncoder {
    /// The encoder's tensors as a bundle stores them: matrices at `precision`, vectors f32.
    fn stored_tensors(&self, precision: Precision) -> Result<Vec<(String, Tensor)>> {
        let mut tensors = Vec::new();
        for (name, tensor) in self.encoder.named_parameters() {
            if tensor.rank() == 2 {
                tensors.extend(precision.store_matrix(&name, tensor)?);
            } else {
                tensors.push((name, tensor.to_dtype(DType::F32)?));
            }
        }
        Ok(tensors)
    }

    /// This encoder as it runs from a bundle stored at `precision`: its matrices rounded as
    /// stored, an int8 bundle's multiplied as `products` says.
    pub fn at_precision(&self, precision: Precision, products: Products) -> Result<TextEncoder> {
        const SOURCE: &str = "the encoder";
        let stored = self.stored_tensors(precision)?.into_iter().collect();
        let weights = Weights::new(quantize::restore(stored, SOURCE, products)?, SOURCE);
        Ok(TextEncoder {
            encoder: Encoder::load(&weights, self.encoder.config())?,
            ..self.clone()
        })
    }

    /// Tokenizes `text` and computes its surface features.
    pub fn prepare(&self, text: &str) -> Result<PreparedText> {
        let windows = self.tokenizer.windows(text)?;
        Ok(PreparedText {
            features: text_features(text, windows.text_tokens),
            windows: windows.windows,
            words: word_hashes(text),
        })
    }

    /// Runs every window of `texts` through the embeddings and `layers` of the encoder, in
    /// batches of similar length, and returns each window's hidden states (its own length ×
    /// hidden), in the order of `texts` and their windows.
    pub fn window_states(
        &self,
        texts: &[PreparedText],
        layers: std::ops::Range<usize>,
    ) -> Result<Vec<Tensor>> {
        let windows: Vec<&[u32]> = texts
            .iter()
            .flat_map(|t| t.windows.iter().map(Vec::as_slice))
            .collect();
        let mut states: Vec<Option<Tensor>> = vec![None; windows.len()];
        for batch in plan_batches(windows.iter().map(|w| w.len()), MAX_BATCH_TOKENS) {
            let members: Vec<&[u32]> = batch.iter().map(|&i| windows[i]).collect();
            let tokens = TokenBatch::new(&members, &self.device)?;
            let hidden = self.encoder.run_layers(
                &self.encoder.embed(&tokens)?,
                &tokens.mask_bias()?,
                layers.clone(),
            )?;
            for (row, &i) in batch.iter().enumerate() {
                states[i] = Some(hidden.get(row)?.narrow(0, 0, windows[i].len())?);
            }
        }
        Ok(states
            .into_iter()
            .map(|s| s.expect("every window is in a batch"))
            .collect())
    }

    /// The pooled embedding of each text (texts, hidden): the mean of the last layer's
    /// hidden states over every token of every window.
    pub fn pooled(&self, texts: &[PreparedText]) -> Result<Tensor> {
        let layers = 0..self.encoder.layers().len();
        let states = self.window_states(texts, layers.clone())?;
        let windows: Vec<usize> = texts.iter().map(|t| t.windows.len()).collect();
        pool_texts(&states, &windows, &self.encoder, layers.end)
    }
}

/// Groups items of the given lengths into batches, longest first, whose padded size
/// (batch × longest) stays within `max_tokens` and in which nothing is padded to more than
/// twice its length: a long text's short last window is not padded to a full window.
pub fn plan_batches(lengths: impl Iterator<Item = usize>, max_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<(usize, usize)> = lengths.enumerate().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut longest = 0;
    for (index, len) in order {
        match batches.last_mut() {
            Some(batch) if (batch.len() + 1) * longest <= max_tokens && 2 * len >= longest => {
                batch.push(index)
            }
            _ => {
                longest = len.max(1);
                batches.push(vec![index]);
            }
        }
    }
    batches
}

/// Runs encoder layers `from..` over each window's hidden states (the output of layer
/// `from - 1`) and averages over all tokens of each text's windows: (texts, hidden).
/// `windows_per_text` says how many consecutive states belong to each text.
///
/// Pooling across windows is a matrix product with each text's share of tokens, so the whole
/// is differentiable in the layers' parameters.
pub fn pool_texts(
    window_states: &[Tensor],
    windows_per_text: &[usize],
    encoder: &Encoder,
    from: usize,
) -> Result<Tensor> {
    let windows = window_states.len();
    if windows_per_text.iter().sum::<usize>() != windows {
        return Err(Error::invalid(
            "pooling",
            format!(
                "{windows} window states for {} windows",
                windows_per_text.iter().sum::<usize>()
            ),
        ));
    }
    let window_sums = window_sums(window_states, encoder, from)?;
    let share = token_shares(window_states, windows_per_text, window_sums.device())?;
    Ok(share.matmul(&window_sums)?)
}

/// Each window's hidden states after layers `from..`, summed over its tokens, in window order:
/// (windows, hidden). The layers run over batches of similar lengths.
fn window_sums(window_states: &[Tensor], encoder: &Encoder, from: usize) -> Result<Tensor> {
    let device = window_states
        .first()
        .map(|t| t.device().clone())
        .unwrap_or(Device::Cpu);
    let top = encoder.layers().len();
    if from >= top {
        let sums = window_states
            .iter()
            .map(|s| s.sum(0))
            .collect::<candle_core::Result<Vec<_>>>()?;
        return Ok(Tensor::stack(&sums, 0)?);
    }
    let mut batches = Vec::new();
    let mut sums = Vec::new();
    for batch in plan_batches(
        window_states.iter().map(|s| s.dim(0).unwrap_or(0)),
        MAX_BATCH_TOKENS,
    ) {
        let members: Vec<&Tensor> = batch.iter().map(|&i| &window_states[i]).collect();
        let (padded, mask) = pad_states(&members)?;
        let hidden = encoder.run_layers(&padded, &mask_bias(&mask)?, from..top)?;
        sums.push(masked_sum(&hidden, &mask)?.0);
        batches.push(batch);
    }
    // Put the window sums back in window order.
    let mut position = vec![0u32; window_states.len()];
    for (next, &i) in batches.iter().flatten().enumerate() {
        position[i] = next as u32;
    }
    let in_batch_order = Tensor::cat(&sums, 0)?;
    Ok(in_batch_order.index_select(&Tensor::new(position, &device)?, 0)?)
}

/// share[t][w] = 1 / tokens(t) for each window w of text t, 0 elsewhere: (texts, windows), so
/// that share × window sums is each text's mean over all its tokens.
fn token_shares(
    window_states: &[Tensor],
    windows_per_text: &[usize],
    device: &Device,
) -> Result<Tensor> {
    let (texts, windows) = (windows_per_text.len(), window_states.len());
    let mut share = vec![0f32; texts * windows];
    let mut first = 0;
    for (t, &count) in windows_per_text.iter().enumerate() {
        let mine = first..first + count;
        let tokens: usize = window_states[mine.clone()]
            .iter()
            .map(|s| s.dim(0))
            .sum::<candle_core::Result<usize>>()?;
        for w in mine {
            share[t * windows + w] = 1.0 / tokens.max(1) as f32;
        }
        first += count;
    }
    Ok(Tensor::from_vec(share, (texts, windows), device)?)
}

/// Stacks hidden states of different lengths into (batch, longest, hidden), zero-padded, and
/// the matching (batch, longest) mask.
fn pad_states(states: &[&Tensor]) -> Result<(Tensor, Tensor)> {
    let longest = states
        .iter()
        .map(|s| s.dim(0))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let longest = longest.into_iter().max().unwrap_or(0);
    let mut padded = Vec::with_capacity(states.len());
    let mut mask = Vec::with_capacity(states.len() * longest);
    for state in states {
        let len = state.dim(0)?;
        padded.push(state.pad_with_zeros(0, 0, longest - len)?);
        mask.extend(std::iter::repeat_n(1f32, len));
        mask.extend(std::iter::repeat_n(0f32, longest - len));
    }
    let device = states[0].device();
    Ok((
        Tensor::stack(&padded, 0)?,
        Tensor::from_vec(mask, (states.len(), longest), device)?,
    ))
}

/// Everything but the weights and tokenizer that a bundle needs to rebuild its scorer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorerConfig {
    /// The encoder's architecture.
    pub encoder: BertConfig,
    /// How texts are cut into windows.
    pub windows: WindowConfig,
    /// The head.
    pub head: HeadConfig,
    /// What the head scores, one output each; the first is the primary score.
    pub traits: Vec<TraitConfig>,
    /// The reference that screens responses, its word pairs aside (absent in bundles made
    /// before screening, which flag by length only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<Screen>,
}

impl ScorerConfig {
    /// Reads a bundle's config.json and checks what a hand edit could break: the head's
    /// features, at least one trait and each trait's scale, windows the encoder can hold.
    pub fn parse(json: &[u8], source_name: &str) -> Result<Self> {
        let config: ScorerConfig = serde_json::from_slice(json)
            .map_err(|e| Error::invalid(source_name, format!("its config.json: {e}")))?;
        config.head.validate(source_name)?;
        if config.traits.is_empty() {
            return Err(Error::invalid(
                source_name,
                "its config.json lists no traits",
            ));
        }
        for config in &config.traits {
            config.validate(source_name)?;
        }
        if let Some(screen) = &config.screen {
            screen.validate(config.encoder.hidden_size, source_name)?;
        }
        if config.windows.max_tokens > config.encoder.max_tokens() {
            return Err(Error::invalid(
                source_name,
                format!(
                    "its windows of {} tokens exceed the encoder's {} positions",
                    config.windows.max_tokens,
                    config.encoder.max_tokens()
                ),
            ));
        }
        Ok(config)
    }
}

/// One response's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The integer level of the primary trait.
    pub score: i64,
    /// The head's output for the primary trait on its scale, before thresholds.
    pub raw: f64,
    /// The bundle's other traits, in its order (empty for a single-trait bundle).
    pub traits: Vec<TraitScore>,
    /// Why a person should check this score (empty when nothing is unusual).
    #[serde(default)]
    pub advisories: Vec<Advisory>,
}

impl Score {
    /// The cells under [`Scorer::score_columns`], six decimals for raw values, the advisories
    /// last.
    pub fn cells(&self) -> Vec<String> {
        let mut cells = vec![self.score.to_string(), format!("{:.6}", self.raw)];
        for t in &self.traits {
            cells.extend(t.level.map(|level| level.to_string()));
            cells.push(format!("{:.6}", t.raw));
        }
        cells.push(Advisory::cell(&self.advisories));
        cells
    }
}

/// A trained student: scores responses.
#[derive(Clone)]
pub struct Scorer {
    /// Tokenizer and encoder.
    pub text_encoder: TextEncoder,
    /// The regression head.
    pub head: Head,
    /// What the head's outputs are, in order; the first is the primary score.
    pub traits: Vec<TraitConfig>,
    /// The model card, when loaded from a bundle.
    pub card: Option<ModelCard>,
    /// The reference that screens responses, when the bundle has one.
    pub screen: Option<Screen>,
    /// How its bundle stored the encoder's matrices (f32 for a scorer not read from one).
    pub precision: Precision,
}

/// What the model read in one response: its raw value on every trait (on the traits' own
/// scales, in order) and its pooled embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Raw value per trait.
    pub values: Vec<f64>,
    /// The pooled embedding the head read.
    pub embedding: Vec<f32>,
}

/// Bundle section names.
mod section {
    pub const CONFIG: &str = "config.json";
    pub const TOKENIZER: &str = "tokenizer.json";
    pub const WEIGHTS: &str = "weights.safetensors";
    pub const CARD: &str = "card.json";
    pub const VOCABULARY: &str = "vocabulary.bin";
}

impl Scorer {
    /// The primary trait's thresholds, or an error naming it when it is continuous (such a
    /// scorer gives raw values only: [`Scorer::readings`]).
    pub fn thresholds(&self) -> Result<&Thresholds> {
        let primary = &self.traits[0];
        primary.scale.thresholds().ok_or_else(|| {
            Error::invalid(
                "scorer",
                format!(
                    "its primary trait \"{}\" is continuous, not scored on levels",
                    primary.name
                ),
            )
        })
    }

    /// The primary trait's score range.
    pub fn range(&self) -> Result<ScoreRange> {
        Ok(self.thresholds()?.range)
    }

    /// The columns a table of scores gets: `score` and `raw_score`, then for each further
    /// trait its level and `NAME_raw` on levels, or its value `NAME` when continuous, then
    /// `advisories`.
    pub fn score_columns(&self) -> Vec<String> {
        let mut columns = vec!["score".to_string(), "raw_score".to_string()];
        for config in &self.traits[1..] {
            columns.push(config.name.clone());
            if config.scale.thresholds().is_some() {
                columns.push(format!("{}_raw", config.name));
            }
        }
        columns.push("advisories".to_string());
        columns
    }

    /// Replaces the primary trait's thresholds.
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.traits[0].scale = crate::traits::Scale::Levels(thresholds);
    }

    /// Scores prepared texts, all at once.
    pub fn score_prepared(&self, texts: &[PreparedText]) -> Result<Vec<Score>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let layers = self.text_encoder.encoder.layers().len();
        let states = self.text_encoder.window_states(texts, 0..layers)?;
        self.score_states(texts, &states, layers)
    }

    /// Scores prepared texts from their windows' hidden states after the encoder's first
    /// `from` layers (in the order of `texts` and their windows) — for callers that keep the
    /// output of layers no training changed.
    pub fn score_states(
        &self,
        texts: &[PreparedText],
        window_states: &[Tensor],
        from: usize,
    ) -> Result<Vec<Score>> {
        let readings = self.readings(texts, window_states, from)?;
        self.score_readings(texts, &readings)
    }

    /// Scores prepared texts from their pooled embeddings (texts, hidden), computed elsewhere
    /// with the same encoder (the browser's WebGPU kernels).
    pub fn score_pooled(&self, texts: &[PreparedText], pooled: &Tensor) -> Result<Vec<Score>> {
        let readings = self.read_pooled(texts, pooled)?;
        self.score_readings(texts, &readings)
    }

    fn score_readings(&self, texts: &[PreparedText], readings: &[Reading]) -> Result<Vec<Score>> {
        readings
            .iter()
            .zip(texts)
            .map(|(reading, text)| self.score_reading(reading, text))
            .collect()
    }

    /// The score of the response `text` that the model read as `reading`.
    pub fn score_reading(&self, reading: &Reading, text: &PreparedText) -> Result<Score> {
        let values = &reading.values;
        Ok(Score {
            advisories: self.advisories(text, reading),
            score: self.thresholds()?.level(values[0]),
            raw: values[0],
            traits: self.traits[1..]
                .iter()
                .zip(&values[1..])
                .map(|(config, &raw)| TraitScore {
                    name: config.name.clone(),
                    raw,
                    level: config.scale.level(raw),
                })
                .collect(),
        })
    }

    /// What a person should check `text`'s score for, in [`Advisory`] order: by length when
    /// the bundle records its training range, and by its screen when it has one.
    pub fn advisories(&self, text: &PreparedText, reading: &Reading) -> Vec<Advisory> {
        let mut found = match &self.head.config().feature_range {
            Some(range) => range.advisories(&text.features),
            None => Vec::new(),
        };
        if let Some(screen) = &self.screen {
            let signals = screen.signals(&text.words, &reading.embedding, reading.values[0]);
            found.extend(screen.advisories(&signals));
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// How the model reads each text, from the windows' hidden states after the encoder's
    /// first `from` layers.
    pub fn readings(
        &self,
        texts: &[PreparedText],
        window_states: &[Tensor],
        from: usize,
    ) -> Result<Vec<Reading>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let windows: Vec<usize> = texts.iter().map(|t| t.windows.len()).collect();
        let pooled = pool_texts(window_states, &windows, &self.text_encoder.encoder, from)?;
        self.read_pooled(texts, &pooled)
    }

    /// How the model reads each text from its pooled embedding (texts, hidden).
    pub fn read_pooled(&self, texts: &[PreparedText], pooled: &Tensor) -> Result<Vec<Reading>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let features: Vec<f32> = texts.iter().flat_map(|t| t.features).collect();
        let device = &self.text_encoder.device;
        let features = Tensor::from_vec(features, (texts.len(), FEATURE_COUNT), device)?;
        let words: Vec<&[u32]> = texts.iter().map(|t| t.words.as_slice()).collect();
        let normalised = self
            .head
            .forward(pooled, &features, &words)?
            .to_vec2::<f32>()?;
        Ok(normalised
            .into_iter()
            .zip(pooled.to_vec2::<f32>()?)
            .map(|(row, embedding)| Reading {
                values: row
                    .into_iter()
                    .zip(&self.traits)
                    .map(|(n, config)| config.scale.denormalise(n as f64))
                    .collect(),
                embedding,
            })
            .collect())
    }

    /// Scores `texts`, a few at a time, calling `progress(done, total)` after each group.
    pub fn score_texts(
        &self,
        texts: &[&str],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Score>> {
        const GROUP: usize = 32;
        let mut scores = Vec::with_capacity(texts.len());
        for group in texts.chunks(GROUP) {
            let prepared = group
                .iter()
                .map(|t| self.text_encoder.prepare(t))
                .collect::<Result<Vec<_>>>()?;
            scores.extend(self.score_prepared(&prepared)?);
            progress(scores.len(), texts.len());
        }
        Ok(scores)
    }

    /// Scores one text.
    pub fn score(&self, text: &str) -> Result<Score> {
        let prepared = self.text_encoder.prepare(text)?;
        let mut scores = self.score_prepared(std::slice::from_ref(&prepared))?;
        Ok(scores.remove(0))
    }

    /// The configuration a bundle stores.
    pub fn config(&self) -> ScorerConfig {
        ScorerConfig {
            encoder: self.text_encoder.encoder.config().clone(),
            windows: self.text_encoder.tokenizer.window_config(),
            head: self.head.config().clone(),
            traits: self.traits.clone(),
            screen: self.screen.clone(),
        }
    }

    /// Serialises the scorer and `card` into bundle bytes, the encoder's matrices stored at
    /// `precision`; vectors and the head stay f32.
    pub fn to_bundle(&self, card: &ModelCard, precision: Precision) -> Result<Vec<u8>> {
        let mut tensors = self.text_encoder.stored_tensors(precision)?;
        for (name, tensor) in self.head.named_parameters() {
            tensors.push((name, tensor.to_dtype(DType::F32)?));
        }
        let weights = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), None)
            .map_err(|e| Error::invalid("bundle", format!("could not serialise weights: {e}")))?;
        let mut sections = Sections::new();
        sections.insert(section::CONFIG, to_json(&self.config())?);
        sections.insert(
            section::TOKENIZER,
            self.text_encoder.tokenizer.to_json()?.into_bytes(),
        );
        sections.insert(section::WEIGHTS, weights);
        sections.insert(section::CARD, to_json(card)?);
        if let Some(screen) = &self.screen {
            sections.insert(section::VOCABULARY, screen.vocabulary.to_bytes());
        }
        Ok(sections.to_bytes())
    }

    /// Loads a scorer from bundle bytes, an int8 bundle's matrices multiplied as `products`
    /// says; `source_name` names the bundle in errors.
    pub fn from_bundle(
        bytes: &[u8],
        source_name: &str,
        device: &Device,
        products: Products,
    ) -> Result<Self> {
        Self::from_bundle_hashed(bytes, source_name, device, None, products)
    }

    /// As [`Scorer::from_bundle`], with the bundle's content hashed by the caller (see
    /// [`Sections::from_bytes_hashed`]).
    pub fn from_bundle_hashed(
        bytes: &[u8],
        source_name: &str,
        device: &Device,
        content_sha256: Option<[u8; 32]>,
        products: Products,
    ) -> Result<Self> {
        let sections = Sections::from_bytes_hashed(bytes, source_name, content_sha256)?;
        let mut config =
            ScorerConfig::parse(sections.get(section::CONFIG, source_name)?, source_name)?;
        if let Some(screen) = &mut config.screen {
            let vocabulary = sections.get(section::VOCABULARY, source_name)?;
            screen.vocabulary = Vocabulary::from_bytes(vocabulary, source_name)?;
        }
        let card: ModelCard = serde_json::from_slice(sections.get(section::CARD, source_name)?)
            .map_err(|e| Error::invalid(source_name, format!("its card.json: {e}")))?;
        let tokenizer = WindowTokenizer::from_json(
            sections.get(section::TOKENIZER, source_name)?,
            config.windows,
            source_name,
        )?;
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load_buffer(
            sections.get(section::WEIGHTS, source_name)?,
            device,
        )?;
        let precision = Precision::of_stored(&tensors);
        let weights = Weights::new(
            quantize::restore(tensors, source_name, products)?,
            source_name,
        );
        let encoder = Encoder::load(&weights, &config.encoder)?;
        let head = Head::load(
            &weights,
            &config.head,
            config.encoder.hidden_size,
            config.traits.len(),
            device,
        )?;
        Ok(Scorer {
            text_encoder: TextEncoder {
                tokenizer,
                encoder,
                device: device.clone(),
            },
            head,
            traits: config.traits,
            card: Some(card),
            screen: config.screen,
            precision,
        })
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value)
        .map_err(|e| Error::invalid("bundle", format!("could not serialise: {e}")))
}

#[cfg(test)]
mod tests {
    use super::plan_batches;

    #[test]
    fn batches_stay_within_the_token_budget_and_short_windows_are_not_padded_to_long_ones() {
        // Two full windows and a 4-token tail: the tail runs on its own.
        assert_eq!(
            plan_batches([256, 256, 4].into_iter(), 4096),
            [vec![0, 1], vec![2]]
        );
        // Longest first; a batch closes when one more would pass the budget.
        assert_eq!(
            plan_batches([100, 200, 150, 180].into_iter(), 400),
            [vec![1, 3], vec![2, 0]]
        );
        // Half the longest is still batched with it.
        assert_eq!(plan_batches([128, 256].into_iter(), 4096), [vec![1, 0]]);
    }
}
