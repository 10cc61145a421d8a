//! The classic member of the local teacher: kernel ridge regression on TF-IDF word unigrams
//! and bigrams plus the surface features (length, vocabulary, word length). It sees what a
//! windowed encoder averages away: the exact words, and the whole response at once.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use cyborg_scorer::features::FEATURE_COUNT;
use cyborg_scorer::metrics::{agreement, ScoreRange, Thresholds};

use crate::ridge::{solve_positive_definite, sparse_dot, sparse_gram};

/// Hash buckets for terms: 2¹⁸, so that collisions are rare in a few thousand responses.
const BUCKETS: usize = 1 << 18;

/// Ridge penalties tried (times the number of responses).
const PENALTIES: [f64; 7] = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0];

/// Scales tried for the standardised surface features beside the unit-length TF-IDF vector.
const FEATURE_SCALES: [f64; 3] = [0.1, 0.3, 1.0];

/// A response as the model reads it: sorted `(bucket, weight)` pairs and its surface features.
pub struct TermVector {
    terms: Vec<(u32, f64)>,
    features: [f32; FEATURE_COUNT],
}

/// Lower-cased words and adjacent word pairs, hashed to buckets, with their counts.
fn term_counts(text: &str) -> Vec<(u32, f64)> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let bucket = |parts: &[&str]| -> u32 {
        let mut hasher = DefaultHasher::new();
        parts.hash(&mut hasher);
        (hasher.finish() % BUCKETS as u64) as u32
    };
    let mut buckets: Vec<u32> = words.iter().map(|w| bucket(&[w])).collect();
    buckets.extend(words.windows(2).map(|p| bucket(&[&p[0], &p[1]])));
    buckets.sort_unstable();
    let mut counts: Vec<(u32, f64)> = Vec::new();
    for b in buckets {
        match counts.last_mut() {
            Some((last, n)) if *last == b => *n += 1.0,
            _ => counts.push((b, 1.0)),
        }
    }
    counts
}

/// Kernel ridge on TF-IDF and surface features, fitted on a few hundred scored responses.
pub struct TfidfRidge {
    /// Inverse document frequency per bucket, from the training responses.
    idf: Vec<f64>,
    feature_mean: [f64; FEATURE_COUNT],
    feature_std: [f64; FEATURE_COUNT],
    feature_scale: f64,
    /// The primal weights: Σ αᵢ xᵢ over the training responses.
    term_weights: Vec<f64>,
    feature_weights: [f64; FEATURE_COUNT],
    intercept: f64,
    /// The penalty chosen on development data.
    pub penalty: f64,
}

impl TfidfRidge {
    /// Fits on `train` (texts, surface features, scores), choosing the penalty and the
    /// features' scale by development QWK (with fitted thresholds) on `dev`.
    pub fn fit(
        train: &[(&str, [f32; FEATURE_COUNT], f64)],
        dev: &[(&str, [f32; FEATURE_COUNT], i64)],
        range: ScoreRange,
    ) -> TfidfRidge {
        let n = train.len();
        let counts: Vec<Vec<(u32, f64)>> = train.iter().map(|t| term_counts(t.0)).collect();
        let features: Vec<[f32; FEATURE_COUNT]> = train.iter().map(|t| t.1).collect();
        let (feature_mean, feature_std) = feature_moments(&features);
        let mut model = TfidfRidge {
            idf: inverse_document_frequency(&counts),
            feature_mean,
            feature_std,
            feature_scale: 1.0,
            term_weights: vec![0.0; BUCKETS],
            feature_weights: [0.0; FEATURE_COUNT],
            intercept: 0.0,
            penalty: 0.0,
        };
        let train_vectors: Vec<TermVector> = train
            .iter()
            .zip(counts)
            .map(|(t, c)| model.weigh(c, t.1))
            .collect();
        let dev_vectors: Vec<TermVector> = dev.iter().map(|d| model.vector(d.0, d.1)).collect();
        let dev_human: Vec<i64> = dev.iter().map(|d| d.2).collect();
        let y_mean = train.iter().map(|t| t.2).sum::<f64>() / n as f64;
        let centred: Vec<f64> = train.iter().map(|t| t.2 - y_mean).collect();

        // The term part of the kernel, once; the feature part changes with its scale.
        let terms: Vec<Vec<(u32, f64)>> = train_vectors.iter().map(|v| v.terms.clone()).collect();
        let term_kernel = sparse_gram(&terms, BUCKETS);
        let standardised: Vec<[f64; FEATURE_COUNT]> =
            train_vectors.iter().map(|v| model.standardise(v)).collect();
        let mut best: Option<(f64, f64, f64, Vec<f64>)> = None;
        for scale in FEATURE_SCALES {
            let kernel = with_features(term_kernel.clone(), &standardised, scale);
            for penalty in PENALTIES {
                let mut system = kernel.clone();
                for i in 0..n {
                    system[i * n + i] += penalty * n as f64;
                }
                let alpha = solve_positive_definite(system, &centred, n);
                model.set_weights(&train_vectors, &standardised, &alpha, scale, y_mean);
                let raw: Vec<f64> = dev_vectors.iter().map(|v| model.predict(v)).collect();
                let thresholds = Thresholds::fit(&raw, &dev_human, range);
                let levels: Vec<i64> = raw.iter().map(|&r| thresholds.level(r)).collect();
                let qwk = agreement(&dev_human, &levels, range)
                    .qwk
                    .unwrap_or(f64::NEG_INFINITY);
                if best.as_ref().is_none_or(|b| qwk > b.0) {
                    best = Some((qwk, scale, penalty, alpha));
                }
            }
        }
        let (_, scale, penalty, alpha) = best.expect("penalties to try");
        model.set_weights(&train_vectors, &standardised, &alpha, scale, y_mean);
        model.penalty = penalty;
        model
    }

    /// `text` as the model reads it.
    pub fn vector(&self, text: &str, features: [f32; FEATURE_COUNT]) -> TermVector {
        self.weigh(term_counts(text), features)
    }

    /// Sublinear TF-IDF (1 + ln tf) · idf, scaled to unit length.
    fn weigh(&self, counts: Vec<(u32, f64)>, features: [f32; FEATURE_COUNT]) -> TermVector {
        let mut terms: Vec<(u32, f64)> = counts
            .into_iter()
            .map(|(b, tf)| (b, (1.0 + tf.ln()) * self.idf[b as usize]))
            .collect();
        let norm = terms.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (_, w) in &mut terms {
                *w /= norm;
            }
        }
        TermVector { terms, features }
    }

    fn standardise(&self, v: &TermVector) -> [f64; FEATURE_COUNT] {
        std::array::from_fn(|j| (v.features[j] as f64 - self.feature_mean[j]) / self.feature_std[j])
    }

    fn set_weights(
        &mut self,
        train: &[TermVector],
        standardised: &[[f64; FEATURE_COUNT]],
        alpha: &[f64],
        scale: f64,
        intercept: f64,
    ) {
        self.term_weights.iter_mut().for_each(|w| *w = 0.0);
        self.feature_weights = [0.0; FEATURE_COUNT];
        for ((v, f), &a) in train.iter().zip(standardised).zip(alpha) {
            for &(b, w) in &v.terms {
                self.term_weights[b as usize] += a * w;
            }
            for (weight, value) in self.feature_weights.iter_mut().zip(f) {
                *weight += a * scale * value;
            }
        }
        self.feature_scale = scale;
        self.intercept = intercept;
    }

    /// The raw score of a response.
    pub fn predict(&self, v: &TermVector) -> f64 {
        let f = self.standardise(v);
        let features: f64 = (0..FEATURE_COUNT)
            .map(|j| self.feature_weights[j] * self.feature_scale * f[j])
            .sum();
        self.intercept + sparse_dot(&v.terms, &self.term_weights) + features
    }
}

/// Each bucket's inverse document frequency over the training responses' term `counts`,
/// smoothed as scikit-learn's default: ln((1 + n) / (1 + df)) + 1.
fn inverse_document_frequency(counts: &[Vec<(u32, f64)>]) -> Vec<f64> {
    let mut document_frequency = vec![0f64; BUCKETS];
    for doc in counts {
        for &(b, _) in doc {
            document_frequency[b as usize] += 1.0;
        }
    }
    let n = counts.len() as f64;
    document_frequency
        .iter()
        .map(|&df| ((1.0 + n) / (1.0 + df)).ln() + 1.0)
        .collect()
}

/// The surface features' means and standard deviations over the training responses (1 where
/// a feature does not vary, so that standardising leaves it at 0).
fn feature_moments(
    features: &[[f32; FEATURE_COUNT]],
) -> ([f64; FEATURE_COUNT], [f64; FEATURE_COUNT]) {
    let n = features.len() as f64;
    let mut mean = [0f64; FEATURE_COUNT];
    let mut std = [0f64; FEATURE_COUNT];
    for j in 0..FEATURE_COUNT {
        let values: Vec<f64> = features.iter().map(|f| f[j] as f64).collect();
        let m = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
        mean[j] = m;
        std[j] = if var > 1e-12 { var.sqrt() } else { 1.0 };
    }
    (mean, std)
}

/// The term `kernel` (n × n) with the standardised features' kernel added, weighted by
/// `scale` squared.
fn with_features(
    mut kernel: Vec<f64>,
    standardised: &[[f64; FEATURE_COUNT]],
    scale: f64,
) -> Vec<f64> {
    let n = standardised.len();
    for i in 0..n {
        for j in 0..n {
            let f: f64 = (0..FEATURE_COUNT)
                .map(|k| standardised[i][k] * standardised[j][k])
                .sum();
            kernel[i * n + j] += scale * scale * f;
        }
    }
    kernel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words_and_pairs_case_insensitively() {
        let counts = term_counts("The cat. the CAT");
        // Words: the, cat, the, cat (2 distinct); pairs: the-cat twice, cat-the once.
        let total: f64 = counts.iter().map(|c| c.1).sum();
        assert_eq!(total, 7.0);
        assert_eq!(counts.len(), 4);
        assert!(counts.iter().any(|c| c.1 == 2.0));
    }

    #[test]
    fn learns_which_words_raise_a_score() {
        // Score 2 responses use "evidence"; score 0 ones do not; lengths are equal, so only
        // the words can tell them apart.
        let fillers = ["apple", "river", "stone", "cloud", "green", "table"];
        let text = |i: usize, good: bool| {
            let key = if good { "evidence" } else { "nothing" };
            format!("{} {} {key} here", fillers[i % 6], fillers[(i + 1) % 6])
        };
        let features = [1.0; FEATURE_COUNT];
        let train_texts: Vec<(String, f64)> = (0..30)
            .map(|i| (text(i, i % 2 == 0), if i % 2 == 0 { 2.0 } else { 0.0 }))
            .collect();
        let train: Vec<(&str, [f32; FEATURE_COUNT], f64)> = train_texts
            .iter()
            .map(|(t, s)| (t.as_str(), features, *s))
            .collect();
        let dev_texts: Vec<(String, i64)> = (0..10)
            .map(|i| (text(i + 3, i % 2 == 1), if i % 2 == 1 { 2 } else { 0 }))
            .collect();
        let dev: Vec<(&str, [f32; FEATURE_COUNT], i64)> = dev_texts
            .iter()
            .map(|(t, s)| (t.as_str(), features, *s))
            .collect();
        let range = ScoreRange { min: 0, max: 2 };
        let model = TfidfRidge::fit(&train, &dev, range);
        let high = model.predict(&model.vector("cloud table evidence here", features));
        let low = model.predict(&model.vector("cloud table nothing here", features));
        // Unseen word pairs pull both towards the mean (1), but the key word separates them.
        assert!(
            high > 1.4 && low < 0.8 && high - low > 0.8,
            "high {high}, low {low}"
        );
    }
}
