#!/usr/bin/env bash
# Builds the browser app with Trunk and checks it end to end in Debian's headless Chromium
# (tests/browser/app.mjs): loading a model three ways, caching, bad bundles, scoring one
# response and a whole file, no network while scoring, and the same scores as `cyborg score`
# on the 150 demo essays. Then the WebGPU encoder beside WebAssembly, its fallbacks and the page's
# backend choice (tests/browser/webgpu.mjs). Then `cyborg serve` on loopback: the Train view trains a model from
# the demo essays and its share link scores as `cyborg score` does (tests/browser/train.mjs),
# and a bounded load test (tests/browser/load.mjs). Needs what scripts/test.sh installs first.
# Screenshots go to target/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
cyborg=target/release/cyborg
work=target/web-test
mkdir -p "$work" target/artifacts

step "trunk build --release (the page and its scoring worker)"
trunk build --release
ls -l dist/*.wasm

step "A small model to check the browser with (one epoch, top layer, a lexical block)"
model=$work/model.cyborg
if [ ! -f "$model" ] || [ "$cyborg" -nt "$model" ]; then
  $cyborg train data/demo/train.csv --text full_text --score score --id essay_id --range 1:6 \
    --tune top:1 --epochs 1 --lexical-buckets 4096 --out "$model"
fi
$cyborg score "$model" data/demo/sample.csv --text full_text --id essay_id --out "$work/cli-scores.csv"

traits=()
if [ -d ../shared/data/asap-aes ]; then
  step "A multi-trait model (ASAP-AES set 7: holistic score and four traits; linear head)"
  python3 scripts/asap-traits.py ../shared/data/asap-aes 200 "$work/set7.csv"
  python3 scripts/asap-traits.py ../shared/data/asap-aes 6 "$work/set7-few.csv"
  $cyborg train "$work/set7.csv" --text essay --score score --id id \
    --trait ideas,organization,style,conventions --tune head --lexical-buckets 4096 \
    --out "$work/traits.cyborg"
  $cyborg score "$work/traits.cyborg" "$work/set7-few.csv" --text essay --id id --out "$work/traits-scores.csv"
  traits=("$work/traits.cyborg" "$work/set7-few.csv" "$work/traits-scores.csv")
else
  echo "skipped the multi-trait check: ../shared/data/asap-aes is absent"
fi

step "The app in headless Chromium"
CYBORG_BIN=$cyborg node tests/browser/app.mjs dist "$model" data/demo/sample.csv "$work/cli-scores.csv" target/artifacts "${traits[@]}"

step "WebGPU in headless Chromium (a software adapter: right answers, not real speed)"
node tests/browser/webgpu.mjs dist "$model" data/demo/sample.csv "$work/cli-scores.csv" target/artifacts

step "cyborg serve: the Train view in headless Chromium"
serve_dir=$work/serve
rm -rf "$serve_dir"
$cyborg serve --addr 127.0.0.1:0 --data-dir "$serve_dir" --dist dist >"$work/serve.log" 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  grep -q '^serving ' "$work/serve.log" && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
url=$(awk '/^serving /{print $2; exit}' "$work/serve.log")
url=${url%/}
node tests/browser/train.mjs "$url" "$(cat "$serve_dir/token")" data/demo/sample.csv "$cyborg" target/artifacts

step "A load test of cyborg serve (10,000 requests, 50 at a time)"
node tests/browser/load.mjs "$url" 10000 50
