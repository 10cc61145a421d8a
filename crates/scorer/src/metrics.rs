//! Agreement between human and machine scores, and the score thresholds that maximise it.
//!
//! One implementation serves training (early stopping, threshold fitting), `cyborg eval`, and
//! the browser's model card.

use serde::{Deserialize, Serialize};

/// An inclusive range of integer score levels, such as 1-6 or 0-60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreRange {
    /// Lowest level.
    pub min: i64,
    /// Highest level.
    pub max: i64,
}

impl ScoreRange {
    /// Number of levels.
    pub fn levels(&self) -> usize {
        (self.max - self.min + 1) as usize
    }

    /// Whether `score` is one of the levels.
    pub fn contains(&self, score: i64) -> bool {
        (self.min..=self.max).contains(&score)
    }

    /// `score` on the scale the head learns: 0 at the lowest level, 1 at the highest.
    pub fn normalise(&self, score: f64) -> f64 {
        (score - self.min as f64) / (self.max - self.min) as f64
    }

    /// A value on the head's 0-1 scale back on the score scale (a raw score).
    pub fn denormalise(&self, normalised: f64) -> f64 {
        self.min as f64 + normalised * (self.max - self.min) as f64
    }
}

impl std::fmt::Display for ScoreRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

/// How well machine scores agree with human scores on one set of responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Number of responses.
    pub n: usize,
    /// The score range the kappas are computed over (fixed, not taken from the data).
    pub range: ScoreRange,
    /// Quadratic weighted kappa; `None` when undefined (no variation to agree on).
    pub qwk: Option<f64>,
    /// Linearly weighted kappa; `None` when undefined.
    pub linear_kappa: Option<f64>,
    /// Cohen's unweighted kappa; `None` when undefined. (Absent from cards written before it
    /// was measured.)
    #[serde(default)]
    pub kappa: Option<f64>,
    /// Share of responses where the two scores are equal.
    pub exact: f64,
    /// Share of responses where the two scores differ by at most one level.
    pub adjacent: f64,
    /// Pearson correlation of the integer scores; `None` when either side is constant.
    pub pearson: Option<f64>,
    /// Root mean squared difference of the integer scores.
    pub rmse: f64,
    /// Mean human score.
    pub human_mean: f64,
    /// Mean machine score.
    pub machine_mean: f64,
    /// `confusion[h][m]`: responses with human level `min + h` and machine level `min + m`.
    pub confusion: Vec<Vec<u64>>,
}

/// Compares `machine` with `human`, both integer levels inside `range`.
///
/// # Panics
/// If the slices differ in length or a score lies outside `range`; callers validate first.
pub fn agreement(human: &[i64], machine: &[i64], range: ScoreRange) -> Agreement {
    assert_eq!(
        human.len(),
        machine.len(),
        "one machine score per human score"
    );
    let k = range.levels();
    let mut confusion = vec![vec![0u64; k]; k];
    for (&h, &m) in human.iter().zip(machine) {
        assert!(
            range.contains(h) && range.contains(m),
            "score outside {range}"
        );
        confusion[(h - range.min) as usize][(m - range.min) as usize] += 1;
    }
    let n = human.len();
    let as_f64 = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let (hf, mf) = (as_f64(human), as_f64(machine));
    let share = |within: i64| {
        if n == 0 {
            return 0.0;
        }
        human
            .iter()
            .zip(machine)
            .filter(|(h, m)| (*h - *m).abs() <= within)
            .count() as f64
            / n as f64
    };
    Agreement {
        n,
        range,
        qwk: weighted_kappa(&confusion, |i, j| ((i - j) * (i - j)) as f64),
        linear_kappa: weighted_kappa(&confusion, |i, j| (i - j).abs() as f64),
        kappa: weighted_kappa(&confusion, |i, j| f64::from(u8::from(i != j))),
        exact: share(0),
        adjacent: share(1),
        pearson: pearson(&hf, &mf),
        rmse: rmse(&hf, &mf),
        human_mean: mean(&hf),
        machine_mean: mean(&mf),
        confusion,
    }
}

/// Cohen's weighted kappa from a confusion matrix: `1 - Σ w·O / Σ w·E`, with `E` the counts
/// expected by chance from the two margins. `None` when `Σ w·E` is zero.
fn weighted_kappa(confusion: &[Vec<u64>], weight: impl Fn(i64, i64) -> f64) -> Option<f64> {
    let k = confusion.len();
    let n: u64 = confusion.iter().flatten().sum();
    if n == 0 {
        return None;
    }
    let rows: Vec<f64> = confusion
        .iter()
        .map(|r| r.iter().sum::<u64>() as f64)
        .collect();
    let cols: Vec<f64> = (0..k)
        .map(|j| confusion.iter().map(|r| r[j]).sum::<u64>() as f64)
        .collect();
    let (mut observed, mut expected) = (0.0, 0.0);
    for i in 0..k {
        for j in 0..k {
            let w = weight(i as i64, j as i64);
            observed += w * confusion[i][j] as f64;
            expected += w * rows[i] * cols[j] / n as f64;
        }
    }
    (expected > 0.0).then(|| 1.0 - observed / expected)
}

/// Mean of `xs` (0 for none).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Mean of `xs`, or `None` for none.
pub fn checked_mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| mean(xs))
}

/// Pearson's r; `None` when fewer than two values or either side is constant.
pub fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let (mx, my) = (mean(xs), mean(ys));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Root mean squared difference (0 for none).
pub fn rmse(xs: &[f64], ys: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let sum: f64 = xs.iter().zip(ys).map(|(x, y)| (x - y) * (x - y)).sum();
    (sum / xs.len() as f64).sqrt()
}

/// Cut points between adjacent score levels: a raw score `r` gets level
/// `min + #{t : r ≥ t}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// The range the levels come from.
    pub range: ScoreRange,
    /// `levels - 1` non-decreasing cut points, on the raw score's scale.
    pub cuts: Vec<f64>,
}

impl Thresholds {
    /// Plain rounding to the nearest level: cuts halfway between levels.
    pub fn rounding(range: ScoreRange) -> Self {
        let cuts = (1..range.levels())
            .map(|k| range.min as f64 + k as f64 - 0.5)
            .collect();
        Thresholds { range, cuts }
    }

    /// The level of raw score `raw`.
    pub fn level(&self, raw: f64) -> i64 {
        self.range.min + self.cuts.partition_point(|&t| raw >= t) as i64
    }

    /// Fits cuts that maximise QWK between the levels of `raw` and `human` (typically on
    /// development data), starting from rounding and improving one cut at a time while
    /// keeping the cuts ordered, until no cut can improve.
    ///
    /// Each cut is swept over every gap between neighbouring raw scores it may occupy, with
    /// QWK updated in O(1) per step from running sums, so a pass costs O(n · levels).
    pub fn fit(raw: &[f64], human: &[i64], range: ScoreRange) -> Self {
        let mut fitted = Thresholds::rounding(range);
        if raw.len() < 2 {
            return fitted;
        }
        let mut order: Vec<usize> = (0..raw.len()).collect();
        order.sort_by(|&a, &b| raw[a].total_cmp(&raw[b]));
        let sorted_raw: Vec<f64> = order.iter().map(|&i| raw[i]).collect();
        let sorted_human: Vec<f64> = order
            .iter()
            .map(|&i| (human[i] - range.min) as f64)
            .collect();
        let mut sums = QwkSums::new(&sorted_human);
        let mut levels: Vec<f64> = sorted_raw
            .iter()
            .map(|&r| (fitted.level(r) - range.min) as f64)
            .collect();
        sums.set_all(&levels);
        for _pass in 0..20 {
            let mut improved = false;
            for cut in 0..fitted.cuts.len() {
                improved |= fitted.improve_cut(cut, &sorted_raw, &mut levels, &mut sums);
            }
            if !improved {
                break;
            }
        }
        fitted
    }

    /// Moves cut `cut` (between levels `cut` and `cut + 1`, counted from 0) to the gap among
    /// the sorted raw scores that maximises QWK; returns whether QWK rose. `levels` holds each
    /// sorted response's current level (from 0) and is kept in step with `sums`.
    fn improve_cut(
        &mut self,
        cut: usize,
        sorted_raw: &[f64],
        levels: &mut [f64],
        sums: &mut QwkSums,
    ) -> bool {
        let lower = if cut == 0 {
            f64::NEG_INFINITY
        } else {
            self.cuts[cut - 1]
        };
        let upper = self.cuts.get(cut + 1).copied().unwrap_or(f64::INFINITY);
        // The responses this cut can move between its two levels: raw in [lower, upper).
        let start = sorted_raw.partition_point(|&r| r < lower);
        let end = sorted_raw.partition_point(|&r| r < upper);
        if start == end {
            return false;
        }
        let (below, above) = (cut as f64, cut as f64 + 1.0);
        let current = self.cuts[cut];
        let current_position = sorted_raw
            .partition_point(|&r| r < current)
            .clamp(start, end);
        // Sweep the cut upwards from below every movable response to above all of them; at
        // position p, responses start..p are `below` and p..end are `above`.
        for (i, level) in levels.iter_mut().enumerate().take(end).skip(start) {
            sums.change(i, *level, above);
            *level = above;
        }
        let mut best = (f64::NEG_INFINITY, current_position);
        for position in start..=end {
            let at_gap = position == start
                || position == end
                || sorted_raw[position - 1] < sorted_raw[position];
            if at_gap {
                let qwk = sums.qwk();
                if position == current_position {
                    // The current cut wins ties, so fitting always ends.
                    if qwk >= best.0 - 1e-12 {
                        best = (qwk.max(best.0), position);
                    }
                } else if qwk > best.0 + 1e-12 {
                    best = (qwk, position);
                }
            }
            if position < end {
                sums.change(position, levels[position], below);
                levels[position] = below;
            }
        }
        let best_position = best.1;
        for (i, level) in levels.iter_mut().enumerate().take(end).skip(start) {
            let chosen = if i < best_position { below } else { above };
            sums.change(i, *level, chosen);
            *level = chosen;
        }
        if best_position == current_position {
            return false;
        }
        self.cuts[cut] = cut_between(sorted_raw, start..end, best_position, lower, upper);
        true
    }
}

/// A cut that puts the movable responses `sorted_raw[movable]` before `position` below it
/// and the rest above: halfway between the raw scores either side, or between the extreme
/// one and the neighbouring cut (`lower`, `upper`), or a point beyond it where there is none.
fn cut_between(
    sorted_raw: &[f64],
    movable: std::ops::Range<usize>,
    position: usize,
    lower: f64,
    upper: f64,
) -> f64 {
    let (start, end) = (movable.start, movable.end);
    if position == start {
        if lower.is_finite() {
            (lower + sorted_raw[start]) / 2.0
        } else {
            sorted_raw[start] - 1.0
        }
    } else if position == end {
        if upper.is_finite() {
            (sorted_raw[end - 1] + upper) / 2.0
        } else {
            sorted_raw[end - 1] + 1.0
        }
    } else {
        (sorted_raw[position - 1] + sorted_raw[position]) / 2.0
    }
}

/// Running sums from which QWK follows in O(1):
/// `QWK = 1 - n·Σ(h-m)² / (n·Σh² + n·Σm² - 2·Σh·Σm)`.
struct QwkSums {
    human: Vec<f64>,
    n: f64,
    sum_h: f64,
    sum_h2: f64,
    sum_m: f64,
    sum_m2: f64,
    sum_d2: f64,
}

impl QwkSums {
    fn new(human: &[f64]) -> Self {
        QwkSums {
            human: human.to_vec(),
            n: human.len() as f64,
            sum_h: human.iter().sum(),
            sum_h2: human.iter().map(|h| h * h).sum(),
            sum_m: 0.0,
            sum_m2: 0.0,
            sum_d2: 0.0,
        }
    }

    fn set_all(&mut self, machine: &[f64]) {
        self.sum_m = machine.iter().sum();
        self.sum_m2 = machine.iter().map(|m| m * m).sum();
        self.sum_d2 = machine
            .iter()
            .zip(&self.human)
            .map(|(m, h)| (h - m) * (h - m))
            .sum();
    }

    fn change(&mut self, i: usize, from: f64, to: f64) {
        let h = self.human[i];
        self.sum_m += to - from;
        self.sum_m2 += to * to - from * from;
        self.sum_d2 += (h - to) * (h - to) - (h - from) * (h - from);
    }

    fn qwk(&self) -> f64 {
        let expected = self.n * self.sum_h2 + self.n * self.sum_m2 - 2.0 * self.sum_h * self.sum_m;
        if expected <= 0.0 {
            return f64::NEG_INFINITY;
        }
        1.0 - self.n * self.sum_d2 / expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: i64, max: i64) -> ScoreRange {
        ScoreRange { min, max }
    }

    #[test]
    fn the_head_scale_runs_from_lowest_to_highest_level() {
        let r = range(2, 12);
        assert_eq!(
            (r.normalise(2.0), r.normalise(12.0), r.normalise(7.0)),
            (0.0, 1.0, 0.5)
        );
        assert_eq!(r.denormalise(0.25), 4.5);
        assert_eq!(r.denormalise(r.normalise(9.0)), 9.0);
    }

    #[test]
    fn kappas_match_hand_worked_values() {
        // Confusion (0,0) (1,2) (2,2) (2,1); margins 1,1,2 both ways, n = 4.
        // Quadratic: Σw·O = 1 + 1 = 2; Σw·E = (1 + 4·2 + 1 + 2 + 4·2 + 2) / 4 = 5.5.
        // Linear:    Σw·O = 2;         Σw·E = (1 + 2·2 + 1 + 2 + 2·2 + 2) / 4 = 3.5.
        let a = agreement(&[0, 1, 2, 2], &[0, 2, 2, 1], range(0, 2));
        assert!((a.qwk.unwrap() - (1.0 - 2.0 / 5.5)).abs() < 1e-12);
        assert!((a.linear_kappa.unwrap() - (1.0 - 2.0 / 3.5)).abs() < 1e-12);
        assert_eq!(a.exact, 0.5);
        assert_eq!(a.adjacent, 1.0);
        assert!((a.rmse - (2.0f64 / 4.0).sqrt()).abs() < 1e-12);
        assert_eq!(
            a.confusion,
            vec![vec![1, 0, 0], vec![0, 0, 1], vec![0, 1, 1]]
        );
    }

    #[test]
    fn two_levels_reduce_to_cohens_kappa() {
        // p_o = 3/4, p_e = (2·1 + 2·3) / 16 = 1/2, κ = (3/4 - 1/2) / (1/2) = 1/2.
        let a = agreement(&[0, 0, 1, 1], &[0, 1, 1, 1], range(0, 1));
        assert!((a.qwk.unwrap() - 0.5).abs() < 1e-12);
        assert!((a.linear_kappa.unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn perfect_and_reversed_orders_give_plus_and_minus_one() {
        let h = [1, 2, 3, 4];
        assert!((agreement(&h, &h, range(1, 4)).qwk.unwrap() - 1.0).abs() < 1e-12);
        let reversed = agreement(&h, &[4, 3, 2, 1], range(1, 4));
        assert!((reversed.qwk.unwrap() + 1.0).abs() < 1e-12);
        assert!((reversed.pearson.unwrap() + 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_range_not_the_data_fixes_the_kappa_weights() {
        // Unused levels change nothing for QWK (weights scale out), but the matrix is full size.
        let narrow = agreement(&[1, 2, 2, 3], &[1, 2, 3, 3], range(1, 3));
        let wide = agreement(&[1, 2, 2, 3], &[1, 2, 3, 3], range(0, 6));
        assert!((narrow.qwk.unwrap() - wide.qwk.unwrap()).abs() < 1e-12);
        assert_eq!(wide.confusion.len(), 7);
    }

    #[test]
    fn agreement_without_variation_is_undefined_not_nan() {
        let a = agreement(&[2, 2, 2], &[2, 2, 2], range(0, 4));
        assert_eq!(a.qwk, None);
        assert_eq!(a.linear_kappa, None);
        assert_eq!(a.pearson, None);
        assert_eq!(a.exact, 1.0);
    }

    #[test]
    fn rounding_cuts_sit_halfway() {
        let t = Thresholds::rounding(range(1, 4));
        assert_eq!(t.cuts, vec![1.5, 2.5, 3.5]);
        assert_eq!(t.level(-10.0), 1);
        assert_eq!(t.level(2.5), 3);
        assert_eq!(t.level(2.49), 2);
        assert_eq!(t.level(99.0), 4);
    }

    #[test]
    fn fitted_cuts_undo_a_compressed_monotone_scale() {
        // A model that ranks perfectly but squeezes 0-3 into 0.1-1.6: rounding loses, fitted
        // cuts recover every level.
        let human: Vec<i64> = (0..40).map(|i| i % 4).collect();
        let raw: Vec<f64> = human.iter().map(|&h| 0.1 + 0.5 * h as f64).collect();
        let r = range(0, 3);
        let rounded: Vec<i64> = raw
            .iter()
            .map(|&x| Thresholds::rounding(r).level(x))
            .collect();
        assert!(agreement(&human, &rounded, r).qwk.unwrap() < 0.9);
        let fitted = Thresholds::fit(&raw, &human, r);
        assert!(
            fitted.cuts.windows(2).all(|w| w[0] <= w[1]),
            "{:?}",
            fitted.cuts
        );
        let levels: Vec<i64> = raw.iter().map(|&x| fitted.level(x)).collect();
        assert_eq!(levels, human);
    }

    /// The best QWK over every placement of two cuts among n items.
    fn brute_force_best(raw: &[f64], human: &[i64], r: ScoreRange) -> f64 {
        let mut candidates: Vec<f64> = raw.to_vec();
        candidates.push(f64::INFINITY);
        let mut best = f64::NEG_INFINITY;
        for &a in &candidates {
            for &b in &candidates {
                if a > b {
                    continue;
                }
                let t = Thresholds {
                    range: r,
                    cuts: vec![a, b],
                };
                let m: Vec<i64> = raw.iter().map(|&x| t.level(x)).collect();
                if let Some(q) = agreement(human, &m, r).qwk {
                    best = best.max(q);
                }
            }
        }
        best
    }

    #[test]
    fn fitting_never_loses_to_rounding_and_never_beats_the_optimum() {
        let r = range(0, 2);
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        for _ in 0..50 {
            let human: Vec<i64> = (0..12).map(|_| (next() * 3.0) as i64).collect();
            let raw: Vec<f64> = human
                .iter()
                .map(|&h| h as f64 * 0.4 + next() * 1.2)
                .collect();
            let fitted = Thresholds::fit(&raw, &human, r);
            let q = |t: &Thresholds| {
                let m: Vec<i64> = raw.iter().map(|&x| t.level(x)).collect();
                agreement(&human, &m, r).qwk.unwrap_or(f64::NEG_INFINITY)
            };
            let fitted_qwk = q(&fitted);
            assert!(fitted_qwk >= q(&Thresholds::rounding(r)) - 1e-12);
            assert!(fitted_qwk <= brute_force_best(&raw, &human, r) + 1e-12);
        }
    }
}
