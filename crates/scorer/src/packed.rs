//! f32 matrix products over weights packed once: AVX-512 natively, simd128 in the browser.
//!
//! The weights are stored in tiles of a few registers' worth of outputs: for each input, the
//! tile's weights side by side. A tile of the product is a few input rows by those outputs, its
//! sums held in registers; per input, one load per register of weights and one broadcast per
//! row. Outputs go tile by tile, and within a tile every row, so the tile's weights stay in
//! cache across the rows. The tile is one function over the [`Vector`] operations of either
//! instruction set. Natively (AVX-512: 32 registers of 16) a tile is six rows by 64 outputs,
//! 24 sums; in wasm32 (V8 gives simd128 16 registers of 4) two rows by 16 outputs, 8 sums.
//! Without either, the layer multiplies with candle.

// The kernels are x86-64's and wasm32's; elsewhere `usable` is false and no `F32Matrix` is
// ever built.
#![cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "wasm32")),
    allow(dead_code, unused_variables)
)]

use crate::products::PackedMatrix;

/// The register operations a tile needs.
trait Vector: Copy {
    /// f32 values in one register.
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn load(from: *const f32) -> Self;
    unsafe fn splat(value: f32) -> Self;
    /// `a · b + c`, fused where the instruction set has it.
    unsafe fn multiply_add(a: Self, b: Self, c: Self) -> Self;
    unsafe fn add(a: Self, b: Self) -> Self;
    unsafe fn store(self, to: *mut f32);
}

#[cfg(target_arch = "x86_64")]
mod isa {
    use std::arch::x86_64::*;

    /// Registers of outputs per tile.
    pub const REGISTERS: usize = 4;
    /// Input rows per tile: with four registers of outputs, 24 sums of the 32 registers.
    pub const TILE_ROWS: usize = 6;
    pub type Register = __m512;

    // SAFETY (every method): called only inside `rows`, compiled for AVX-512 and run only where
    // `usable` found it.
    impl super::Vector for __m512 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> Self {
            _mm512_setzero_ps()
        }
        #[inline(always)]
        unsafe fn load(from: *const f32) -> Self {
            _mm512_loadu_ps(from)
        }
        #[inline(always)]
        unsafe fn splat(value: f32) -> Self {
            _mm512_set1_ps(value)
        }
        #[inline(always)]
        unsafe fn multiply_add(a: Self, b: Self, c: Self) -> Self {
            _mm512_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            _mm512_add_ps(a, b)
        }
        #[inline(always)]
        unsafe fn store(self, to: *mut f32) {
            _mm512_storeu_ps(to, self)
        }
    }

    pub fn usable() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
    }

    /// [`super::rows`] compiled for AVX-512.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn rows(m: &super::F32Matrix, x: &[f32], bias: &[f32], out: &mut [f32]) {
        super::rows::<Register>(m, x, bias, out)
    }
}

#[cfg(target_arch = "wasm32")]
mod isa {
    use core::arch::wasm32::*;

    /// Registers of outputs per tile.
    pub const REGISTERS: usize = 4;
    /// Input rows per tile: 8 sums, 4 weights and a broadcast within V8's 16 registers (three
    /// rows spill; measured in Node 20 on the encoder's shapes: 2 rows × 16 outputs and 4 × 8
    /// both 1.3× candle's product, 3 × 16 and 4 × 16 no faster than it).
    pub const TILE_ROWS: usize = 2;
    pub type Register = v128;

    // SAFETY (every method): the build enables simd128 (`usable`), and the pointers are the
    // tile's, in bounds.
    impl super::Vector for v128 {
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> Self {
            f32x4_splat(0.0)
        }
        #[inline(always)]
        unsafe fn load(from: *const f32) -> Self {
            v128_load(from.cast())
        }
        #[inline(always)]
        unsafe fn splat(value: f32) -> Self {
            f32x4_splat(value)
        }
        #[inline(always)]
        unsafe fn multiply_add(a: Self, b: Self, c: Self) -> Self {
            // Not fused: wasm32 has no fused multiply-add outside relaxed SIMD.
            f32x4_add(f32x4_mul(a, b), c)
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            f32x4_add(a, b)
        }
        #[inline(always)]
        unsafe fn store(self, to: *mut f32) {
            v128_store(to.cast(), self)
        }
    }

    pub fn usable() -> bool {
        cfg!(target_feature = "simd128")
    }

    pub unsafe fn rows(m: &super::F32Matrix, x: &[f32], bias: &[f32], out: &mut [f32]) {
        super::rows::<Register>(m, x, bias, out)
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32")))]
mod isa {
    pub const REGISTERS: usize = 1;
    pub const TILE_ROWS: usize = 1;
    pub const LANES: usize = 1;
    pub fn usable() -> bool {
        false
    }
}

/// Outputs per tile.
#[cfg(any(target_arch = "x86_64", target_arch = "wasm32"))]
const TILE_OUTPUTS: usize = isa::REGISTERS * <isa::Register as Vector>::LANES;
#[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32")))]
const TILE_OUTPUTS: usize = isa::REGISTERS * isa::LANES;

/// An f32 matrix packed for [`PackedMatrix::multiply_rows`].
pub struct F32Matrix {
    outputs: usize,
    inputs: usize,
    /// Tiles of [`TILE_OUTPUTS`] outputs; in each, for every input, the tile's weights.
    packed: Vec<f32>,
}

impl F32Matrix {
    /// `weight` (outputs × inputs, row-major) packed for this CPU, or `None` where the kernel
    /// would not run: no AVX-512 or simd128, or outputs not a multiple of [`TILE_OUTPUTS`].
    pub fn for_this_cpu(weight: &[f32], outputs: usize, inputs: usize) -> Option<F32Matrix> {
        let fits = outputs > 0 && outputs.is_multiple_of(TILE_OUTPUTS) && inputs > 0;
        (usable() && fits && weight.len() == outputs * inputs).then(|| {
            // Row by row: read in order, each write a tile's width after the one before.
            let mut packed = vec![0f32; weight.len()];
            for (o, row) in weight.chunks_exact(inputs).enumerate() {
                let first = o / TILE_OUTPUTS * TILE_OUTPUTS * inputs + o % TILE_OUTPUTS;
                for (k, &w) in row.iter().enumerate() {
                    packed[first + k * TILE_OUTPUTS] = w;
                }
            }
            F32Matrix {
                outputs,
                inputs,
                packed,
            }
        })
    }
}

impl PackedMatrix for F32Matrix {
    fn shape(&self) -> (usize, usize) {
        (self.outputs, self.inputs)
    }

    fn multiply_rows(&self, x: &[f32], bias: &[f32], out: &mut [f32]) {
        // SAFETY: an `F32Matrix` is built only where `usable` found the kernel's instructions.
        #[cfg(any(target_arch = "x86_64", target_arch = "wasm32"))]
        unsafe {
            isa::rows(self, x, bias, out)
        }
    }
}

/// Whether this CPU runs the packed f32 product: x86-64 with AVX-512, or wasm32 with simd128.
pub fn usable() -> bool {
    isa::usable()
}

/// Every tile of outputs, and in each every tile of rows.
#[cfg(any(target_arch = "x86_64", target_arch = "wasm32"))]
#[inline(always)]
unsafe fn rows<V: Vector>(m: &F32Matrix, x: &[f32], bias: &[f32], out: &mut [f32]) {
    use isa::{REGISTERS, TILE_ROWS};
    let rows = out.len() / m.outputs;
    for tile in 0..m.outputs / TILE_OUTPUTS {
        let mut r = 0;
        while r + TILE_ROWS <= rows {
            tile_rows::<V, TILE_ROWS, REGISTERS>(m, x, bias, r, tile, out);
            r += TILE_ROWS;
        }
        for r in r..rows {
            tile_rows::<V, 1, REGISTERS>(m, x, bias, r, tile, out);
        }
    }
}

/// `ROWS` rows from `row` by the tile's outputs, plus the bias, added into `out`.
#[inline(always)]
unsafe fn tile_rows<V: Vector, const ROWS: usize, const REGISTERS: usize>(
    m: &F32Matrix,
    x: &[f32],
    bias: &[f32],
    row: usize,
    tile: usize,
    out: &mut [f32],
) {
    let weights = &m.packed[tile * TILE_OUTPUTS * m.inputs..][..TILE_OUTPUTS * m.inputs];
    let rows: [&[f32]; ROWS] = std::array::from_fn(|r| &x[(row + r) * m.inputs..][..m.inputs]);
    let mut sums = [[V::zero(); REGISTERS]; ROWS];
    for (k, w) in weights.chunks_exact(TILE_OUTPUTS).enumerate() {
        let w: [V; REGISTERS] = std::array::from_fn(|i| V::load(w.as_ptr().add(i * V::LANES)));
        for (sum, input) in sums.iter_mut().zip(rows) {
            let a = V::splat(*input.get_unchecked(k));
            for (s, w) in sum.iter_mut().zip(w) {
                *s = V::multiply_add(a, w, *s);
            }
        }
    }
    let column = tile * TILE_OUTPUTS;
    for (r, sum) in sums.iter().enumerate() {
        let y = &mut out[(row + r) * m.outputs + column..][..TILE_OUTPUTS];
        for (i, &s) in sum.iter().enumerate() {
            let (y, b) = (
                y.as_mut_ptr().add(i * V::LANES),
                bias.as_ptr().add(column + i * V::LANES),
            );
            V::add(V::add(s, V::load(b)), V::load(y)).store(y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::largest_difference;
    use crate::products::product;
    use candle_core::{Device, Tensor};
    use std::sync::Arc;

    /// The packed product is candle's to within float rounding, with and without a residual,
    /// over whole tiles of rows and single rows.
    #[test]
    fn packed_product_is_candles_product() {
        if !usable() {
            eprintln!("skipped: this CPU has neither AVX-512 nor simd128");
            return;
        }
        let dev = Device::Cpu;
        // 128 outputs: two tiles of 64 (eight of 16); 13 rows: whole tiles of rows and single
        // rows.
        let (outputs, inputs, rows) = (128, 100, 13);
        let w = Tensor::randn(0f32, 0.1, (outputs, inputs), &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (rows, inputs), &dev).unwrap();
        let bias = Tensor::randn(0f32, 1.0, outputs, &dev).unwrap();
        let residual = Tensor::randn(0f32, 1.0, (rows, outputs), &dev).unwrap();
        let values = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let m: Arc<dyn PackedMatrix> =
            Arc::new(F32Matrix::for_this_cpu(&values, outputs, inputs).expect("packs"));
        let want = x
            .matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(&bias)
            .unwrap();
        for (got, want) in [
            (product(&m, &x, &bias, None).unwrap(), want.clone()),
            (
                product(&m, &x, &bias, Some(&residual)).unwrap(),
                (&want + &residual).unwrap(),
            ),
        ] {
            let difference = largest_difference(&got, &want);
            assert!(difference < 1e-5, "off by {difference}");
        }
    }

    #[test]
    fn shapes_the_tiles_do_not_cover_are_not_packed() {
        // Three quarters of a tile (48 outputs natively, 12 in wasm32).
        let outputs = TILE_OUTPUTS * 3 / 4;
        assert!(F32Matrix::for_this_cpu(&vec![0.0; outputs * 4], outputs, 4).is_none());
        assert!(F32Matrix::for_this_cpu(&[0.0; 64 * 4], 64, 5).is_none());
    }
}
