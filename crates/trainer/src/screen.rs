//! Fitting a bundle's screen ([`cyborg_scorer::screen`]) on its training responses.
//!
//! Each limit sits beyond what genuine responses measure. Word pairs and topic centres would
//! flatter the very responses they were built from, so those are measured out of sample. Word
//! pairs: the responses are split in two halves, each half is measured against the pairs of
//! the other, and the bundle keeps the pairs of all (which only brings a new genuine response
//! closer, never farther). Topics: the encoder was fine-tuned on the training responses, so
//! their embeddings sit closer together than a new response's would; the centres come from the
//! training responses and the limit from the development ones, which training never fitted.

use std::collections::HashMap;

use cyborg_scorer::model::Reading;
use cyborg_scorer::screen::{common_share, repetition, topic_distance, Screen, Vocabulary};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// How many of the training responses' most frequent words make the common-word list.
const COMMON_WORDS: usize = 100;

/// Most topic centres: enough for a prompt's few kinds of answer, few enough to store.
const MAX_TOPICS: usize = 16;

/// Responses per topic centre at least, so that no centre sits on one response.
const RESPONSES_PER_TOPIC: usize = 20;

/// Where a limit sits: beyond the share `tail` of the genuine responses' values, moved away
/// from their median by `spread` times its distance from it again. A statistic whose gamed
/// values lie far from genuine ones gets room to spare; one whose gamed values lie close gets
/// an edge at the genuine tail itself.
#[derive(Debug, Clone, Copy)]
struct Limit {
    tail: f64,
    spread: f32,
}

/// A text pasted again repeats most of its runs; an essay that restates itself repeats few.
const REPETITION_LIMIT: Limit = Limit {
    tail: 0.01,
    spread: 1.0,
};

/// Another language uses almost none of the common words; a short or plain answer uses fewer.
const COMMON_SHARE_LIMIT: Limit = Limit {
    tail: 0.01,
    spread: 1.0,
};

/// Words in random order gain about nothing from their order; every written text gains.
const ORDER_GAIN_LIMIT: Limit = Limit {
    tail: 0.01,
    spread: 0.5,
};

/// Keywords stuffed into a short essay strand little more of it than a poor writer strands.
const STUFFING_LIMIT: Limit = Limit {
    tail: 0.005,
    spread: 0.0,
};

/// Another prompt's essay on a like task (a source-based answer on another source) lies only a
/// little farther from the centres than an unusual genuine answer. The tail of a few hundred
/// development responses still sits short of new ones' (ASAP prompt 7: 2.9% of held-out essays
/// beyond its 1% tail), so the limit stands a tenth further out.
const TOPIC_LIMIT: Limit = Limit {
    tail: 0.01,
    spread: 0.1,
};

/// Share of the raw scores' range by which a raw score may pass it unflagged.
const RAW_MARGIN: f64 = 0.1;

/// Lloyd iterations of the topic centres.
const TOPIC_ITERATIONS: usize = 25;

/// The screen of responses with word hashes `words` that the trained model read as `readings`:
/// the training responses first, then from index `dev_start` the development ones.
pub fn fit_screen(words: &[&[u32]], readings: &[Reading], dev_start: usize, seed: u64) -> Screen {
    let common_words = most_common(words);
    let shares: Vec<f32> = words
        .iter()
        .filter_map(|w| common_share(w, &common_words))
        .collect();
    let repeats: Vec<f32> = words.iter().filter_map(|w| repetition(w)).collect();

    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..words.len()).collect();
    order.shuffle(&mut rng);
    let (first, second) = order.split_at(order.len() / 2);
    let embeddings: Vec<&[f32]> = readings.iter().map(|r| r.embedding.as_slice()).collect();
    let (mut gains, mut stuffing) = (Vec::new(), Vec::new());
    for (reference, measured) in [(first, second), (second, first)] {
        let vocabulary = vocabulary(reference.iter().map(|&i| words[i]));
        gains.extend(
            measured
                .iter()
                .filter_map(|&i| vocabulary.order_gain(words[i])),
        );
        stuffing.extend(
            measured
                .iter()
                .filter_map(|&i| vocabulary.stuffing(words[i])),
        );
    }
    let topics = topic_centres(&embeddings[..dev_start], &mut rng);
    let distances: Vec<f32> = embeddings[dev_start..]
        .iter()
        .map(|e| topic_distance(e, &topics))
        .collect();

    let raw: Vec<f64> = readings.iter().map(|r| r.values[0]).collect();
    let (low, high) = raw
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
            (lo.min(r), hi.max(r))
        });
    let margin = RAW_MARGIN * (high - low);
    Screen {
        min_common_share: COMMON_SHARE_LIMIT.lower(shares),
        max_repetition: REPETITION_LIMIT.upper(repeats, 1.0),
        min_order_gain: ORDER_GAIN_LIMIT.lower(gains),
        max_stuffing: STUFFING_LIMIT.upper(stuffing, 1.0),
        max_topic_distance: TOPIC_LIMIT.upper(distances, 2.0),
        common_words,
        topics,
        raw_limits: [low - margin, high + margin],
        vocabulary: vocabulary(words.iter().copied()),
    }
}

/// The hashes of the `COMMON_WORDS` most frequent words, sorted (ties go to the smaller hash,
/// so the list does not depend on the order of the responses).
fn most_common(words: &[&[u32]]) -> Vec<u32> {
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for &w in words.iter().flat_map(|w| w.iter()) {
        *counts.entry(w).or_default() += 1;
    }
    let mut ranked: Vec<(u32, usize)> = counts.into_iter().collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut common: Vec<u32> = ranked
        .into_iter()
        .take(COMMON_WORDS)
        .map(|(w, _)| w)
        .collect();
    common.sort_unstable();
    common
}

fn vocabulary<'a>(texts: impl Iterator<Item = &'a [u32]>) -> Vocabulary {
    let mut vocabulary = Vocabulary::default();
    for words in texts {
        vocabulary.insert(words);
    }
    vocabulary
}

/// Spherical k-means: unit-length centres of `embeddings` by cosine similarity, seeded by
/// k-means++ (each next seed drawn in proportion to its distance from the nearest chosen).
fn topic_centres(embeddings: &[&[f32]], rng: &mut StdRng) -> Vec<Vec<f32>> {
    let points: Vec<Vec<f32>> = embeddings.iter().map(|e| unit(e.to_vec())).collect();
    let k = (points.len() / RESPONSES_PER_TOPIC).clamp(1, MAX_TOPICS);
    let mut centres = vec![points[rng.random_range(0..points.len())].clone()];
    while centres.len() < k {
        let distance: Vec<f32> = points
            .iter()
            .map(|p| topic_distance(p, &centres).max(0.0))
            .collect();
        let total: f32 = distance.iter().sum();
        if total <= 0.0 {
            break;
        }
        let mut target = rng.random_range(0.0..total);
        let next = distance
            .iter()
            .position(|&d| {
                target -= d;
                target < 0.0
            })
            .unwrap_or(points.len() - 1);
        centres.push(points[next].clone());
    }
    for _ in 0..TOPIC_ITERATIONS {
        let mut sums = vec![vec![0f32; points[0].len()]; centres.len()];
        for p in &points {
            let nearest = (0..centres.len())
                .max_by(|&a, &b| dot(p, &centres[a]).total_cmp(&dot(p, &centres[b])))
                .expect("at least one centre");
            for (s, x) in sums[nearest].iter_mut().zip(p) {
                *s += x;
            }
        }
        for (centre, sum) in centres.iter_mut().zip(sums) {
            if sum.iter().any(|&x| x != 0.0) {
                *centre = unit(sum);
            }
        }
    }
    centres
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = dot(&v, &v).sqrt().max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// The value at quantile `q` of `values` (sorted in place; at least one).
fn quantile(values: &mut [f32], q: f64) -> f32 {
    values.sort_unstable_by(f32::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

impl Limit {
    /// The limit above which a value is flagged, at most `ceiling` (which nothing passes); the
    /// ceiling when there are no values.
    fn upper(self, mut values: Vec<f32>, ceiling: f32) -> f32 {
        if values.is_empty() {
            return ceiling;
        }
        let median = quantile(&mut values, 0.5);
        let edge = quantile(&mut values, 1.0 - self.tail);
        (edge + self.spread * (edge - median)).min(ceiling)
    }

    /// The limit below which a share is flagged, at least 0 (which nothing falls below).
    fn lower(self, mut values: Vec<f32>) -> f32 {
        if values.is_empty() {
            return 0.0;
        }
        let median = quantile(&mut values, 0.5);
        let edge = quantile(&mut values, self.tail);
        (edge - self.spread * (median - edge)).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyborg_scorer::screen::word_hashes;

    fn reading(embedding: Vec<f32>, raw: f64) -> Reading {
        Reading {
            values: vec![raw],
            embedding,
        }
    }

    #[test]
    fn limits_sit_beyond_the_genuine_responses_and_flag_what_is_unlike_them() {
        let sentences = [
            "the cyclist rides through the hot desert and the road is long",
            "the author shows that the setting makes the journey harder for him",
            "when the water runs out the cyclist feels tired and afraid of the heat",
            "the hills and the old buildings make the ride feel longer than it is",
        ];
        let texts: Vec<String> = (0..80)
            .map(|i| {
                let second = (i % 4 + 1 + (i / 4) % 3) % 4;
                format!("{} {}", sentences[i % 4], sentences[second])
            })
            .collect();
        let words: Vec<Vec<u32>> = texts.iter().map(|t| word_hashes(t)).collect();
        let word_refs: Vec<&[u32]> = words.iter().map(Vec::as_slice).collect();
        let readings: Vec<Reading> = (0..80)
            .map(|i| reading(vec![1.0, 0.1 * (i % 3) as f32], 2.0 + (i % 4) as f64))
            .collect();
        let screen = fit_screen(&word_refs, &readings, 60, 7);
        let flags = |text: &str, embedding: &[f32], raw: f64| {
            screen.advisories(&screen.signals(&word_hashes(text), embedding, raw))
        };
        for (text, reading) in texts.iter().zip(&readings) {
            assert!(flags(text, &reading.embedding, reading.values[0]).is_empty());
        }
        use cyborg_scorer::advisory::Advisory::*;
        assert_eq!(
            flags(&[texts[0].as_str(); 3].join(" "), &[1.0, 0.0], 3.0),
            [Repetition]
        );
        assert_eq!(
            flags(
                "el ciclista recorre el desierto caliente y la carretera es larga y dura",
                &[1.0, 0.0],
                3.0
            ),
            [OtherLanguage, WordSalad]
        );
        // Key words listed twice over: no order, and each stranded twice.
        assert_eq!(
            flags(
                "desert cyclist road hills heat water desert cyclist hills road water heat",
                &[1.0, 0.0],
                3.0
            ),
            [WordSalad, KeywordStuffing]
        );
        assert_eq!(flags(&texts[1], &[0.0, 1.0], 3.0), [OffTopic]);
        assert_eq!(flags(&texts[1], &[1.0, 0.0], 9.0), [UnusualScore]);
        // The same responses and seed give the same screen.
        assert_eq!(fit_screen(&word_refs, &readings, 60, 7), screen);
    }
}
