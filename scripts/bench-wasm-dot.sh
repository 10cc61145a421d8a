#!/usr/bin/env bash
# The integer dot products open to the browser's int8 kernels, timed side by side in Debian's
# headless Chromium (benches/wasm-dot, run by benches/browser/wasi.mjs): simd128's i32x4.dot_i16x8_s, which the app uses, against relaxed SIMD's
# i32x4.relaxed_dot_i8x16_i7x16_add_s, on the encoder's matrix shapes. Prints a Markdown table.
# Not part of the tests.
#
#   scripts/bench-wasm-dot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip1 >&2
cargo build --release --target wasm32-wasip1 \
  --manifest-path benches/wasm-dot/Cargo.toml --target-dir target/wasm-dot >&2
(cd benches/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit \
  --no-fund --loglevel=error >&2)
node benches/browser/wasi.mjs target/wasm-dot/wasm32-wasip1/release/wasm-dot.wasm
