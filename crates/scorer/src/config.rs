//! The encoder's architecture, read from a Hugging Face `config.json`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The activation inside each transformer layer's feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// The exact GELU, `x * Φ(x)` (BERT's `"gelu"`).
    Gelu,
    /// The tanh approximation of GELU (`"gelu_new"`, `"gelu_pytorch_tanh"`).
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluApproximate,
    /// `max(0, x)`.
    Relu,
}

/// The encoder families Cyborg can run: they differ only in how a position enters attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// BERT (Devlin et al., 2019): absolute position and segment embeddings.
    Bert,
    /// MPNet (Song et al., 2020): absolute position embeddings numbered from after the padding
    /// id, no segments, and a learned bias per attention head for each bucket of relative
    /// distance, added to every layer's attention scores.
    MpNet,
}

/// The shape of a BERT-family encoder: the fields of `config.json` that Cyborg needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Number of word pieces in the vocabulary.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Activation of the feed-forward block.
    pub hidden_act: HiddenAct,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Number of segment (token type) embeddings.
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// Epsilon of every layer normalisation.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// `"bert"` or `"mpnet"`; absent means BERT.
    #[serde(default)]
    pub model_type: Option<String>,
    /// MPNet: the padding token's id; positions are numbered from the id after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<usize>,
    /// MPNet: buckets of relative distance, each with a learned bias per head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_attention_num_buckets: Option<usize>,
}

fn default_type_vocab_size() -> usize {
    2
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Parses and checks a `config.json`; `source_name` names it in errors.
    pub fn from_json(json: &str, source_name: &str) -> Result<Self> {
        let config: BertConfig = serde_json::from_str(json).map_err(|e| {
            Error::invalid(
                source_name,
                format!(
                    "not a usable BERT config (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        config.validate(source_name)?;
        Ok(config)
    }

    fn validate(&self, source_name: &str) -> Result<()> {
        if let Some(model_type) = &self.model_type {
            if !["bert", "mpnet"].contains(&model_type.as_str()) {
                return Err(Error::invalid(
                    source_name,
                    format!(
                        "model_type is \"{model_type}\"; Cyborg loads BERT and MPNet encoders \
                         (model_type \"bert\", e.g. all-MiniLM-L6-v2, or \"mpnet\", e.g. \
                         all-mpnet-base-v2)"
                    ),
                ));
            }
        }
        if self.max_tokens() < 3 {
            return Err(Error::invalid(
                source_name,
                format!(
                    "max_position_embeddings {} leaves no room for a window",
                    self.max_position_embeddings
                ),
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(Error::invalid(
                source_name,
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        if self.num_hidden_layers == 0 {
            return Err(Error::invalid(source_name, "num_hidden_layers is 0"));
        }
        Ok(())
    }

    /// Which family the encoder belongs to.
    pub fn architecture(&self) -> Architecture {
        match self.model_type.as_deref() {
            Some("mpnet") => Architecture::MpNet,
            _ => Architecture::Bert,
        }
    }

    /// The position embedding row of a window's first token: BERT's is 0; MPNet's follows the
    /// padding id, as fairseq numbered them.
    pub fn position_offset(&self) -> usize {
        match self.architecture() {
            Architecture::Bert => 0,
            Architecture::MpNet => self.pad_token_id.unwrap_or(1) + 1,
        }
    }

    /// The longest window the position embeddings cover, special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset())
    }

    /// MPNet's buckets of relative distance (HF's default 32); none for BERT.
    pub fn relative_buckets(&self) -> Option<usize> {
        (self.architecture() == Architecture::MpNet)
            .then(|| self.relative_attention_num_buckets.unwrap_or(32))
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
