//! Ridge regression in closed form: the linear probe that gives the head its starting weights.
//!
//! Fitting the head by gradient descent from random weights is slow and, on a few hundred
//! responses, lands short of what a least-squares fit reaches at once. So the head starts as
//! the ridge solution on the frozen encoder's pooled embeddings and the surface features, with
//! the penalty chosen on development data; fine-tuning the top layers starts from there
//! ("linear probing, then fine-tuning", Kumar et al., 2022). With a lexical block, the probe is
//! fitted jointly with the block's weight per word bucket ([`lexical`]).

pub mod lexical;

/// A linear model `y = intercept + Σ weights[j] · x[j] + Σ lexical[b] · v[b]` on raw
/// (unstandardised) columns `x` and, when fitted with a lexical block, a response's lexical
/// vector `v` ([`cyborg_scorer::lexical::lexical_vector`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFit {
    /// One weight per column.
    pub weights: Vec<f64>,
    /// The constant term.
    pub intercept: f64,
    /// One weight per lexical bucket; empty without a lexical block.
    pub lexical: Vec<f64>,
}

impl LinearFit {
    /// The prediction for one row, its lexical part aside.
    pub fn predict(&self, row: &[f32]) -> f64 {
        self.intercept
            + self
                .weights
                .iter()
                .zip(row)
                .map(|(w, &x)| w * x as f64)
                .sum::<f64>()
    }

    /// The prediction for one row with lexical vector `vector` (ignored without a block).
    pub fn predict_with(&self, row: &[f32], vector: &[(u32, f32)]) -> f64 {
        let lexical: f64 = if self.lexical.is_empty() {
            0.0
        } else {
            vector
                .iter()
                .map(|&(b, v)| self.lexical[b as usize] * v as f64)
                .sum()
        };
        self.predict(row) + lexical
    }
}

/// A ridge regression problem, prepared once and solved for any penalty: columns are
/// standardised to unit variance, so one penalty treats them alike, and each may carry its own
/// multiplier of it.
pub struct RidgeProblem {
    mean: Vec<f64>,
    scale: Vec<f64>,
    y_mean: f64,
    /// ZᵀZ of the standardised columns.
    gram: Vec<f64>,
    /// Zᵀ(y - ȳ).
    rhs: Vec<f64>,
    /// The rows' total weight (their number when unweighted).
    rows: f64,
    /// The standardised rows, each times the square root of its weight (rows × columns).
    z: Vec<f64>,
    /// Each row's square root of its weight times (y - ȳ).
    y: Vec<f64>,
    /// The targets as given.
    targets: Vec<f64>,
    /// The rows' weights as given.
    weights: Vec<f64>,
}

impl RidgeProblem {
    /// Prepares the regression of `y` on the rows of `x` (all equally wide).
    #[cfg(test)]
    pub fn new(x: &[Vec<f32>], y: &[f64]) -> Self {
        Self::weighted(x, y, &vec![1.0; x.len()])
    }

    /// Prepares the weighted regression of `y` on the rows of `x`: row `i` counts `w[i]`
    /// times in the squared error (and in the means and deviations that standardise).
    pub fn weighted(x: &[Vec<f32>], y: &[f64], w: &[f64]) -> Self {
        let total: f64 = w.iter().sum();
        let columns = x.first().map_or(0, Vec::len);
        let (mean, scale) = column_standardisation(x, w, total);
        let y_mean = y.iter().zip(w).map(|(y, w)| w * y).sum::<f64>() / total;
        let mut gram = vec![0f64; columns * columns];
        let mut rhs = vec![0f64; columns];
        let mut all_z = Vec::with_capacity(x.len() * columns);
        let mut all_y = Vec::with_capacity(x.len());
        for ((row, &target), &weight) in x.iter().zip(y).zip(w) {
            // √w on both sides of each product gives w in ZᵀWZ and ZᵀW(y - ȳ).
            let root = weight.sqrt();
            let z: Vec<f64> = (0..columns)
                .map(|j| root * (row[j] as f64 - mean[j]) / scale[j])
                .collect();
            let y = root * (target - y_mean);
            for a in 0..columns {
                rhs[a] += z[a] * y;
                let za = z[a];
                let gram_row = &mut gram[a * columns..(a + 1) * columns];
                for b in 0..=a {
                    gram_row[b] += za * z[b];
                }
            }
            all_z.extend(z);
            all_y.push(y);
        }
        for a in 0..columns {
            for b in 0..a {
                gram[b * columns + a] = gram[a * columns + b];
            }
        }
        RidgeProblem {
            mean,
            scale,
            y_mean,
            gram,
            rhs,
            rows: total,
            z: all_z,
            y: all_y,
            targets: y.to_vec(),
            weights: w.to_vec(),
        }
    }

    /// The standardised weights `standardised` as a fit on the raw columns, with lexical
    /// weights `lexical` whose part of the mean, `lexical_mean`, the intercept gives back.
    fn raw_fit(&self, standardised: &[f64], lexical: Vec<f64>, lexical_mean: f64) -> LinearFit {
        let weights: Vec<f64> = standardised
            .iter()
            .zip(&self.scale)
            .map(|(w, s)| w / s)
            .collect();
        let intercept = self.y_mean
            - lexical_mean
            - weights
                .iter()
                .zip(&self.mean)
                .map(|(w, m)| w * m)
                .sum::<f64>();
        LinearFit {
            weights,
            intercept,
            lexical,
        }
    }

    /// The fit minimising `‖y - ŷ‖² + lambda · n · Σ multiplier[j] · w[j]²` (standardised
    /// weights), expressed on the raw columns.
    pub fn solve(&self, lambda: f64, multiplier: &[f64]) -> LinearFit {
        let standardised = self.factor(lambda, multiplier).solve(&self.rhs);
        self.raw_fit(&standardised, Vec::new(), 0.0)
    }

    /// `ZᵀZ + lambda · n · diag(multiplier)`, factored.
    fn factor(&self, lambda: f64, multiplier: &[f64]) -> Cholesky {
        let columns = self.rhs.len();
        let mut system = self.gram.clone();
        for j in 0..columns {
            system[j * columns + j] += lambda * self.rows * multiplier[j];
        }
        Cholesky::factor(system, columns)
    }

    /// Each row's prediction by the fit of [`RidgeProblem::solve`] at the same penalty made
    /// without that row: an honest score for every training row, as development rows have.
    /// `x` holds the rows the problem was prepared from. No refitting is needed: the row's
    /// residual `e` becomes `e / (1 − h)`, where its leverage `h = zᵀ (ZᵀZ + penalty)⁻¹ z +
    /// w / Σw` (the last term for the intercept). Exact for the penalised fit with the columns
    /// standardised as here, over every row (the one left out included).
    pub fn leave_one_out(&self, x: &[Vec<f32>], lambda: f64, multiplier: &[f64]) -> Vec<f64> {
        let columns = self.rhs.len();
        let factor = self.factor(lambda, multiplier);
        let fit = self.raw_fit(&factor.solve(&self.rhs), Vec::new(), 0.0);
        let rows = self.targets.len();
        // Zᵀ, so that one solve gives (ZᵀZ + penalty)⁻¹ z for every row at once.
        let mut transposed = vec![0f64; columns * rows];
        for (i, z) in self.z.chunks_exact(columns).enumerate() {
            for (a, &value) in z.iter().enumerate() {
                transposed[a * rows + i] = value;
            }
        }
        let solved = factor.solve_many(&transposed, rows);
        (0..rows)
            .map(|i| {
                let z = &self.z[i * columns..(i + 1) * columns];
                let leverage = z
                    .iter()
                    .enumerate()
                    .map(|(a, value)| value * solved[a * rows + i])
                    .sum::<f64>()
                    + self.weights[i] / self.rows;
                let residual = self.targets[i] - fit.predict(&x[i]);
                self.targets[i] - residual / (1.0 - leverage).max(1e-9)
            })
            .collect()
    }
}

/// Each column's weighted mean and the scale that standardises it (its weighted deviation, or
/// 1 for a column that is constant up to rounding); `total` is the weights' sum.
fn column_standardisation(x: &[Vec<f32>], w: &[f64], total: f64) -> (Vec<f64>, Vec<f64>) {
    let columns = x.first().map_or(0, Vec::len);
    let mean: Vec<f64> = (0..columns)
        .map(|j| x.iter().zip(w).map(|(r, w)| w * r[j] as f64).sum::<f64>() / total)
        .collect();
    let deviation: Vec<f64> = (0..columns)
        .map(|j| {
            let var = x
                .iter()
                .zip(w)
                .map(|(r, w)| w * (r[j] as f64 - mean[j]).powi(2))
                .sum::<f64>()
                / total;
            var.sqrt()
        })
        .collect();
    // A column whose deviation is a tiny fraction of the typical one is constant up to
    // rounding (an encoder can have such dimensions); standardising it would turn rounding
    // noise into a large weight. It keeps scale 1, so the penalty holds its weight near 0.
    let typical = {
        let mut sorted = deviation.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get(columns / 2).copied().unwrap_or(0.0)
    };
    let scale: Vec<f64> = deviation
        .iter()
        .map(|&d| {
            if d > 1e-4 * typical && d > 0.0 {
                d
            } else {
                1.0
            }
        })
        .collect();
    (mean, scale)
}

/// Solves `A w = b` for symmetric positive definite `A` (row-major, n × n).
pub fn solve_positive_definite(a: Vec<f64>, b: &[f64], n: usize) -> Vec<f64> {
    Cholesky::factor(a, n).solve(b)
}

/// The Cholesky factor `L` of a symmetric positive definite matrix `A = L Lᵀ`, kept to solve
/// `A w = b` for many right-hand sides.
pub struct Cholesky {
    /// `L` in the lower triangle, row-major (the upper triangle is left as it was).
    l: Vec<f64>,
    n: usize,
}

impl Cholesky {
    /// Factors `a` (row-major, n × n; only its lower triangle is read).
    pub fn factor(mut a: Vec<f64>, n: usize) -> Self {
        for j in 0..n {
            let (head, below) = a.split_at_mut((j + 1) * n);
            let row_j = &mut head[j * n..];
            let diagonal = (row_j[j] - dot(&row_j[..j], &row_j[..j]))
                .max(1e-300)
                .sqrt();
            row_j[j] = diagonal;
            let row_j = &row_j[..j];
            for row_i in below.chunks_exact_mut(n) {
                row_i[j] = (row_i[j] - dot(&row_i[..j], row_j)) / diagonal;
            }
        }
        Cholesky { l: a, n }
    }

    /// `A⁻¹ b`.
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        self.solve_many(b, 1)
    }

    /// `A⁻¹ B` for `B` with `k` columns (row-major, n × k): both substitutions work on whole
    /// rows of `B`, so the inner loops stride through memory.
    pub fn solve_many(&self, b: &[f64], k: usize) -> Vec<f64> {
        let (l, n) = (&self.l, self.n);
        let mut y = b.to_vec();
        // L Y = B, top down.
        for i in 0..n {
            let (done, rest) = y.split_at_mut(i * k);
            let row = &mut rest[..k];
            for (m, solved) in done.chunks_exact(k).enumerate() {
                subtract_scaled(row, l[i * n + m], solved);
            }
            let diagonal = l[i * n + i];
            row.iter_mut().for_each(|r| *r /= diagonal);
        }
        // Lᵀ W = Y, bottom up.
        for i in (0..n).rev() {
            let (head, done) = y.split_at_mut((i + 1) * k);
            let row = &mut head[i * k..];
            for (m, solved) in done.chunks_exact(k).enumerate() {
                subtract_scaled(row, l[(i + 1 + m) * n + i], solved);
            }
            let diagonal = l[i * n + i];
            row.iter_mut().for_each(|r| *r /= diagonal);
        }
        y
    }
}

/// `row -= factor · other`.
fn subtract_scaled(row: &mut [f64], factor: f64, other: &[f64]) {
    if factor != 0.0 {
        for (r, o) in row.iter_mut().zip(other) {
            *r -= factor * o;
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The dot product of a sparse vector ((index, value) pairs) and a dense one.
pub fn sparse_dot(sparse: &[(u32, f64)], dense: &[f64]) -> f64 {
    sparse.iter().map(|&(b, v)| v * dense[b as usize]).sum()
}

/// Every pair's dot product (rows × rows, row-major) of sparse rows whose indices are below
/// `width`: each row in turn is spread into a dense buffer and met by the rows before it.
pub fn sparse_gram(rows: &[Vec<(u32, f64)>], width: usize) -> Vec<f64> {
    let n = rows.len();
    let mut dense = vec![0f64; width];
    let mut gram = vec![0f64; n * n];
    for (i, row) in rows.iter().enumerate() {
        for &(b, v) in row {
            dense[b as usize] = v;
        }
        for (j, other) in rows[..=i].iter().enumerate() {
            let k = sparse_dot(other, &dense);
            gram[i * n + j] = k;
            gram[j * n + i] = k;
        }
        for &(b, _) in row {
            dense[b as usize] = 0.0;
        }
    }
    gram
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_linear_relation_with_a_tiny_penalty() {
        // y = 3 + 2·x0 - 0.5·x1, columns on very different scales.
        let x: Vec<Vec<f32>> = (0..50)
            .map(|i| vec![i as f32 * 0.1, ((i * 37) % 11) as f32 * 100.0])
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|r| 3.0 + 2.0 * r[0] as f64 - 0.5 * r[1] as f64)
            .collect();
        let fit = RidgeProblem::new(&x, &y).solve(1e-12, &[1.0, 1.0]);
        assert!((fit.weights[0] - 2.0).abs() < 1e-6, "{fit:?}");
        assert!((fit.weights[1] + 0.5).abs() < 1e-6, "{fit:?}");
        assert!((fit.intercept - 3.0).abs() < 1e-5, "{fit:?}");
        assert!((fit.predict(&x[7]) - y[7]).abs() < 1e-5);
    }

    #[test]
    fn a_large_penalty_shrinks_towards_the_mean() {
        let x: Vec<Vec<f32>> = (0..20).map(|i| vec![i as f32]).collect();
        let y: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let fit = RidgeProblem::new(&x, &y).solve(1e6, &[1.0]);
        assert!(fit.weights[0].abs() < 1e-4);
        assert!((fit.intercept - 9.5).abs() < 1e-3);
    }

    #[test]
    fn a_constant_column_is_harmless() {
        let x: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32, 5.0]).collect();
        let y: Vec<f64> = (0..10).map(|i| 2.0 * i as f64).collect();
        let fit = RidgeProblem::new(&x, &y).solve(1e-9, &[1.0, 1.0]);
        assert!((fit.weights[0] - 2.0).abs() < 1e-6);
        assert!(fit.weights[1].abs() < 1e-6);
    }
}

#[cfg(test)]
mod weight_tests {
    use super::*;

    #[test]
    fn a_weight_of_two_is_the_row_twice() {
        let x: Vec<Vec<f32>> = (0..12)
            .map(|i| vec![i as f32, ((i * 5) % 7) as f32])
            .collect();
        let y: Vec<f64> = (0..12).map(|i| (i * i % 9) as f64).collect();
        let weights: Vec<f64> = (0..12).map(|i| if i < 3 { 2.0 } else { 1.0 }).collect();
        let (mut x2, mut y2) = (x.clone(), y.clone());
        x2.extend_from_slice(&x[..3]);
        y2.extend_from_slice(&y[..3]);
        let weighted = RidgeProblem::weighted(&x, &y, &weights).solve(0.1, &[1.0, 1.0]);
        let repeated = RidgeProblem::new(&x2, &y2).solve(0.1, &[1.0, 1.0]);
        for (a, b) in weighted.weights.iter().zip(&repeated.weights) {
            assert!((a - b).abs() < 1e-9, "{weighted:?} vs {repeated:?}");
        }
        assert!((weighted.intercept - repeated.intercept).abs() < 1e-9);
    }
}

#[cfg(test)]
mod leave_one_out_tests {
    use super::*;

    fn sample() -> (Vec<Vec<f32>>, Vec<f64>, Vec<f64>) {
        let x: Vec<Vec<f32>> = (0..30)
            .map(|i| vec![i as f32, ((i * 7) % 5) as f32, ((i * 3) % 11) as f32])
            .collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, r)| 0.5 * r[0] as f64 - r[1] as f64 + ((i * 13) % 7) as f64)
            .collect();
        let weights: Vec<f64> = (0..30)
            .map(|i| match i {
                4 => 0.0,
                i if i % 5 == 0 => 2.0,
                _ => 1.0,
            })
            .collect();
        (x, y, weights)
    }

    #[test]
    fn least_squares_left_out_is_a_refit_without_the_row() {
        // With no penalty the standardisation does not matter, so a refit without the row
        // (its weight 0) must give exactly the same prediction.
        let (x, y, weights) = sample();
        let lambda = 1e-12;
        let held_out =
            RidgeProblem::weighted(&x, &y, &weights).leave_one_out(&x, lambda, &[1.0; 3]);
        for i in 0..x.len() {
            let mut without = weights.clone();
            without[i] = 0.0;
            let refit = RidgeProblem::weighted(&x, &y, &without).solve(lambda, &[1.0; 3]);
            let expected = refit.predict(&x[i]);
            assert!(
                (held_out[i] - expected).abs() < 1e-6,
                "row {i}: {} vs {expected}",
                held_out[i]
            );
        }
    }

    #[test]
    fn penalised_rows_left_out_are_predicted_worse_except_one_that_weighs_nothing() {
        let (x, y, weights) = sample();
        let problem = RidgeProblem::weighted(&x, &y, &weights);
        let fit = problem.solve(0.05, &[1.0; 3]);
        let held_out = problem.leave_one_out(&x, 0.05, &[1.0; 3]);
        for i in 0..x.len() {
            let (inside, outside) = (y[i] - fit.predict(&x[i]), y[i] - held_out[i]);
            if weights[i] == 0.0 {
                assert!((inside - outside).abs() < 1e-12, "row {i}");
            } else {
                assert!(
                    outside.abs() > inside.abs(),
                    "row {i}: {outside} vs {inside}"
                );
                assert_eq!(outside.signum(), inside.signum(), "row {i}");
            }
        }
    }
}

#[cfg(test)]
mod penalty_tests {
    use super::*;

    #[test]
    fn a_column_without_penalty_keeps_its_weight_under_a_heavy_penalty() {
        let x: Vec<Vec<f32>> = (0..30).map(|i| vec![i as f32, (i % 5) as f32]).collect();
        let y: Vec<f64> = x.iter().map(|r| r[0] as f64 + r[1] as f64).collect();
        let problem = RidgeProblem::new(&x, &y);
        let fit = problem.solve(1e3, &[0.0, 1.0]);
        assert!((fit.weights[0] - 1.0).abs() < 0.05, "{fit:?}");
        assert!(fit.weights[1].abs() < 0.05, "{fit:?}");
    }
}

#[cfg(test)]
mod constant_column_tests {
    use super::*;

    #[test]
    fn a_column_of_rounding_noise_gets_no_weight() {
        // Four ordinary columns and one that only alternates by ±1e-9, in step with a part of
        // y that nothing else explains: standardised, it would win a weight near 1e8.
        let x: Vec<Vec<f32>> = (0..40)
            .map(|i| {
                let noise = if i % 2 == 0 { 1e-9 } else { -1e-9 };
                vec![
                    i as f32,
                    (i * 7 % 5) as f32,
                    (i * 3 % 11) as f32,
                    (i % 4) as f32,
                    noise,
                ]
            })
            .collect();
        let y: Vec<f64> = (0..40)
            .map(|i| 0.5 * i as f64 + if i % 2 == 0 { 0.1 } else { 0.0 })
            .collect();
        let fit = RidgeProblem::new(&x, &y).solve(1e-3, &[1.0; 5]);
        assert!(fit.weights[4].abs() < 1.0, "{fit:?}");
        assert!((fit.weights[0] - 0.5).abs() < 0.01, "{fit:?}");
    }
}
