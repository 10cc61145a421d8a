#!/usr/bin/env bash
# The demo: installs everything (scripts/setup.sh), trains a student on 600 human-scored
# AES 2.0 essays (data/demo/train.csv), scores 150 other essays and compares with their
# human scores. Outputs go to demo/.
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
