//! simd128's `i32x4.dot_i16x8_s` (what the browser's int8 products use, `crates/scorer/src/int8.rs`)
//! against relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add_s`, which multiplies twice as many
//! pairs an instruction: the same tiling for both (four registers of outputs by two input rows,
//! as the scorer's), the same integers, the encoder's shapes. Prints a Markdown table.
use core::arch::wasm32::*;
use std::time::Instant;

/// Registers of four outputs per tile.
const REGISTERS: usize = 4;
const OUTPUTS_PER_TILE: usize = 4 * REGISTERS;
const ROWS: usize = 2;
const INPUT_ROWS: usize = 256;

/// `m` (outputs × inputs, row-major) in tiles of [`OUTPUTS_PER_TILE`] outputs; in each, for
/// every `per` inputs, each output's `per` weights side by side.
fn pack<T: Copy>(m: &[T], outputs: usize, inputs: usize, per: usize) -> Vec<T> {
    let mut packed = Vec::with_capacity(m.len());
    for tile in 0..outputs / OUTPUTS_PER_TILE {
        for k in (0..inputs).step_by(per) {
            for o in tile * OUTPUTS_PER_TILE..(tile + 1) * OUTPUTS_PER_TILE {
                packed.extend_from_slice(&m[o * inputs + k..][..per]);
            }
        }
    }
    packed
}

/// The integer sums `out = a · wᵀ` for weights packed `per` inputs to a word, with `dot` adding
/// one word of a row (broadcast) times one register of weights into a register of sums.
#[inline(always)]
fn product<T: Copy>(
    w: &[T],
    a: &[T],
    (outputs, inputs): (usize, usize),
    per: usize,
    out: &mut [i32],
    dot: impl Fn(v128, v128, v128) -> v128,
) {
    let word = |r: usize, k: usize| {
        // SAFETY: `k < inputs / per`, so the word is within row `r` of `a`.
        unsafe { v128_load32_splat(a.as_ptr().add(r * inputs + per * k).cast()) }
    };
    for tile in 0..outputs / OUTPUTS_PER_TILE {
        let weights = &w[tile * OUTPUTS_PER_TILE * inputs..][..OUTPUTS_PER_TILE * inputs];
        for row in (0..INPUT_ROWS).step_by(ROWS) {
            let mut sums = [[i32x4_splat(0); REGISTERS]; ROWS];
            for k in 0..inputs / per {
                let w: [v128; REGISTERS] = std::array::from_fn(|i| {
                    // SAFETY: register `i` of word `k` is within the tile's weights.
                    unsafe { v128_load(weights.as_ptr().add((k * REGISTERS + i) * 4 * per).cast()) }
                });
                for (r, sums) in sums.iter_mut().enumerate() {
                    let a = word(row + r, k);
                    for (sum, &w) in sums.iter_mut().zip(&w) {
                        *sum = dot(w, a, *sum);
                    }
                }
            }
            for (r, sums) in sums.iter().enumerate() {
                let at = (row + r) * outputs + tile * OUTPUTS_PER_TILE;
                for (i, &sum) in sums.iter().enumerate() {
                    let four = &mut out[at + 4 * i..][..4];
                    // SAFETY: four sums into four integers.
                    unsafe { v128_store(four.as_mut_ptr().cast(), sum) };
                }
            }
        }
    }
}

#[inline(never)]
fn sixteen_bit(w: &[i16], a: &[i16], shape: (usize, usize), out: &mut [i32]) {
    product(w, a, shape, 2, out, |w, a, sum| {
        i32x4_add(sum, i32x4_dot_i16x8(w, a))
    });
}

/// # Safety
/// Only where the engine has relaxed SIMD (elsewhere the module does not compile).
#[inline(never)]
#[target_feature(enable = "relaxed-simd")]
unsafe fn relaxed_eight_bit(w: &[i8], a: &[i8], shape: (usize, usize), out: &mut [i32]) {
    product(w, a, shape, 4, out, |w, a, sum| {
        i32x4_relaxed_dot_i8x16_i7x16_add(w, a, sum)
    });
}

/// Seconds per call over at least half a second of calls, after one call to warm up (V8
/// optimises a function from its second call; the browser's clock ticks every 0.1 ms).
fn seconds(mut run: impl FnMut()) -> f64 {
    run();
    let start = Instant::now();
    let mut calls = 0;
    while calls < 5 || start.elapsed().as_secs_f64() < 0.5 {
        run();
        calls += 1;
    }
    start.elapsed().as_secs_f64() / calls as f64
}

fn main() {
    println!("| round | outputs × inputs, {INPUT_ROWS} rows | dot_i16x8 GMAC/s | relaxed_dot_i8x16_i7x16_add GMAC/s | ratio | same sums |");
    println!("|---|---|---|---|---|---|");
    for round in 1..=3 {
        for shape @ (outputs, inputs) in [(384usize, 384usize), (1536, 384), (384, 1536)] {
            let w: Vec<i8> = (0..outputs * inputs)
                .map(|i| (i * 7919 % 255) as i8)
                .collect();
            // Inputs of 7 bits: the relaxed product is defined only for those.
            let a: Vec<i8> = (0..INPUT_ROWS * inputs)
                .map(|i| (i * 104_729 % 128) as i8)
                .collect();
            let (w16, a16): (Vec<i16>, Vec<i16>) = (
                w.iter().map(|&v| v.into()).collect(),
                a.iter().map(|&v| v.into()).collect(),
            );
            let (p16, p8) = (pack(&w16, outputs, inputs, 2), pack(&w, outputs, inputs, 4));
            let mut out16 = vec![0i32; INPUT_ROWS * outputs];
            let mut out8 = out16.clone();
            let t16 = seconds(|| sixteen_bit(&p16, &a16, shape, &mut out16));
            // SAFETY: the module compiled, so the engine has relaxed SIMD.
            let t8 = seconds(|| unsafe { relaxed_eight_bit(&p8, &a, shape, &mut out8) });
            let gmacs = (INPUT_ROWS * outputs * inputs) as f64 / 1e9;
            println!(
                "| {round} | {outputs} × {inputs} | {:.1} | {:.1} | {:.2} | {} |",
                gmacs / t16,
                gmacs / t8,
                t16 / t8,
                if out16 == out8 { "yes" } else { "NO" }
            );
        }
    }
}
