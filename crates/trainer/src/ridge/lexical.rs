//! The linear probe fitted jointly with the head's lexical block: ridge regression on the
//! embedding and surface-feature columns (standardised, penalised as in [`RidgeProblem`]) and
//! on thousands of hashed word buckets (unit-length vectors, one penalty of their own).
//!
//! With a few thousand buckets and a few thousand responses, the bucket weights are found in
//! the dual: the responses' lexical kernel `K` is factored once per word penalty `μ`, and the
//! word block is profiled out of the joint objective, leaving a small system in the embedding
//! weights `b`:
//!
//! ```text
//! (Zᵀ A⁻¹ Z + (λ/μ) M) b = Zᵀ A⁻¹ y,   A = μ·n·I + K,   lexical weights g = Xᵀ A⁻¹ (y − Z b)
//! ```
//!
//! where `Z` holds the standardised columns, `X` the centred lexical vectors and `y` the
//! centred targets, every row scaled by the square root of its weight. `Zᵀ A⁻¹ Z` depends on
//! the encoder but not on `λ`, so each probe pays for it once per `μ`.

use cyborg_scorer::lexical::lexical_vector;

use super::{sparse_dot, sparse_gram, Cholesky, LinearFit, RidgeProblem};

/// Word penalties tried, per unit of row weight, on unit-length lexical vectors: from a block
/// that fits every bucket a few responses share to one that keeps only the broadest.
pub const WORD_PENALTIES: [f64; 4] = [1e-3, 3e-3, 1e-2, 3e-2];

/// The training responses' lexical vectors, centred, with their kernel factored for each of
/// [`WORD_PENALTIES`].
pub struct LexicalDesign {
    buckets: usize,
    vectors: Vec<Vec<(u32, f64)>>,
    roots: Vec<f64>,
    /// The weighted mean vector (dense).
    mean: Vec<f64>,
    factors: Vec<Cholesky>,
}

impl LexicalDesign {
    /// The design for responses with word hashes `words` and weights `weights`, hashed into
    /// `buckets` buckets.
    pub fn new(words: &[&[u32]], weights: &[f64], buckets: usize) -> Self {
        let n = words.len();
        let vectors: Vec<Vec<(u32, f64)>> = words
            .iter()
            .map(|w| {
                lexical_vector(w, buckets)
                    .into_iter()
                    .map(|(b, v)| (b, v as f64))
                    .collect()
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut mean = vec![0f64; buckets];
        for (vector, w) in vectors.iter().zip(weights) {
            for &(b, v) in vector {
                mean[b as usize] += w * v / total;
            }
        }
        // (x_i − x̄)·(x_j − x̄) = x_i·x_j − x_i·x̄ − x_j·x̄ + x̄·x̄, scaled by √(w_i w_j).
        let raw = sparse_gram(&vectors, buckets);
        let towards_mean: Vec<f64> = vectors.iter().map(|v| sparse_dot(v, &mean)).collect();
        let mean_square: f64 = mean.iter().map(|m| m * m).sum();
        let roots: Vec<f64> = weights.iter().map(|w| w.sqrt()).collect();
        let mut kernel = raw;
        for i in 0..n {
            for j in 0..n {
                let centred = kernel[i * n + j] - towards_mean[i] - towards_mean[j] + mean_square;
                kernel[i * n + j] = roots[i] * roots[j] * centred;
            }
        }
        let factors = WORD_PENALTIES
            .iter()
            .map(|&penalty| {
                let mut system = kernel.clone();
                for i in 0..n {
                    system[i * n + i] += penalty * total;
                }
                Cholesky::factor(system, n)
            })
            .collect();
        LexicalDesign {
            buckets,
            vectors,
            roots,
            mean,
            factors,
        }
    }

    /// The number of buckets.
    pub fn buckets(&self) -> usize {
        self.buckets
    }
}

/// A ridge problem's columns joined with a lexical design at one word penalty: what every
/// embedding penalty and every trait share.
pub struct JointDesign<'a> {
    design: &'a LexicalDesign,
    factor: &'a Cholesky,
    penalty: f64,
    columns: usize,
    /// A⁻¹ Z (rows × columns).
    solved: Vec<f64>,
    /// Zᵀ A⁻¹ Z (columns × columns).
    gram: Vec<f64>,
}

impl<'a> JointDesign<'a> {
    /// Joins `problem`'s columns (any trait's: they share them) with `design` at the word
    /// penalty `WORD_PENALTIES[k]`.
    pub fn new(design: &'a LexicalDesign, problem: &RidgeProblem, k: usize) -> Self {
        let columns = problem.rhs.len();
        let factor = &design.factors[k];
        let solved = factor.solve_many(&problem.z, columns);
        let mut gram = vec![0f64; columns * columns];
        for (z_row, solved_row) in problem
            .z
            .chunks_exact(columns)
            .zip(solved.chunks_exact(columns))
        {
            for (a, &za) in z_row.iter().enumerate() {
                let gram_row = &mut gram[a * columns..(a + 1) * columns];
                for (g, s) in gram_row.iter_mut().zip(solved_row) {
                    *g += za * s;
                }
            }
        }
        JointDesign {
            design,
            factor,
            penalty: WORD_PENALTIES[k],
            columns,
            solved,
            gram,
        }
    }

    /// The joint fit of `problem`'s targets with embedding penalty `lambda` (times each
    /// column's `multiplier`, as in [`RidgeProblem::solve`]).
    pub fn solve(&self, problem: &RidgeProblem, lambda: f64, multiplier: &[f64]) -> LinearFit {
        let columns = self.columns;
        let solved_y = self.factor.solve(&problem.y);
        let mut rhs = vec![0f64; columns];
        for (z_row, &u) in problem.z.chunks_exact(columns).zip(&solved_y) {
            for (r, z) in rhs.iter_mut().zip(z_row) {
                *r += z * u;
            }
        }
        let mut system = self.gram.clone();
        for j in 0..columns {
            system[j * columns + j] += lambda / self.penalty * multiplier[j];
        }
        let standardised = Cholesky::factor(system, columns).solve(&rhs);
        // Each response's dual weight, A⁻¹ (y − Z b), times the root of its row weight.
        let dual: Vec<f64> = solved_y
            .iter()
            .zip(self.solved.chunks_exact(columns))
            .zip(&self.design.roots)
            .map(|((u, row), root)| root * (u - super::dot(row, &standardised)))
            .collect();
        let design = self.design;
        let mut lexical = vec![0f64; design.buckets];
        for (vector, &d) in design.vectors.iter().zip(&dual) {
            for &(b, v) in vector {
                lexical[b as usize] += d * v;
            }
        }
        let dual_sum: f64 = dual.iter().sum();
        for (l, m) in lexical.iter_mut().zip(&design.mean) {
            *l -= m * dual_sum;
        }
        let lexical_mean = super::dot(&lexical, &design.mean);
        problem.raw_fit(&standardised, lexical, lexical_mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Responses whose score is carried by one word ("keyword") beside a column of noise.
    fn sample() -> (Vec<Vec<u32>>, Vec<Vec<f32>>, Vec<f64>) {
        let hash = cyborg_scorer::screen::word_hash;
        let mut words = Vec::new();
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..60u32 {
            let mut text: Vec<u32> = (0..8)
                .map(|k| hash(&format!("w{}", (i * 7 + k) % 23)))
                .collect();
            let has_key = i % 3 == 0;
            if has_key {
                text.push(hash("keyword"));
            }
            words.push(text);
            x.push(vec![((i * 13) % 17) as f32, (i % 5) as f32]);
            y.push(if has_key { 1.0 } else { 0.0 } + 0.1 * (i % 5) as f64);
        }
        (words, x, y)
    }

    #[test]
    fn the_joint_fit_minimises_the_joint_objective() {
        // At the optimum, a small step on any weight cannot lower the penalised loss.
        let (words, x, y) = sample();
        let refs: Vec<&[u32]> = words.iter().map(Vec::as_slice).collect();
        let weights: Vec<f64> = (0..60)
            .map(|i| if i % 4 == 0 { 2.0 } else { 1.0 })
            .collect();
        let design = LexicalDesign::new(&refs, &weights, 64);
        let problem = RidgeProblem::weighted(&x, &y, &weights);
        let joint = JointDesign::new(&design, &problem, 1);
        let (lambda, multiplier) = (0.01, [1.0, 0.5]);
        let fit = joint.solve(&problem, lambda, &multiplier);
        let vectors: Vec<Vec<(u32, f32)>> = refs.iter().map(|w| lexical_vector(w, 64)).collect();
        let total: f64 = weights.iter().sum();
        let objective = |fit: &LinearFit| {
            let loss: f64 = (0..60)
                .map(|i| weights[i] * (y[i] - fit.predict_with(&x[i], &vectors[i])).powi(2))
                .sum();
            let embedding: f64 = (0..2)
                .map(|j| multiplier[j] * (fit.weights[j] * problem.scale[j]).powi(2))
                .sum();
            let words: f64 = fit.lexical.iter().map(|g| g * g).sum();
            loss + lambda * total * embedding + WORD_PENALTIES[1] * total * words
        };
        let best = objective(&fit);
        for step in [1e-3, -1e-3] {
            let mut moved = fit.clone();
            moved.weights[0] += step / problem.scale[0];
            assert!(objective(&moved) > best);
            for b in [0usize, 7, 40] {
                let mut moved = fit.clone();
                moved.lexical[b] += step;
                assert!(objective(&moved) > best, "bucket {b}");
            }
            let mut moved = fit.clone();
            moved.intercept += step;
            assert!(objective(&moved) > best);
        }
    }

    #[test]
    fn the_word_block_finds_the_keyword_the_columns_miss() {
        let (words, x, y) = sample();
        let refs: Vec<&[u32]> = words.iter().map(Vec::as_slice).collect();
        let weights = vec![1.0; 60];
        let design = LexicalDesign::new(&refs, &weights, 4096);
        let problem = RidgeProblem::weighted(&x, &y, &weights);
        let plain = problem.solve(1e-3, &[1.0, 1.0]);
        let joint = JointDesign::new(&design, &problem, 0).solve(&problem, 1e-3, &[1.0, 1.0]);
        let error = |fit: &LinearFit| -> f64 {
            (0..60)
                .map(|i| (y[i] - fit.predict_with(&x[i], &lexical_vector(refs[i], 4096))).powi(2))
                .sum()
        };
        assert!(
            error(&joint) < 0.2 * error(&plain),
            "{} vs {}",
            error(&joint),
            error(&plain)
        );
    }
}
