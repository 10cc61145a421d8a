//! Multi-head self-attention as one CPU operation, with its backward pass.
//!
//! Candle's way — split the heads into a new tensor, one small matrix product per head on one
//! core, the weights through memory, join the heads — moved every number several times and
//! left a core idle. Here one task per sequence and head reads its head's columns once, keeps
//! its (seq × seq) weights in cache, and runs its four products through one tiled kernel.

use crate::kernels::{
    cpu_candidate, exp, lane_fold, lane_sum, larger, map_tasks, masked_softmax, multiply_add,
    values,
};
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

/// Columns of a tile: two AVX-512 registers natively; in wasm32 two simd128 ones, since V8
/// keeps only 16 of them in registers and 32 columns (eight registers a row) spilled: the
/// browser worker took 4-6% less time with 8 (16 columns by 2 rows did the same as 8 by 4).
#[cfg(not(target_arch = "wasm32"))]
const TILE_COLUMNS: usize = 32;
#[cfg(target_arch = "wasm32")]
const TILE_COLUMNS: usize = 8;
/// Rows of a tile: with [`TILE_COLUMNS`], eight accumulators, and each value of `b` loaded
/// once per four rows.
const TILE_ROWS: usize = 4;

/// A row-major matrix whose rows are padded with zeros to a multiple of [`TILE_COLUMNS`] and
/// whose row count is padded with rows of zeros to a multiple of [`TILE_ROWS`], so that the
/// product below runs whole tiles only.
struct Tiled {
    rows: usize,
    columns: usize,
    stride: usize,
    data: Vec<f32>,
}

impl Tiled {
    fn zeros(rows: usize, columns: usize) -> Tiled {
        let stride = columns.next_multiple_of(TILE_COLUMNS);
        Tiled {
            rows,
            columns,
            stride,
            data: vec![0f32; rows.next_multiple_of(TILE_ROWS) * stride],
        }
    }

    /// Row `i`'s values, without the padding.
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.stride..][..self.columns]
    }

    fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.stride..][..self.columns]
    }

    /// The `columns` columns from `first` of `rows` rows taken every `row_step` values of
    /// `from`.
    fn gather(from: &[f32], rows: usize, row_step: usize, first: usize, columns: usize) -> Tiled {
        let mut m = Tiled::zeros(rows, columns);
        for i in 0..rows {
            m.row_mut(i)
                .copy_from_slice(&from[i * row_step + first..][..columns]);
        }
        m
    }

    fn transpose(&self) -> Tiled {
        let mut t = Tiled::zeros(self.columns, self.rows);
        for i in 0..self.rows {
            for (j, &v) in self.row(i).iter().enumerate() {
                t.data[j * t.stride + i] = v;
            }
        }
        t
    }

    /// `self · other`, summing over `self`'s columns (`other` has at least as many rows).
    #[inline(always)]
    fn matmul(&self, other: &Tiled) -> Tiled {
        let mut out = Tiled::zeros(self.rows, other.columns);
        let depth = self.columns;
        for i0 in (0..self.rows).step_by(TILE_ROWS) {
            let a: [&[f32]; TILE_ROWS] =
                std::array::from_fn(|r| &self.data[(i0 + r) * self.stride..][..depth]);
            for j0 in (0..other.columns).step_by(TILE_COLUMNS) {
                let mut acc = [[0f32; TILE_COLUMNS]; TILE_ROWS];
                for d in 0..depth {
                    let b: &[f32; TILE_COLUMNS] = other.data[d * other.stride + j0..]
                        [..TILE_COLUMNS]
                        .try_into()
                        .expect("a whole tile");
                    for (acc_row, a_row) in acc.iter_mut().zip(a) {
                        let av = a_row[d];
                        for (c, &bv) in acc_row.iter_mut().zip(b) {
                            *c = multiply_add(av, bv, *c);
                        }
                    }
                }
                for (r, acc_row) in acc.iter().enumerate() {
                    out.data[(i0 + r) * out.stride + j0..][..TILE_COLUMNS].copy_from_slice(acc_row);
                }
            }
        }
        out
    }
}

/// One attention head of one sequence, read from the (batch, seq, 3·width) projections: the
/// queries already scaled by 1/√size.
struct Head {
    query: Tiled,
    key: Tiled,
    value: Tiled,
}

impl Head {
    #[inline(always)]
    fn gather(
        qkv: &[f32],
        seq: usize,
        width: usize,
        sequence: usize,
        head: usize,
        size: usize,
    ) -> Head {
        let rows = &qkv[sequence * seq * 3 * width..][..seq * 3 * width];
        let part =
            |which: usize| Tiled::gather(rows, seq, 3 * width, which * width + head * size, size);
        let mut query = part(0);
        let scale = 1.0 / (size as f32).sqrt();
        query.data.iter_mut().for_each(|v| *v *= scale);
        Head {
            query,
            key: part(1),
            value: part(2),
        }
    }

    /// The attention weights (seq × seq): row i is `softmax(qᵢ·kᵀ + mask)`.
    #[inline(always)]
    fn weights(&self, mask: &[f32]) -> Tiled {
        let mut weights = self.query.matmul(&self.key.transpose());
        for i in 0..weights.rows {
            let row = weights.row_mut(i);
            row.iter_mut().zip(mask).for_each(|(r, &m)| *r += m);
            let max = lane_fold([&*row], f32::NEG_INFINITY, |[v]| v, larger);
            row.iter_mut().for_each(|r| *r = exp(*r - max));
            let inv = 1.0 / lane_sum([&*row], |[v]| v);
            row.iter_mut().for_each(|r| *r *= inv);
        }
        weights
    }
}

/// Shapes of an attention input: (batch, seq, 3·width) split into `heads`.
struct Dims {
    batch: usize,
    seq: usize,
    width: usize,
    heads: usize,
    size: usize,
}

impl Dims {
    fn of(qkv: &Layout, heads: usize) -> Result<Dims> {
        let &[batch, seq, triple] = qkv.dims() else {
            bail!("cyborg-attention: qkv must be (batch, seq, 3·width)");
        };
        if heads == 0 || triple % (3 * heads) != 0 {
            bail!("cyborg-attention: {triple} columns do not split into 3 × {heads} heads");
        }
        Ok(Dims {
            batch,
            seq,
            width: triple / 3,
            heads,
            size: triple / 3 / heads,
        })
    }

    /// Runs `task(sequence, head)` for every pair, on every core natively, and writes each
    /// one's parts (seq × size each) into that head's columns of each part of a (batch, seq,
    /// parts·width) output.
    fn per_head<const PARTS: usize>(
        &self,
        task: impl Fn(usize, usize) -> [Tiled; PARTS] + Send + Sync,
    ) -> Vec<f32> {
        let blocks = map_tasks(
            self.batch * self.heads,
            #[inline(always)]
            |t| task(t / self.heads, t % self.heads),
        );
        let row_len = PARTS * self.width;
        let mut out = vec![0f32; self.batch * self.seq * row_len];
        for (t, parts) in blocks.iter().enumerate() {
            let (sequence, head) = (t / self.heads, t % self.heads);
            let rows = &mut out[sequence * self.seq * row_len..][..self.seq * row_len];
            for (p, part) in parts.iter().enumerate() {
                let column = p * self.width + head * self.size;
                for (i, row) in rows.chunks_exact_mut(row_len).enumerate() {
                    row[column..column + self.size].copy_from_slice(part.row(i));
                }
            }
        }
        out
    }
}

/// `softmax(q·kᵀ/√size + mask)·v` per head; see [`attention`].
struct Attention {
    heads: usize,
}

impl CustomOp2 for Attention {
    fn name(&self) -> &'static str {
        "cyborg-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (qkv, mask) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?);
        let dims = Dims::of(l1, self.heads)?;
        let (seq, width, size) = (dims.seq, dims.width, dims.size);
        let out = dims.per_head(
            #[inline(always)]
            |sequence, head| {
                let h = Head::gather(qkv, seq, width, sequence, head, size);
                [h.weights(&mask[sequence * seq..][..seq]).matmul(&h.value)]
            },
        );
        Ok((CpuStorage::F32(out), Shape::from((dims.batch, seq, width))))
    }

    fn bwd(
        &self,
        qkv: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let backward = AttentionBackward { heads: self.heads };
        let grads = qkv.apply_op3_no_bwd(mask, &grad.contiguous()?, &backward)?;
        Ok((Some(grads), None))
    }
}

/// The gradient of [`Attention`] with respect to its (batch, seq, 3·width) input, given the
/// gradient of its output. The weights are computed again rather than kept from the forward
/// pass (seq² numbers per head, for every layer being trained).
struct AttentionBackward {
    heads: usize,
}

impl CustomOp3 for AttentionBackward {
    fn name(&self) -> &'static str {
        "cyborg-attention-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (qkv, mask) = (values(s1, l1, name)?, values(s2, l2, name)?);
        let grad = values(s3, l3, name)?;
        let dims = Dims::of(l1, self.heads)?;
        let (seq, width, size) = (dims.seq, dims.width, dims.size);
        let out = dims.per_head(
            #[inline(always)]
            |sequence, head| {
                let h = Head::gather(qkv, seq, width, sequence, head, size);
                let weights = h.weights(&mask[sequence * seq..][..seq]);
                let d_out = Tiled::gather(
                    &grad[sequence * seq * width..],
                    seq,
                    width,
                    head * size,
                    size,
                );
                // With weights P = softmax(S), S = q·kᵀ (q scaled), and output O = P·v:
                // dv = Pᵀ·dO; dP = dO·vᵀ; dS = P ⊙ (dP − rowsum(P ⊙ dP)); dq = dS·k; dk = dSᵀ·q.
                let d_value = weights.transpose().matmul(&d_out);
                let mut d_scores = d_out.matmul(&h.value.transpose());
                for i in 0..seq {
                    let p = weights.row(i);
                    let ds = d_scores.row_mut(i);
                    let dot = lane_sum([p, &*ds], |[a, b]| a * b);
                    ds.iter_mut()
                        .zip(p)
                        .for_each(|(d, &pv)| *d = pv * (*d - dot));
                }
                let mut d_query = d_scores.matmul(&h.key);
                // q was scaled before the product, so its gradient is scaled once more.
                let scale = 1.0 / (size as f32).sqrt();
                d_query.data.iter_mut().for_each(|v| *v *= scale);
                let d_key = d_scores.transpose().matmul(&h.query);
                [d_query, d_key, d_value]
            },
        );
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Multi-head self-attention over `qkv`, the query, key and value projections side by side
/// (batch, seq, 3·width): `softmax(q·kᵀ/√size + mask_bias + position_bias)·v` per head, the
/// heads' outputs side by side (batch, seq, width). `mask_bias` is (batch, seq);
/// `position_bias` MPNet's (1, heads, seq, seq), which takes candle's operations, as do
/// devices other than the CPU. Differentiable in `qkv` (and in the position bias).
pub fn attention(
    qkv: &Tensor,
    mask_bias: &Tensor,
    position_bias: Option<&Tensor>,
    heads: usize,
) -> Result<Tensor> {
    if position_bias.is_none() && cpu_candidate(qkv) && cpu_candidate(mask_bias) {
        return qkv
            .contiguous()?
            .apply_op2(&mask_bias.contiguous()?, Attention { heads });
    }
    let (batch, seq, triple) = qkv.dims3()?;
    let (width, size) = (triple / 3, triple / 3 / heads);
    let part = |which: usize| -> Result<Tensor> {
        qkv.narrow(2, which * width, width)?
            .reshape((batch, seq, heads, size))?
            .transpose(1, 2)?
            .contiguous()
    };
    let query = (part(0)? / (size as f64).sqrt())?;
    let mut scores = query.matmul(&part(1)?.t()?.contiguous()?)?;
    if let Some(bias) = position_bias {
        scores = scores.broadcast_add(bias)?;
    }
    masked_softmax(&scores, mask_bias)?
        .matmul(&part(2)?)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((batch, seq, width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::largest_difference;
    use candle_core::{DType, Device, Var};

    /// The fused attention and its gradient agree with candle's operations (the path MPNet's
    /// position bias takes, here with a bias of zeros), with padding in one sequence and a
    /// length that fills no tile.
    #[test]
    fn attention_and_its_gradient_match_candle() {
        let dev = Device::Cpu;
        let (batch, seq, heads, size) = (2, 37, 3, 8);
        let width = heads * size;
        let qkv = Tensor::randn(0f32, 1.5, (batch, seq, 3 * width), &dev).unwrap();
        let qkv = Var::from_tensor(&qkv).unwrap();
        let mask: Vec<f32> = (0..batch * seq)
            .map(|i| if i >= seq + 30 { f32::MIN } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(mask, (batch, seq), &dev).unwrap();
        let zero_bias = Tensor::zeros((1, heads, seq, seq), DType::F32, &dev).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (batch, seq, width), &dev).unwrap();
        let fused = attention(&qkv, &mask, None, heads).unwrap();
        let reference = attention(&qkv, &mask, Some(&zero_bias), heads).unwrap();
        let difference = largest_difference(&fused, &reference);
        assert!(difference < 1e-5, "outputs differ by {difference}");
        let gradient = |out: Tensor| {
            let grads = (out * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            grads.get(&qkv).expect("a gradient for qkv").clone()
        };
        let difference = largest_difference(&gradient(fused), &gradient(reference));
        assert!(difference < 1e-4, "gradients differ by {difference}");
    }
}
