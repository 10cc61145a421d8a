#!/usr/bin/env bash
# The browser benchmark (benches/browser): Cyborg's app and scoring worker beside transformers.js
# (wasm backend, fp32 and its default q8; the same encoder exported to ONNX), side by side in
# Debian's headless Chromium, on 50 demo essays cut to 256 and 512 tokens. Also first-load time and time to first score with
# a cached bundle, for BUNDLE and its int8 export, and wasm and bundle sizes. Then WebGPU:
# Cyborg's WebGPU encoder beside its WebAssembly one and transformers.js's WebGPU backend (fp32),
# on the first WEBGPU_ESSAYS essays (default 10; 0 skips it), with the adapter's name printed —
# headless Chromium here has only a software adapter, so those figures say it runs, not how
# fast a GPU is. First of all, the app's batch panel on BATCH_ROWS rows (default 1000; 0 skips
# it) with one worker and with one per core. Makes its own Python environment for the ONNX
# export (scripts/python-venv.sh, plus onnx). Not part of the tests.
#
#   scripts/bench-browser.sh [BUNDLE]     # default: the web test's model (trained if missing)
#   BENCH_ONLY=batch,encode scripts/bench-browser.sh   # only these parts (of batch, app, encode, webgpu)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
out=target/bench-browser
bundle=${1:-target/web-test/model.cyborg}
if [ ! -f "$bundle" ]; then
  mkdir -p "$(dirname "$bundle")"
  target/release/cyborg train data/demo/train.csv --text full_text --score score --id essay_id \
    --range 1:6 --tune top:1 --epochs 1 --out "$bundle" >&2
fi
venv=$(scripts/python-venv.sh)
"$venv/bin/python" -c "import onnx, onnxscript, onnxruntime" 2>/dev/null ||
  "$venv/bin/python" -m pip install --quiet onnx onnxscript onnxruntime >&2
"$venv/bin/python" benches/browser/prepare.py models/all-MiniLM-L6-v2 data/demo/train.csv \
  full_text 50 "$out" >&2
(cd benches/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit \
  --no-fund --loglevel=error >&2)
trunk build --release >&2
int8=$out/$(basename "$bundle" .cyborg)-int8.cyborg
target/release/cyborg export "$bundle" --weights int8 --out "$int8" >&2
node benches/browser/bench.mjs dist "$bundle,$int8" "$out" "$out/report.json"
