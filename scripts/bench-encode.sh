#!/usr/bin/env bash
# Encoder speed, side by side in one run: Cyborg's candle encoder (`cyborg bench encode`) and
# PyTorch sentence-transformers, on the same 200 real essays (data/demo/train.csv), each cut to
# its first 256 or 512 tokens, at batch 1 and 16. Makes its own Python environment
# (scripts/python-venv.sh) the first time. Not part of the tests.
#
#   scripts/bench-encode.sh [N_TEXTS]
set -euo pipefail
cd "$(dirname "$0")/.."
texts=${1:-200}
data=data/demo/train.csv
model=models/all-MiniLM-L6-v2
scripts/setup.sh >&2
venv=$(scripts/python-venv.sh)
echo "== candle (cyborg bench encode)" >&2
target/release/cyborg bench encode --data "$data" --text full_text --texts "$texts" --json \
  > target/bench-encode-candle.json
echo "== PyTorch sentence-transformers" >&2
"$venv/bin/python" scripts/bench_encode.py "$model" "$data" full_text "$texts" \
  > target/bench-encode-torch.json
python3 - "$data" <<'PY'
import json, os, sys
candle = json.load(open("target/bench-encode-candle.json"))
torch = json.load(open("target/bench-encode-torch.json"))
print(f"{candle['results'][0]['texts']} essays from {sys.argv[1]}, each cut to its first window; "
      f"{os.cpu_count()} cores. candle: {candle['threads']} threads; "
      f"PyTorch {torch['torch']}: {torch['threads']} threads.\n")
print("| max tokens | batch | mean tokens | candle texts/s | PyTorch texts/s | candle ms/text | PyTorch ms/text | PyTorch time ÷ candle time |")
print("|---|---|---|---|---|---|---|---|")
for c, t in zip(candle["results"], torch["results"]):
    assert (c["max_tokens"], c["batch"]) == (t["max_tokens"], t["batch"])
    print(f"| {c['max_tokens']} | {c['batch']} | {c['mean_tokens']:.0f} | {c['texts_per_second']:.1f} | "
          f"{t['texts_per_second']:.1f} | {c['ms_per_text']:.1f} | {t['ms_per_text']:.1f} | "
          f"{t['seconds'] / c['seconds']:.2f} |")
PY
