//! Fused CPU kernels for the encoder's row-wise work — layer normalisation, masked softmax,
//! GELU, bias addition — each with its backward pass, so training and scoring run the same code.
//!
//! Candle's generic operations make one pass over memory per elementary step and call a
//! scalar `exp`/`erf` per element; on this encoder that was more time than the matrix
//! products. Here each operation is one pass, and `exp` and `erf` are branch-free polynomials
//! that the compiler vectorises (AVX-512 natively, simd128 in the browser). Other devices use
//! candle's operations.

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, D,
};

/// `x` (|x| < 2²²) rounded to the nearest integer, ties to even. Adding 1.5·2²³ rounds, and
/// leaves the integer in the low mantissa bits: no `round` or `floor` call (library calls on
/// baseline x86-64 that stop vectorisation) and no saturating conversion (which vectorises
/// badly).
#[inline(always)]
pub(crate) fn round_small(x: f32) -> i32 {
    const ROUNDER: f32 = 12_582_912.0;
    (x + ROUNDER).to_bits().wrapping_sub(ROUNDER.to_bits()) as i32
}

/// `e^x` to within about 2 ulp, as Cephes' `expf`: `2^n · p(r)` with `x = n·ln 2 + r`.
/// Below -87 it is exactly 0, as a masked attention weight must be: a tiny non-zero value
/// would breed subnormal numbers downstream, which x86 processors compute very slowly.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let underflow = x < -87.0;
    let x = x.clamp(-87.0, 88.0);
    let n_bits = round_small(x * std::f32::consts::LOG2_E);
    let n = n_bits as f32;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let value = e * f32::from_bits(((n_bits + 127) << 23) as u32);
    if underflow {
        0.0
    } else {
        value
    }
}

/// The larger of `a` and `b` (`b` if either is NaN): a compare and a select, which vectorise
/// everywhere. `f32::max`'s rule for NaN became a library call per value in wasm32: 9% of the
/// browser worker's time, in attention's softmax.
#[inline(always)]
pub(crate) fn larger(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// Lanes of the partial sums in [`lane_fold`]: enough for AVX-512, and several vectors'
/// worth on narrower machines.
const LANES: usize = 16;

/// Folds `term` over equally long slices with `combine`, keeping [`LANES`] partial results so
/// that the compiler can vectorise what a single running total would serialise.
#[inline(always)]
pub(crate) fn lane_fold<const N: usize>(
    inputs: [&[f32]; N],
    init: f32,
    term: impl Fn([f32; N]) -> f32,
    combine: impl Fn(f32, f32) -> f32,
) -> f32 {
    let len = inputs.iter().map(|s| s.len()).min().unwrap_or(0);
    let whole = len - len % LANES;
    let mut partial = [init; LANES];
    for start in (0..whole).step_by(LANES) {
        let chunks: [&[f32; LANES]; N] = std::array::from_fn(|k| {
            inputs[k][start..start + LANES]
                .try_into()
                .expect("a whole chunk")
        });
        for (lane, acc) in partial.iter_mut().enumerate() {
            *acc = combine(*acc, term(std::array::from_fn(|k| chunks[k][lane])));
        }
    }
    let total = partial.into_iter().fold(init, &combine);
    (whole..len).fold(total, |t, i| {
        combine(t, term(std::array::from_fn(|k| inputs[k][i])))
    })
}

/// `Σ term(a_i, b_i, …)`, vectorisable.
#[inline(always)]
pub(crate) fn lane_sum<const N: usize>(inputs: [&[f32]; N], term: impl Fn([f32; N]) -> f32) -> f32 {
    lane_fold(inputs, 0.0, term, |a, b| a + b)
}

/// The error function to within 1.5e-7 (Abramowitz & Stegun 7.1.26).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    (1.0 - poly * exp(-a * a)).copysign(x)
}

/// The exact GELU, `x·Φ(x)`.
#[inline(always)]
fn gelu_value(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `d/dx x·Φ(x) = Φ(x) + x·φ(x)`.
#[inline(always)]
fn gelu_slope(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x)
}

/// A contiguous f32 tensor's values.
pub(crate) fn values<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        bail!("{op}: only f32 tensors are supported");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{op}: the input must be contiguous"),
    }
}

/// Runs `f` compiled for the widest vectors the processor has: AVX-512, else AVX2, each with
/// fused multiply-add. The native build targets baseline x86-64, whose 128-bit vectors would
/// leave most of each register idle in the loops below; `f` is inlined here and vectorised
/// again for the wider registers. That holds only if every closure between here and the
/// loops is `#[inline(always)]`: a closure compiled on its own keeps the baseline's vectors.
/// [`multiply_add`] relies on the fused multiply-add of both tiers.
#[inline(always)]
pub(crate) fn with_wide_vectors<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        fn avx512<T>(f: impl FnOnce() -> T) -> T {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<T>(f: impl FnOnce() -> T) -> T {
            f()
        }
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512vl") && has!("fma") {
            // SAFETY: the processor was just found to have every feature `avx512` enables.
            return unsafe { avx512(f) };
        }
        if has!("avx2") && has!("fma") {
            // SAFETY: as above, for `avx2`.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// `a · b + c`, in one rounding where [`with_wide_vectors`] found fused multiply-add (twice
/// the products per cycle of a multiply and an add), in two elsewhere: without the
/// instruction a fused one is a slow library call, and so is every one in wasm32.
#[inline(always)]
pub(crate) fn multiply_add(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        a.mul_add(b, c)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        a * b + c
    }
}

/// Runs `task` for `0..count`, on every core natively, and returns the results in order.
pub(crate) fn map_tasks<T: Send>(count: usize, task: impl Fn(usize) -> T + Send + Sync) -> Vec<T> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        (0..count)
            .into_par_iter()
            .map(|i| {
                with_wide_vectors(
                    #[inline(always)]
                    || task(i),
                )
            })
            .collect()
    }
    #[cfg(target_arch = "wasm32")]
    {
        (0..count).map(task).collect()
    }
}

/// Calls `f(first_row, chunk)` on chunks of whole rows of `out`, on every core natively.
pub(crate) fn for_row_chunks(
    out: &mut [f32],
    row_len: usize,
    f: impl Fn(usize, &mut [f32]) + Send + Sync,
) {
    let rows = out.len() / row_len.max(1);
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        let per_chunk = rows.div_ceil(4 * rayon::current_num_threads()).max(1);
        out.par_chunks_mut(per_chunk * row_len)
            .enumerate()
            .for_each(|(i, chunk)| {
                with_wide_vectors(
                    #[inline(always)]
                    || f(i * per_chunk, chunk),
                )
            });
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = rows;
        f(0, out);
    }
}

/// Rows per partial sum in [`sum_over_rows`].
const ROWS_PER_PART: usize = 64;

/// The sum of `add(row, into)` over `rows`, each adding its share into a `len`-long total;
/// on every core natively. The rows are summed in fixed parts of [`ROWS_PER_PART`], and the
/// parts in order, so the total is the same whatever the threads or how they share the work
/// (a work-stealing fold and reduce would round differently from run to run).
fn sum_over_rows(
    rows: usize,
    len: usize,
    add: impl Fn(usize, &mut [f32]) + Send + Sync,
) -> Vec<f32> {
    let partials = map_tasks(
        rows.div_ceil(ROWS_PER_PART),
        #[inline(always)]
        |part| {
            let mut total = vec![0f32; len];
            let first = part * ROWS_PER_PART;
            for r in first..(first + ROWS_PER_PART).min(rows) {
                add(r, &mut total);
            }
            total
        },
    );
    let mut total = vec![0f32; len];
    for partial in partials {
        total.iter_mut().zip(partial).for_each(|(t, p)| *t += p);
    }
    total
}

/// The largest absolute difference between two tensors of one shape: how the kernels' tests
/// compare them with candle's operations.
#[cfg(test)]
pub(crate) fn largest_difference(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
        .unwrap()
}

pub(crate) fn cpu_candidate(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "cyborg-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(storage, layout, self.name())?;
        let mut y = vec![0f32; x.len()];
        for_row_chunks(
            &mut y,
            1024,
            #[inline(always)]
            |first, out| {
                let start = first * 1024;
                let end = start + out.len();
                for (o, &v) in out.iter_mut().zip(&x[start..end]) {
                    *o = gelu_value(v);
                }
            },
        );
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            x.apply_op2_no_bwd(&grad.contiguous()?, &GeluBackward)?,
        ))
    }
}

struct GeluBackward;

impl CustomOp2 for GeluBackward {
    fn name(&self) -> &'static str {
        "cyborg-gelu-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?);
        let mut dx = vec![0f32; x.len()];
        for_row_chunks(
            &mut dx,
            1024,
            #[inline(always)]
            |first, out| {
                let start = first * 1024;
                let end = start + out.len();
                for ((o, &v), &gv) in out.iter_mut().zip(&x[start..end]).zip(&g[start..end]) {
                    *o = gv * gelu_slope(v);
                }
            },
        );
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// The exact GELU of `x`, differentiable.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if cpu_candidate(x) {
        x.contiguous()?.apply_op1(Gelu)
    } else {
        x.gelu_erf()
    }
}

struct MaskedSoftmax;

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "cyborg-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let scores = values(s1, l1, self.name())?;
        let bias = values(s2, l2, self.name())?;
        let width = l1.dims().last().copied().unwrap_or(1);
        let batches = l2.dims()[0];
        let rows = scores.len() / width;
        let rows_per_batch = rows / batches;
        let mut out = vec![0f32; scores.len()];
        for_row_chunks(
            &mut out,
            width,
            #[inline(always)]
            |first, chunk| {
                for (i, row) in chunk.chunks_exact_mut(width).enumerate() {
                    let r = first + i;
                    let x = &scores[r * width..(r + 1) * width];
                    let b = &bias[(r / rows_per_batch) * width..][..width];
                    let max = lane_fold(
                        [x, b],
                        f32::NEG_INFINITY,
                        |[xv, bv]| xv + bv,
                        |m, v| if v > m { v } else { m },
                    );
                    for ((o, &xv), &bv) in row.iter_mut().zip(x).zip(b) {
                        *o = exp(xv + bv - max);
                    }
                    let inv = 1.0 / lane_sum([row], |[v]| v);
                    row.iter_mut().for_each(|o| *o *= inv);
                }
            },
        );
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            Some(res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxBackward)?),
            None,
        ))
    }
}

struct SoftmaxBackward;

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "cyborg-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, g) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?);
        let width = l1.dims().last().copied().unwrap_or(1);
        let mut dx = vec![0f32; y.len()];
        for_row_chunks(
            &mut dx,
            width,
            #[inline(always)]
            |first, chunk| {
                for (i, row) in chunk.chunks_exact_mut(width).enumerate() {
                    let at = (first + i) * width;
                    let (yr, gr) = (&y[at..at + width], &g[at..at + width]);
                    let dot = lane_sum([yr, gr], |[a, b]| a * b);
                    for ((o, &yv), &gv) in row.iter_mut().zip(yr).zip(gr) {
                        *o = yv * (gv - dot);
                    }
                }
            },
        );
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// `softmax(scores + bias)` over the last dimension, where `bias` is (batch, width) and the
/// rows of `scores` (batch, …, width) take the bias row of their batch. Differentiable in
/// `scores`.
pub fn masked_softmax(scores: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if cpu_candidate(scores) && cpu_candidate(bias) {
        return scores
            .contiguous()?
            .apply_op2(&bias.contiguous()?, MaskedSoftmax);
    }
    let (batch, width) = bias.dims2()?;
    let mut shape = vec![batch];
    shape.extend(std::iter::repeat_n(1, scores.rank() - 2));
    shape.push(width);
    let biased = scores.broadcast_add(&bias.reshape(shape)?)?;
    candle_nn::ops::softmax(&biased, D::Minus1)
}

struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "cyborg-add-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, bias) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?);
        let width = bias.len();
        let mut out = vec![0f32; x.len()];
        for_row_chunks(
            &mut out,
            width,
            #[inline(always)]
            |first, chunk| {
                let x = &x[first * width..][..chunk.len()];
                for (row, xr) in chunk.chunks_exact_mut(width).zip(x.chunks_exact(width)) {
                    for ((o, &xv), &bv) in row.iter_mut().zip(xr).zip(bias) {
                        *o = xv + bv;
                    }
                }
            },
        );
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let bias_grad = grad.contiguous()?.apply_op1_no_bwd(&ColumnSums)?;
        Ok((Some(grad.clone()), Some(bias_grad.reshape(bias.shape())?)))
    }
}

/// Sums a (rows, width) matrix over its rows.
struct ColumnSums;

impl CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "cyborg-column-sums"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(storage, layout, self.name())?;
        let width = layout.dims().last().copied().unwrap_or(1);
        let rows = x.len() / width.max(1);
        let sums = sum_over_rows(
            rows,
            width,
            #[inline(always)]
            |r, total| {
                for (t, &v) in total.iter_mut().zip(&x[r * width..][..width]) {
                    *t += v;
                }
            },
        );
        Ok((CpuStorage::F32(sums), Shape::from(width)))
    }
}

/// `x + bias`, with `bias` (width) added to every row of `x` (…, width); differentiable in
/// both.
pub fn add_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if cpu_candidate(x) && cpu_candidate(bias) && bias.rank() == 1 {
        return x.contiguous()?.apply_op2(&bias.contiguous()?, AddBias);
    }
    x.broadcast_add(bias)
}

struct LayerNorm {
    eps: f32,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "cyborg-layer-norm"
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
        let x = values(s1, l1, self.name())?;
        let (w, b) = (values(s2, l2, self.name())?, values(s3, l3, self.name())?);
        let width = w.len();
        let mut out = vec![0f32; x.len()];
        for_row_chunks(
            &mut out,
            width,
            #[inline(always)]
            |first, chunk| {
                for (i, row) in chunk.chunks_exact_mut(width).enumerate() {
                    let xr = &x[(first + i) * width..][..width];
                    let (mean, rstd) = moments(xr, self.eps);
                    for (((o, &xv), &wv), &bv) in row.iter_mut().zip(xr).zip(w).zip(b) {
                        *o = (xv - mean) * rstd * wv + bv;
                    }
                }
            },
        );
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let width = w.dim(0)?;
        let rows = x.elem_count() / width;
        let packed =
            x.apply_op3_no_bwd(w, &grad.contiguous()?, &LayerNormBackward { eps: self.eps })?;
        let dx = packed.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dw = packed.narrow(0, rows, 1)?.reshape(width)?;
        let db = packed.narrow(0, rows + 1, 1)?.reshape(width)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// Mean and 1/standard deviation of a row (two passes, for accuracy).
#[inline(always)]
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = lane_sum([row], |[v]| v) / n;
    let variance = lane_sum([row], |[v]| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (variance + eps).sqrt())
}

/// Gradients of layer normalisation, packed as rows `dx…`, then `dw`, then `db`.
struct LayerNormBackward {
    eps: f32,
}

impl CustomOp3 for LayerNormBackward {
    fn name(&self) -> &'static str {
        "cyborg-layer-norm-backward"
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
        let x = values(s1, l1, self.name())?;
        let (w, g) = (values(s2, l2, self.name())?, values(s3, l3, self.name())?);
        let width = w.len();
        let rows = x.len() / width;
        let mut out = vec![0f32; (rows + 2) * width];
        let (dx, sums) = out.split_at_mut(rows * width);
        for_row_chunks(
            dx,
            width,
            #[inline(always)]
            |first, chunk| {
                for (i, row) in chunk.chunks_exact_mut(width).enumerate() {
                    let at = (first + i) * width;
                    let (xr, gr) = (&x[at..at + width], &g[at..at + width]);
                    let (mean, rstd) = moments(xr, self.eps);
                    // With x̂ = (x - mean)·rstd and g' = g·w:
                    // dx = rstd · (g' - mean(g') - x̂ · mean(g'·x̂)).
                    let mean_g = lane_sum([gr, w], |[gv, wv]| gv * wv) / width as f32;
                    let mean_gx = lane_sum([xr, gr, w], |[xv, gv, wv]| gv * wv * (xv - mean))
                        * rstd
                        / width as f32;
                    for (((o, &xv), &gv), &wv) in row.iter_mut().zip(xr).zip(gr).zip(w) {
                        let xhat = (xv - mean) * rstd;
                        *o = rstd * (gv * wv - mean_g - xhat * mean_gx);
                    }
                }
            },
        );
        sums.copy_from_slice(&sum_over_rows(
            rows,
            2 * width,
            #[inline(always)]
            |r, total| {
                let (dw, db) = total.split_at_mut(width);
                let (xr, gr) = (&x[r * width..][..width], &g[r * width..][..width]);
                let (mean, rstd) = moments(xr, self.eps);
                for (((dwv, dbv), &xv), &gv) in dw.iter_mut().zip(db.iter_mut()).zip(xr).zip(gr) {
                    *dwv += gv * (xv - mean) * rstd;
                    *dbv += gv;
                }
            },
        ));
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, width))))
    }
}

/// Layer normalisation of the last dimension of `x` with scale `weight` and shift `bias`,
/// differentiable in all three.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if cpu_candidate(x) && cpu_candidate(weight) && cpu_candidate(bias) {
        return x
            .contiguous()?
            .apply_op3(weight, bias, LayerNorm { eps: eps as f32 });
    }
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred
        .broadcast_div(&(variance + eps)?.sqrt()?)?
        .broadcast_mul(weight)?
        .broadcast_add(bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn exp_and_erf_match_the_standard_library() {
        let mut worst = 0f64;
        for i in -2000..=2000 {
            let x = i as f32 * 0.01;
            let e = exp(x);
            assert!(
                (e - x.exp()).abs() <= 3e-7 * x.exp(),
                "exp({x}) = {e}, std {}",
                x.exp()
            );
            let reference = libm_erf(x as f64);
            worst = worst.max((erf(x) as f64 - reference).abs());
        }
        eprintln!("worst erf error {worst:e}");
        assert!(worst < 4e-7, "erf is off by {worst}");
        assert_eq!(exp(-87.5), 0.0);
        assert_eq!(exp(f32::MIN), 0.0);
    }

    /// erf by its Maclaurin series (|x| ≤ 3) or its asymptotic complement, in f64.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() > 3.0 {
            let a = x.abs();
            let mut term = 1.0;
            let mut sum = 1.0;
            for n in 1..8 {
                term *= -((2 * n - 1) as f64) / (2.0 * a * a);
                sum += term;
            }
            let erfc = (-a * a).exp() / (a * std::f64::consts::PI.sqrt()) * sum;
            return (1.0 - erfc).copysign(x);
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    }

    fn close(a: &Tensor, b: &Tensor, tolerance: f32) {
        let diff = largest_difference(a, b);
        assert!(diff < tolerance, "differ by {diff}");
    }

    /// Gradient sums over rows come out bit for bit the same with one, two or three threads,
    /// and run after run: training repeats exactly. (Native only: wasm has one thread.)
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn sums_over_rows_do_not_depend_on_the_threads() {
        let (rows, len) = (5000, 48);
        let x: Vec<f32> = (0..rows * len)
            .map(|i| {
                ((i * 7919 % 10007) as f32 / 10007.0 - 0.5) * 1e3f32.powf((i % 5) as f32 / 4.0)
            })
            .collect();
        let sums = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                sum_over_rows(rows, len, |r, total| {
                    for (t, &v) in total.iter_mut().zip(&x[r * len..][..len]) {
                        *t += v;
                    }
                })
            })
        };
        let one = sums(1);
        for threads in [2, 3, 2, 3, 2] {
            assert_eq!(sums(threads), one, "{threads} threads");
        }
        let exact: Vec<f64> = (0..len)
            .map(|c| (0..rows).map(|r| x[r * len + c] as f64).sum())
            .collect();
        for (ours, exact) in one.iter().zip(exact) {
            assert!(
                (*ours as f64 - exact).abs() < 1e-3 * exact.abs().max(1e3),
                "{ours} against {exact}"
            );
        }
    }

    /// Each fused operation and its gradients agree with candle's own operations.
    #[test]
    fn kernels_and_gradients_match_candle() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 2.0, (3, 5, 40), &dev).unwrap())).unwrap();
        let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, 40, &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, 40, &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (3, 5, 40), &dev).unwrap();
        let bias_values: Vec<f32> = (0..3 * 40)
            .map(|i| if i % 7 == 3 { f32::MIN } else { 0.0 })
            .collect();
        let bias = Tensor::from_vec(bias_values, (3, 40), &dev).unwrap();
        type Op<'a> = Box<dyn Fn(&Tensor) -> Tensor + 'a>;
        let cases: Vec<(Op, Op)> = vec![
            (
                Box::new(|x| gelu(x).unwrap()),
                Box::new(|x| x.gelu_erf().unwrap()),
            ),
            (
                Box::new(|x| layer_norm(x, &w, &b, 1e-12).unwrap()),
                Box::new(|x| {
                    let m = x.mean_keepdim(D::Minus1).unwrap();
                    let c = x.broadcast_sub(&m).unwrap();
                    let v = c.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
                    c.broadcast_div(&(v + 1e-12).unwrap().sqrt().unwrap())
                        .unwrap()
                        .broadcast_mul(&w)
                        .unwrap()
                        .broadcast_add(&b)
                        .unwrap()
                }),
            ),
            (
                Box::new(|x| add_bias(x, &b).unwrap()),
                Box::new(|x| x.broadcast_add(&b).unwrap()),
            ),
            (
                Box::new(|x| masked_softmax(x, &bias).unwrap()),
                Box::new(|x| {
                    let biased = x.broadcast_add(&bias.reshape((3, 1, 40)).unwrap()).unwrap();
                    candle_nn::ops::softmax(&biased, D::Minus1).unwrap()
                }),
            ),
        ];
        for (ours, theirs) in cases {
            let (a, b_) = (ours(&x), theirs(&x));
            close(&a, &b_, 1e-5);
            let ga = (a * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let gb = (b_ * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for var in [&x, &w, &b] {
                if let (Some(da), Some(db)) = (ga.get(var), gb.get(var)) {
                    close(da, db, 1e-4);
                }
            }
            assert!(ga.get(&x).is_some());
        }
    }
}
