//! Subgroup differences, confidence intervals and the operational gates a testing programme
//! applies before machine scores count (Williamson, Xi & Breyer, 2012).
//!
//! Standardised differences use sample standard deviations (divide by n − 1), as RSMTool does:
//! - **SMD**, overall: `(mean machine − mean human) / sqrt((sd_h² + sd_m²) / 2)`, the pooled SD
//!   of the two sets of scores over all responses (Williamson, Xi & Breyer's form; RSMTool's
//!   "williamson" and "pooled"). RSMTool 7 and later report by default the mean difference
//!   over the human SD alone ("unpooled"): [`smd_human_sd`].
//! - **SMD**, per subgroup: the subgroup's mean difference over that same *overall* pooled SD,
//!   so that every group is on one scale and a small group's own spread cannot inflate it.
//! - **DSM** (RSMTool's difference of standardised means), per subgroup: the group's mean
//!   machine z-score minus its mean human z-score, each standardised over all responses.

use serde::{Deserialize, Serialize};

use crate::metrics::{agreement, mean, Agreement, ScoreRange};

/// Groups smaller than this are flagged: their statistics are too noisy to act on alone.
pub const SMALL_GROUP: usize = 30;

/// The values of `values` at `indices`, in that order.
fn pick<T: Copy>(values: &[T], indices: &[usize]) -> Vec<T> {
    indices.iter().map(|&i| values[i]).collect()
}

/// Sample standard deviation, divisor n − 1 (0 for fewer than two values).
fn sample_sd(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// The pooled standard deviation of two sets of scores, `sqrt((sd_a² + sd_b²) / 2)`.
pub fn pooled_sd(a: &[f64], b: &[f64]) -> f64 {
    ((sample_sd(a).powi(2) + sample_sd(b).powi(2)) / 2.0).sqrt()
}

/// Overall standardised mean difference, machine minus human, over the pooled SD
/// (Williamson's form); `None` when neither varies.
pub fn smd(human: &[f64], machine: &[f64]) -> Option<f64> {
    let sd = pooled_sd(human, machine);
    (sd > 0.0).then(|| (mean(machine) - mean(human)) / sd)
}

/// Standardised mean difference, machine minus human, over the human SD alone (RSMTool 7's
/// default); `None` when the human scores do not vary.
pub fn smd_human_sd(human: &[f64], machine: &[f64]) -> Option<f64> {
    let sd = sample_sd(human);
    (sd > 0.0).then(|| (mean(machine) - mean(human)) / sd)
}

/// The overall SMD of the scores an [`Agreement`] counted, from its confusion matrix.
pub fn smd_of(a: &Agreement) -> Option<f64> {
    let (mut human, mut machine) = (Vec::with_capacity(a.n), Vec::with_capacity(a.n));
    for (i, row) in a.confusion.iter().enumerate() {
        for (j, &count) in row.iter().enumerate() {
            for _ in 0..count {
                human.push((a.range.min + i as i64) as f64);
                machine.push((a.range.min + j as i64) as f64);
            }
        }
    }
    smd(&human, &machine)
}

/// Spearman's rank correlation (average ranks for ties); `None` when either side is
/// constant or there are fewer than two values.
pub fn spearman(xs: &[f64], ys: &[f64]) -> Option<f64> {
    crate::metrics::pearson(&ranks(xs), &ranks(ys))
}

/// 1-based ranks, ties sharing their average rank.
fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut ranks = vec![0.0; xs.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && xs[order[end]] == xs[order[start]] {
            end += 1;
        }
        let average = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = average;
        }
        start = end;
    }
    ranks
}

/// One subgroup's scores beside everyone's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// The group column.
    pub column: String,
    /// The group's value in it (`""` for rows that left it empty).
    pub value: String,
    /// Responses in the group.
    pub n: usize,
    /// Mean human score.
    pub human_mean: f64,
    /// Mean machine score.
    pub machine_mean: f64,
    /// Mean difference over the overall pooled SD; `None` when no score varies overall.
    pub smd: Option<f64>,
    /// Difference of standardised means; `None` when either side is constant overall.
    pub dsm: Option<f64>,
    /// QWK within the group; `None` when undefined there (e.g. one response, or no variation).
    pub qwk: Option<f64>,
    /// Fewer than [`SMALL_GROUP`] responses.
    pub small: bool,
}

impl GroupStats {
    /// `column=value`, with `(empty)` for the empty value.
    pub fn label(&self) -> String {
        group_label(&self.column, &self.value)
    }
}

/// A group's name in reports: `column=value`, with `(empty)` for the empty value.
pub fn group_label(column: &str, value: &str) -> String {
    let value = if value.is_empty() { "(empty)" } else { value };
    format!("{column}={value}")
}

/// Statistics for every value of every group column. `columns` holds, per column, its name and
/// each response's value in it.
pub fn group_stats(
    human: &[i64],
    machine: &[i64],
    range: ScoreRange,
    columns: &[(String, Vec<String>)],
) -> Vec<GroupStats> {
    let as_f64 = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let (hf, mf) = (as_f64(human), as_f64(machine));
    let sd = pooled_sd(&hf, &mf);
    let (sd_h, sd_m) = (sample_sd(&hf), sample_sd(&mf));
    let (mean_h, mean_m) = (mean(&hf), mean(&mf));
    let mut out = Vec::new();
    for (column, values) in columns {
        let mut distinct: Vec<&String> = values.iter().collect();
        distinct.sort();
        distinct.dedup();
        for value in distinct {
            let members: Vec<usize> = (0..values.len()).filter(|&i| &values[i] == value).collect();
            let (gh_mean, gm_mean) = (mean(&pick(&hf, &members)), mean(&pick(&mf, &members)));
            out.push(GroupStats {
                column: column.clone(),
                value: value.clone(),
                n: members.len(),
                human_mean: gh_mean,
                machine_mean: gm_mean,
                smd: (sd > 0.0).then(|| (gm_mean - gh_mean) / sd),
                dsm: (sd_h > 0.0 && sd_m > 0.0)
                    .then(|| (gm_mean - mean_m) / sd_m - (gh_mean - mean_h) / sd_h),
                qwk: agreement(&pick(human, &members), &pick(machine, &members), range).qwk,
                small: members.len() < SMALL_GROUP,
            });
        }
    }
    out
}

/// One operational criterion and whether it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// What is checked, e.g. `"QWK >= 0.70"`.
    pub name: String,
    /// The measured value; `None` when it cannot be measured (the reason is in `note`).
    pub value: Option<f64>,
    /// `Some(true)` passed, `Some(false)` failed, `None` not measurable.
    pub pass: Option<bool>,
    /// Why a gate could not be measured, or which group failed it.
    pub note: String,
}

/// The gates of Williamson, Xi & Breyer (2012): QWK ≥ 0.70; degradation from human-human QWK
/// < 0.10; |SMD| ≤ 0.15 overall; |SMD| ≤ 0.10 in every subgroup.
pub fn gates(
    qwk: Option<f64>,
    human_human_qwk: Option<f64>,
    overall_smd: Option<f64>,
    groups: &[GroupStats],
) -> Vec<Gate> {
    let gate = |name: &str, value: Option<f64>, ok: &dyn Fn(f64) -> bool, missing: &str| Gate {
        name: name.into(),
        value,
        pass: value.map(ok),
        note: if value.is_none() {
            missing.into()
        } else {
            String::new()
        },
    };
    let degradation = qwk.zip(human_human_qwk).map(|(m, h)| h - m);
    let mut out = vec![
        gate(
            "QWK >= 0.70",
            qwk,
            &|q| q >= 0.70,
            "QWK is undefined: the scores do not vary",
        ),
        gate(
            "human-human QWK - QWK < 0.10",
            degradation,
            &|d| d < 0.10,
            "no second human score (--second-score COL) to compare with",
        ),
        gate(
            "|SMD| <= 0.15",
            overall_smd,
            &|s| s.abs() <= 0.15,
            "SMD is undefined: no score varies",
        ),
    ];
    if !groups.is_empty() {
        let worst = groups
            .iter()
            .filter_map(|g| g.smd.map(|s| (s, g)))
            .max_by(|a, b| a.0.abs().total_cmp(&b.0.abs()));
        let failing: Vec<String> = groups
            .iter()
            .filter(|g| g.smd.is_some_and(|s| s.abs() > 0.10))
            .map(|g| {
                format!(
                    "{} ({:+.3}{})",
                    g.label(),
                    g.smd.unwrap_or(0.0),
                    if g.small { ", small group" } else { "" }
                )
            })
            .collect();
        out.push(Gate {
            name: "|subgroup SMD| <= 0.10".into(),
            value: worst.map(|(s, _)| s),
            pass: worst.map(|_| failing.is_empty()),
            note: if worst.is_none() {
                "SMD is undefined: no score varies".into()
            } else if failing.is_empty() {
                String::new()
            } else {
                format!("failed by {}", failing.join(", "))
            },
        });
    }
    out
}

/// A 95% percentile bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// 2.5th percentile.
    pub low: f64,
    /// 97.5th percentile.
    pub high: f64,
}

/// A small seeded generator (SplitMix64): resampling must repeat exactly, natively and in the
/// browser, without another dependency.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z as u128 * n as u128) >> 64) as usize
    }
}

/// The 95% percentile-bootstrap interval of `statistic` over `resamples` resamples (with
/// replacement) of the `n` responses; resamples where it is undefined are skipped. `None` when
/// it is undefined on almost all of them.
pub fn bootstrap(
    n: usize,
    resamples: usize,
    seed: u64,
    statistic: impl Fn(&[usize]) -> Option<f64>,
) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let mut rng = SplitMix(seed);
    let mut values: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            let sample: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
            statistic(&sample)
        })
        .collect();
    if values.len() < resamples / 2 || values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some(Interval {
        low: at(0.025),
        high: at(0.975),
    })
}

/// The bootstrap interval of QWK.
pub fn qwk_interval(
    human: &[i64],
    machine: &[i64],
    range: ScoreRange,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    bootstrap(human.len(), resamples, seed, |sample| {
        agreement(&pick(human, sample), &pick(machine, sample), range).qwk
    })
}

/// The bootstrap interval of `QWK(first) − QWK(second)`, both models scoring the same
/// responses and resampled together (a paired bootstrap): an interval that excludes 0 says the
/// difference is not an accident of which responses were sampled.
pub fn paired_qwk_difference(
    human: &[i64],
    first: &[i64],
    second: &[i64],
    range: ScoreRange,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    bootstrap(human.len(), resamples, seed, |sample| {
        let h = pick(human, sample);
        let a = agreement(&h, &pick(first, sample), range).qwk?;
        let b = agreement(&h, &pick(second, sample), range).qwk?;
        Some(a - b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: ScoreRange = ScoreRange { min: 1, max: 6 };

    #[test]
    fn smd_is_the_mean_difference_over_the_pooled_sd() {
        // Both sides have sample variance 5/3; machine is one point higher throughout.
        let h = [1.0, 2.0, 3.0, 4.0];
        let m = [2.0, 3.0, 4.0, 5.0];
        let expected = 1.0 / (5.0f64 / 3.0).sqrt();
        assert!((smd(&h, &m).unwrap() - expected).abs() < 1e-12);
        // Over the human SD alone: the same here, as both SDs are equal; not when they differ.
        assert!((smd_human_sd(&h, &m).unwrap() - expected).abs() < 1e-12);
        let spread = [1.0, 3.0, 5.0, 7.0];
        assert!((smd_human_sd(&h, &spread).unwrap() - 1.5 / (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let counted = agreement(&[1, 2, 3, 4], &[2, 3, 4, 5], RANGE);
        assert!((smd_of(&counted).unwrap() - expected).abs() < 1e-12);
        assert_eq!(smd(&[3.0, 3.0], &[3.0, 3.0]), None);
    }

    #[test]
    fn spearman_uses_ranks_and_shares_ties() {
        // 1 - 6·Σd²/(n(n²-1)) with d = (0, 1, 1, 0): 1 - 12/60.
        let r = spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 30.0, 20.0, 40.0]).unwrap();
        assert!((r - 0.8).abs() < 1e-12);
        // A monotone but non-linear relation is perfect for Spearman.
        let r = spearman(&[1.0, 2.0, 3.0], &[1.0, 8.0, 27.0]).unwrap();
        assert!((r - 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[5.0, 1.0, 5.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn group_statistics_worked_by_hand() {
        let human = [1, 2, 3, 4];
        let machine = [2, 3, 4, 5];
        let column = vec!["a".into(), "a".into(), "b".into(), "".into()];
        let stats = group_stats(&human, &machine, RANGE, &[("g".into(), column)]);
        let values: Vec<&str> = stats.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(values, ["", "a", "b"], "empty values form their own group");
        let a = &stats[1];
        assert_eq!((a.n, a.human_mean, a.machine_mean), (2, 1.5, 2.5));
        assert!((a.smd.unwrap() - 1.0 / (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // A constant shift leaves every standardised score where it was.
        assert!(a.dsm.unwrap().abs() < 1e-12);
        assert!(a.small);
        // A group of one whose scores agree: kappa is undefined there (None), not NaN.
        let solo = group_stats(&[3], &[3], RANGE, &[("g".into(), vec!["solo".into()])]);
        assert_eq!((solo[0].n, solo[0].qwk, solo[0].smd), (1, None, None));
    }

    #[test]
    fn gates_pass_fail_and_say_what_is_missing() {
        let groups = group_stats(
            &[1, 2, 3, 4],
            &[1, 2, 3, 5],
            RANGE,
            &[(
                "g".into(),
                vec!["x".into(), "x".into(), "y".into(), "y".into()],
            )],
        );
        let gates = gates(Some(0.75), None, Some(0.12), &groups);
        assert_eq!(gates[0].pass, Some(true));
        assert_eq!(gates[1].pass, None);
        assert!(gates[1].note.contains("second human score"));
        assert_eq!(gates[2].pass, Some(true));
        // Group y: machine mean 0.5 higher over a pooled SD of sqrt((1.25 + 2.1875) / 2) ≈ 1.31.
        assert_eq!(gates[3].pass, Some(false));
        assert!(gates[3].note.contains("g=y"), "{}", gates[3].note);
        let strict = super::gates(Some(0.69), Some(0.85), Some(-0.2), &[]);
        assert_eq!(strict.len(), 3);
        assert_eq!(strict[0].pass, Some(false));
        assert_eq!(strict[1].pass, Some(false));
        assert_eq!(strict[2].pass, Some(false));
    }

    #[test]
    fn bootstrap_intervals_bracket_the_estimate_and_repeat() {
        let human: Vec<i64> = (0..200).map(|i| 1 + (i % 6)).collect();
        let machine: Vec<i64> = human
            .iter()
            .enumerate()
            .map(|(i, &h)| if i % 5 == 0 { (h % 6) + 1 } else { h })
            .collect();
        let qwk = agreement(&human, &machine, RANGE).qwk.unwrap();
        let a = qwk_interval(&human, &machine, RANGE, 500, 7).unwrap();
        let b = qwk_interval(&human, &machine, RANGE, 500, 7).unwrap();
        assert_eq!(a, b, "same seed, same interval");
        assert!(a.low < qwk && qwk < a.high, "{a:?} around {qwk}");
        assert!(a.high - a.low < 0.2);
        // Paired: a model against itself differs by exactly 0; the perfect one is better than
        // the noisy one on every resample.
        let same = paired_qwk_difference(&human, &machine, &machine, RANGE, 200, 3).unwrap();
        assert_eq!((same.low, same.high), (0.0, 0.0));
        let better = paired_qwk_difference(&human, &human, &machine, RANGE, 200, 3).unwrap();
        assert!(better.low > 0.0, "{better:?}");
        // Perfect agreement has no spread.
        let perfect = qwk_interval(&human, &human, RANGE, 200, 1).unwrap();
        assert_eq!((perfect.low, perfect.high), (1.0, 1.0));
    }
}
