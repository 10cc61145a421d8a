#!/usr/bin/env bash
# Encoder speed, side by side in one run: Cyborg's candle encoder (`cyborg bench encode`) at f32
# and as it runs from an int8 bundle, and PyTorch sentence-transformers (fp32), on the same 200
# real essays (data/demo/train.csv), each cut to its first 256 or 512 tokens, at batch 1 and 16. Makes its own Python environment
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
kernel = "as integers (AVX-512 VNNI)" if candle["integer_products"] else "as f32 (no VNNI here)"
print(f"{torch['results'][0]['texts']} essays from {sys.argv[1]}, each cut to its first window; "
      f"{os.cpu_count()} cores. candle: {candle['threads']} threads, int8 matrices multiplied "
      f"{kernel}; PyTorch {torch['torch']} (fp32): {torch['threads']} threads.\n")
print("| max tokens | batch | mean tokens | PyTorch ms/text | candle f32 ms/text | candle int8 ms/text "
      "| PyTorch time ÷ f32 time | PyTorch time ÷ int8 time |")
print("|---|---|---|---|---|---|---|---|")
ours = {(c["weights"], c["max_tokens"], c["batch"]): c for c in candle["results"]}
for t in torch["results"]:
    f32, int8 = (ours[(w, t["max_tokens"], t["batch"])] for w in ("f32", "int8"))
    print(f"| {t['max_tokens']} | {t['batch']} | {f32['mean_tokens']:.0f} | {t['ms_per_text']:.1f} | "
          f"{f32['ms_per_text']:.1f} | {int8['ms_per_text']:.1f} | "
          f"{t['seconds'] / f32['seconds']:.2f} | {t['seconds'] / int8['seconds']:.2f} |")
PY
