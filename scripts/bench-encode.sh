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


def by_row(run):
    """A run's results keyed by (weights, max tokens, batch); PyTorch's weights are fp32."""
    return {(r.get("weights", "fp32"), r["max_tokens"], r["batch"]): r for r in run["results"]}


candle_rows = [by_row(run) for run in candle]
torch_rows = [by_row(run) for run in torch]


def median_ms(weights, key):
    rows = candle_rows if weights != "fp32" else torch_rows
    return statistics.median(run[(weights, *key)]["ms_per_text"] for run in rows)


def speed_up(weights, key):
    """PyTorch's time over candle's at `weights`, each round's own: median (range)."""
    ratios = [t[("fp32", *key)]["seconds"] / c[(weights, *key)]["seconds"]
              for t, c in zip(torch_rows, candle_rows)]
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


for t in torch[0]["results"]:
    key = (t["max_tokens"], t["batch"])
    mean_tokens = candle_rows[0][("f32", *key)]["mean_tokens"]
    print(f"| {key[0]} | {key[1]} | {mean_tokens:.0f} | {median_ms('fp32', key):.1f} | "
          f"{median_ms('f32', key):.1f} | {median_ms('int8', key):.1f} | "
          f"{speed_up('f32', key)} | {speed_up('int8', key)} |")
PY
