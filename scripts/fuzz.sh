#!/usr/bin/env bash
# Fuzzes every reader of outside bytes for SECONDS each (default 600): data files and uploads,
# bundles, LLM replies, provenance files and the server's job requests (fuzz/fuzz_targets).
# Installs a nightly toolchain and cargo-fuzz when missing (libFuzzer needs nightly), keeps each
# target's corpus in fuzz/corpus/TARGET between runs, and stops at the first crash, panic, hang
# (over 10 s for one input) or allocation over 2 GB, whose input it leaves in
# fuzz/artifacts/TARGET: turn each into a regression test. Prints runs and coverage per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

seconds=${1:-600}
shift || true

step "nightly toolchain and cargo-fuzz"
# Installed only when missing: updating nightly would rebuild every target from scratch.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz

step "build the fuzz targets (release, with debug assertions)"
cargo +nightly fuzz build --debug-assertions

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
summary=()
for target in "${targets[@]}"; do
  step "$target: $seconds s"
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  log=$(mktemp)
  cargo +nightly fuzz run --debug-assertions "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 2>&1 | tee "$log" | grep -E '^#[0-9]+ +(pulse|DONE)|ERROR|panicked' || true
  status=${PIPESTATUS[0]}
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  coverage=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || echo "?")
  rm -f "$log"
  summary+=("$target: $runs runs in $seconds s, $coverage, exit $status")
  if [ "$status" -ne 0 ]; then
    printf '%s\n' "${summary[@]}"
    echo "$target failed: its input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
step "summary"
printf '%s\n' "${summary[@]}"
