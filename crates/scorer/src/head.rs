//! The regression head: from a response's pooled embedding and surface features to a raw score.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::advisory::FeatureRange;
use crate::encoder::{Linear, TensorMap, Weights};
use crate::error::{Error, Result};
use crate::features::{FEATURE_COUNT, FEATURE_NAMES};

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
        match &self.feature_range {
            Some(range) => range.validate(source_name),
            None => Ok(()),
        }
    }
}

/// Maps `[pooled embedding ; standardised features]` to one number per trait on that trait's
/// normalised scale (0 = lowest level, 1 = highest).
#[derive(Clone)]
pub struct Head {
    config: HeadConfig,
    hidden: Option<Linear>,
    output: Linear,
    feature_mean: Tensor,
    feature_std: Tensor,
    /// The training range's bounds, (1, FEATURE_COUNT) each, when the bundle has one.
    feature_bounds: Option<(Tensor, Tensor)>,
}

impl Head {
    /// Reads `head.hidden.*` (when `config.hidden > 0`) and `head.output.*`, with one output
    /// per trait, from `weights`.
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
        Self::new(config, hidden, output, device)
    }

    /// A head from its layers.
    pub fn new(
        config: &HeadConfig,
        hidden: Option<Linear>,
        output: Linear,
        device: &Device,
    ) -> Result<Self> {
        config.validate("head")?;
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
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HeadConfig {
        &self.config
    }

    /// `pooled`: (batch, embedding); `features`: (batch, FEATURE_COUNT) raw feature values,
    /// clamped here into the training range. Returns (batch, traits) normalised scores.
    pub fn forward(&self, pooled: &Tensor, features: &Tensor) -> Result<Tensor> {
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
        self.output.forward(&hidden)
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
            config: self.config.clone(),
            feature_mean: self.feature_mean.clone(),
            feature_std: self.feature_std.clone(),
            feature_bounds: self.feature_bounds.clone(),
        })
    }
}
