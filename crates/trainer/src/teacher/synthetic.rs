//! Synthetic responses (Borchers et al., 2025): an LLM writes new responses at each score
//! level from human examples; the student then trains on human and synthetic responses.
//!
//! How many to write (per level, or as a share of the total), the optional consistency filter
//! and the near-duplicate check are here; the conversations are in [`super::llm`] and
//! [`super::gguf`].

use std::collections::{BTreeMap, HashSet};

use anyhow::{bail, Result};
use cyborg_scorer::metrics::ScoreRange;

use super::{ChatModel, Provenance, Source};
use crate::config::{LlmConfig, StudentConfig};
use crate::data::Row;
use crate::progress::Progress;

/// One requested synthetic response and what became of it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// `synthetic-LEVEL-K`.
    pub id: String,
    /// The level it was written for.
    pub level: i64,
    /// The text, when the LLM wrote one.
    pub text: String,
    /// The LLM's confidence in `level` when it scored the sample again (the filter).
    pub confidence: Option<f64>,
    /// Why it is left out, if it is.
    pub dropped: Option<String>,
}

impl Sample {
    /// The sample as a provenance row, written by `by`.
    pub fn provenance<'a>(&'a self, by: &'a str) -> Provenance<'a> {
        Provenance {
            id: &self.id,
            text: &self.text,
            score: Some(self.level),
            expected: self.dropped.is_none().then_some(self.level as f64),
            source: if self.dropped.is_some() {
                Source::Dropped
            } else {
                Source::Synthetic
            },
            by,
            confidence: self.confidence,
            error: self.dropped.as_deref().unwrap_or(""),
        }
    }
}

/// How many responses to write at each level: `per_level` each, or enough that synthetic
/// responses are `ratio` of the human and synthetic total, spread as the human levels are
/// (largest remainders, so the counts add up exactly).
pub fn plan(
    per_level: Option<usize>,
    ratio: Option<f64>,
    human_counts: &BTreeMap<i64, usize>,
    range: ScoreRange,
) -> Result<BTreeMap<i64, usize>> {
    if let Some(n) = per_level {
        return Ok((range.min..=range.max).map(|level| (level, n)).collect());
    }
    let Some(ratio) = ratio else {
        bail!("say how many to write: --per-level N or --synthetic-ratio R");
    };
    if !(0.0..1.0).contains(&ratio) {
        bail!("--synthetic-ratio must be at least 0 and below 1, not {ratio}");
    }
    let human: usize = human_counts.values().sum();
    let total = (ratio / (1.0 - ratio) * human as f64).round() as usize;
    let shares: Vec<(i64, f64)> = human_counts
        .iter()
        .map(|(&level, &n)| (level, total as f64 * n as f64 / human as f64))
        .collect();
    let mut counts: BTreeMap<i64, usize> = shares
        .iter()
        .map(|&(level, share)| (level, share.floor() as usize))
        .collect();
    let mut by_remainder = shares.clone();
    by_remainder.sort_by(|a, b| (b.1 - b.1.floor()).total_cmp(&(a.1 - a.1.floor())));
    let missing = total - counts.values().sum::<usize>();
    for (level, _) in by_remainder.into_iter().take(missing) {
        *counts.get_mut(&level).expect("level") += 1;
    }
    Ok(counts)
}

/// Lower-cased word trigrams of `text`.
fn trigrams(text: &str) -> HashSet<[String; 3]> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words
        .windows(3)
        .map(|w| [w[0].clone(), w[1].clone(), w[2].clone()])
        .collect()
}

/// Jaccard similarity of two trigram sets (1 for two empty ones: too short to tell apart).
fn jaccard(a: &HashSet<[String; 3]>, b: &HashSet<[String; 3]>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// The model that writes samples at `temperature` and, for the consistency filter, scores
/// them again greedily: re-scoring is a rater's job, whatever the writing temperature.
pub struct Writer {
    /// The model.
    pub author: ChatModel,
    /// The temperature samples are written at.
    pub temperature: f64,
}

impl Writer {
    /// The writer `llm` names (its GGUF file, else the endpoint), shown `human`'s examples,
    /// writing at `temperature`.
    pub fn new(
        llm: &LlmConfig,
        student: &StudentConfig,
        temperature: f64,
        human: &[&Row],
        range: ScoreRange,
        progress: &Progress,
    ) -> Result<Writer> {
        let local = llm.gguf.is_some();
        let author = llm.chat_model(local, Some(0.0), student, human, range, progress)?;
        Ok(Writer {
            author,
            temperature,
        })
    }

    /// The writer and its settings, for provenance.
    pub fn describe(&self) -> String {
        format!(
            "{}; writing at temperature {}",
            self.author.describe(),
            self.temperature
        )
    }
}

/// Writes the samples `counts` asks for; drops near-duplicates (trigram Jaccard ≥
/// `max_similarity` to a human response or an earlier kept sample) and, with `consistent`,
/// samples the LLM scores at another level. Nothing is silently lost: a dropped or failed
/// sample is returned with its reason.
pub fn generate(
    writer: &Writer,
    human: &[&Row],
    counts: &BTreeMap<i64, usize>,
    consistent: bool,
    max_similarity: f64,
    max_tokens: usize,
) -> Result<Vec<Sample>> {
    let jobs: Vec<(i64, usize)> = counts
        .iter()
        .flat_map(|(&level, &n)| (0..n).map(move |k| (level, k)))
        .collect();
    let written = writer.author.write(&jobs, writer.temperature, max_tokens)?;
    let mut samples: Vec<Sample> = jobs
        .iter()
        .zip(written)
        .map(|(&(level, k), text)| {
            let (text, dropped) = match text {
                Ok(text) => (text, None),
                Err(reason) => (String::new(), Some(format!("not written: {reason}"))),
            };
            Sample {
                id: format!("synthetic-{level}-{}", k + 1),
                level,
                text,
                confidence: None,
                dropped,
            }
        })
        .collect();
    drop_near_duplicates(&mut samples, human, max_similarity);
    if consistent {
        drop_inconsistent(&mut samples, writer)?;
    }
    Ok(samples)
}

/// Drops each sample at least `max_similarity` alike (word-trigram Jaccard) to a human
/// response or to a sample kept before it, naming which.
fn drop_near_duplicates(samples: &mut [Sample], human: &[&Row], max_similarity: f64) {
    let mut seen: Vec<(String, HashSet<[String; 3]>)> = human
        .iter()
        .map(|r| (format!("human response {}", r.id), trigrams(&r.text)))
        .collect();
    for sample in samples.iter_mut().filter(|s| s.dropped.is_none()) {
        let grams = trigrams(&sample.text);
        let closest = seen
            .iter()
            .map(|(name, other)| (name, jaccard(&grams, other)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match closest {
            Some((name, similarity)) if similarity >= max_similarity => {
                sample.dropped = Some(format!(
                    "near-duplicate of {name} (trigram Jaccard {similarity:.2})"
                ));
            }
            _ => seen.push((sample.id.clone(), grams)),
        }
    }
}

/// Has the writer score each sample still kept, and drops those it scores at another level
/// than the one they were written for (or cannot score); a kept one gets its confidence.
fn drop_inconsistent(samples: &mut [Sample], writer: &Writer) -> Result<()> {
    let kept: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i].dropped.is_none())
        .collect();
    let rows: Vec<Row> = kept
        .iter()
        .map(|&i| Row {
            id: samples[i].id.clone(),
            text: samples[i].text.clone(),
            score: None,
            traits: Vec::new(),
            groups: Vec::new(),
            line: 0,
        })
        .collect();
    let refs: Vec<&Row> = rows.iter().collect();
    for (&i, label) in kept.iter().zip(writer.author.label(&refs)?) {
        let sample = &mut samples[i];
        match label {
            Ok(label) if label.level == sample.level => sample.confidence = label.confidence,
            Ok(label) => {
                sample.dropped = Some(format!(
                    "inconsistent: written for {}, scored {}",
                    sample.level, label.level
                ))
            }
            Err(reason) => sample.dropped = Some(format!("not re-scored: {reason}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_of_four_fifths_writes_four_per_human_response_in_proportion() {
        let human = BTreeMap::from([(1, 10), (2, 25), (3, 5)]);
        let range = ScoreRange { min: 1, max: 3 };
        let counts = plan(None, Some(0.8), &human, range).unwrap();
        assert_eq!(counts.values().sum::<usize>(), 160);
        assert_eq!(counts, BTreeMap::from([(1, 40), (2, 100), (3, 20)]));
        // 1/3 synthetic: half as many as human (20), split 5 : 12.5 : 2.5 by largest remainder.
        let third = plan(None, Some(1.0 / 3.0), &human, range).unwrap();
        assert_eq!(third.values().sum::<usize>(), 20);
        assert_eq!(third[&1], 5);
        assert!(third[&2] == 12 || third[&2] == 13);
        let zero = plan(None, Some(0.0), &human, range).unwrap();
        assert_eq!(zero.values().sum::<usize>(), 0);
        assert!(plan(None, Some(1.0), &human, range).is_err());
        let each = plan(Some(3), None, &human, range).unwrap();
        assert_eq!(each, BTreeMap::from([(1, 3), (2, 3), (3, 3)]));
    }

    #[test]
    fn trigram_jaccard_tells_copies_from_new_text() {
        let a = trigrams("The cat sat on the mat today");
        let b = trigrams("the cat sat on the mat, today!");
        let c = trigrams("A dog ran in the park at noon");
        assert_eq!(jaccard(&a, &b), 1.0);
        assert_eq!(jaccard(&a, &c), 0.0);
        let d = trigrams("The cat sat on the rug today");
        // Shared: "the cat sat", "cat sat on", "sat on the"; union 7.
        assert!((jaccard(&a, &d) - 3.0 / 7.0).abs() < 1e-12);
    }
}
