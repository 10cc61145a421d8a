#!/usr/bin/env bash
# The demo: installs everything (scripts/setup.sh), trains a student on 600 human-scored
# AES 2.0 essays (data/demo/train.csv), scores 150 other essays, compares with their human
# scores, and builds the browser app with the model in dist/. Outputs go to demo/ and dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cyborg=target/release/cyborg
mkdir -p demo

printf '\n== The demo data\n'
$cyborg data check data/demo/train.csv --text full_text --score score --id essay_id

printf '\n== Training a student (progress on stderr; about 3 minutes on 2 cores)\n'
$cyborg train data/demo/train.csv --text full_text --score score --id essay_id \
  --range 1:6 --out demo/face-on-mars.cyborg

printf '\n== Scoring 150 essays it has not seen\n'
$cyborg score demo/face-on-mars.cyborg data/demo/sample.csv --text full_text --id essay_id \
  --out demo/scores.csv
head -5 demo/scores.csv

printf '\n== How its scores agree with the human ones\n'
$cyborg eval demo/face-on-mars.cyborg data/demo/sample.csv --text full_text --score score --id essay_id

printf '\n== The browser app, with this model as its default\n'
trunk build --release
mkdir -p dist/bundles
cp demo/face-on-mars.cyborg dist/bundles/default.cyborg
printf '\nThe app is in dist/. Serve it, then open http://localhost:8080/ to score in the browser:\n\n'
printf '    python3 -m http.server --directory dist 8080\n'
