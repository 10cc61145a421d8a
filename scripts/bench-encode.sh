#!/usr/bin/env bash
# Encoder speed, side by side in one run: Cyborg's candle encoder (`cyborg bench encode`) at f32
# and as it runs from an int8 bundle, and PyTorch sentence-transformers (fp32), on the same 200
# real essays (data/demo/train.csv), each cut to its first 256 or 512 tokens, at batch 1 and 16. Makes its own Python environment
# (scripts/python-venv.sh) the first time. Not part of the tests.
#
# The two take turns, ROUNDS times (default 3): this machine's speed drifts over minutes, so
# each ratio is PyTorch's time over candle's in the same round, and the table gives each
# column's median over the rounds and the ratios' range.
#
#   scripts/bench-encode.sh [N_TEXTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
texts=${1:-200}
rounds=${2:-3}
data=data/demo/train.csv
model=models/all-MiniLM-L6-v2
scripts/setup.sh >&2
venv=$(scripts/python-venv.sh)
for round in $(seq 1 "$rounds"); do
  echo "== round $round of $rounds: candle (cyborg bench encode)" >&2
  target/release/cyborg bench encode --data "$data" --text full_text --texts "$texts" --json \
    > "target/bench-encode-candle-$round.json"
  echo "== round $round of $rounds: PyTorch sentence-transformers" >&2
  "$venv/bin/python" scripts/bench_encode.py "$model" "$data" full_text "$texts" \
    > "target/bench-encode-torch-$round.json"
done
python3 - "$data" "$rounds" <<'PY'
import json, os, statistics, sys
data, rounds = sys.argv[1], int(sys.argv[2])
candle = [json.load(open(f"target/bench-encode-candle-{r}.json")) for r in range(1, rounds + 1)]
torch = [json.load(open(f"target/bench-encode-torch-{r}.json")) for r in range(1, rounds + 1)]
first = candle[0]
kernel = "as integers (AVX-512 VNNI)" if first["integer_products"] else "as f32 (no VNNI here)"
print(f"{torch[0]['results'][0]['texts']} essays from {data}, each cut to its first window; "
      f"{os.cpu_count()} cores; {rounds} rounds, candle then PyTorch in each. candle: "
      f"{first['threads']} threads, int8 matrices multiplied {kernel}; PyTorch "
      f"{torch[0]['torch']} (fp32): {torch[0]['threads']} threads. Times: the median over the "
      "rounds; ratios: the median of each round's ratio, and their range.\n")
print("| max tokens | batch | mean tokens | PyTorch ms/text | candle f32 ms/text | candle int8 ms/text "
      "| PyTorch time ÷ f32 time | PyTorch time ÷ int8 time |")
print("|---|---|---|---|---|---|---|---|")


def ratio(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


for i, t in enumerate(torch[0]["results"]):
    key = (t["max_tokens"], t["batch"])
    ours = [{(c["weights"], c["max_tokens"], c["batch"]): c for c in run["results"]} for run in candle]
    pytorch = [run["results"][i] for run in torch]
    f32, int8 = ([o[(w, *key)] for o in ours] for w in ("f32", "int8"))
    ms = lambda rows: statistics.median(r["ms_per_text"] for r in rows)
    print(f"| {key[0]} | {key[1]} | {f32[0]['mean_tokens']:.0f} | {ms(pytorch):.1f} | {ms(f32):.1f} | "
          f"{ms(int8):.1f} | {ratio([p['seconds'] / c['seconds'] for p, c in zip(pytorch, f32)])} | "
          f"{ratio([p['seconds'] / c['seconds'] for p, c in zip(pytorch, int8)])} |")
PY
