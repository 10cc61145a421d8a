//! The head's lexical block: the words and adjacent word pairs a response uses, hashed into a
//! fixed number of buckets, with a weight per bucket and trait.
//!
//! An encoder that reads windows and averages them blurs what a content rubric rewards most,
//! the key words and phrases themselves; a bag of words keeps them. A response's lexical vector
//! holds `ln(1 + hits)` per bucket, scaled to unit length so that repeating a text does not
//! grow it (length is the surface features' job). The trainer fits the weights jointly with the
//! linear head (`cyborg_trainer::ridge`); the score adds the block's part to the head's.
//!
//! Words are the screen's hashes ([`crate::screen::word_hashes`]) of lower-case words, so case
//! and punctuation do not matter and the bundle holds no text. The hashing is plain integer
//! arithmetic, so the browser and the command line put every word in the same bucket.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::screen::{pair_key, spread};

/// Most buckets a bundle may ask for.
pub const MAX_BUCKETS: usize = 1 << 20;

/// How often the words (hashes, in order) and their adjacent pairs hit each bucket, sorted by
/// bucket; buckets with no hit are left out.
pub fn bucket_counts(words: &[u32], buckets: usize) -> Vec<(u32, u32)> {
    let bucket = |key: u64| (spread(key) % buckets as u64) as u32;
    let mut hits: Vec<u32> = words
        .iter()
        .map(|&w| bucket(w as u64))
        .chain(words.windows(2).map(|p| bucket(pair_key(p[0], p[1]))))
        .collect();
    hits.sort_unstable();
    let mut counts: Vec<(u32, u32)> = Vec::new();
    for hit in hits {
        match counts.last_mut() {
            Some((last, n)) if *last == hit => *n += 1,
            _ => counts.push((hit, 1)),
        }
    }
    counts
}

/// The response's lexical vector: `ln(1 + hits)` per bucket, scaled to unit length (empty for
/// a response without words), as (bucket, value) pairs sorted by bucket.
pub fn lexical_vector(words: &[u32], buckets: usize) -> Vec<(u32, f32)> {
    let logs: Vec<(u32, f64)> = bucket_counts(words, buckets)
        .into_iter()
        .map(|(b, n)| (b, (n as f64).ln_1p()))
        .collect();
    let norm = logs.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
    logs.into_iter()
        .map(|(b, v)| (b, (v / norm) as f32))
        .collect()
}

/// A weight per bucket and trait: the block's part of each trait's normalised score.
#[derive(Clone)]
pub struct LexicalBlock {
    /// (traits, buckets).
    weight: Tensor,
}

impl LexicalBlock {
    /// The block with `weight` (traits, buckets).
    pub fn new(weight: Tensor) -> Result<Self> {
        if weight.rank() != 2 || weight.dim(1)? == 0 {
            return Err(Error::invalid(
                "head",
                format!(
                    "head.lexical.weight has shape {:?}, not (traits, buckets)",
                    weight.dims()
                ),
            ));
        }
        Ok(LexicalBlock { weight })
    }

    /// The number of buckets.
    pub fn buckets(&self) -> usize {
        self.weight.dims()[1]
    }

    /// The weights, (traits, buckets).
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// How many buckets carry a weight for some trait (none when the trainer found the block
    /// no help on development data).
    pub fn weighted_buckets(&self) -> Result<usize> {
        let rows = self.weight.to_vec2::<f32>()?;
        Ok((0..self.buckets())
            .filter(|&b| rows.iter().any(|row| row[b] != 0.0))
            .count())
    }

    /// The block's part of each text's normalised scores (texts, traits), from each text's
    /// word hashes. Summed bucket by bucket in order, so every platform adds alike.
    pub fn forward(&self, words: &[&[u32]], device: &Device) -> Result<Tensor> {
        let rows = self.weight.to_vec2::<f32>()?;
        let buckets = self.buckets();
        let mut parts = Vec::with_capacity(words.len() * rows.len());
        for text in words {
            let vector = lexical_vector(text, buckets);
            for row in &rows {
                parts.push(
                    vector
                        .iter()
                        .map(|&(b, v)| v * row[b as usize])
                        .sum::<f32>(),
                );
            }
        }
        Ok(Tensor::from_vec(parts, (words.len(), rows.len()), device)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::word_hashes;

    #[test]
    fn a_word_and_its_pairs_each_hit_a_bucket_once_per_use() {
        // 4 words and 3 pairs; "the" twice, so at most 6 distinct keys.
        let counts = bucket_counts(&word_hashes("The cat saw the"), 1 << 20);
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<u32>(), 7);
        assert!(counts.windows(2).all(|p| p[0].0 < p[1].0));
        assert!(counts.iter().any(|&(_, n)| n == 2));
    }

    #[test]
    fn the_vector_has_unit_length_and_ignores_case_punctuation_and_repetition_of_the_text() {
        let once = lexical_vector(&word_hashes("Plants need light, water and air."), 4096);
        let norm: f32 = once.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        assert_eq!(
            once,
            lexical_vector(&word_hashes("plants NEED light water; and air"), 4096)
        );
        assert!(lexical_vector(&[], 4096).is_empty());
    }

    #[test]
    fn each_text_gets_the_dot_product_of_its_vector_and_each_traits_weights() {
        let words = word_hashes("light water light");
        let vector = lexical_vector(&words, 8);
        let weights: Vec<f32> = (0..16).map(|i| i as f32 * 0.5 - 3.0).collect();
        let block =
            LexicalBlock::new(Tensor::from_vec(weights.clone(), (2, 8), &Device::Cpu).unwrap())
                .unwrap();
        let parts = block
            .forward(&[&words, &[]], &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for t in 0..2 {
            let expected: f32 = vector
                .iter()
                .map(|&(b, v)| v * weights[t * 8 + b as usize])
                .sum();
            assert_eq!(parts[0][t], expected);
            assert_eq!(parts[1][t], 0.0);
        }
    }
}
