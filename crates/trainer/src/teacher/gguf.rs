//! The gguf teacher: a quantized Llama-family chat model (a GGUF file, as llama.cpp uses) run
//! here with candle, for institutions whose student work may not leave the building. It is
//! prompted like the LLM teacher; its expected score comes from the probabilities of the
//! score-level tokens after the prompt, and it can write synthetic responses.
//!
//! The model is the Llama decoder: RMS norm, grouped-query attention with rotary position
//! embeddings (the GGUF layout rotates adjacent pairs), and a SwiGLU feed-forward layer. The
//! tokenizer is rebuilt from the file's own metadata, and prompts use its ChatML template.

use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Tensor, D};
use cyborg_scorer::metrics::ScoreRange;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::Tokenizer;

use super::TeacherLabel;
use crate::data::Row;
use crate::progress::Progress;

/// One transformer block.
struct Block {
    attention_norm: Tensor,
    query: QMatMul,
    key: QMatMul,
    value: QMatMul,
    attention_output: QMatMul,
    feed_forward_norm: Tensor,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// A quantized Llama-family decoder and its tokenizer.
pub struct GgufModel {
    /// The file's name, for provenance.
    pub name: String,
    embedding: Tensor,
    blocks: Vec<Block>,
    output_norm: Tensor,
    output: QMatMul,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    rms_eps: f64,
    rope_base: f32,
    tokenizer: Tokenizer,
    end_of_turn: u32,
    device: Device,
}

/// Keys and values of the tokens seen so far, per block.
#[derive(Default)]
struct KvCache(Vec<Option<(Tensor, Tensor)>>);

/// A matrix product with `weights`. candle multiplies Q4_1, Q5_0 and Q5_1 blocks without
/// SIMD, several times slower than Q8_0, so those are requantized to Q8_0 on loading: nearly
/// lossless, at up to twice their memory.
fn fast_matmul(weights: QTensor) -> Result<QMatMul> {
    let weights = match weights.dtype() {
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 => {
            QTensor::quantize(&weights.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?
        }
        _ => weights,
    };
    Ok(QMatMul::from_qtensor(weights)?)
}

fn metadata<'a>(content: &'a Content, key: &str) -> Result<&'a Value> {
    content
        .metadata
        .get(key)
        .with_context(|| format!("the GGUF file has no `{key}`"))
}

/// Reads a GGUF file's tensors by name.
struct Tensors<'a> {
    content: &'a Content,
    file: &'a mut std::fs::File,
    path: &'a Path,
}

impl Tensors<'_> {
    fn read(&mut self, name: &str) -> Result<QTensor> {
        self.content
            .tensor(self.file, name, &Device::Cpu)
            .with_context(|| format!("{}: no tensor {name}", self.path.display()))
    }

    /// A matrix, for products.
    fn matmul(&mut self, name: &str) -> Result<QMatMul> {
        fast_matmul(self.read(name)?)
    }

    /// A vector (a norm's weights), in f32.
    fn vector(&mut self, name: &str) -> Result<Tensor> {
        Ok(self.read(name)?.dequantize(&Device::Cpu)?)
    }

    /// Transformer block `i`.
    fn block(&mut self, i: usize) -> Result<Block> {
        let name = |part: &str| format!("blk.{i}.{part}.weight");
        Ok(Block {
            query: self.matmul(&name("attn_q"))?,
            key: self.matmul(&name("attn_k"))?,
            value: self.matmul(&name("attn_v"))?,
            attention_output: self.matmul(&name("attn_output"))?,
            gate: self.matmul(&name("ffn_gate"))?,
            up: self.matmul(&name("ffn_up"))?,
            down: self.matmul(&name("ffn_down"))?,
            attention_norm: self.vector(&name("attn_norm"))?,
            feed_forward_norm: self.vector(&name("ffn_norm"))?,
        })
    }
}

/// The model's tokenizer, made for ChatML, and its end-of-turn token.
fn chat_tokenizer(content: &Content, path: &Path) -> Result<(Tokenizer, u32)> {
    let mut tokenizer = Tokenizer::from_gguf(content)
        .with_context(|| format!("{}: cannot build its tokenizer", path.display()))?;
    if metadata(content, "tokenizer.ggml.pre").and_then(|v| Ok(v.to_string()?.clone()))? == "smollm"
    {
        // SmolLM's byte-level BPE adds no space before the text: with one, "user" in the
        // chat template and every score digit would come out as two tokens.
        tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    }
    let end_of_turn = tokenizer.token_to_id("<|im_end|>").with_context(|| {
        format!(
            "{}: the gguf teacher needs a ChatML model (with <|im_end|>)",
            path.display()
        )
    })?;
    Ok((tokenizer, end_of_turn))
}

impl GgufModel {
    /// Loads a Llama-architecture GGUF file.
    pub fn load(path: &Path) -> Result<GgufModel> {
        let device = Device::Cpu;
        let mut file = std::fs::File::open(path)
            .with_context(|| format!("cannot open the GGUF model {}", path.display()))?;
        let content = Content::read(&mut file)
            .with_context(|| format!("{} is not a GGUF file", path.display()))?;
        let architecture = metadata(&content, "general.architecture")?
            .to_string()?
            .clone();
        if architecture != "llama" {
            bail!(
                "{}: the gguf teacher runs Llama-architecture models, not {architecture}",
                path.display()
            );
        }
        let number = |key: &str| -> Result<u32> {
            Ok(metadata(&content, &format!("llama.{key}"))?.to_u32()?)
        };
        let heads = number("attention.head_count")? as usize;
        let kv_heads = number("attention.head_count_kv")? as usize;
        let width = number("embedding_length")? as usize;
        let rms_eps =
            metadata(&content, "llama.attention.layer_norm_rms_epsilon")?.to_f32()? as f64;
        let rope_base = content
            .metadata
            .get("llama.rope.freq_base")
            .map_or(Ok(10_000.0), Value::to_f32)?;
        let mut tensors = Tensors {
            content: &content,
            file: &mut file,
            path,
        };
        let blocks = (0..number("block_count")? as usize)
            .map(|i| tensors.block(i))
            .collect::<Result<Vec<_>>>()?;
        let embedding_q = tensors.read("token_embd.weight")?;
        let embedding = embedding_q.dequantize(&device)?;
        // Small models tie the output projection to the embedding table.
        let output = if content.tensor_infos.contains_key("output.weight") {
            tensors.matmul("output.weight")?
        } else {
            fast_matmul(embedding_q)?
        };
        let output_norm = tensors.vector("output_norm.weight")?;
        let (tokenizer, end_of_turn) = chat_tokenizer(&content, path)?;
        Ok(GgufModel {
            name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            embedding,
            blocks,
            output_norm,
            output,
            heads,
            kv_heads,
            head_dim: width / heads,
            rms_eps,
            rope_base,
            tokenizer,
            end_of_turn,
            device,
        })
    }

    /// Token ids of `text`, special tokens recognised.
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(anyhow::Error::msg)?
            .get_ids()
            .to_vec())
    }

    /// Rotary tables for positions `start..start + length`: [length, head_dim / 2].
    fn rotary(&self, start: usize, length: usize) -> Result<(Tensor, Tensor)> {
        let half = self.head_dim / 2;
        let frequencies: Vec<f32> = (0..half)
            .map(|i| 1.0 / self.rope_base.powf(2.0 * i as f32 / self.head_dim as f32))
            .collect();
        let angles: Vec<f32> = (start..start + length)
            .flat_map(|p| frequencies.iter().map(move |f| p as f32 * f))
            .collect();
        let angles = Tensor::from_vec(angles, (length, half), &self.device)?;
        Ok((angles.cos()?, angles.sin()?))
    }

    /// Next-token logits after `tokens`, which follow the `cache`'s tokens.
    fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let start = cache
            .0
            .first()
            .and_then(|c| c.as_ref())
            .map_or(0, |(k, _)| k.dim(2).unwrap_or(0));
        cache.0.resize_with(self.blocks.len(), || None);
        let length = tokens.len();
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = self.embedding.index_select(&ids, 0)?.unsqueeze(0)?;
        let (cos, sin) = self.rotary(start, length)?;
        // Later tokens may not see earlier-placed ones' futures: a causal mask over the new
        // tokens, all cached ones visible.
        let mask: Vec<f32> = (0..length)
            .flat_map(|i| {
                (0..start + length).map(move |j| {
                    if j > start + i {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
            })
            .collect();
        let mask = Tensor::from_vec(mask, (length, start + length), &self.device)?;
        let repeats = self.heads / self.kv_heads;
        for (block, slot) in self.blocks.iter().zip(cache.0.iter_mut()) {
            let h = candle_nn::ops::rms_norm(&x, &block.attention_norm, self.rms_eps as f32)?;
            let split = |t: Tensor, heads: usize| -> Result<Tensor> {
                Ok(t.reshape((1, length, heads, self.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q = split(block.query.forward(&h)?, self.heads)?;
            let k = split(block.key.forward(&h)?, self.kv_heads)?;
            let v = split(block.value.forward(&h)?, self.kv_heads)?;
            let q = candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?;
            let (k, v) = match slot.take() {
                Some((past_k, past_v)) => (
                    Tensor::cat(&[&past_k, &k], 2)?,
                    Tensor::cat(&[&past_v, &v], 2)?,
                ),
                None => (k, v),
            };
            *slot = Some((k.clone(), v.clone()));
            let widen = |t: &Tensor| -> Result<Tensor> {
                let (b, kvh, s, d) = t.dims4()?;
                Ok(t.unsqueeze(2)?.expand((b, kvh, repeats, s, d))?.reshape((
                    b,
                    kvh * repeats,
                    s,
                    d,
                ))?)
            };
            let (k, v) = (widen(&k)?, widen(&v)?);
            let scores = (q.matmul(&k.t()?.contiguous()?)? / (self.head_dim as f64).sqrt())?
                .broadcast_add(&mask)?;
            let weights = candle_nn::ops::softmax_last_dim(&scores)?;
            let attended = weights
                .matmul(&v.contiguous()?)?
                .transpose(1, 2)?
                .reshape((1, length, self.heads * self.head_dim))?;
            x = (x + block.attention_output.forward(&attended)?)?;
            let h = candle_nn::ops::rms_norm(&x, &block.feed_forward_norm, self.rms_eps as f32)?;
            let gated =
                (candle_nn::ops::silu(&block.gate.forward(&h)?)? * block.up.forward(&h)?)?;
            x = (x + block.down.forward(&gated)?)?;
        }
        let last = x.i((0, length - 1))?.unsqueeze(0)?;
        let normed = candle_nn::ops::rms_norm(&last, &self.output_norm, self.rms_eps as f32)?;
        Ok(self
            .output
            .forward(&normed)?
            .squeeze(0)?
            .to_dtype(DType::F32)?)
    }

    /// A ChatML conversation, open for the assistant's turn.
    fn chat(&self, messages: &[(&str, String)], reply_start: &str) -> String {
        let mut prompt = String::new();
        for (role, content) in messages {
            prompt.push_str(&format!("<|im_start|>{role}\n{content}<|im_end|>\n"));
        }
        prompt.push_str("<|im_start|>assistant\n");
        prompt.push_str(reply_start);
        prompt
    }

    /// Continues `prompt` for at most `max_tokens` tokens at `temperature` (greedy at 0).
    fn continue_text(
        &self,
        prompt: &str,
        max_tokens: usize,
        temperature: f64,
        seed: u64,
    ) -> Result<String> {
        let mut cache = KvCache::default();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut logits = self.forward(&self.encode(prompt)?, &mut cache)?;
        let mut written = Vec::new();
        for _ in 0..max_tokens {
            let next = if temperature <= 0.0 {
                logits.argmax(D::Minus1)?.to_scalar::<u32>()?
            } else {
                let p = candle_nn::ops::softmax_last_dim(&(&logits / temperature)?)?
                    .to_vec1::<f32>()?;
                let mut draw = rng.random::<f32>() * p.iter().sum::<f32>();
                let mut chosen = p.len() - 1;
                for (id, &pi) in p.iter().enumerate() {
                    if draw < pi {
                        chosen = id;
                        break;
                    }
                    draw -= pi;
                }
                chosen as u32
            };
            if next == self.end_of_turn || Some(next) == self.tokenizer.token_to_id("<|endoftext|>")
            {
                break;
            }
            written.push(next);
            logits = self.forward(&[next], &mut cache)?;
        }
        self.tokenizer
            .decode(&written, true)
            .map_err(anyhow::Error::msg)
    }
}

/// The gguf teacher: a [`GgufModel`] prompted with the rubric and human examples.
pub struct GgufTeacher {
    model: GgufModel,
    range: ScoreRange,
    /// The system message and few-shot turns.
    preamble: Vec<(&'static str, String)>,
    /// Human examples `(level, text)`, for writing.
    examples: Vec<(i64, String)>,
    /// Each level's token id.
    level_tokens: Vec<(i64, u32)>,
    seed: u64,
    progress: Progress,
}

impl GgufTeacher {
    /// A teacher running `model` that shows it `examples` (level, text) and `guide`.
    pub fn new(
        model: GgufModel,
        guide: &str,
        examples: Vec<(i64, String)>,
        range: ScoreRange,
        seed: u64,
        progress: &Progress,
    ) -> Result<GgufTeacher> {
        let mut level_tokens = Vec::new();
        for level in range.min..=range.max {
            match model.encode(&level.to_string())?[..] {
                [id] => level_tokens.push((level, id)),
                _ => bail!(
                    "{}: the score {level} is not one token, so its probability cannot be read; \
                     the gguf teacher scores scales of single-token levels (such as 0-9)",
                    model.name
                ),
            }
        }
        let mut preamble = vec![(
            "system",
            format!(
                "You are an experienced rater of student writing. {guide}\nGive one whole-number \
                 score from {} to {}. Reply with the score only.",
                range.min, range.max
            ),
        )];
        for (level, text) in &examples {
            preamble.push(("user", format!("Response to score:\n\n{text}")));
            preamble.push(("assistant", level.to_string()));
        }
        Ok(GgufTeacher {
            model,
            range,
            preamble,
            examples,
            level_tokens,
            seed,
            progress: progress.clone(),
        })
    }

    /// The model and prompt, for provenance.
    pub fn describe(&self) -> String {
        format!(
            "gguf: {} run here, {} examples, expected score over the level tokens",
            self.model.name,
            self.examples.len()
        )
    }

    /// Labels `rows`: the expected level under the model's next-token probabilities of the
    /// level tokens (renormalised over them), the likeliest level, and its probability.
    pub fn label(&self, rows: &[&Row]) -> Result<Vec<Result<TeacherLabel, String>>> {
        let bar = self
            .progress
            .bar(rows.len() as u64, "teacher (gguf)", "responses");
        let mut labels = Vec::with_capacity(rows.len());
        for row in rows {
            let mut messages = self.preamble.clone();
            messages.push(("user", format!("Response to score:\n\n{}", row.text)));
            let prompt = self.model.chat(&messages, "");
            let logits = self
                .model
                .forward(&self.model.encode(&prompt)?, &mut KvCache::default())?;
            let ids: Vec<u32> = self.level_tokens.iter().map(|(_, id)| *id).collect();
            let chosen =
                logits.index_select(&Tensor::new(ids.as_slice(), &self.model.device)?, 0)?;
            let p = candle_nn::ops::softmax_last_dim(&chosen)?.to_vec1::<f32>()?;
            let expected: f64 = self
                .level_tokens
                .iter()
                .zip(&p)
                .map(|((level, _), &pi)| *level as f64 * pi as f64)
                .sum();
            let (best, probability) = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, &pi)| (self.level_tokens[i].0, pi as f64))
                .expect("levels");
            labels.push(Ok(TeacherLabel {
                expected: expected.clamp(self.range.min as f64, self.range.max as f64),
                level: best,
                confidence: Some(probability),
            }));
            bar.inc(1);
            self.progress.check()?;
        }
        bar.finish_and_clear();
        Ok(labels)
    }

    /// Writes a response for each job `(level, k)` at `temperature`, seeded by `k`.
    pub fn write(
        &self,
        jobs: &[(i64, usize)],
        temperature: f64,
        max_tokens: usize,
    ) -> Result<Vec<Result<String, String>>> {
        let bar = self
            .progress
            .bar(jobs.len() as u64, "writing (gguf)", "responses");
        let shown: Vec<String> = self
            .examples
            .iter()
            .map(|(l, text)| format!("[score {l}]\n{text}"))
            .collect();
        let mut written = Vec::new();
        for &(level, sample) in jobs {
            let messages = [
                (
                    "system",
                    "You write realistic student responses for assessment research.".to_string(),
                ),
                (
                    "user",
                    format!(
                        "Real responses with their scores:\n\n{}\n\nWrite one new response that a \
                         rater would score {level} of {}-{}. Reply with the response only.",
                        shown.join("\n\n"),
                        self.range.min,
                        self.range.max
                    ),
                ),
            ];
            let prompt = self.model.chat(&messages, "");
            let text = self.model.continue_text(
                &prompt,
                max_tokens,
                temperature,
                self.seed + sample as u64 * 1000 + (level - self.range.min) as u64,
            )?;
            let text = text.trim().to_string();
            written.push(if text.is_empty() {
                Err("the model wrote nothing".to_string())
            } else {
                Ok(text)
            });
            bar.inc(1);
            self.progress.check()?;
        }
        bar.finish_and_clear();
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiny model scripts/setup.sh installs, or `None` (said) when it is absent and not
    /// required.
    fn model() -> Option<GgufModel> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf");
        if !path.is_file() {
            assert!(
                std::env::var_os("CYBORG_REQUIRE_MODEL").is_none(),
                "CYBORG_REQUIRE_MODEL is set but {} is missing",
                path.display()
            );
            eprintln!("skipped: {} is not installed", path.display());
            return None;
        }
        Some(GgufModel::load(&path).unwrap())
    }

    #[test]
    fn a_cached_continuation_matches_a_fresh_forward_pass() {
        let Some(model) = model() else { return };
        let tokens = model.encode("The capital of France is").unwrap();
        let mut cache = KvCache::default();
        model.forward(&tokens[..3], &mut cache).unwrap();
        let cached = model.forward(&tokens[3..], &mut cache).unwrap();
        let fresh = model.forward(&tokens, &mut KvCache::default()).unwrap();
        let difference = (cached - fresh)
            .unwrap()
            .abs()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(difference < 1e-3, "{difference}");
        let prompt = model.chat(&[("user", "What is the capital of France?".into())], "");
        let answer = model.continue_text(&prompt, 12, 0.0, 1).unwrap();
        assert!(answer.contains("Paris"), "{answer}");
    }
}
