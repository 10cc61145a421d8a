//! Matrix products on an int8 bundle's own integers: AVX-512 VNNI natively, simd128 in the
//! browser.
//!
//! A layer's stored matrix is `w[i][j] ≈ (b[i][j] − 128) × group[i][j / g] × column[j]`
//! ([`crate::quantize`]). The product `y[i] = Σ_j x[j] w[i][j]` then regroups as
//! `Σ_groups s[k] × group[i][k] × Σ_{j in k} (b[i][j] − 128) × a[j]`, where `a` is the input
//! times the column scales rounded to integers with a scale `s[k]` per group of each input row
//! (dynamic quantisation). The inner sums are exact integers; only they are computed
//! differently by each instruction set:
//!
//! - AVX-512 VNNI: `vpdpbusd` multiplies 64 unsigned bytes (the stored `b`, used as they are)
//!   by 64 signed ones (`a`, rounded to −127..=127) and adds each four into one of 16 sums;
//!   `Σ 128 × a[j]` is subtracted once per group. One register holds four consecutive inputs
//!   of 16 outputs.
//! - simd128: `i32x4.dot_i16x8_s` multiplies eight 16-bit pairs and adds each two into one of
//!   four sums, so the weights are stored as `b − 128` in 16 bits and the inputs are rounded
//!   to 16 bits as well (to ±32,767, fewer where a group is long enough for its sums to
//!   overflow): the rounding of the inputs then changes scores far less than 8 bits do. One
//!   register holds two consecutive inputs of four outputs.
//!
//! A whole register of sums belongs to consecutive outputs: no sums across lanes. Only the
//! matrix products change: everything else in the encoder stays f32. Elsewhere (no VNNI, no
//! simd128) the layer keeps its f32 matrix.

// The kernels are x86-64's and wasm32's; elsewhere `usable` is false and no `Int8Matrix` is
// ever built.
#![cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "wasm32")),
    allow(dead_code, unused_variables)
)]

use crate::kernels::{lane_fold, larger, round_small, with_wide_vectors};
use crate::products::PackedMatrix;
use crate::quantize::StoredInt8;

/// How an int8 bundle's layer matrices are multiplied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Products {
    /// As the f32 matrices the integers stand for: the same scores natively, on every CPU,
    /// and in the browser.
    #[default]
    Restored,
    /// As the stored integers, each input rounded to 8 bits where the CPU has AVX-512 VNNI,
    /// or to 16 bits in wasm32 with simd128 ([`usable`]; elsewhere as `Restored`): faster,
    /// and scores move by that rounding.
    Integer,
}

/// A stored int8 matrix packed for [`PackedMatrix::multiply_rows`].
pub struct Int8Matrix {
    outputs: usize,
    inputs: usize,
    group: usize,
    /// Inputs are rounded to `−levels..=levels`.
    levels: i32,
    /// Tiles of [`isa::TILE_OUTPUTS`] outputs, laid out as the instruction set reads them.
    packed: Vec<isa::Weight>,
    /// (groups × outputs): a group's scales for consecutive outputs side by side.
    group_scales: Vec<f32>,
    column_scales: Vec<f32>,
}

impl Int8Matrix {
    /// `stored` packed for this CPU's integer products, or `None` where they would not run:
    /// no AVX-512 VNNI or simd128, or a shape the tiles do not cover (outputs not a multiple
    /// of [`isa::TILE_OUTPUTS`], groups or inputs not a multiple of [`isa::PER_WORD`]).
    pub fn for_this_cpu(stored: &StoredInt8) -> Option<Int8Matrix> {
        (usable() && Self::fits(stored)).then(|| {
            let groups = stored.groups();
            Int8Matrix {
                outputs: stored.outputs,
                inputs: stored.inputs,
                group: stored.group,
                levels: isa::levels(stored.group),
                packed: isa::pack(stored),
                group_scales: (0..groups)
                    .flat_map(|g| {
                        (0..stored.outputs).map(move |o| stored.group_scales[o * groups + g])
                    })
                    .collect(),
                column_scales: stored.column_scales.clone(),
            }
        })
    }

    fn fits(stored: &StoredInt8) -> bool {
        stored.outputs > 0
            && stored.outputs.is_multiple_of(isa::TILE_OUTPUTS)
            && stored.group.is_multiple_of(isa::PER_WORD)
            && stored.inputs.is_multiple_of(isa::PER_WORD)
    }

    /// Input words per row.
    fn words(&self) -> usize {
        self.inputs / isa::PER_WORD
    }

    fn groups(&self) -> usize {
        self.inputs.div_ceil(self.group)
    }

    /// The words of group `g` of a row.
    fn group_words(&self, g: usize) -> std::ops::Range<usize> {
        g * self.group / isa::PER_WORD..((g + 1) * self.group).min(self.inputs) / isa::PER_WORD
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
        // SAFETY: an `Int8Matrix` is built only where `usable` found the kernel's instructions.
        #[cfg(any(target_arch = "x86_64", target_arch = "wasm32"))]
        unsafe {
            isa::rows(self, &acts, bias, out)
        }
    }
}

/// Input rows as integers, row after row (each [`isa::PER_WORD`] of them read as one word and
/// broadcast whole into a register); per group of a row's inputs, a scale of its own and
/// `isa::OFFSET × Σ a`.
struct Activations {
    ints: Vec<isa::Input>,
    scales: Vec<f32>,
    /// Empty where `isa::OFFSET` is 0 (simd128's signed weights need none).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    offsets: Vec<i32>,
}

impl Activations {
    /// Word `k` of row `r`.
    #[inline(always)]
    fn word(&self, r: usize, k: usize, words_per_row: usize) -> i32 {
        let at = (r * words_per_row + k) * isa::PER_WORD;
        debug_assert!(at + isa::PER_WORD <= self.ints.len());
        // SAFETY: `at` is a whole word within `ints` (the kernels' rows and words are).
        unsafe { std::ptr::read_unaligned(self.ints.as_ptr().add(at).cast::<i32>()) }
    }

    /// `x`'s rows times the column scales, each group of [`Int8Matrix::group`] inputs rounded
    /// to `−levels..=levels` with a scale of its own: one scale per row would let a few large
    /// hidden dimensions coarsen all the rest (at 8 bits, 7 of the 150 demo essays changed
    /// level with it; the tests allow 1).
    #[inline(always)]
    fn quantize(x: &[f32], m: &Int8Matrix) -> Activations {
        let rows = x.len() / m.inputs;
        let groups = m.groups();
        let mut ints = vec![0; x.len()];
        let mut scales = Vec::with_capacity(rows * groups);
        let mut offsets = Vec::with_capacity(rows * groups);
        for (row, row_ints) in x
            .chunks_exact(m.inputs)
            .zip(ints.chunks_exact_mut(m.inputs))
        {
            let parts = row.chunks(m.group).zip(m.column_scales.chunks(m.group));
            for ((part, columns), ints) in parts.zip(row_ints.chunks_mut(m.group)) {
                scales.push(isa::quantize_group(part, columns, m.levels, ints));
                if isa::OFFSET != 0 {
                    offsets.push(isa::OFFSET * ints.iter().map(|&q| q as i32).sum::<i32>());
                }
            }
        }
        Activations {
            ints,
            scales,
            offsets,
        }
    }
}

/// `part` times `columns` rounded to `−levels..=levels` into `ints`, with the scale that
/// returns; the compiler vectorises it (AVX-512 under [`with_wide_vectors`]; wasm32 has its
/// own, written with simd128).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
#[inline(always)]
fn quantize_group(part: &[f32], columns: &[f32], levels: i32, ints: &mut [isa::Input]) -> f32 {
    let largest = lane_fold([part, columns], 0.0, |[v, c]| (v * c).abs(), larger);
    let scale = scale_for(largest, levels);
    round_into(part, columns, scale, levels, ints);
    scale
}

/// The scale that puts values up to `largest` in magnitude at most `levels` steps from zero.
#[inline(always)]
fn scale_for(largest: f32, levels: i32) -> f32 {
    if largest > 0.0 {
        largest / levels as f32
    } else {
        1.0
    }
}

/// `part` times `columns` in steps of `scale`, rounded into `ints`.
#[inline(always)]
fn round_into(part: &[f32], columns: &[f32], scale: f32, levels: i32, ints: &mut [isa::Input]) {
    let inverse = 1.0 / scale;
    for ((q, &v), &c) in ints.iter_mut().zip(part).zip(columns) {
        *q = round_small(v * c * inverse).clamp(-levels, levels) as isa::Input;
    }
}

/// Whether this CPU multiplies int8 matrices as stored: x86-64 with AVX-512 VNNI, or wasm32
/// with simd128.
pub fn usable() -> bool {
    isa::usable()
}

#[cfg(target_arch = "x86_64")]
mod isa {
    use super::{Activations, Int8Matrix};
    use crate::quantize::StoredInt8;
    use std::arch::x86_64::*;

    /// The stored bytes, used as they are.
    pub type Weight = u8;
    /// Inputs per word: four bytes.
    pub const PER_WORD: usize = 4;
    /// Outputs whose four-input slices fill one 64-byte register.
    const BLOCK: usize = 16;
    /// Outputs per tile: two blocks, so each broadcast input is used twice.
    pub const TILE_OUTPUTS: usize = 2 * BLOCK;
    /// Input rows per tile: with two blocks, eight integer and eight float accumulators.
    const TILE_ROWS: usize = 4;
    /// `vpdpbusd` reads the weights unsigned: `Σ (b − 128) a = Σ b a − 128 Σ a`.
    pub const OFFSET: i32 = 128;

    /// Inputs are signed bytes.
    pub type Input = i8;

    pub(super) use super::quantize_group;

    pub fn levels(_group: usize) -> i32 {
        127
    }

    pub fn usable() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }

    /// Blocks of [`BLOCK`] outputs; in each, for every four inputs, 16 × 4 bytes.
    pub fn pack(stored: &StoredInt8) -> Vec<u8> {
        let (outputs, inputs) = (stored.outputs, stored.inputs);
        let mut packed = Vec::with_capacity(outputs * inputs);
        for block in 0..outputs / BLOCK {
            for k in (0..inputs).step_by(4) {
                for o in block * BLOCK..(block + 1) * BLOCK {
                    packed.extend_from_slice(&stored.bytes[o * inputs + k..][..4]);
                }
            }
        }
        packed
    }

    /// The product of `acts`' rows into `out` (whole rows of `m.outputs`): for each tile of
    /// outputs, every tile of rows, so that the tile's weights stay in cache across the rows.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn rows(m: &Int8Matrix, acts: &Activations, bias: &[f32], out: &mut [f32]) {
        let rows = out.len() / m.outputs;
        for tile in 0..m.outputs / TILE_OUTPUTS {
            let mut r = 0;
            while r + TILE_ROWS <= rows {
                tile_rows::<TILE_ROWS>(m, acts, bias, r, tile, &mut out[r * m.outputs..]);
                r += TILE_ROWS;
            }
            for r in r..rows {
                tile_rows::<1>(m, acts, bias, r, tile, &mut out[r * m.outputs..]);
            }
        }
    }

    /// `ROWS` rows from `row` by outputs `tile × 32 ..`: integer sums per group, scaled and
    /// added in f32 at the group's end.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn tile_rows<const ROWS: usize>(
        m: &Int8Matrix,
        acts: &Activations,
        bias: &[f32],
        row: usize,
        tile: usize,
        out: &mut [f32],
    ) {
        let (words_per_row, groups) = (m.words(), m.groups());
        let block_bytes = m.inputs * BLOCK;
        let blocks = [
            &m.packed[2 * tile * block_bytes..][..block_bytes],
            &m.packed[(2 * tile + 1) * block_bytes..][..block_bytes],
        ];
        let column = tile * TILE_OUTPUTS;
        let mut sums = [[_mm512_setzero_ps(); 2]; ROWS];
        for g in 0..groups {
            let mut ints = [[_mm512_setzero_si512(); 2]; ROWS];
            for k in m.group_words(g) {
                let w = blocks.map(|b| _mm512_loadu_si512(b.as_ptr().add(k * 64).cast()));
                for (r, acc) in ints.iter_mut().enumerate() {
                    let a = _mm512_set1_epi32(acts.word(row + r, k, words_per_row));
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
}

#[cfg(target_arch = "wasm32")]
mod isa {
    use super::{Activations, Int8Matrix};
    use crate::quantize::StoredInt8;
    use core::arch::wasm32::*;

    /// `b − 128` in 16 bits, as `i32x4.dot_i16x8_s` reads it.
    pub type Weight = i16;
    /// Inputs per word: two 16-bit integers.
    pub const PER_WORD: usize = 2;
    /// Registers of four outputs per tile.
    const REGISTERS: usize = 4;
    /// Outputs per tile.
    pub const TILE_OUTPUTS: usize = 4 * REGISTERS;
    /// Input rows per tile: 8 integer sums, 4 weights and a broadcast within V8's 16 registers
    /// (each group's scaled sums go straight into the output).
    const TILE_ROWS: usize = 2;
    /// The weights are signed already.
    pub const OFFSET: i32 = 0;

    /// Inputs in 16 bits.
    pub type Input = i16;

    /// As fine as 16 bits allow while a group's sum of products (at most 128 × levels per
    /// input) stays within an `i32`.
    pub fn levels(group: usize) -> i32 {
        (i32::MAX / (128 * group as i32)).min(i16::MAX as i32)
    }

    pub fn usable() -> bool {
        cfg!(target_feature = "simd128")
    }

    /// Tiles of [`TILE_OUTPUTS`] outputs; in each, for every two inputs, each output's two
    /// weights side by side.
    pub fn pack(stored: &StoredInt8) -> Vec<i16> {
        let (outputs, inputs) = (stored.outputs, stored.inputs);
        let mut packed = Vec::with_capacity(outputs * inputs);
        for tile in 0..outputs / TILE_OUTPUTS {
            for k in (0..inputs).step_by(2) {
                for o in tile * TILE_OUTPUTS..(tile + 1) * TILE_OUTPUTS {
                    let pair = &stored.bytes[o * inputs + k..][..2];
                    packed.extend(pair.iter().map(|&b| b as i16 - 128));
                }
            }
        }
        packed
    }

    /// The product of `acts`' rows into `out` (whole rows of `m.outputs`): for each tile of
    /// outputs, each group of inputs, every tile of rows, so that the group's weights (4 KB)
    /// stay in the first-level cache across the rows; each group's sums are added into `out`.
    /// (Row tiles over all of a tile's inputs, 48 KB of weights for the feed-forward output,
    /// ran that matrix at 60% of the others' speed.)
    pub unsafe fn rows(m: &Int8Matrix, acts: &Activations, bias: &[f32], out: &mut [f32]) {
        let rows = out.len() / m.outputs;
        for tile in 0..m.outputs / TILE_OUTPUTS {
            let column = tile * TILE_OUTPUTS;
            for y in out.chunks_exact_mut(m.outputs) {
                for i in (column..column + TILE_OUTPUTS).step_by(4) {
                    let (y, b) = (y.as_mut_ptr().add(i), bias.as_ptr().add(i));
                    v128_store(
                        y.cast(),
                        f32x4_add(v128_load(y.cast()), v128_load(b.cast())),
                    );
                }
            }
            for g in 0..m.groups() {
                let mut r = 0;
                while r + TILE_ROWS <= rows {
                    tile_group::<TILE_ROWS>(m, acts, r, tile, g, out);
                    r += TILE_ROWS;
                }
                for r in r..rows {
                    tile_group::<1>(m, acts, r, tile, g, out);
                }
            }
        }
    }

    /// `ROWS` rows from `row` by the tile's outputs over group `g`'s inputs: integer sums,
    /// scaled and added into `out`.
    #[inline(always)]
    unsafe fn tile_group<const ROWS: usize>(
        m: &Int8Matrix,
        acts: &Activations,
        row: usize,
        tile: usize,
        g: usize,
        out: &mut [f32],
    ) {
        let (words_per_row, groups) = (m.words(), m.groups());
        let weights = m.packed.as_ptr().add(tile * TILE_OUTPUTS * m.inputs);
        let column = tile * TILE_OUTPUTS;
        let mut ints = [[i32x4_splat(0); REGISTERS]; ROWS];
        for k in m.group_words(g) {
            let w: [v128; REGISTERS] =
                std::array::from_fn(|i| v128_load(weights.add((k * REGISTERS + i) * 8).cast()));
            for (r, acc) in ints.iter_mut().enumerate() {
                let a = i32x4_splat(acts.word(row + r, k, words_per_row));
                for (acc, &w) in acc.iter_mut().zip(&w) {
                    *acc = i32x4_add(*acc, i32x4_dot_i16x8(w, a));
                }
            }
        }
        let scales = m.group_scales.as_ptr().add(g * m.outputs + column);
        for (r, acc) in ints.iter().enumerate() {
            let input_scale = f32x4_splat(acts.scales[(row + r) * groups + g]);
            let y = out.as_mut_ptr().add((row + r) * m.outputs + column);
            for (i, &acc) in acc.iter().enumerate() {
                let both = f32x4_mul(v128_load(scales.add(4 * i).cast()), input_scale);
                let sum = f32x4_mul(f32x4_convert_i32x4(acc), both);
                v128_store(
                    y.add(4 * i).cast(),
                    f32x4_add(v128_load(y.add(4 * i).cast()), sum),
                );
            }
        }
    }

    /// [`super::quantize_group`] eight values at a time, written out: V8 ran the portable
    /// loop at 6 ns a value, a third of the feed-forward output product's time.
    #[inline(always)]
    pub fn quantize_group(part: &[f32], columns: &[f32], levels: i32, ints: &mut [i16]) -> f32 {
        let whole = part.len() - part.len() % 8;
        // SAFETY: every load and store is of a whole vector below `whole`, within all three.
        let at = |s: &[f32], k: usize| unsafe { v128_load(s.as_ptr().add(k).cast()) };
        let mut largest = f32x4_splat(0.0);
        for k in (0..whole).step_by(4) {
            largest = f32x4_pmax(largest, f32x4_abs(f32x4_mul(at(part, k), at(columns, k))));
        }
        let mut lanes = [0f32; 4];
        // SAFETY: four lanes into four floats.
        unsafe { v128_store(lanes.as_mut_ptr().cast(), largest) };
        let tail = (&part[whole..], &columns[whole..]);
        let largest = (tail.0.iter().zip(tail.1))
            .map(|(v, c)| (v * c).abs())
            .chain(lanes)
            .fold(0.0, super::larger);
        let scale = super::scale_for(largest, levels);
        let inverse = f32x4_splat(1.0 / scale);
        let (low, high) = (i32x4_splat(-levels), i32x4_splat(levels));
        let round = |k: usize| {
            let q = f32x4_nearest(f32x4_mul(f32x4_mul(at(part, k), at(columns, k)), inverse));
            i32x4_min(i32x4_max(i32x4_trunc_sat_f32x4(q), low), high)
        };
        for k in (0..whole).step_by(8) {
            let eight = i16x8_narrow_i32x4(round(k), round(k + 4));
            // SAFETY: as above.
            unsafe { v128_store(ints.as_mut_ptr().add(k).cast(), eight) };
        }
        super::round_into(tail.0, tail.1, scale, levels, &mut ints[whole..]);
        scale
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32")))]
mod isa {
    use crate::quantize::StoredInt8;
    pub type Weight = u8;
    pub type Input = i8;
    pub(super) use super::quantize_group;
    pub const PER_WORD: usize = 4;
    pub const TILE_OUTPUTS: usize = 1;
    pub const OFFSET: i32 = 0;
    pub fn levels(_group: usize) -> i32 {
        127
    }
    pub fn usable() -> bool {
        false
    }
    pub fn pack(_stored: &StoredInt8) -> Vec<u8> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::largest_difference;
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
    /// each group of an input row (to 8 bits natively, 16 in wasm32) can change:
    /// |Δy[i]| ≤ Σ_k (s[k] / 2) Σ_{j in k} |w[i][j] / column[j]|.
    #[test]
    fn integer_product_is_the_f32_product_to_within_the_input_rounding() {
        if !usable() {
            eprintln!("skipped: no integer kernel here (AVX-512 VNNI, or simd128 in wasm32)");
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
        // A residual is added in the same pass, as adding it after (to the last bit natively;
        // in wasm32 the bias and residual come first and each group's sums after them).
        let residual = Tensor::randn(0f32, 1.0, (rows, outputs), &dev).unwrap();
        let fused = product(&m, &x, &bias, Some(&residual)).unwrap();
        let difference = largest_difference(&fused, &(&plain + &residual).unwrap());
        let allowed = if cfg!(target_arch = "wasm32") {
            1e-5
        } else {
            0.0
        };
        assert!(
            difference <= allowed,
            "the residual moved a value by {difference}"
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
                    largest / isa::levels(stored.group) as f32
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
        // Half a tile short of 64 (48 natively, 56 in wasm32).
        stored.outputs = 64 - isa::TILE_OUTPUTS / 2;
        assert!(Int8Matrix::for_this_cpu(&stored).is_none());
    }
}
