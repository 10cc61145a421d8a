#!/usr/bin/env bash
# Builds the browser app with Trunk and checks it end to end in Debian's headless Chromium
# (tests/browser/app.mjs): loading a model three ways, caching, bad bundles, scoring one
# response and a whole file, no network while scoring, and the same scores as `cyborg score`
# on the 150 demo essays. Needs what scripts/test.sh installs first. Screenshots go to
# target/artifacts/.
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

step "A small model to check the browser with (one epoch, top layer)"
model=$work/model.cyborg
if [ ! -f "$model" ] || [ "$cyborg" -nt "$model" ]; then
  $cyborg train data/demo/train.csv --text full_text --score score --id essay_id --range 1:6 \
    --tune top:1 --epochs 1 --out "$model"
fi
$cyborg score "$model" data/demo/sample.csv --text full_text --id essay_id --out "$work/cli-scores.csv"

traits=()
if [ -d ../shared/data/asap-aes ]; then
  step "A multi-trait model (ASAP-AES set 7: holistic score and four traits; linear head)"
  python3 scripts/asap-traits.py ../shared/data/asap-aes 200 "$work/set7.csv"
  python3 scripts/asap-traits.py ../shared/data/asap-aes 6 "$work/set7-few.csv"
  $cyborg train "$work/set7.csv" --text essay --score score --id id \
    --trait ideas,organization,style,conventions --tune head --out "$work/traits.cyborg"
  $cyborg score "$work/traits.cyborg" "$work/set7-few.csv" --text essay --id id --out "$work/traits-scores.csv"
  traits=("$work/traits.cyborg" "$work/set7-few.csv" "$work/traits-scores.csv")
else
  echo "skipped the multi-trait check: ../shared/data/asap-aes is absent"
fi

step "The app in headless Chromium"
node tests/browser/app.mjs dist "$model" data/demo/sample.csv "$work/cli-scores.csv" target/artifacts "${traits[@]}"
