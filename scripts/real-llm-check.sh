#!/usr/bin/env bash
# The LLM teacher against a real OpenAI-compatible server instead of the test double: llama.cpp's
# server from the PyPI package llama-cpp-python[server] (built from source into its own venv the
# first time, several minutes), serving the SmolLM2-135M GGUF that scripts/setup.sh installs.
#
# `teach label --teacher llm` probes the server's output modes, labels a pool of demo essays and
# is killed (kill -9) part-way; the rerun must send only what was never answered. The demo data's
# range (1:6) is given, so that a sample without a 6 does not narrow it. Prints what
# was probed, tokens, seconds per response and the requests of each run, for BENCHMARKS.md.
# Outside CI (the build alone takes minutes).
#
#   scripts/real-llm-check.sh [POOL_SIZE]       # default 80 pool essays
#   CYBORG_BIN=target/release/cyborg CYBORG_LLAMA_VENV=.venv-llama scripts/real-llm-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
pool_size=${1:-80}
venv=${CYBORG_LLAMA_VENV:-.venv-llama}
cyborg=${CYBORG_BIN:-target/release/cyborg}
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
[[ -f $model ]] || { echo "needs $model: run scripts/setup.sh first" >&2; exit 1; }
[[ -x $cyborg ]] || cargo build --release -p cyborg-cli

if ! "$venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  echo "building llama-cpp-python[server] from source into $venv (minutes)" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # Built for any x86-64, not this machine's own instruction set: the native build (AVX-512)
  # crashed on its first token here, a general-protection fault in libggml-cpu. No cached wheel,
  # which pip would reuse whatever CMAKE_ARGS say.
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "$venv/bin/python" -m pip install --quiet --no-cache-dir \
    --no-binary llama-cpp-python 'llama-cpp-python[server]'
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/python" -m llama_cpp.server --model "$model" --model_alias smollm2 --host 127.0.0.1 \
  --port "$port" --n_ctx 8192 --logits_all true >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break
  sleep 1
done
curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

# 60 human-scored essays for the prompt's examples, and a pool of the next ones, ids kept.
python3 - "$work" "$pool_size" <<'EOF'
import csv, sys
work, pool_size = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open("data/demo/train.csv", newline="", encoding="utf-8")))
for name, part in (("human.csv", rows[:60]), ("pool.csv", rows[60:60 + pool_size])):
    with open(f"{work}/{name}", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "score"])
        w.writerows([r["essay_id"], r["full_text"], r["score"]] for r in part)
EOF
label=("$cyborg" teach label "$work/human.csv" --text text --score score --id id --pool "$work/pool.csv"
  --range 1:6 --teacher llm --base-url "http://127.0.0.1:$port/v1" --llm-model smollm2 --examples-per-level 1
  --llm-cache "$work/answers" --out "$work/labels.csv" --json --quiet)

# Killed once a tenth of the pool is answered (a small model answers many per second). The
# answer folder exists from the start, so that counting its files never fails.
mkdir -p "$work/answers"
"${label[@]}" >"$work/killed.json" 2>"$work/killed.err" &
run=$!
started=$(date +%s.%N)
while kill -0 "$run" 2>/dev/null; do
  answered=$(find "$work/answers" -type f 2>/dev/null | wc -l)
  ((answered >= pool_size / 10)) && break
  sleep 0.05
done
kill -9 "$run" 2>/dev/null || true
wait "$run" 2>/dev/null || true
killed_after=$(python3 -c "import time; print(round(time.time() - $started, 1))")
answered=$(find "$work/answers" -type f | wc -l)
[[ ! -e $work/labels.csv ]] || { echo "a killed run left labels.csv" >&2; exit 1; }

started=$(date +%s.%N)
"${label[@]}" >"$work/resumed.json"
seconds=$(python3 -c "import time; print(round(time.time() - $started, 1))")
python3 - "$work" "$pool_size" "$answered" "$killed_after" "$seconds" <<'EOF'
import csv, json, sys
work, pool, answered, killed_after, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
summary = json.load(open(f"{work}/resumed.json"))
teacher = summary["teacher"]
usage = teacher["usage"]
labels = [r for r in csv.DictReader(open(f"{work}/labels.csv", newline="")) if r["source"] != "human"]
failed = [r for r in labels if r["source"] == "failed"]
reasons = "; ".join(sorted({r["error"] for r in failed}))
sent = usage["requests_sent"]
print(f"teacher: {teacher['teacher']}")
print(f"killed after {killed_after} s with {answered} answers cached")
print(f"rerun: {sent} requests sent, {usage['cached']} answers from the cache, {seconds} s "
      f"({seconds / max(sent, 1):.2f} s per request sent)")
print(f"tokens: {usage['prompt_tokens']} prompt, {usage['completion_tokens']} completion over "
      f"{pool} responses")
print(f"labels: {len(labels)} pool rows, {len(labels) - len(failed)} scored, {len(failed)} failed "
      f"({reasons[:300]})")
print(f"dev QWK of the teacher: {teacher.get('dev_qwk')}")
ok = len(labels) == pool and len({r['id'] for r in labels}) == pool and usage["cached"] >= answered - 2
print("PASS: every pool row labelled or failed once; nothing answered was asked again" if ok
      else "FAIL")
sys.exit(0 if ok else 1)
EOF
