//! Surface features of a whole response: what an encoder that reads fixed-size windows and
//! averages them cannot see, length above all.
//!
//! The same code runs in the browser and on the command line, so both compute them alike.

/// Names of the features, in the order [`text_features`] returns them.
pub const FEATURE_NAMES: [&str; 5] = [
    "log_words",
    "log_distinct_words",
    "mean_word_length",
    "log_sentences",
    "log_word_pieces",
];

/// Number of features.
pub const FEATURE_COUNT: usize = FEATURE_NAMES.len();

/// The features of `text`, whose tokenization gave `word_pieces` word pieces.
///
/// A word is a whitespace-separated run with its leading and trailing punctuation removed;
/// distinct words are counted case-insensitively; a sentence ends at `.`, `!` or `?` (a text
/// with words but no such mark is one sentence). Counts are log-scaled (`ln(1 + n)`), since a
/// score grows with length roughly logarithmically.
pub fn text_features(text: &str, word_pieces: usize) -> [f32; FEATURE_COUNT] {
    let words: Vec<&str> = words(text).collect();
    let mut distinct: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let letters: usize = words.iter().map(|w| w.chars().count()).sum();
    let mean_word_length = if words.is_empty() {
        0.0
    } else {
        letters as f32 / words.len() as f32
    };
    let sentence_marks = text
        .split(['.', '!', '?'])
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .count();
    let sentences = if words.is_empty() {
        0
    } else {
        sentence_marks.max(1)
    };
    let log = |n: usize| (1.0 + n as f32).ln();
    [
        log(words.len()),
        log(distinct.len()),
        mean_word_length,
        log(sentences),
        log(word_pieces),
    ]
}

/// The words of `text`: whitespace-separated runs with their leading and trailing punctuation
/// removed, punctuation alone dropped.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words_distinct_words_and_sentences_by_hand() {
        // Words: The, cat, sat, The, cat, ran (6); distinct: the, cat, sat, ran (4);
        // letters 3+3+3+3+3+3 = 18; sentences: 2.
        let f = text_features("The cat sat. The cat ran!", 9);
        let ln = |x: f32| x.ln();
        assert!((f[0] - ln(7.0)).abs() < 1e-6);
        assert!((f[1] - ln(5.0)).abs() < 1e-6);
        assert!((f[2] - 3.0).abs() < 1e-6);
        assert!((f[3] - ln(3.0)).abs() < 1e-6);
        assert!((f[4] - ln(10.0)).abs() < 1e-6);
    }

    #[test]
    fn punctuation_alone_is_not_a_word_and_empty_text_is_all_zero() {
        assert_eq!(text_features("", 0), [0.0; FEATURE_COUNT]);
        let f = text_features(" -- ... ", 2);
        assert_eq!(f[0], 0.0);
        assert_eq!(f[3], 0.0);
    }

    #[test]
    fn a_text_without_a_full_stop_is_one_sentence() {
        let f = text_features("no full stop here", 4);
        assert!((f[3] - 2f32.ln()).abs() < 1e-6);
    }
}
