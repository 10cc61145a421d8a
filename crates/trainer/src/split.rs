//! Which rows train a student, which are held out, and which keep their human scores.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Result;
use cyborg_scorer::metrics::ScoreRange;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::config::SplitConfig;
use crate::data::{read_id_list, Row, Table};
use crate::error::input;

/// Splits a table's rows into training and development rows: by id lists when given, else a
/// seeded split that holds out `dev_fraction` of each score level.
fn split_rows<'a>(
    table: &'a Table,
    train_ids: Option<&Path>,
    dev_ids: Option<&Path>,
    dev_fraction: f64,
    seed: u64,
) -> Result<(Vec<&'a Row>, Vec<&'a Row>)> {
    if let (Some(train_ids), Some(dev_ids)) = (train_ids, dev_ids) {
        let train_ids = read_id_list(train_ids)?;
        let dev_ids = read_id_list(dev_ids)?;
        if let Some(both) = train_ids.intersection(&dev_ids).next() {
            return Err(input(format!(
                "id \"{both}\" is in both the training and the development id lists"
            )));
        }
        let (train, dev) = (
            table.rows_with_ids(&train_ids),
            table.rows_with_ids(&dev_ids),
        );
        if train.is_empty() || dev.is_empty() {
            crate::bail_input!(
                "{}: the id lists select {} training and {} development rows; check --id and \
                 the filters",
                table.path.display(),
                train.len(),
                dev.len()
            );
        }
        return Ok((train, dev));
    }
    if !(0.0..1.0).contains(&dev_fraction) || dev_fraction == 0.0 {
        return Err(input(format!(
            "--dev-fraction must be between 0 and 1 (exclusive), not {dev_fraction}"
        )));
    }
    let all: Vec<&Row> = table.rows.iter().collect();
    let (train, dev) = stratified_split(&all, dev_fraction, seed);
    if train.len() < 2 || dev.is_empty() {
        crate::bail_input!(
            "{}: {} rows are too few to split into training and development data",
            table.path.display(),
            table.rows.len()
        );
    }
    Ok((train, dev))
}

/// Splits scored `rows` into those kept and a seeded random `fraction` of each score level
/// held out.
pub fn stratified_split<'a>(
    rows: &[&'a Row],
    fraction: f64,
    seed: u64,
) -> (Vec<&'a Row>, Vec<&'a Row>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut by_score: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    for &row in rows {
        by_score
            .entry(row.score.expect("scores were read"))
            .or_default()
            .push(row);
    }
    let (mut kept, mut held_out) = (Vec::new(), Vec::new());
    for rows in by_score.values_mut() {
        rows.shuffle(&mut rng);
        let out = (rows.len() as f64 * fraction).round() as usize;
        held_out.extend_from_slice(&rows[..out]);
        kept.extend_from_slice(&rows[out..]);
    }
    (kept, held_out)
}

/// The rows of `all` that are not among `kept` (the same rows, not equal ones): those whose
/// human scores [`sample_fraction`] set aside.
pub fn set_aside<'a>(all: &[&'a Row], kept: &[&Row]) -> Vec<&'a Row> {
    let kept: HashSet<*const Row> = kept.iter().map(|&r| r as *const Row).collect();
    all.iter()
        .copied()
        .filter(|&r| !kept.contains(&(r as *const Row)))
        .collect()
}

/// Keeps a seeded random `fraction` of `rows` (at least two).
pub fn sample_fraction<'a>(rows: &[&'a Row], fraction: f64, seed: u64) -> Result<Vec<&'a Row>> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(input(format!(
            "--human-fraction must be in (0, 1], not {fraction}"
        )));
    }
    if fraction == 1.0 {
        return Ok(rows.to_vec());
    }
    let keep = ((rows.len() as f64 * fraction).round() as usize)
        .max(2)
        .min(rows.len());
    let mut shuffled = rows.to_vec();
    shuffled.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5eed_f4ac));
    shuffled.truncate(keep);
    Ok(shuffled)
}

/// The rows a student or teacher learns from, as [`SplitConfig`] say.
pub struct Split<'a> {
    /// Training rows that keep their human scores.
    pub human: Vec<&'a Row>,
    /// Training rows whose scores `--human-fraction` set aside.
    pub set_aside: Vec<&'a Row>,
    /// Development rows (human-scored): early stopping and thresholds.
    pub dev: Vec<&'a Row>,
    /// The score range.
    pub range: ScoreRange,
}

impl<'a> Split<'a> {
    /// Splits `table` (read with scores) as `split` says, with `seed` for the random parts.
    pub fn new(table: &'a Table, split: &SplitConfig, seed: u64) -> Result<Split<'a>> {
        let (train_all, dev) = split_rows(
            table,
            split.train_ids.as_deref(),
            split.dev_ids.as_deref(),
            split.dev_fraction,
            seed,
        )?;
        let human = sample_fraction(&train_all, split.human_fraction, seed)?;
        let set_aside = set_aside(&train_all, &human);
        let scores = || human.iter().chain(&dev).filter_map(|r| r.score);
        let observed = ScoreRange {
            min: scores().min().expect("rows"),
            max: scores().max().expect("rows"),
        };
        let range = split.range.unwrap_or(observed);
        if range.min == range.max {
            crate::bail_input!(
                "every score is {}: there is nothing to learn (give --range if the scale is wider)",
                range.min
            );
        }
        Ok(Split {
            human,
            set_aside,
            dev,
            range,
        })
    }

    /// What a teacher labels: the rows of `pool_file` (read as `data` says, scores ignored) and,
    /// with a teacher, the set-aside rows.
    pub fn pool<'p>(&self, pool_file: Option<&'p Table>) -> Vec<&'p Row>
    where
        'a: 'p,
    {
        let mut pool: Vec<&Row> = pool_file
            .map(|t| t.rows.iter().collect())
            .unwrap_or_default();
        pool.extend(self.set_aside.iter().copied());
        pool
    }
}
