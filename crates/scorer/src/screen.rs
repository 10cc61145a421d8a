//! Screening a response against the training responses for what length alone does not show: a
//! text pasted again and again, another language, a list of words or gibberish, another topic,
//! or a raw score the model never gave in training.
//!
//! A bundle carries a small reference of its training data, a [`Screen`]: the hashes of its
//! most common words, the set of word pairs it used, the centres of its embeddings, and the
//! limits beyond which a response is flagged. The trainer fits it (`cyborg_trainer::screen`);
//! this module only measures a response and compares. Words are read as 32-bit hashes of their
//! lower-case forms, so the reference holds no training text.

use serde::{Deserialize, Serialize};

use crate::advisory::Advisory;
use crate::error::{Error, Result};
use crate::features::words;

/// Fewer words than this are too few to judge repetition, common words or word pairs on.
pub const MIN_WORDS: usize = 10;

/// Words in a run that counts as repeated when it occurs again.
const REPEAT_RUN: usize = 4;

/// log2 of the bits in the set of training words: 2^16 bits (8 KiB) for a few thousand words.
const WORD_BITS: u32 = 16;

/// log2 of the bits in the set of training word pairs: 2^20 bits (128 KiB) hold the ~100,000
/// distinct pairs of a few thousand essays with about one false "seen" in ten.
const PAIR_BITS: u32 = 20;

/// How far apart the words are whose pairs stand for chance order in [`Vocabulary::order_gain`]:
/// far enough that their order carries little, near enough to share their context.
const CHANCE_OFFSETS: [usize; 3] = [3, 5, 8];

/// How often a word must stand stranded in a response to count as stuffed in
/// ([`Vocabulary::stuffing`]): a poor writer strands a word once, a stuffer the same ones again.
const STRANDED_REPEATS: usize = 2;

/// The FNV-1a hash of `word`'s lower-case form.
pub fn word_hash(word: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for c in word.chars().flat_map(char::to_lowercase) {
        let mut utf8 = [0u8; 4];
        for &byte in c.encode_utf8(&mut utf8).as_bytes() {
            hash ^= byte as u32;
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// The hashes of `text`'s words, in order. In a script written without spaces between words
/// (Chinese, Japanese, Thai and their neighbours) each letter counts as a word, so that a
/// response in one has as many words to judge as its length suggests.
pub fn word_hashes(text: &str) -> Vec<u32> {
    let mut hashes = Vec::new();
    let mut push = |piece: &str| {
        let piece = piece.trim_matches(|c: char| !c.is_alphanumeric());
        if !piece.is_empty() {
            hashes.push(word_hash(piece));
        }
    };
    for word in words(text) {
        let mut start = 0;
        for (at, c) in word.char_indices() {
            if written_without_spaces(c) {
                push(&word[start..at]);
                start = at + c.len_utf8();
                push(&word[at..start]);
            }
        }
        push(&word[start..]);
    }
    hashes
}

/// Whether `c` belongs to a script that does not put spaces between its words: Thai, Lao,
/// Myanmar, Khmer, Japanese kana and the Han ideographs.
fn written_without_spaces(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}'
        | '\u{1000}'..='\u{109F}'
        | '\u{1780}'..='\u{17FF}'
        | '\u{3040}'..='\u{30FF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3FFFF}'
    )
}

/// The share of a response's runs of four words that repeat an earlier run: near 0 for an
/// essay, 2/3 for one pasted three times. `None` under [`MIN_WORDS`] words.
pub fn repetition(words: &[u32]) -> Option<f32> {
    if words.len() < MIN_WORDS {
        return None;
    }
    let runs = words.windows(REPEAT_RUN);
    let total = runs.len();
    let mut seen = std::collections::HashSet::with_capacity(total);
    let repeated = runs.filter(|run| !seen.insert(*run)).count();
    Some(repeated as f32 / total as f32)
}

/// The share of `words` that are among `common` (sorted hashes). `None` under [`MIN_WORDS`].
pub fn common_share(words: &[u32], common: &[u32]) -> Option<f32> {
    if words.len() < MIN_WORDS {
        return None;
    }
    let found = words
        .iter()
        .filter(|w| common.binary_search(w).is_ok())
        .count();
    Some(found as f32 / words.len() as f32)
}

/// 1 − the cosine similarity between `embedding` and the nearest of `topics` (unit length).
pub fn topic_distance(embedding: &[f32], topics: &[Vec<f32>]) -> f32 {
    let norm = embedding
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    let nearest = topics
        .iter()
        .map(|t| t.iter().zip(embedding).map(|(a, b)| a * b).sum::<f32>() / norm)
        .fold(f32::NEG_INFINITY, f32::max);
    1.0 - nearest
}

/// A bit array that holds a set of hashed keys (false "seen"s possible, never false "unseen"s).
#[derive(Debug, Clone, PartialEq)]
struct BitSet {
    bits: Vec<u64>,
    log2: u32,
}

impl BitSet {
    fn new(log2: u32) -> Self {
        BitSet {
            bits: vec![0; (1 << log2) / 64],
            log2,
        }
    }

    /// The bit of `key`.
    fn slot(&self, key: u64) -> usize {
        (spread(key) >> (64 - self.log2)) as usize
    }

    fn insert(&mut self, key: u64) {
        let slot = self.slot(key);
        self.bits[slot / 64] |= 1 << (slot % 64);
    }

    fn contains(&self, key: u64) -> bool {
        let slot = self.slot(key);
        self.bits[slot / 64] & (1 << (slot % 64)) != 0
    }

    fn byte_len(log2: u32) -> usize {
        (1 << log2) / 8
    }

    fn to_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.bits.iter().flat_map(|w| w.to_le_bytes())
    }

    fn from_bytes(bytes: &[u8], log2: u32) -> Self {
        let bits = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        BitSet { bits, log2 }
    }
}

/// SplitMix64's finaliser: spreads every key over all 64 bits, so that any slice of them is a
/// fair hash.
pub(crate) fn spread(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The key of the adjacent word pair (a, b).
pub(crate) fn pair_key(a: u32, b: u32) -> u64 {
    (a as u64) << 32 | b as u64
}

/// The training responses' words and adjacent word pairs, as hashed sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    words: BitSet,
    pairs: BitSet,
}

impl Default for Vocabulary {
    fn default() -> Self {
        Vocabulary {
            words: BitSet::new(WORD_BITS),
            pairs: BitSet::new(PAIR_BITS),
        }
    }
}

impl Vocabulary {
    /// Adds a response's words and adjacent pairs.
    pub fn insert(&mut self, words: &[u32]) {
        for &w in words {
            self.words.insert(w as u64);
        }
        for pair in words.windows(2) {
            self.pairs.insert(pair_key(pair[0], pair[1]));
        }
    }

    /// How many of `pairs` training saw, and how many there are.
    fn familiar(&self, pairs: impl Iterator<Item = (u32, u32)>) -> (usize, usize) {
        pairs.fold((0, 0), |(seen, total), (a, b)| {
            (
                seen + self.pairs.contains(pair_key(a, b)) as usize,
                total + 1,
            )
        })
    }

    /// How much more often the response's adjacent word pairs were seen in training than pairs
    /// of its words a few apart: about a third for a written text, about 0 for its words in
    /// random order (a word list, a shuffled paste). `None` under [`MIN_WORDS`] words.
    pub fn order_gain(&self, words: &[u32]) -> Option<f32> {
        if words.len() < MIN_WORDS {
            return None;
        }
        let share = |(seen, total): (usize, usize)| seen as f32 / total.max(1) as f32;
        let adjacent = share(self.familiar(words.windows(2).map(|p| (p[0], p[1]))));
        let chance = share(CHANCE_OFFSETS.iter().fold((0, 0), |(seen, total), &k| {
            let (s, t) = self.familiar(
                words
                    .iter()
                    .zip(&words[k.min(words.len())..])
                    .map(|(&a, &b)| (a, b)),
            );
            (seen + s, total + t)
        }));
        Some(adjacent - chance)
    }

    /// The share of the response's words that are stuffed in: training words stranded where
    /// training never put them (neither the pair before nor the pair after was seen), the
    /// same word at least twice. Keywords inserted among an essay's words are; a misspelling is
    /// not a training word, and an odd phrase strands a word once. `None` under [`MIN_WORDS`].
    pub fn stuffing(&self, words: &[u32]) -> Option<f32> {
        if words.len() < MIN_WORDS {
            return None;
        }
        let unseen = |a: u32, b: u32| !self.pairs.contains(pair_key(a, b));
        let mut stranded: std::collections::HashMap<u32, usize> = Default::default();
        for t in words.windows(3) {
            if self.words.contains(t[1] as u64) && unseen(t[0], t[1]) && unseen(t[1], t[2]) {
                *stranded.entry(t[1]).or_default() += 1;
            }
        }
        let stuffed: usize = stranded.values().filter(|&&n| n >= STRANDED_REPEATS).sum();
        Some(stuffed as f32 / words.len() as f32)
    }

    /// Both sets as bytes, for a bundle section.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.words.to_bytes().chain(self.pairs.to_bytes()).collect()
    }

    /// Reads [`Vocabulary::to_bytes`]' output.
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<Self> {
        let words = BitSet::byte_len(WORD_BITS);
        let expected = words + BitSet::byte_len(PAIR_BITS);
        if bytes.len() != expected {
            return Err(Error::invalid(
                source_name,
                format!(
                    "its vocabulary section has {} bytes, not {expected}",
                    bytes.len()
                ),
            ));
        }
        Ok(Vocabulary {
            words: BitSet::from_bytes(&bytes[..words], WORD_BITS),
            pairs: BitSet::from_bytes(&bytes[words..], PAIR_BITS),
        })
    }
}

/// What one response measures against a [`Screen`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    /// [`repetition`].
    pub repetition: Option<f32>,
    /// [`common_share`] of the training's common words.
    pub common_share: Option<f32>,
    /// [`Vocabulary::order_gain`].
    pub order_gain: Option<f32>,
    /// [`Vocabulary::stuffing`].
    pub stuffing: Option<f32>,
    /// [`topic_distance`] to the training's centres.
    pub topic_distance: f32,
    /// The primary trait's raw score.
    pub raw: f64,
}

/// The reference a bundle keeps of its training responses and the limits fitted on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Screen {
    /// Hashes of the training responses' most common words, sorted.
    pub common_words: Vec<u32>,
    /// A response whose share of those words is below this is `other_language`.
    pub min_common_share: f32,
    /// A response that repeats a larger share of its runs of words is `repetition`.
    pub max_repetition: f32,
    /// A response whose words' order gains less than this is `word_salad`.
    pub min_order_gain: f32,
    /// A response with a larger share of words stuffed in is `keyword_stuffing`.
    pub max_stuffing: f32,
    /// Unit-length centres of the training responses' pooled embeddings.
    pub topics: Vec<Vec<f32>>,
    /// A response farther than this (1 − cosine) from every centre is `off_topic`.
    pub max_topic_distance: f32,
    /// A primary raw score outside these is `unusual_score`.
    pub raw_limits: [f64; 2],
    /// The training responses' words and word pairs; a bundle keeps them in a section of their
    /// own.
    #[serde(skip)]
    pub vocabulary: Vocabulary,
}

impl Screen {
    /// Measures one response: its word hashes, pooled embedding and primary raw score.
    pub fn signals(&self, words: &[u32], embedding: &[f32], raw: f64) -> Signals {
        Signals {
            repetition: repetition(words),
            common_share: common_share(words, &self.common_words),
            order_gain: self.vocabulary.order_gain(words),
            stuffing: self.vocabulary.stuffing(words),
            topic_distance: topic_distance(embedding, &self.topics),
            raw,
        }
    }

    /// What `signals` should be flagged for, in [`Advisory`] order.
    pub fn advisories(&self, signals: &Signals) -> Vec<Advisory> {
        let above = |value: Option<f32>, limit: f32| value.is_some_and(|v| v > limit);
        let below = |value: Option<f32>, limit: f32| value.is_some_and(|v| v < limit);
        let [low, high] = self.raw_limits;
        [
            (
                above(signals.repetition, self.max_repetition),
                Advisory::Repetition,
            ),
            (
                below(signals.common_share, self.min_common_share),
                Advisory::OtherLanguage,
            ),
            (
                below(signals.order_gain, self.min_order_gain),
                Advisory::WordSalad,
            ),
            (
                above(signals.stuffing, self.max_stuffing),
                Advisory::KeywordStuffing,
            ),
            (
                signals.topic_distance > self.max_topic_distance,
                Advisory::OffTopic,
            ),
            (!(low..=high).contains(&signals.raw), Advisory::UnusualScore),
        ]
        .into_iter()
        .filter_map(|(flagged, advisory)| flagged.then_some(advisory))
        .collect()
    }

    /// Checks a screen read from a bundle whose embeddings have `hidden` dimensions.
    pub fn validate(&self, hidden: usize, source_name: &str) -> Result<()> {
        let limits = [
            self.min_common_share,
            self.max_repetition,
            self.min_order_gain,
            self.max_stuffing,
            self.max_topic_distance,
        ];
        let problem = if !limits.iter().all(|l| l.is_finite()) {
            Some("a screen limit is not a finite number".to_string())
        } else if !self.raw_limits.iter().all(|l| l.is_finite())
            || self.raw_limits[0] > self.raw_limits[1]
        {
            Some("its screen's raw-score limits are not in order".to_string())
        } else if self.topics.is_empty() || self.topics.iter().any(|t| t.len() != hidden) {
            Some(format!(
                "its screen needs topic centres of {hidden} numbers each"
            ))
        } else if !self.common_words.is_sorted() {
            Some("its screen's common words are not sorted".to_string())
        } else {
            None
        };
        match problem {
            Some(problem) => Err(Error::invalid(source_name, problem)),
            None => Ok(()),
        }
    }
}

impl std::fmt::Display for Screen {
    /// The limits, as `cyborg info` shows them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} topic centres; flags repetition > {:.3}, common-word share < {:.3}, \
             order gain < {:.3}, stuffing > {:.3}, topic distance > {:.3}, raw outside \
             [{:.3}, {:.3}]",
            self.topics.len(),
            self.max_repetition,
            self.min_common_share,
            self.min_order_gain,
            self.max_stuffing,
            self.max_topic_distance,
            self.raw_limits[0],
            self.raw_limits[1]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESSAY: &str = "The author describes the setting of the story in detail. The cyclist \
        rides through the desert, and the heat makes every hill harder for him to climb.";

    #[test]
    fn each_letter_of_a_script_without_spaces_is_a_word() {
        let hashes = word_hashes("我们去学校。 «Hello» 東京へ行きます, world!");
        let expected = "我 们 去 学 校 hello 東 京 へ 行 き ま す world";
        let expected: Vec<u32> = expected.split(' ').map(word_hash).collect();
        assert_eq!(hashes, expected);
        assert_eq!(
            word_hashes("so-called e-mail"),
            [word_hash("so-called"), word_hash("e-mail")]
        );
    }

    #[test]
    fn a_text_pasted_three_times_repeats_two_thirds_of_its_runs() {
        let once = word_hashes(ESSAY);
        assert_eq!(repetition(&once), Some(0.0));
        let thrice = word_hashes(&[ESSAY; 3].join(" "));
        let share = repetition(&thrice).unwrap();
        // 27 words a copy: 24 runs inside each copy, 3 across each join. The second and third
        // copies' runs repeat the first's, and the second join's runs repeat the first join's.
        assert_eq!(share, (24 + 24 + 3) as f32 / 78.0);
        assert_eq!(repetition(&word_hashes("too few words here")), None);
    }

    #[test]
    fn words_hash_alike_whatever_their_case_and_punctuation() {
        assert_eq!(word_hashes("The, CAT!"), word_hashes("the cat"));
        assert_ne!(word_hash("cat"), word_hash("act"));
    }

    #[test]
    fn common_words_word_order_and_stuffing_are_measured_against_training() {
        let words = word_hashes(ESSAY);
        let mut common = word_hashes("the of and in");
        common.sort_unstable();
        // Six "the", one each of "of", "in" and "and": 9 of 27 words.
        assert_eq!(words.len(), 27);
        assert_eq!(common_share(&words, &common), Some(9.0 / 27.0));

        let mut vocabulary = Vocabulary::default();
        vocabulary.insert(&words);
        // Written order: every adjacent pair seen, next to none of the pairs a few apart.
        assert!(vocabulary.order_gain(&words).unwrap() > 0.8);
        // The same words backwards: known words, pairs never seen, no gain from the order.
        let reversed: Vec<u32> = words.iter().rev().copied().collect();
        assert!(vocabulary.order_gain(&reversed).unwrap() < 0.1);
        // A training word inserted after "author", "of" and "cyclist": stranded three times
        // among 30 words. A word training never saw is not stuffing; nor is one stranded once.
        let inserted = |word: &str, after: &[usize]| -> Vec<u32> {
            let mut out = Vec::new();
            for (i, &w) in words.iter().enumerate() {
                out.push(w);
                if after.contains(&i) {
                    out.push(word_hash(word));
                }
            }
            out
        };
        assert_eq!(vocabulary.stuffing(&words), Some(0.0));
        assert_eq!(
            vocabulary.stuffing(&inserted("desert", &[1, 5, 11])),
            Some(0.1)
        );
        assert_eq!(
            vocabulary.stuffing(&inserted("zebra", &[1, 5, 11])),
            Some(0.0)
        );
        assert_eq!(vocabulary.stuffing(&inserted("desert", &[1])), Some(0.0));
        let bytes = vocabulary.to_bytes();
        assert_eq!(Vocabulary::from_bytes(&bytes, "b").unwrap(), vocabulary);
        assert!(Vocabulary::from_bytes(&bytes[1..], "b").is_err());
    }

    #[test]
    fn each_limit_flags_its_own_advisory() {
        let screen = Screen {
            common_words: vec![],
            min_common_share: 0.2,
            max_repetition: 0.1,
            min_order_gain: 0.1,
            max_stuffing: 0.1,
            topics: vec![vec![1.0, 0.0]],
            max_topic_distance: 0.3,
            raw_limits: [1.0, 6.0],
            vocabulary: Vocabulary::default(),
        };
        let typical = Signals {
            repetition: Some(0.0),
            common_share: Some(0.4),
            order_gain: Some(0.3),
            stuffing: Some(0.0),
            topic_distance: topic_distance(&[2.0, 0.5], &screen.topics),
            raw: 3.0,
        };
        assert!(screen.advisories(&typical).is_empty());
        let odd = Signals {
            repetition: Some(0.6),
            common_share: Some(0.0),
            order_gain: Some(0.0),
            stuffing: Some(0.3),
            topic_distance: topic_distance(&[0.0, 1.0], &screen.topics),
            raw: 9.0,
        };
        assert_eq!(
            screen.advisories(&odd),
            [
                Advisory::Repetition,
                Advisory::OtherLanguage,
                Advisory::WordSalad,
                Advisory::KeywordStuffing,
                Advisory::OffTopic,
                Advisory::UnusualScore
            ]
        );
        let unjudged = Signals {
            repetition: None,
            common_share: None,
            order_gain: None,
            stuffing: None,
            ..typical
        };
        assert!(screen.advisories(&unjudged).is_empty());
    }
}
