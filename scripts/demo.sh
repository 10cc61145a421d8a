#!/usr/bin/env bash
# The demo: installs everything (scripts/setup.sh), trains a student on 600 human-scored
# AES 2.0 essays (data/demo/train.csv), scores 150 other essays, compares with their human
# scores, builds the browser app with the model in dist/, and ends by serving it with
# `cyborg serve` (the share link to open is printed). Outputs go to demo/ and dist/.
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

# The share link of the demo model works for anyone who can reach this server; the Train view
# trains another from a file. CYBORG_DEMO_ADDR changes the address (say, when 8080 is taken).
addr=${CYBORG_DEMO_ADDR:-127.0.0.1:8080}
step "cyborg serve on http://$addr/ (Ctrl-C stops it)"
printf '\nScore in the browser with the demo model (its share link):\n\n    http://%s/?bundle=/bundles/default.cyborg\n' "$addr"
printf '\nTrain another from a file of scored responses:\n\n    http://%s/#train\n\n' "$addr"
exec "$cyborg" serve --addr "$addr" --data-dir demo/serve --dist dist
