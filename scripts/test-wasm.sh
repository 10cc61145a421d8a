#!/usr/bin/env bash
# The scorer's own tests built for wasm32 with simd128 (wasm32-wasip1) and run by Node's WASI
# (tests/wasi.mjs), so the kernels written for the browser (the int8 and packed f32 products)
# and the whole encoder are held to the same tests as natively: the browser checks in
# scripts/test.sh see only whole scores. One thread: WASI has none to spare. Node runs
# --single-threaded: Node 20's V8, compiling wasm on background threads, crashed on exit (SIGSEGV,
# after every test had passed) once a test had loaded the encoder. And --no-incremental-marking:
# growing the wasm memory by hundreds of MB (the MPNet parity test, which runs once
# scripts/get-teacher.sh has installed that encoder) set off an incremental garbage collection
# that V8 aborted in ("unreachable code" in MarkCompactCollector, every run).
#
#   scripts/test-wasm.sh [TEST NAME FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip1 >&2
CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings --single-threaded --no-incremental-marking $PWD/tests/wasi.mjs" \
  cargo test --locked --release -p cyborg-scorer --target wasm32-wasip1 --tests \
  -- --test-threads=1 "$@"
