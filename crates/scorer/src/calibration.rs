//! Ways to turn raw scores into score levels, compared on held-out data.
//!
//! Beside the QWK-optimal thresholds of [`Thresholds::fit`]: plain rounding; distribution
//! matching (cut points that give the machine the human score distribution); and RSMTool's
//! scale/trim/round (raw scores linearly rescaled to the human mean and SD, trimmed to half a
//! point beyond the range, rounded). [`out_of_fold`] fits each on all but one fold of the data
//! and applies it to that fold, so no response is scored by a calibration fitted on itself.

use serde::{Deserialize, Serialize};

use crate::metrics::{mean, ScoreRange, Thresholds};

/// A way to turn raw scores into levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Round to the nearest level.
    Rounding,
    /// QWK-optimal monotone thresholds ([`Thresholds::fit`]).
    QwkThresholds,
    /// Thresholds at the human score distribution's quantiles.
    DistributionMatching,
    /// Linear rescaling to the human mean and SD, trimming, rounding (RSMTool).
    ScaleTrimRound,
}

impl Method {
    /// Every method, in the order reports list them.
    pub const ALL: [Method; 4] = [
        Method::Rounding,
        Method::QwkThresholds,
        Method::DistributionMatching,
        Method::ScaleTrimRound,
    ];

    /// The method's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Rounding => "rounding",
            Method::QwkThresholds => "QWK-optimal thresholds",
            Method::DistributionMatching => "distribution matching",
            Method::ScaleTrimRound => "scale/trim/round",
        }
    }

    /// Fits the method on `raw` scores and their `human` levels.
    pub fn fit(self, raw: &[f64], human: &[i64], range: ScoreRange) -> Calibration {
        match self {
            Method::Rounding => Calibration::Thresholds(Thresholds::rounding(range)),
            Method::QwkThresholds => Calibration::Thresholds(Thresholds::fit(raw, human, range)),
            Method::DistributionMatching => {
                Calibration::Thresholds(distribution_matching(raw, human, range))
            }
            Method::ScaleTrimRound => Calibration::Scale(LinearScale::fit(raw, human), range),
        }
    }
}

/// A fitted calibration.
#[derive(Debug, Clone, PartialEq)]
pub enum Calibration {
    /// Cut points.
    Thresholds(Thresholds),
    /// Rescale, trim to the range, round.
    Scale(LinearScale, ScoreRange),
}

impl Calibration {
    /// The level of raw score `raw`.
    pub fn level(&self, raw: f64) -> i64 {
        match self {
            Calibration::Thresholds(thresholds) => thresholds.level(raw),
            Calibration::Scale(scale, range) => {
                let trimmed = trim(scale.apply(raw), *range);
                (trimmed.round() as i64).clamp(range.min, range.max)
            }
        }
    }
}

/// `raw ↦ (raw − raw mean) / raw SD × human SD + human mean` (population SDs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearScale {
    /// Mean of the raw scores it was fitted on.
    pub raw_mean: f64,
    /// Their SD.
    pub raw_sd: f64,
    /// Mean of the human scores.
    pub human_mean: f64,
    /// Their SD.
    pub human_sd: f64,
}

impl LinearScale {
    /// Fits the scale on `raw` scores and their `human` levels.
    pub fn fit(raw: &[f64], human: &[i64]) -> Self {
        let human: Vec<f64> = human.iter().map(|&h| h as f64).collect();
        let (raw_mean, human_mean) = (mean(raw), mean(&human));
        LinearScale {
            raw_mean,
            raw_sd: population_sd(raw, raw_mean),
            human_mean,
            human_sd: population_sd(&human, human_mean),
        }
    }

    /// `raw` on the human scale; a constant raw score maps to the human mean.
    pub fn apply(&self, raw: f64) -> f64 {
        if self.raw_sd > 0.0 {
            (raw - self.raw_mean) / self.raw_sd * self.human_sd + self.human_mean
        } else {
            self.human_mean
        }
    }
}

fn population_sd(xs: &[f64], mean: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64).sqrt()
}

/// How far beyond the score range RSMTool lets a raw score run before trimming it (its
/// `trim_tolerance` default).
pub const TRIM_TOLERANCE: f64 = 0.4998;

/// RSMTool's trimming: into `[min − 0.4998, max + 0.4998]`, so rounding stays in range.
pub fn trim(score: f64, range: ScoreRange) -> f64 {
    score.clamp(
        range.min as f64 - TRIM_TOLERANCE,
        range.max as f64 + TRIM_TOLERANCE,
    )
}

/// Cut points that give the raw scores, in order, the human levels' proportions: the cut
/// above level `k` lies halfway between the raw scores ranked just below and just above the
/// share of humans at `k` or lower. `human` need not be the same responses as `raw`: a larger
/// sample of human levels gives steadier shares.
pub fn distribution_matching(raw: &[f64], human: &[i64], range: ScoreRange) -> Thresholds {
    if raw.is_empty() || human.is_empty() {
        return Thresholds::rounding(range);
    }
    let mut sorted = raw.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mut humans_at_or_below = 0;
    let cuts = (range.min..range.max)
        .map(|level| {
            humans_at_or_below += human.iter().filter(|&&h| h == level).count();
            // The same share of the raw scores, rounded to a whole response.
            let at_or_below = (humans_at_or_below * n + human.len() / 2) / human.len();
            match at_or_below {
                0 => sorted[0] - 1e-9,
                k if k >= n => sorted[n - 1] + 1e-9,
                k => (sorted[k - 1] + sorted[k]) / 2.0,
            }
        })
        .collect();
    Thresholds { range, cuts }
}

/// Each response's level under `method` fitted on the other `folds − 1` folds (responses dealt
/// to folds in turn after a seeded shuffle), so no response is scored by a calibration fitted
/// on itself.
pub fn out_of_fold(
    raw: &[f64],
    human: &[i64],
    range: ScoreRange,
    method: Method,
    folds: usize,
    seed: u64,
) -> Vec<i64> {
    by_folds(raw.len(), range, folds, seed, |fit, held_out| {
        let fit_raw: Vec<f64> = fit.iter().map(|&i| raw[i]).collect();
        let fit_human: Vec<i64> = fit.iter().map(|&i| human[i]).collect();
        let calibration = method.fit(&fit_raw, &fit_human, range);
        held_out
            .iter()
            .map(|&i| calibration.level(raw[i]))
            .collect()
    })
}

/// The levels `level_fold(fit, held_out)` gives each fold's held-out items (indices into
/// `0..n`), fitting on the items of the other folds.
fn by_folds(
    n: usize,
    range: ScoreRange,
    folds: usize,
    seed: u64,
    level_fold: impl Fn(&[usize], &[usize]) -> Vec<i64>,
) -> Vec<i64> {
    let folds = folds.clamp(2, n.max(2));
    let fold_of = shuffled_folds(n, folds, seed);
    let mut levels = vec![range.min; n];
    for fold in 0..folds {
        let (held_out, fit): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| fold_of[i] == fold);
        for (&i, level) in held_out.iter().zip(level_fold(&fit, &held_out)) {
            levels[i] = level;
        }
    }
    levels
}

/// QWK-optimal thresholds plus one raw-score offset per group, over one or several group
/// columns (a response's offset is the sum of its groups' offsets): for each group, the
/// smallest offset that brings its SMD (machine − human levels, over the pooled SD of all
/// human and machine levels) within `limit`. This is group-aware scoring — a group's members
/// are scored with its offset — so it answers what equal treatment would cost in agreement,
/// not how to deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOffsets {
    /// The cuts, fitted without offsets.
    pub thresholds: Thresholds,
    /// Each group's offset in raw-score points, by its label (groups without one get 0).
    pub offsets: std::collections::BTreeMap<String, f64>,
    /// Groups with too few responses to fit an offset on, by label.
    pub too_small: Vec<String>,
}

/// What group offsets aim for: every group's |SMD| within `max_abs_smd`, for the groups of at
/// least `min_members` responses (smaller ones are too noisy to fit an offset on).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmdLimit {
    /// The largest |SMD| allowed per group.
    pub max_abs_smd: f64,
    /// The fewest responses a group needs for an offset.
    pub min_members: usize,
}

/// Passes over the groups: a later group's offset moves the SMD of groups of other columns
/// that share its members, so a second pass corrects what the first disturbed.
const OFFSET_PASSES: usize = 2;

impl GroupOffsets {
    /// Fits thresholds to `raw`/`human`, then each group's offset in turn (`memberships[i]`:
    /// the labels of response `i`'s groups), searching in steps of a fiftieth of a level for
    /// the smallest one that meets `limit` (or the one closest to meeting it within a whole
    /// range either way). Groups smaller than the limit's `min_members` get none.
    pub fn fit(
        raw: &[f64],
        human: &[i64],
        memberships: &[Vec<String>],
        range: ScoreRange,
        limit: SmdLimit,
    ) -> Self {
        let mut members: std::collections::BTreeMap<&String, Vec<usize>> = Default::default();
        for (i, labels) in memberships.iter().enumerate() {
            for label in labels {
                members.entry(label).or_default().push(i);
            }
        }
        let mut fitted = GroupOffsets {
            thresholds: Thresholds::fit(raw, human, range),
            offsets: Default::default(),
            too_small: Vec::new(),
        };
        let (large, small): (Vec<_>, Vec<_>) = members
            .into_iter()
            .partition(|(_, m)| m.len() >= limit.min_members);
        fitted.too_small = small.into_iter().map(|(label, _)| label.clone()).collect();
        let steps = ((range.max - range.min) as f64 * 50.0).round() as i64;
        for _ in 0..OFFSET_PASSES {
            for (label, group) in &large {
                let smd_with = |offset: f64| -> f64 {
                    let mut trial = fitted.clone();
                    trial.offsets.insert((*label).clone(), offset);
                    let levels = trial.levels(raw, memberships);
                    group_smd(human, &levels, group).unwrap_or(0.0)
                };
                let current = fitted.offsets.get(*label).copied().unwrap_or(0.0);
                if smd_with(current).abs() <= limit.max_abs_smd {
                    continue;
                }
                let mut best = (f64::INFINITY, current);
                for k in 0..=steps {
                    let mut met = false;
                    for offset in [k as f64 / 50.0, -(k as f64) / 50.0] {
                        let excess = (smd_with(offset).abs() - limit.max_abs_smd).max(0.0);
                        if excess < best.0 {
                            best = (excess, offset);
                        }
                        met |= excess == 0.0;
                    }
                    if met {
                        break;
                    }
                }
                fitted.offsets.insert((*label).clone(), best.1);
            }
        }
        fitted.offsets.retain(|_, offset| *offset != 0.0);
        fitted
    }

    /// The level of each response, its groups' offsets added to its raw score.
    pub fn levels(&self, raw: &[f64], memberships: &[Vec<String>]) -> Vec<i64> {
        raw.iter()
            .zip(memberships)
            .map(|(&r, labels)| {
                let offset: f64 = labels
                    .iter()
                    .filter_map(|label| self.offsets.get(label))
                    .sum();
                self.thresholds.level(r + offset)
            })
            .collect()
    }
}

/// The SMD of the levels of the responses `members`: their mean machine − mean human, over the
/// pooled SD of all human and machine levels.
fn group_smd(human: &[i64], machine: &[i64], members: &[usize]) -> Option<f64> {
    let as_f64 = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let sd = crate::fairness::pooled_sd(&as_f64(human), &as_f64(machine));
    if sd == 0.0 || members.is_empty() {
        return None;
    }
    let mean_of =
        |v: &[i64]| members.iter().map(|&i| v[i] as f64).sum::<f64>() / members.len() as f64;
    Some((mean_of(machine) - mean_of(human)) / sd)
}

/// Each response's level under [`GroupOffsets`] fitted out-of-fold (as [`out_of_fold`]).
pub fn out_of_fold_group_offsets(
    raw: &[f64],
    human: &[i64],
    memberships: &[Vec<String>],
    range: ScoreRange,
    limit: SmdLimit,
    folds: usize,
    seed: u64,
) -> Vec<i64> {
    by_folds(raw.len(), range, folds, seed, |fit, held_out| {
        let pick_raw: Vec<f64> = fit.iter().map(|&i| raw[i]).collect();
        let pick_human: Vec<i64> = fit.iter().map(|&i| human[i]).collect();
        let pick_groups: Vec<Vec<String>> = fit.iter().map(|&i| memberships[i].clone()).collect();
        let fitted = GroupOffsets::fit(&pick_raw, &pick_human, &pick_groups, range, limit);
        let held_raw: Vec<f64> = held_out.iter().map(|&i| raw[i]).collect();
        let held_groups: Vec<Vec<String>> =
            held_out.iter().map(|&i| memberships[i].clone()).collect();
        fitted.levels(&held_raw, &held_groups)
    })
}

/// Fold numbers for `n` items: dealt in turn after a seeded Fisher-Yates shuffle.
fn shuffled_folds(n: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed;
    for i in (1..n).rev() {
        // SplitMix64: the same sequence on every platform.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        order.swap(i, (z % (i as u64 + 1)) as usize);
    }
    let mut fold_of = vec![0; n];
    for (rank, &item) in order.iter().enumerate() {
        fold_of[item] = rank % folds;
    }
    fold_of
}

/// Mean over targets of each target's RMSE: `targets[t][i]` against `predictions[t][i]`.
/// `None` when there are no targets or the lengths disagree.
pub fn mcrmse(targets: &[Vec<f64>], predictions: &[Vec<f64>]) -> Option<f64> {
    if targets.is_empty()
        || targets.len() != predictions.len()
        || targets
            .iter()
            .zip(predictions)
            .any(|(t, p)| t.len() != p.len())
    {
        return None;
    }
    let rmses: Vec<f64> = targets
        .iter()
        .zip(predictions)
        .map(|(t, p)| crate::metrics::rmse(t, p))
        .collect();
    Some(mean(&rmses))
}

#[cfg(test)]
mod group_offset_tests {
    use super::*;

    const LIMIT: SmdLimit = SmdLimit {
        max_abs_smd: 0.10,
        min_members: 30,
    };

    fn smd_of(human: &[i64], levels: &[i64], memberships: &[Vec<String>], label: &str) -> f64 {
        let members: Vec<usize> = (0..memberships.len())
            .filter(|&i| memberships[i].iter().any(|l| l == label))
            .collect();
        group_smd(human, levels, &members).unwrap()
    }

    /// 400 responses, levels 1-5 all present in every group: school b (a quarter) has raw
    /// scores a level low, gender m (a fifth, across schools) a level high, and the 8
    /// responses of school c a level high; the thresholds follow the rest.
    fn responses() -> (Vec<f64>, Vec<i64>, Vec<Vec<String>>) {
        let (mut raw, mut human, mut memberships) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..400 {
            let level = 1 + ((i / 8) % 5) as i64;
            let (school, school_shift) = match i {
                _ if i % 50 == 7 => ("c", 1.0),
                _ if i % 4 == 0 => ("b", -1.0),
                _ => ("a", 0.0),
            };
            let (gender, gender_shift) = if i % 5 == 1 { ("m", 1.0) } else { ("f", 0.0) };
            human.push(level);
            raw.push(level as f64 + school_shift + gender_shift);
            memberships.push(vec![format!("school={school}"), format!("gender={gender}")]);
        }
        (raw, human, memberships)
    }

    #[test]
    fn offsets_bring_every_group_of_every_column_within_the_limit() {
        let range = ScoreRange { min: 1, max: 5 };
        let (raw, human, memberships) = responses();
        let before = Thresholds::fit(&raw, &human, range);
        let plain: Vec<i64> = raw.iter().map(|&r| before.level(r)).collect();
        let (b, m) = (
            smd_of(&human, &plain, &memberships, "school=b"),
            smd_of(&human, &plain, &memberships, "gender=m"),
        );
        assert!(b < -0.3 && m > 0.15, "before: school b {b}, gender m {m}");
        let fitted = GroupOffsets::fit(&raw, &human, &memberships, range, LIMIT);
        assert_eq!(
            fitted.too_small,
            ["school=c"],
            "8 responses are too few to fit on"
        );
        assert!(!fitted.offsets.contains_key("school=c"));
        assert!(fitted.offsets["school=b"] > 0.0, "{:?}", fitted.offsets);
        let after = fitted.levels(&raw, &memberships);
        for label in ["school=a", "school=b", "gender=f", "gender=m"] {
            let smd = smd_of(&human, &after, &memberships, label);
            assert!(
                smd.abs() <= 0.10,
                "{label}: {smd} with {:?}",
                fitted.offsets
            );
        }
        // Held out, the constrained levels keep school b within reach of the limit.
        let held_out = out_of_fold_group_offsets(&raw, &human, &memberships, range, LIMIT, 5, 1);
        assert!(smd_of(&human, &held_out, &memberships, "school=b").abs() < 0.2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_TO_SIX: ScoreRange = ScoreRange { min: 1, max: 6 };

    #[test]
    fn linear_scale_maps_raw_mean_and_sd_onto_the_humans() {
        // Raw 1, 2, 3 (mean 2) against humans 2, 4, 6 (mean 4, twice the spread).
        let scale = LinearScale::fit(&[1.0, 2.0, 3.0], &[2, 4, 6]);
        assert!((scale.apply(3.0) - 6.0).abs() < 1e-12);
        assert!((scale.apply(2.0) - 4.0).abs() < 1e-12);
        assert!((scale.apply(2.5) - 5.0).abs() < 1e-12);
        // A constant raw score goes to the human mean.
        assert_eq!(LinearScale::fit(&[3.0, 3.0], &[1, 5]).apply(3.0), 3.0);
    }

    #[test]
    fn scale_trim_round_stays_in_range() {
        assert!((trim(7.2, ONE_TO_SIX) - 6.4998).abs() < 1e-12);
        assert!((trim(-1.0, ONE_TO_SIX) - 0.5002).abs() < 1e-12);
        let calibration = Method::ScaleTrimRound.fit(&[1.0, 2.0, 3.0], &[2, 4, 6], ONE_TO_SIX);
        assert_eq!(calibration.level(10.0), 6);
        assert_eq!(calibration.level(-10.0), 1);
        assert_eq!(calibration.level(2.5), 5);
    }

    #[test]
    fn distribution_matching_reproduces_the_human_proportions() {
        let raw = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        // Humans: two 1s, one 2, three 3s; cuts fall between ranks 2|3 and 3|4.
        let human = [3, 1, 3, 2, 1, 3];
        let range = ScoreRange { min: 1, max: 3 };
        let thresholds = distribution_matching(&raw, &human, range);
        assert_eq!(thresholds.cuts.len(), 2);
        assert!((thresholds.cuts[0] - 0.25).abs() < 1e-12);
        assert!((thresholds.cuts[1] - 0.35).abs() < 1e-12);
        let levels: Vec<i64> = raw.iter().map(|&r| thresholds.level(r)).collect();
        assert_eq!(levels, [1, 1, 2, 3, 3, 3]);
        // A level no human gave gets no raw scores.
        let empty_middle = distribution_matching(&raw, &[1, 1, 1, 3, 3, 3], range);
        let levels: Vec<i64> = raw.iter().map(|&r| empty_middle.level(r)).collect();
        assert_eq!(levels, [1, 1, 1, 3, 3, 3]);
        // Shares from a larger sample of human levels (a quarter 1s, half 2s, a quarter 3s)
        // cut eight raw scores 2 | 4 | 2; no humans at all leaves plain rounding.
        let raw = [0.8, 0.1, 0.7, 0.2, 0.6, 0.3, 0.5, 0.4];
        let human = [1, 2, 2, 3].repeat(25);
        let shared = distribution_matching(&raw, &human, range);
        let levels: Vec<i64> = raw.iter().map(|&r| shared.level(r)).collect();
        assert_eq!(levels, [3, 1, 3, 1, 2, 2, 2, 2]);
        let none = distribution_matching(&raw, &[], range);
        assert_eq!(none.cuts, Thresholds::rounding(range).cuts);
    }

    #[test]
    fn out_of_fold_never_fits_on_the_response_it_scores() {
        // Humans track raw exactly except one outlier; rounding needs no fit, so out-of-fold
        // rounding equals plain rounding.
        let raw: Vec<f64> = (0..20).map(|i| 1.0 + (i % 6) as f64).collect();
        let human: Vec<i64> = raw.iter().map(|&r| r as i64).collect();
        let rounded = out_of_fold(&raw, &human, ONE_TO_SIX, Method::Rounding, 5, 7);
        assert_eq!(rounded, human);
        // Every fold is used and the split repeats with the seed.
        let folds = shuffled_folds(20, 5, 7);
        assert_eq!(folds, shuffled_folds(20, 5, 7));
        for fold in 0..5 {
            assert_eq!(folds.iter().filter(|&&f| f == fold).count(), 4);
        }
        // With a perfect raw-human relation every method recovers the human levels.
        for method in Method::ALL {
            assert_eq!(
                out_of_fold(&raw, &human, ONE_TO_SIX, method, 5, 7),
                human,
                "{}",
                method.name()
            );
        }
    }

    #[test]
    fn mcrmse_is_the_mean_of_per_target_rmse() {
        let targets = vec![vec![1.0, 3.0], vec![2.0, 4.0]];
        let predictions = vec![vec![1.0, 3.0], vec![2.0, 6.0]];
        // RMSEs 0 and √2 → mean √2 / 2.
        let value = mcrmse(&targets, &predictions).unwrap();
        assert!((value - std::f64::consts::SQRT_2 / 2.0).abs() < 1e-12);
        assert_eq!(mcrmse(&[], &[]), None);
        assert_eq!(mcrmse(&targets, &predictions[..1]), None);
    }
}
