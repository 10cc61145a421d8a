//! f32 matrix products over weights packed once, for CPUs with AVX-512.
//!
//! The weights are stored in tiles of 64 outputs: for each input, the tile's 64 weights side by
//! side (four registers). A tile of the product is six input rows by those 64 outputs: 24
//! accumulators, and per input four loads of weights and six broadcasts for 24 fused
//! multiply-adds. Outputs go tile by tile, and within a tile every row, so the tile's weights
//! stay in cache across the rows. Without AVX-512 (or off x86-64) the layer multiplies with
//! candle.

// The kernel is x86-64's; elsewhere `usable` is false and no `F32Matrix` is ever built.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_variables))]

use crate::products::PackedMatrix;

/// Outputs in one register.
const LANES: usize = 16;
/// Outputs per tile: four registers.
const TILE_OUTPUTS: usize = 4 * LANES;
/// Input rows per tile: with four registers of outputs, 24 accumulators of the 32.
const TILE_ROWS: usize = 6;

/// An f32 matrix packed for [`PackedMatrix::multiply_rows`].
pub struct F32Matrix {
    outputs: usize,
    inputs: usize,
    /// Tiles of [`TILE_OUTPUTS`] outputs; in each, for every input, the tile's weights.
    packed: Vec<f32>,
}

impl F32Matrix {
    /// `weight` (outputs × inputs, row-major) packed for this CPU, or `None` where the kernel
    /// would not run: no AVX-512, or outputs not a multiple of [`TILE_OUTPUTS`].
    pub fn for_this_cpu(weight: &[f32], outputs: usize, inputs: usize) -> Option<F32Matrix> {
        let fits = outputs > 0 && outputs.is_multiple_of(TILE_OUTPUTS) && inputs > 0;
        (usable() && fits && weight.len() == outputs * inputs).then(|| {
            let mut packed = Vec::with_capacity(weight.len());
            for tile in 0..outputs / TILE_OUTPUTS {
                for k in 0..inputs {
                    let tile_outputs = tile * TILE_OUTPUTS..(tile + 1) * TILE_OUTPUTS;
                    packed.extend(tile_outputs.map(|o| weight[o * inputs + k]));
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
        // SAFETY: an `F32Matrix` is built only where the CPU has AVX-512 (`for_this_cpu`).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            rows_avx512(self, x, bias, out)
        }
    }
}

/// Whether this CPU runs the packed f32 product: x86-64 with AVX-512.
pub fn usable() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Every tile of outputs, and in each every tile of rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn rows_avx512(m: &F32Matrix, x: &[f32], bias: &[f32], out: &mut [f32]) {
    let rows = out.len() / m.outputs;
    for tile in 0..m.outputs / TILE_OUTPUTS {
        let mut r = 0;
        while r + TILE_ROWS <= rows {
            tile_avx512::<TILE_ROWS>(m, x, bias, r, tile, out);
            r += TILE_ROWS;
        }
        for r in r..rows {
            tile_avx512::<1>(m, x, bias, r, tile, out);
        }
    }
}

/// `ROWS` rows from `row` by outputs `tile × 64 ..`, plus the bias, added into `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const ROWS: usize>(
    m: &F32Matrix,
    x: &[f32],
    bias: &[f32],
    row: usize,
    tile: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    const REGISTERS: usize = TILE_OUTPUTS / LANES;
    let weights = &m.packed[tile * TILE_OUTPUTS * m.inputs..][..TILE_OUTPUTS * m.inputs];
    let rows: [&[f32]; ROWS] = std::array::from_fn(|r| &x[(row + r) * m.inputs..][..m.inputs]);
    let mut sums = [[_mm512_setzero_ps(); REGISTERS]; ROWS];
    for (k, w) in weights.chunks_exact(TILE_OUTPUTS).enumerate() {
        let w: [__m512; REGISTERS] =
            std::array::from_fn(|i| _mm512_loadu_ps(w.as_ptr().add(i * LANES)));
        for (sum, input) in sums.iter_mut().zip(rows) {
            let a = _mm512_set1_ps(*input.get_unchecked(k));
            for (s, w) in sum.iter_mut().zip(w) {
                *s = _mm512_fmadd_ps(a, w, *s);
            }
        }
    }
    let column = tile * TILE_OUTPUTS;
    for (r, sum) in sums.iter().enumerate() {
        let y = &mut out[(row + r) * m.outputs + column..][..TILE_OUTPUTS];
        for (i, &s) in sum.iter().enumerate() {
            let (y, b) = (
                y.as_mut_ptr().add(i * LANES),
                bias.as_ptr().add(column + i * LANES),
            );
            _mm512_storeu_ps(
                y,
                _mm512_add_ps(_mm512_add_ps(s, _mm512_loadu_ps(b)), _mm512_loadu_ps(y)),
            );
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
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let dev = Device::Cpu;
        // 128 outputs: two tiles; 13 rows: two tiles of six and one single row.
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
        assert!(F32Matrix::for_this_cpu(&[0.0; 48 * 4], 48, 4).is_none());
        assert!(F32Matrix::for_this_cpu(&[0.0; 64 * 4], 64, 5).is_none());
    }
}
