#!/usr/bin/env bash
# The demo: installs everything (scripts/setup.sh), trains a student on 600 human-scored
# AES 2.0 essays (data/demo/train.csv), scores 150 other essays, compares with their human
# scores, and builds the browser app with the model in dist/. Outputs go to demo/ and dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
scripts/setup.sh
cyborg=target/release/cyborg
mkdir -p demo

step "The demo data"
$cyborg data check data/demo/train.csv --text full_text --score score --id essay_id

step "Training a student (progress on stderr; about 3 minutes on 2 cores)"
$cyborg train data/demo/train.csv --text full_text --score score --id essay_id \
  --range 1:6 --out demo/face-on-mars.cyborg

step "Scoring 150 essays it has not seen"
$cyborg score demo/face-on-mars.cyborg data/demo/sample.csv --text full_text --id essay_id \
  --out demo/scores.csv
head -5 demo/scores.csv

step "How its scores agree with the human ones"
$cyborg eval demo/face-on-mars.cyborg data/demo/sample.csv --text full_text --score score --id essay_id

step "The browser app, with this model as its default"
trunk build --release
mkdir -p dist/bundles
cp demo/face-on-mars.cyborg dist/bundles/default.cyborg
printf '\nThe app is in dist/. Serve it, then open http://localhost:8080/ to score in the browser:\n\n'
printf '    python3 -m http.server --directory dist 8080\n'
