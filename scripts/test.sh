#!/usr/bin/env bash
# Installs everything the tests need (Debian's chromium and shellcheck, scripts/setup.sh, the npm
# packages in tests/browser) and runs them all: shellcheck on every script, formatting, lints
# (native and wasm32), every Rust test (the scorer's natively and again as wasm32), and the
# browser app built by Trunk and checked end to end in headless Chromium. Tests that need
# ../shared/data (real corpora) skip with a printed reason when it is absent, unless
# CYBORG_REQUIRE_DATA is set.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# Reports and the web app are checked in Debian's own headless Chromium, driven by
# playwright-core from npm; no tool may download a browser of its own.
step "Debian's chromium and shellcheck"
apt_install chromium shellcheck

# Every shell script, so a line that runs only on some machines is still checked everywhere.
step "shellcheck"
shellcheck --external-sources scripts/*.sh .ci/run
echo "clean"

scripts/setup.sh
export CYBORG_REQUIRE_MODEL=1

step "playwright-core (npm)"
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
export CYBORG_REQUIRE_BROWSER=1

step "cargo fmt --check"
cargo fmt --all --check

# Natively, and the browser app (whose code is all wasm32) for the browser.
step "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked -p cyborg-web --target wasm32-unknown-unknown --all-targets -- -D warnings

step "cargo test"
cargo test --locked --release --workspace

# The scorer's tests once more as wasm32 (simd128) under Node: the browser's kernels and encoder.
step "cargo test, scorer as wasm32"
scripts/test-wasm.sh

# Builds the app with Trunk and drives it in headless Chromium.
scripts/web-test.sh
