//! A BERT encoder (Devlin et al., 2019), or MPNet's variant of it (Song et al., 2020), over
//! candle tensors, with sentence-transformers' masked mean pooling.
//!
//! The layers are run by index range, so a trainer can run the frozen lower layers once, keep
//! their output, and train only the top layers on it.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use candle_core::{DType, Device, Storage, Tensor, D};

use crate::config::{Architecture, BertConfig, HiddenAct};
use crate::error::{Error, Result};
use crate::int8::Int8Matrix;
use crate::kernels;
use crate::packed::{self, F32Matrix};
use crate::products::{self, PackedMatrix};
use crate::quantize::StoredInt8;

/// Named tensors and where they came from, so a missing or misshapen tensor is reported by
/// name and source.
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    prefix: String,
    source_name: String,
}

impl Weights {
    /// Wraps `tensors` read from `source_name`. Checkpoints saved from a task model prefix
    /// every name with `bert.`; that prefix is detected and dropped.
    pub fn new(tensors: HashMap<String, Tensor>, source_name: impl Into<String>) -> Self {
        let prefix = if tensors.contains_key("embeddings.word_embeddings.weight") {
            String::new()
        } else {
            ["bert.", "model."]
                .into_iter()
                .find(|p| tensors.contains_key(&format!("{p}embeddings.word_embeddings.weight")))
                .unwrap_or("")
                .to_string()
        };
        Weights {
            tensors,
            prefix,
            source_name: source_name.into(),
        }
    }

    /// The matrix `name` as stored at int8, if it was and this CPU multiplies it so.
    pub fn stored_int8(&self, name: &str) -> Result<Option<StoredInt8>> {
        let full_name = format!("{}{name}", self.prefix);
        StoredInt8::find(&self.tensors, &full_name, &self.source_name)
    }

    /// The tensor `name` as f32, checked to have `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full_name = format!("{}{name}", self.prefix);
        let tensor = self.tensors.get(&full_name).ok_or_else(|| {
            Error::invalid(
                &self.source_name,
                format!("has no tensor named \"{full_name}\" (is this a BERT encoder?)"),
            )
        })?;
        if tensor.dims() != shape {
            return Err(Error::invalid(
                &self.source_name,
                format!(
                    "tensor \"{full_name}\" has shape {:?} but config.json implies {shape:?}",
                    tensor.dims()
                ),
            ));
        }
        Ok(tensor.to_dtype(DType::F32)?)
    }
}

/// `y = x Wᵀ + b` over the last dimension.
#[derive(Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
    /// The weight packed once for this CPU's inference kernels ([`crate::products`]): an int8
    /// bundle's integers where they are multiplied as stored, else f32 where the layer is
    /// used as loaded ([`Linear::packed`]).
    packed: Option<Arc<dyn PackedMatrix>>,
}

impl Linear {
    /// A layer with `weight` (outputs, inputs) and `bias` (outputs).
    pub fn new(weight: Tensor, bias: Tensor) -> Self {
        Linear {
            weight,
            bias,
            packed: None,
        }
    }

    /// Reads `{name}.weight` and `{name}.bias`.
    pub fn load(weights: &Weights, name: &str, inputs: usize, outputs: usize) -> Result<Self> {
        let weight_name = format!("{name}.weight");
        Ok(Linear {
            weight: weights.get(&weight_name, &[outputs, inputs])?,
            bias: weights.get(&format!("{name}.bias"), &[outputs])?,
            packed: weights
                .stored_int8(&weight_name)?
                .and_then(|stored| Int8Matrix::for_this_cpu(&stored))
                .map(|m| Arc::new(m) as Arc<dyn PackedMatrix>),
        })
    }

    /// This layer with its f32 weight also packed for the CPU's f32 kernel, where the CPU has
    /// one and nothing is packed yet: for layers that are run, not trained (it costs a second
    /// copy of the weight).
    pub fn packed(mut self) -> Result<Self> {
        if self.packed.is_none() && packed::usable() && kernels::cpu_candidate(&self.weight) {
            let (outputs, inputs) = self.weight.dims2()?;
            // Read in place: a copy of every matrix would cost the browser's first score time.
            let weight = self.weight.contiguous()?;
            let (storage, layout) = weight.storage_and_layout();
            if let Storage::Cpu(values) = &*storage {
                let values = kernels::values(values, layout, "cyborg-pack")?;
                self.packed = F32Matrix::for_this_cpu(values, outputs, inputs)
                    .map(|m| Arc::new(m) as Arc<dyn PackedMatrix>);
            }
        }
        Ok(self)
    }

    /// `forward(xs) + residual`, in one pass where the weight is packed.
    pub fn forward_plus(&self, xs: &Tensor, residual: &Tensor) -> Result<Tensor> {
        match self.packed_for(xs) {
            Some(m) => Ok(products::product(m, xs, &self.bias, Some(residual))?),
            None => Ok((self.forward(xs)? + residual)?),
        }
    }

    /// Applies the layer to the last dimension of `xs`, whatever its rank.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if let Some(m) = self.packed_for(xs) {
            return Ok(products::product(m, xs, &self.bias, None)?);
        }
        // One large matrix product over all rows of the batch, rather than one per sequence.
        let mut shape = xs.dims().to_vec();
        let inputs = shape.pop().unwrap_or(1);
        let rows = shape.iter().product::<usize>();
        let ys = kernels::add_bias(
            &xs.reshape((rows, inputs))?.matmul(&self.weight.t()?)?,
            &self.bias,
        )?;
        shape.push(self.bias.dim(0)?);
        Ok(ys.reshape(shape)?)
    }

    /// The packed weight, where `xs` may take it: f32 on the CPU, and no gradient to flow
    /// through the product (the packed product has none).
    fn packed_for(&self, xs: &Tensor) -> Option<&Arc<dyn PackedMatrix>> {
        self.packed.as_ref().filter(|_| {
            kernels::cpu_candidate(xs)
                && !xs.track_op()
                && !self.weight.track_op()
                && !self.bias.track_op()
        })
    }

    /// The weight and bias.
    pub fn parameters(&self) -> [&Tensor; 2] {
        [&self.weight, &self.bias]
    }

    /// A copy whose weight and bias are `f("{name}.weight", …)` and `f("{name}.bias", …)`.
    pub fn map_tensors(&self, name: &str, f: &mut TensorMap) -> Result<Self> {
        Ok(Linear::new(
            f(&format!("{name}.weight"), &self.weight)?,
            f(&format!("{name}.bias"), &self.bias)?,
        ))
    }
}

/// A function that replaces a named tensor, e.g. by a trainable variable holding its value.
pub type TensorMap<'a> = dyn FnMut(&str, &Tensor) -> Result<Tensor> + 'a;

/// Layer normalisation with a learned scale and shift.
#[derive(Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn load(weights: &Weights, name: &str, size: usize, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            weight: weights.get(&format!("{name}.weight"), &[size])?,
            bias: weights.get(&format!("{name}.bias"), &[size])?,
            eps,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(kernels::layer_norm(xs, &self.weight, &self.bias, self.eps)?)
    }

    fn parameters(&self) -> [&Tensor; 2] {
        [&self.weight, &self.bias]
    }

    fn map_tensors(&self, name: &str, f: &mut TensorMap) -> Result<Self> {
        Ok(LayerNorm {
            weight: f(&format!("{name}.weight"), &self.weight)?,
            bias: f(&format!("{name}.bias"), &self.bias)?,
            eps: self.eps,
        })
    }
}

/// Word, position and (BERT's) segment embeddings, summed and normalised.
struct Embeddings {
    word: Tensor,
    position: Tensor,
    /// BERT's segment embeddings; MPNet has none.
    token_type: Option<Tensor>,
    /// The position row of a window's first token.
    position_offset: usize,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(weights: &Weights, config: &BertConfig) -> Result<Self> {
        let h = config.hidden_size;
        let token_type = match config.architecture() {
            Architecture::Bert => Some(weights.get(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab_size, h],
            )?),
            Architecture::MpNet => None,
        };
        Ok(Embeddings {
            word: weights.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position: weights.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type,
            position_offset: config.position_offset(),
            norm: LayerNorm::load(weights, "embeddings.LayerNorm", h, config.layer_norm_eps)?,
        })
    }

    /// Every window is a single segment, so the segment embedding is row 0 for every token.
    fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        let words = self
            .word
            .index_select(&input_ids.flatten_all()?, 0)?
            .reshape((batch, seq, ()))?;
        let positions = self.position.narrow(0, self.position_offset, seq)?;
        let mut summed = words.broadcast_add(&positions)?;
        if let Some(token_type) = &self.token_type {
            summed = summed.broadcast_add(&token_type.narrow(0, 0, 1)?)?;
        }
        self.norm.forward(&summed)
    }
}

/// MPNet's relative position bias (T5's bucketing): one learned value per head for each bucket
/// of the signed distance between a query and a key, the same in every layer.
struct RelativeBias {
    /// (buckets, heads).
    table: Tensor,
    buckets: usize,
}

/// Distances from 128 on share the last bucket of their side.
const RELATIVE_MAX_DISTANCE: f32 = 128.0;

impl RelativeBias {
    /// The bucket of `query - key` (`distance`): half the buckets for keys to the right, half
    /// for the left; within each half, exact distances up to a quarter of the buckets, then
    /// logarithmically wider ones up to 128. Computed in f32, as Hugging Face's MPNet does, so
    /// that a distance on a bucket's edge falls on the same side.
    fn bucket(distance: i64, buckets: usize) -> usize {
        let half = buckets / 2;
        let side = if distance < 0 { half } else { 0 };
        let n = distance.unsigned_abs() as usize;
        let exact = half / 2;
        if n < exact {
            return side + n;
        }
        let log_range = (f64::from(RELATIVE_MAX_DISTANCE) / exact as f64).ln() as f32;
        let log_ratio = (n as f32 / exact as f32).ln() / log_range;
        let wide = exact + (log_ratio * (half - exact) as f32) as usize;
        side + wide.min(half - 1)
    }

    /// The bias added to the attention scores of a window of `seq` tokens: (1, heads, seq, seq).
    fn forward(&self, seq: usize) -> Result<Tensor> {
        let ids: Vec<u32> = (0..seq as i64)
            .flat_map(|query| {
                (0..seq as i64).map(move |key| Self::bucket(query - key, self.buckets) as u32)
            })
            .collect();
        let ids = Tensor::from_vec(ids, seq * seq, self.table.device())?;
        let heads = self.table.dim(1)?;
        Ok(self
            .table
            .index_select(&ids, 0)?
            .reshape((seq, seq, heads))?
            .permute((2, 0, 1))?
            .contiguous()?
            .unsqueeze(0)?)
    }
}

/// Each learned part of a layer under its checkpoint name, in [`Layer`]'s field order; the
/// feed-forward block is named alike in both families.
fn layer_parts(architecture: Architecture) -> [&'static str; 8] {
    let attention = match architecture {
        Architecture::Bert => [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "attention.output.LayerNorm",
        ],
        Architecture::MpNet => [
            "attention.attn.q",
            "attention.attn.k",
            "attention.attn.v",
            "attention.attn.o",
            "attention.LayerNorm",
        ],
    };
    let [query, key, value, output, norm] = attention;
    [
        query,
        key,
        value,
        output,
        norm,
        "intermediate.dense",
        "output.dense",
        "output.LayerNorm",
    ]
}

/// `projections` as one layer whose outputs are theirs side by side: one matrix product for
/// the three keeps the cores busier than three products of a third of the size.
fn joined(projections: &[&Linear]) -> Result<Linear> {
    let part = |part: usize| -> Result<Tensor> {
        let parts: Vec<&Tensor> = projections.iter().map(|l| l.parameters()[part]).collect();
        Ok(Tensor::cat(&parts, 0)?)
    };
    Ok(Linear::new(part(0)?, part(1)?))
}

/// One transformer layer: multi-head self-attention, then a feed-forward block, each with a
/// residual connection and layer normalisation (post-norm, as in BERT and MPNet).
#[derive(Clone)]
pub struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    /// The three projections as one matrix, joined and packed once, where the layer is run as
    /// loaded and none of them is multiplied as stored integers.
    joined_projections: Option<Linear>,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    act: HiddenAct,
    parts: [&'static str; 8],
}

impl Layer {
    fn load(weights: &Weights, index: usize, config: &BertConfig) -> Result<Self> {
        let parts = layer_parts(config.architecture());
        let name = |part: usize| format!("encoder.layer.{index}.{}", parts[part]);
        let (h, i, eps) = (
            config.hidden_size,
            config.intermediate_size,
            config.layer_norm_eps,
        );
        let [query, key, value] = [0, 1, 2].map(|part| Linear::load(weights, &name(part), h, h));
        let (query, key, value) = (query?, key?, value?);
        let joined_projections = if [&query, &key, &value].iter().all(|p| p.packed.is_none()) {
            Some(joined(&[&query, &key, &value])?.packed()?)
        } else {
            None
        };
        Ok(Layer {
            query,
            key,
            value,
            joined_projections,
            attention_output: Linear::load(weights, &name(3), h, h)?.packed()?,
            attention_norm: LayerNorm::load(weights, &name(4), h, eps)?,
            intermediate: Linear::load(weights, &name(5), h, i)?.packed()?,
            output: Linear::load(weights, &name(6), i, h)?.packed()?,
            output_norm: LayerNorm::load(weights, &name(7), h, eps)?,
            heads: config.num_attention_heads,
            act: config.hidden_act,
            parts,
        })
    }

    /// `hidden`: (batch, seq, hidden); `mask_bias`: (batch, seq), 0 for tokens and a large
    /// negative number for padding; `position_bias`: MPNet's (1, heads, seq, seq).
    fn forward(
        &self,
        hidden: &Tensor,
        mask_bias: &Tensor,
        position_bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let attended = self.attention(hidden, mask_bias, position_bias)?;
        let attended = self
            .attention_norm
            .forward(&self.attention_output.forward_plus(&attended, hidden)?)?;
        let inner = self.intermediate.forward(&attended)?;
        let inner = match self.act {
            HiddenAct::Gelu => kernels::gelu(&inner)?,
            HiddenAct::GeluApproximate => inner.gelu()?,
            HiddenAct::Relu => inner.relu()?,
        };
        self.output_norm
            .forward(&self.output.forward_plus(&inner, &attended)?)
    }

    fn attention(
        &self,
        hidden: &Tensor,
        mask_bias: &Tensor,
        position_bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let projections = [&self.query, &self.key, &self.value];
        let qkv = match &self.joined_projections {
            Some(joined) => joined.forward(hidden)?,
            // Each integer product scales its input by its own matrix's column scales.
            None if projections.iter().all(|p| p.packed_for(hidden).is_some()) => {
                let parts = projections
                    .iter()
                    .map(|p| p.forward(hidden))
                    .collect::<Result<Vec<_>>>()?;
                Tensor::cat(&parts, D::Minus1)?
            }
            // Joined on every call while training: the gradients flow to each projection.
            None => joined(&projections)?.forward(hidden)?,
        };
        Ok(crate::attention::attention(
            &qkv,
            mask_bias,
            position_bias,
            self.heads,
        )?)
    }

    /// Every learned tensor of this layer, with its name in a Hugging Face checkpoint.
    pub fn named_parameters(&self, index: usize) -> Vec<(String, &Tensor)> {
        let tensors: [[&Tensor; 2]; 8] = [
            self.query.parameters(),
            self.key.parameters(),
            self.value.parameters(),
            self.attention_output.parameters(),
            self.attention_norm.parameters(),
            self.intermediate.parameters(),
            self.output.parameters(),
            self.output_norm.parameters(),
        ];
        self.parts
            .into_iter()
            .zip(tensors)
            .flat_map(|(part, [weight, bias])| {
                [
                    (format!("encoder.layer.{index}.{part}.weight"), weight),
                    (format!("encoder.layer.{index}.{part}.bias"), bias),
                ]
            })
            .collect()
    }

    /// A copy of layer `index` whose every tensor is `f(name, tensor)`.
    pub fn map_tensors(&self, index: usize, f: &mut TensorMap) -> Result<Self> {
        let name = |part: usize| format!("encoder.layer.{index}.{}", self.parts[part]);
        Ok(Layer {
            query: self.query.map_tensors(&name(0), f)?,
            key: self.key.map_tensors(&name(1), f)?,
            value: self.value.map_tensors(&name(2), f)?,
            joined_projections: None,
            attention_output: self.attention_output.map_tensors(&name(3), f)?,
            attention_norm: self.attention_norm.map_tensors(&name(4), f)?,
            intermediate: self.intermediate.map_tensors(&name(5), f)?,
            output: self.output.map_tensors(&name(6), f)?,
            output_norm: self.output_norm.map_tensors(&name(7), f)?,
            heads: self.heads,
            act: self.act,
            parts: self.parts,
        })
    }
}

/// Token ids of a batch of windows, padded to a common length, and their mask.
pub struct TokenBatch {
    /// (batch, seq) u32 token ids, padded with 0.
    pub input_ids: Tensor,
    /// (batch, seq) f32: 1 for a real token, 0 for padding.
    pub mask: Tensor,
}

impl TokenBatch {
    /// Pads `windows` (each already framed with its special tokens) into one batch.
    pub fn new(windows: &[&[u32]], device: &Device) -> Result<Self> {
        let seq = windows.iter().map(|w| w.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(windows.len() * seq);
        let mut mask = Vec::with_capacity(windows.len() * seq);
        for window in windows {
            ids.extend_from_slice(window);
            ids.extend(std::iter::repeat_n(0, seq - window.len()));
            mask.extend(std::iter::repeat_n(1f32, window.len()));
            mask.extend(std::iter::repeat_n(0f32, seq - window.len()));
        }
        Ok(TokenBatch {
            input_ids: Tensor::from_vec(ids, (windows.len(), seq), device)?,
            mask: Tensor::from_vec(mask, (windows.len(), seq), device)?,
        })
    }

    /// The additive attention bias: 0 where a token may be attended to, a large negative
    /// number on padding (as Hugging Face's `get_extended_attention_mask`).
    pub fn mask_bias(&self) -> Result<Tensor> {
        mask_bias(&self.mask)
    }
}

/// The additive attention bias (batch, seq) for a (batch, seq) mask of 1s and 0s.
pub fn mask_bias(mask: &Tensor) -> Result<Tensor> {
    Ok(((mask.ones_like()? - mask)? * f32::MIN as f64)?)
}

/// A BERT or MPNet encoder.
#[derive(Clone)]
pub struct Encoder {
    config: BertConfig,
    embeddings: Arc<Embeddings>,
    relative_bias: Option<Arc<RelativeBias>>,
    layers: Vec<Layer>,
}

/// MPNet's table of relative position biases, under its checkpoint name.
const RELATIVE_BIAS_NAME: &str = "encoder.relative_attention_bias.weight";

impl Encoder {
    /// Builds the encoder described by `config` from `weights`.
    pub fn load(weights: &Weights, config: &BertConfig) -> Result<Self> {
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(weights, i, config))
            .collect::<Result<Vec<_>>>()?;
        let relative_bias = config
            .relative_buckets()
            .map(|buckets| -> Result<_> {
                Ok(Arc::new(RelativeBias {
                    table: weights
                        .get(RELATIVE_BIAS_NAME, &[buckets, config.num_attention_heads])?,
                    buckets,
                }))
            })
            .transpose()?;
        Ok(Encoder {
            config: config.clone(),
            embeddings: Arc::new(Embeddings::load(weights, config)?),
            relative_bias,
            layers,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The embedding layer's output for a batch: (batch, seq, hidden).
    pub fn embed(&self, batch: &TokenBatch) -> Result<Tensor> {
        self.embeddings.forward(&batch.input_ids)
    }

    /// Runs the layers in `layers` over `hidden`, the output of the layer before them.
    pub fn run_layers(
        &self,
        hidden: &Tensor,
        mask_bias: &Tensor,
        layers: Range<usize>,
    ) -> Result<Tensor> {
        let position_bias = match &self.relative_bias {
            Some(bias) => Some(bias.forward(hidden.dim(1)?)?),
            None => None,
        };
        let mut hidden = hidden.clone();
        for layer in &self.layers[layers] {
            hidden = layer.forward(&hidden, mask_bias, position_bias.as_ref())?;
        }
        Ok(hidden)
    }

    /// The last layer's hidden states for a batch: (batch, seq, hidden).
    pub fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        let embedded = self.embed(batch)?;
        self.run_layers(&embedded, &batch.mask_bias()?, 0..self.layers.len())
    }

    /// The transformer layers, bottom first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Replaces layer `index`, e.g. with one whose tensors are trainable variables.
    pub fn set_layer(&mut self, index: usize, layer: Layer) {
        self.layers[index] = layer;
    }

    /// Every learned tensor, under its Hugging Face checkpoint name.
    pub fn named_parameters(&self) -> Vec<(String, &Tensor)> {
        let e = &self.embeddings;
        let mut named = vec![
            ("embeddings.word_embeddings.weight".to_string(), &e.word),
            (
                "embeddings.position_embeddings.weight".to_string(),
                &e.position,
            ),
        ];
        if let Some(token_type) = &e.token_type {
            named.push((
                "embeddings.token_type_embeddings.weight".to_string(),
                token_type,
            ));
        }
        named.extend([
            ("embeddings.LayerNorm.weight".to_string(), &e.norm.weight),
            ("embeddings.LayerNorm.bias".to_string(), &e.norm.bias),
        ]);
        if let Some(bias) = &self.relative_bias {
            named.push((RELATIVE_BIAS_NAME.to_string(), &bias.table));
        }
        for (i, layer) in self.layers.iter().enumerate() {
            named.extend(layer.named_parameters(i));
        }
        named
    }
}

/// sentence-transformers' mean pooling: the average of the hidden states of the real
/// (unmasked) tokens, special tokens included. Returns (sum, count) per row so that windows of
/// one text can be pooled together exactly: (batch, hidden) and (batch, 1).
pub fn masked_sum(hidden: &Tensor, mask: &Tensor) -> Result<(Tensor, Tensor)> {
    let mask = mask.unsqueeze(D::Minus1)?;
    let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
    let count = mask.sum(1)?;
    Ok((sum, count))
}

#[cfg(test)]
mod tests {
    use super::RelativeBias;

    /// The first distance of each of a side's buckets, as Hugging Face's MPNet gives them
    /// (transformers 5.25.0: `MPNetEncoder.relative_position_bucket(key - query, 32, 128)` for
    /// distances -140 to 140): exact up to 7, then widening to the last bucket from 91 on.
    const FIRST_DISTANCE: [usize; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 23, 32, 46, 64, 91];

    #[test]
    fn relative_distances_fall_in_mpnets_buckets() {
        for distance in -140i64..=140 {
            let n = distance.unsigned_abs() as usize;
            let within = FIRST_DISTANCE
                .iter()
                .rposition(|&first| first <= n)
                .unwrap();
            let side = if distance < 0 { 16 } else { 0 };
            assert_eq!(
                RelativeBias::bucket(distance, 32),
                side + within,
                "query - key = {distance}"
            );
        }
    }
}
