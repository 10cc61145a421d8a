//! `data check`: what a data file holds, read exactly as training would read it.

use std::collections::BTreeMap;
use std::path::Path;

use cyborg_scorer::metrics::ScoreRange;
use cyborg_scorer::traits::Scale;
use serde::Serialize;

use crate::config::DataConfig;
use crate::data::{read_table, Row};
use crate::error::Result;
use crate::student::trait_scale;

/// What to check in a data file.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// What to read (scores optional).
    pub data: DataConfig,
    /// Subgroup columns to count.
    pub groups: Vec<String>,
    /// The declared score range: scores outside it are errors.
    pub range: Option<ScoreRange>,
    /// Trait columns, read as `train` would read them.
    pub traits: Vec<String>,
}

/// A data file's summary.
#[derive(Debug, Serialize)]
pub struct DataSummary {
    /// The file.
    pub file: String,
    /// Rows kept (after filters).
    pub rows: usize,
    /// Rows in the file.
    pub rows_in_file: usize,
    /// Its columns.
    pub columns: Vec<String>,
    /// Lowest and highest score, when scores were read.
    pub score_range: Option<ScoreRange>,
    /// Responses per score.
    pub score_counts: BTreeMap<i64, usize>,
    /// Words per response.
    pub words: WordCounts,
    /// Responses per value of each group column.
    pub groups: BTreeMap<String, BTreeMap<String, usize>>,
    /// Each trait as `train --trait` would read it.
    pub traits: Vec<TraitSummary>,
}

/// Words per response.
#[derive(Debug, Serialize)]
pub struct WordCounts {
    /// Fewest.
    pub min: Option<usize>,
    /// Median.
    pub median: f64,
    /// Mean.
    pub mean: f64,
    /// Most.
    pub max: Option<usize>,
}

/// A trait column as training would read it.
#[derive(Debug, Serialize)]
pub struct TraitSummary {
    /// The column.
    pub name: String,
    /// On levels or continuous, and over what.
    pub scale: Scale,
    /// Its mean.
    pub mean: f64,
}

/// Reads `file` as `request` says and summarises it; every problem is a located error.
pub fn check_data(file: &Path, request: &CheckRequest) -> Result<DataSummary> {
    let mut spec = request.data.read_spec(false, "data check")?;
    spec.groups = request.groups.clone();
    spec.range = request.range;
    spec.traits = request.traits.clone();
    let table = read_table(file, &spec)?;
    let all_rows: Vec<&Row> = table.rows.iter().collect();
    let traits = table
        .traits
        .iter()
        .enumerate()
        .map(|(t, name)| TraitSummary {
            name: name.clone(),
            scale: trait_scale(&all_rows, &[], t),
            mean: all_rows.iter().map(|r| r.traits[t]).sum::<f64>() / all_rows.len() as f64,
        })
        .collect();
    let mut words: Vec<usize> = table.rows.iter().map(|r| word_count(&r.text)).collect();
    let total_words: usize = words.iter().sum();
    let median_words = median(&mut words);
    let mut groups: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (i, name) in request.groups.iter().enumerate() {
        let counts = groups.entry(name.clone()).or_default();
        for row in &table.rows {
            let value = match row.groups[i].as_str() {
                "" => "(empty)",
                value => value,
            };
            *counts.entry(value.to_string()).or_insert(0) += 1;
        }
    }
    Ok(DataSummary {
        file: table.path.display().to_string(),
        rows: table.rows.len(),
        rows_in_file: table.rows_in_file,
        score_range: table.observed_range(),
        score_counts: table.score_counts(),
        words: WordCounts {
            min: words.first().copied(),
            median: median_words,
            mean: total_words as f64 / table.rows.len() as f64,
            max: words.last().copied(),
        },
        columns: table.columns,
        groups,
        traits,
    })
}

/// Words in `text`, split at whitespace.
pub(crate) fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The median of `values` (sorting them).
pub(crate) fn median(values: &mut [usize]) -> f64 {
    values.sort_unstable();
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2] as f64,
        n => (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0,
    }
}
