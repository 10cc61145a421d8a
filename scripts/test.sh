#!/usr/bin/env bash
# Installs everything the tests need (scripts/setup.sh, then Debian's chromium and the npm
# packages in tests/browser) and runs them all: formatting, lints (native and wasm32), every
# Rust test, and the browser app built by Trunk and checked end to end in headless Chromium.
# Tests that need ../shared/data (real corpora) skip with a printed reason when it is absent,
# unless CYBORG_REQUIRE_DATA is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export CYBORG_REQUIRE_MODEL=1

# Reports and the web app are checked in Debian's own headless Chromium, driven by
# playwright-core from npm; no tool may download a browser of its own.
printf '\n== Headless Chromium and playwright-core\n'
if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed"
else
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  $sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
export CYBORG_REQUIRE_BROWSER=1

printf '\n== cargo fmt --check\n'
cargo fmt --all --check

# Natively, and the browser app (whose code is all wasm32) for the browser.
printf '\n== cargo clippy\n'
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked -p cyborg-web --target wasm32-unknown-unknown --all-targets -- -D warnings

printf '\n== cargo test\n'
cargo test --locked --release --workspace

# Builds the app with Trunk and drives it in headless Chromium.
scripts/web-test.sh
