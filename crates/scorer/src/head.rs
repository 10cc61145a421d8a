//! The regression head: from a response's pooled embedding and surface features to a raw score.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::advisory::FeatureRange;
use crate::encoder::{Linear, TensorMap, Weights};
use crate::error::{Error, Result};
use crate::features::{FEATURE_COUNT, FEATURE_NAMES};
use crate::lexical::{LexicalBlock, MAX_BUCKETS};

/// The head's shape and the standardisation of its surface features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Width of the hidden layer; 0 for a linear head.
    pub hidden: usize,
    /// Names of the surface features, in the order the head reads them.
    pub features: Vec<String>,
    /// Mean of each feature on the training data.
    pub feature_mean: Vec<f32>,
    /// Standard deviation of each feature on the training data (never 0).
    pub feature_std: Vec<f32>,
    /// The range of each feature on the training data: features are clamped into it (absent in
    /// bundles made before it was recorded, which clamp nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_range: Option<FeatureRange>,
    /// Buckets of the lexical block ([`crate::lexical`]); 0 for a head without one (and in
    /// bundles made before it existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lexical_buckets: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl HeadConfig {
    /// Checks that this build computes the features the head was trained on.
    pub fn validate(&self, source_name: &str) -> Result<()> {
        if self.features != FEATURE_NAMES {
            return Err(Error::invalid(
                source_name,
                format!(
                    "the head reads features {:?}, but this build of Cyborg computes {:?}",
                    self.features, FEATURE_NAMES
                ),
            ));
        }
        if self.feature_mean.len() != FEATURE_COUNT || self.feature_std.len() != FEATURE_COUNT {
            return Err(Error::invalid(
                source_name,
                format!("feature standardisation needs {FEATURE_COUNT} means and deviations"),
            ));
        }
        if self
            .feature_std
            .iter()
            .any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(Error::invalid(
                source_name,
                "a feature deviation is not positive",
            ));
        }
        if self.lexical_buckets > MAX_BUCKETS {
            return Err(Error::invalid(
                source_name,
                format!(
                    "the head's lexical block has {} buckets, more than the {MAX_BUCKETS} \
                     allowed",
                    self.lexical_buckets
                ),
            ));
        }
        match &self.feature_range {
            Some(range) => range.validate(source_name),
            None => Ok(()),
        }
    }
}

/// Maps `[pooled embedding ; standardised features]` to one number per trait on that trait's
/// normalised scale (0 = lowest level, 1 = highest), plus the lexical block's part when the
/// head has one.
#[derive(Clone)]
pub struct Head {
    config: HeadConfig,
    hidden: Option<Linear>,
    output: Linear,
    lexical: Option<LexicalBlock>,
    feature_mean: Tensor,
    feature_std: Tensor,
    /// The training range's bounds, (1, FEATURE_COUNT) each, when the bundle has one.
    feature_bounds: Option<(Tensor, Tensor)>,
}

impl Head {
    /// Reads `head.hidden.*` (when `config.hidden > 0`), `head.output.*`, with one output per
    /// trait, and `head.lexical.weight` (when the config asks for buckets) from `weights`.
    pub fn load(
        weights: &Weights,
        config: &HeadConfig,
        embedding_size: usize,
        traits: usize,
        device: &Device,
    ) -> Result<Self> {
        let inputs = embedding_size + FEATURE_COUNT;
        let (hidden, output) = if config.hidden > 0 {
            (
                Some(Linear::load(weights, "head.hidden", inputs, config.hidden)?),
                Linear::load(weights, "head.output", config.hidden, traits)?,
            )
        } else {
            (None, Linear::load(weights, "head.output", inputs, traits)?)
        };
        let lexical = match config.lexical_buckets {
            0 => None,
            buckets => Some(weights.get(LEXICAL_WEIGHT, &[traits, buckets])?),
        };
        Self::new(config, hidden, output, lexical, device)
    }

    /// A head from its layers and lexical weights (traits, buckets), which it has exactly when
    /// its config asks for buckets.
    pub fn new(
        config: &HeadConfig,
        hidden: Option<Linear>,
        output: Linear,
        lexical: Option<Tensor>,
        device: &Device,
    ) -> Result<Self> {
        config.validate("head")?;
        let lexical = lexical.map(LexicalBlock::new).transpose()?;
        let buckets = lexical.as_ref().map_or(0, LexicalBlock::buckets);
        if buckets != config.lexical_buckets {
            return Err(Error::invalid(
                "head",
                format!(
                    "its config asks for {} lexical buckets but its weights have {buckets}",
                    config.lexical_buckets
                ),
            ));
        }
        let bound = |values: &[f32]| Tensor::from_slice(values, (1, FEATURE_COUNT), device);
        let feature_bounds = match &config.feature_range {
            Some(range) => Some((bound(&range.min)?, bound(&range.max)?)),
            None => None,
        };
        Ok(Head {
            feature_bounds,
            feature_mean: Tensor::from_slice(&config.feature_mean, (1, FEATURE_COUNT), device)?,
            feature_std: Tensor::from_slice(&config.feature_std, (1, FEATURE_COUNT), device)?,
            config: config.clone(),
            hidden,
            output,
            lexical,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HeadConfig {
        &self.config
    }

    /// The lexical block, when the head has one.
    pub fn lexical(&self) -> Option<&LexicalBlock> {
        self.lexical.as_ref()
    }

    /// `pooled`: (batch, embedding); `features`: (batch, FEATURE_COUNT) raw feature values,
    /// clamped here into the training range; `words`: each response's word hashes, which the
    /// lexical block reads. Returns (batch, traits) normalised scores.
    pub fn forward(&self, pooled: &Tensor, features: &Tensor, words: &[&[u32]]) -> Result<Tensor> {
        let clamped = match &self.feature_bounds {
            Some((min, max)) => features.broadcast_maximum(min)?.broadcast_minimum(max)?,
            None => features.clone(),
        };
        let standardised = clamped
            .broadcast_sub(&self.feature_mean)?
            .broadcast_div(&self.feature_std)?;
        let inputs = Tensor::cat(&[pooled, &standardised], 1)?;
        let hidden = match &self.hidden {
            Some(layer) => crate::kernels::gelu(&layer.forward(&inputs)?)?,
            None => inputs,
        };
        let scores = self.output.forward(&hidden)?;
        match &self.lexical {
            Some(block) => Ok((scores + block.forward(words, pooled.device())?)?),
            None => Ok(scores),
        }
    }

    /// Every learned tensor, under its bundle name.
    pub fn named_parameters(&self) -> Vec<(String, &Tensor)> {
        let mut named = Vec::new();
        let layers = [
            ("head.hidden", self.hidden.as_ref()),
            ("head.output", Some(&self.output)),
        ];
        for (name, layer) in layers {
            if let Some([weight, bias]) = layer.map(Linear::parameters) {
                named.push((format!("{name}.weight"), weight));
                named.push((format!("{name}.bias"), bias));
            }
        }
        if let Some(block) = &self.lexical {
            named.push((LEXICAL_WEIGHT.to_string(), block.weight()));
        }
        named
    }

    /// A copy whose every learned tensor is `f(name, tensor)`.
    pub fn map_tensors(&self, f: &mut TensorMap) -> Result<Self> {
        Ok(Head {
            hidden: match &self.hidden {
                Some(layer) => Some(layer.map_tensors("head.hidden", f)?),
                None => None,
            },
            output: self.output.map_tensors("head.output", f)?,
            lexical: match &self.lexical {
                Some(block) => Some(LexicalBlock::new(f(LEXICAL_WEIGHT, block.weight())?)?),
                None => None,
            },
            config: self.config.clone(),
            feature_mean: self.feature_mean.clone(),
            feature_std: self.feature_std.clone(),
            feature_bounds: self.feature_bounds.clone(),
        })
    }
}

/// The lexical block's weights in a bundle.
const LEXICAL_WEIGHT: &str = "head.lexical.weight";
