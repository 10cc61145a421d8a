//! Matrix products on an int8 bundle's own integers, for CPUs with AVX-512 VNNI.
//!
//! A layer's stored matrix is `w[i][j] ≈ (b[i][j] − 128) × group[i][j / g] × column[j]`
//! ([`crate::quantize`]). The product `y[i] = Σ_j x[j] w[i][j]` then regroups as
//! `Σ_groups s[k] × group[i][k] × Σ_{j in k} (b[i][j] − 128) × a[j]`, where `a` is the input
//! times the column scales rounded to integers in −127..=127 with a scale `s[k]` per group of
//! each input row (dynamic quantisation). The inner sums are integer: `vpdpbusd` multiplies 64
//! unsigned bytes (the stored `b`, used as they are) by 64 signed ones (`a`) and adds each four
//! into one of 16 sums; `Σ 128 × a[j]` is subtracted once per group. The weights are packed so
//! that one register holds four consecutive inputs of 16 outputs, and a whole register of
//! sums belongs to 16 outputs at once: no sums across lanes.
//!
//! Only the matrix products change: everything else in the encoder stays f32. Without VNNI (or
//! off x86-64) the layer keeps its f32 matrix.

// The kernels are x86-64's; elsewhere `usable` is false and no `Int8Matrix` is ever built.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_variables))]

use crate::kernels::{lane_fold, round_small, with_wide_vectors};
use crate::products::PackedMatrix;
use crate::quantize::StoredInt8;

/// How an int8 bundle's layer matrices are multiplied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Products {
    /// As the f32 matrices the integers stand for: the same scores natively, on every CPU,
    /// and in the browser.
    #[default]
    Restored,
    /// As the stored integers, each input rounded to 8 bits, where the CPU has AVX-512 VNNI
    /// ([`usable`]; elsewhere as `Restored`): faster, and scores move by that rounding.
    Integer,
}

/// Outputs whose four-input slices fill one 64-byte register.
const BLOCK: usize = 16;
/// Outputs per tile: two blocks, so each broadcast input is used twice.
const TILE_OUTPUTS: usize = 2 * BLOCK;
/// Input rows per tile: with two blocks, eight integer and eight float accumulators.
const TILE_ROWS: usize = 4;

/// A stored int8 matrix packed for [`PackedMatrix::multiply_rows`].
pub struct Int8Matrix {
    outputs: usize,
    inputs: usize,
    group: usize,
    /// Blocks of [`BLOCK`] outputs; in each, for every four inputs, 16 × 4 bytes.
    packed: Vec<u8>,
    /// (groups × outputs): a group's scales for consecutive outputs side by side.
    group_scales: Vec<f32>,
    column_scales: Vec<f32>,
}

impl Int8Matrix {
    /// `stored` packed for this CPU's integer products, or `None` where they would not run:
    /// no AVX-512 VNNI, or a shape the tiles do not cover (outputs not a multiple of
    /// [`TILE_OUTPUTS`], groups not a multiple of four inputs).
    pub fn for_this_cpu(stored: &StoredInt8) -> Option<Int8Matrix> {
        (usable() && Self::fits(stored)).then(|| Self::pack(stored))
    }

    fn fits(stored: &StoredInt8) -> bool {
        stored.outputs > 0
            && stored.outputs.is_multiple_of(TILE_OUTPUTS)
            && stored.group.is_multiple_of(4)
            && stored.inputs.is_multiple_of(4)
    }

    fn pack(stored: &StoredInt8) -> Int8Matrix {
        let (outputs, inputs) = (stored.outputs, stored.inputs);
        let groups = stored.groups();
        let mut packed = Vec::with_capacity(outputs * inputs);
        for block in 0..outputs / BLOCK {
            for k in (0..inputs).step_by(4) {
                for o in block * BLOCK..(block + 1) * BLOCK {
                    packed.extend_from_slice(&stored.bytes[o * inputs + k..][..4]);
                }
            }
        }
        let group_scales = (0..groups)
            .flat_map(|g| (0..outputs).map(move |o| stored.group_scales[o * groups + g]))
            .collect();
        Int8Matrix {
            outputs,
            inputs,
            group: stored.group,
            packed,
            group_scales,
            column_scales: stored.column_scales.clone(),
        }
    }
}

impl PackedMatrix for Int8Matrix {
    fn shape(&self) -> (usize, usize) {
        (self.outputs, self.inputs)
    }

    /// Each input row rounded to integers ([`Activations::quantize`]), then multiplied.
    fn multiply_rows(&self, x: &[f32], bias: &[f32], out: &mut [f32]) {
        let acts = with_wide_vectors(
            #[inline(always)]
            || Activations::quantize(x, self),
        );
        // SAFETY: an `Int8Matrix` is built only where the CPU has VNNI (`for_this_cpu`).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            rows_vnni(self, &acts, bias, out)
        }
    }
}

/// Input rows as integers: per four inputs, their four signed bytes as one little-endian word
/// (broadcast whole into a register); per group of a row's inputs, a scale of its own and
/// `128 × Σ a`.
struct Activations {
    words: Vec<i32>,
    scales: Vec<f32>,
    offsets: Vec<i32>,
}

impl Activations {
    /// `x`'s rows times the column scales, each group of [`Int8Matrix::group`] inputs rounded
    /// to −127..=127 with a scale of its own: one scale per row would let a few large hidden
    /// dimensions coarsen all the rest (7 of the 150 demo essays changed level with it; the
    /// tests allow 1).
    #[inline(always)]
    fn quantize(x: &[f32], m: &Int8Matrix) -> Activations {
        let rows = x.len() / m.inputs;
        let groups = m.inputs.div_ceil(m.group);
        let mut out = Activations {
            words: Vec::with_capacity(rows * m.inputs / 4),
            scales: Vec::with_capacity(rows * groups),
            offsets: Vec::with_capacity(rows * groups),
        };
        let mut ints = vec![0i8; m.group];
        for row in x.chunks_exact(m.inputs) {
            for (part, columns) in row.chunks(m.group).zip(m.column_scales.chunks(m.group)) {
                let ints = &mut ints[..part.len()];
                let largest = lane_fold([part, columns], 0.0, |[v, c]| (v * c).abs(), f32::max);
                let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
                let inverse = 1.0 / scale;
                for ((q, &v), &c) in ints.iter_mut().zip(part).zip(columns) {
                    *q = round_small(v * c * inverse).clamp(-127, 127) as i8;
                }
                out.scales.push(scale);
                out.offsets
                    .push(128 * ints.iter().map(|&v| v as i32).sum::<i32>());
                out.words.extend(
                    ints.chunks_exact(4)
                        .map(|q| i32::from_le_bytes([q[0], q[1], q[2], q[3]].map(|b| b as u8))),
                );
            }
        }
        out
    }
}

/// Whether this CPU multiplies int8 matrices as stored: x86-64 with AVX-512 VNNI.
pub fn usable() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The product of `acts`' rows into `out` (whole rows of `m.outputs`): for each tile of
/// outputs, every tile of rows, so that the tile's weights stay in cache across the rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn rows_vnni(m: &Int8Matrix, acts: &Activations, bias: &[f32], out: &mut [f32]) {
    let rows = out.len() / m.outputs;
    for tile in 0..m.outputs / TILE_OUTPUTS {
        let mut r = 0;
        while r + TILE_ROWS <= rows {
            tile_vnni::<TILE_ROWS>(m, acts, bias, r, tile, &mut out[r * m.outputs..]);
            r += TILE_ROWS;
        }
        for r in r..rows {
            tile_vnni::<1>(m, acts, bias, r, tile, &mut out[r * m.outputs..]);
        }
    }
}

/// `ROWS` rows from `row` by outputs `tile × 32 ..`: integer sums per group, scaled and added
/// in f32 at the group's end.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn tile_vnni<const ROWS: usize>(
    m: &Int8Matrix,
    acts: &Activations,
    bias: &[f32],
    row: usize,
    tile: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (words_per_row, groups) = (m.inputs / 4, m.inputs.div_ceil(m.group));
    let block_bytes = m.inputs * BLOCK;
    let blocks = [
        &m.packed[2 * tile * block_bytes..][..block_bytes],
        &m.packed[(2 * tile + 1) * block_bytes..][..block_bytes],
    ];
    let column = tile * TILE_OUTPUTS;
    let mut sums = [[_mm512_setzero_ps(); 2]; ROWS];
    for g in 0..groups {
        let words = g * m.group / 4..((g + 1) * m.group).min(m.inputs) / 4;
        let mut ints = [[_mm512_setzero_si512(); 2]; ROWS];
        for k in words {
            let w = blocks.map(|b| _mm512_loadu_si512(b.as_ptr().add(k * 64).cast()));
            for (r, acc) in ints.iter_mut().enumerate() {
                let a = _mm512_set1_epi32(acts.words[(row + r) * words_per_row + k]);
                acc[0] = _mm512_dpbusd_epi32(acc[0], w[0], a);
                acc[1] = _mm512_dpbusd_epi32(acc[1], w[1], a);
            }
        }
        let scales = &m.group_scales[g * m.outputs + column..];
        let scale = [0, BLOCK].map(|o| _mm512_loadu_ps(scales.as_ptr().add(o)));
        for (r, (acc, sum)) in ints.iter().zip(&mut sums).enumerate() {
            let at = (row + r) * groups + g;
            let (offset, input_scale) = (
                _mm512_set1_epi32(acts.offsets[at]),
                _mm512_set1_ps(acts.scales[at]),
            );
            for h in 0..2 {
                let exact = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[h], offset));
                let both = _mm512_mul_ps(scale[h], input_scale);
                sum[h] = _mm512_fmadd_ps(exact, both, sum[h]);
            }
        }
    }
    for (r, sum) in sums.iter().enumerate() {
        for (h, &sum) in sum.iter().enumerate() {
            let at = column + h * BLOCK;
            let y = out.as_mut_ptr().add(r * m.outputs + at);
            let b = _mm512_loadu_ps(bias.as_ptr().add(at));
            _mm512_storeu_ps(y, _mm512_add_ps(_mm512_add_ps(sum, b), _mm512_loadu_ps(y)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::products::product;
    use crate::quantize::{restore, Precision};
    use candle_core::{Device, Tensor};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// A random matrix with one large input column (as BERT's hidden states have), stored at
    /// int8 as a bundle stores it, and the f32 matrix it is read back as.
    fn stored(outputs: usize, inputs: usize) -> (StoredInt8, Tensor) {
        let mut values: Vec<f32> = Tensor::randn(0f32, 0.05, outputs * inputs, &Device::Cpu)
            .unwrap()
            .to_vec1()
            .unwrap();
        values.chunks_mut(inputs).for_each(|row| row[3] *= 20.0);
        let w = Tensor::from_vec(values, (outputs, inputs), &Device::Cpu).unwrap();
        let tensors: HashMap<String, Tensor> = Precision::Int8
            .store_matrix("m", &w)
            .unwrap()
            .into_iter()
            .collect();
        let stored = StoredInt8::find(&tensors, "m", "test").unwrap().unwrap();
        let restored = restore(tensors, "test", Products::Restored)
            .unwrap()
            .remove("m")
            .unwrap();
        (stored, restored)
    }

    /// The integer product is the f32 product with the stored weights to within what rounding
    /// each group of an input row to 8 bits can change: |Δy[i]| ≤ Σ_k (s[k] / 2) Σ_{j in k}
    /// |w[i][j] / column[j]|.
    #[test]
    fn integer_product_is_the_f32_product_to_within_the_input_rounding() {
        if !usable() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        let dev = Device::Cpu;
        // 260 inputs: two groups of 128 and a short one of 4; 7 rows: a tile of 4 and 3 single.
        let (outputs, inputs, rows) = (64, 260, 7);
        let (stored, w) = stored(outputs, inputs);
        let m: Arc<dyn PackedMatrix> = Arc::new(Int8Matrix::for_this_cpu(&stored).expect("packs"));
        let x = Tensor::randn(0f32, 1.0, (rows, inputs), &dev).unwrap();
        let bias = Tensor::randn(0f32, 1.0, outputs, &dev).unwrap();
        let plain = product(&m, &x, &bias, None).unwrap();
        // A residual is added in the same pass, exactly as adding it after.
        let residual = Tensor::randn(0f32, 1.0, (rows, outputs), &dev).unwrap();
        assert_eq!(
            product(&m, &x, &bias, Some(&residual))
                .unwrap()
                .to_vec2::<f32>()
                .unwrap(),
            (&plain + &residual).unwrap().to_vec2::<f32>().unwrap()
        );
        let got = plain.to_vec2::<f32>().unwrap();
        let want = x
            .matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(&bias)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let (xs, ws) = (x.to_vec2::<f32>().unwrap(), w.to_vec2::<f32>().unwrap());
        for t in 0..rows {
            // Each group of the row is rounded to within half its step.
            let steps: Vec<f32> = xs[t]
                .chunks(stored.group)
                .zip(stored.column_scales.chunks(stored.group))
                .map(|(part, columns)| {
                    let largest = part
                        .iter()
                        .zip(columns)
                        .fold(0f32, |a, (v, c)| a.max((v * c).abs()));
                    largest / 127.0
                })
                .collect();
            for i in 0..outputs {
                let bound: f32 = ws[i]
                    .chunks(stored.group)
                    .zip(stored.column_scales.chunks(stored.group))
                    .zip(&steps)
                    .map(|((w, c), step)| {
                        step / 2.0 * w.iter().zip(c).map(|(w, c)| (w / c).abs()).sum::<f32>()
                    })
                    .sum::<f32>()
                    * 1.001
                    + 1e-4;
                let error = (got[t][i] - want[t][i]).abs();
                assert!(
                    error <= bound,
                    "row {t}, output {i}: off by {error} > {bound}"
                );
            }
        }
    }

    #[test]
    fn shapes_the_tiles_do_not_cover_keep_f32() {
        let (mut stored, _) = stored(64, 260);
        stored.outputs = 48;
        assert!(Int8Matrix::for_this_cpu(&stored).is_none());
    }
}
