#!/usr/bin/env bash
# Makes a Python virtual environment with PyTorch and sentence-transformers from PyPI, for the
# encoder benchmark (scripts/bench-encode.sh) and for regenerating the encoder test fixture
# (scripts/encoder_fixture.py). Cyborg itself needs none of it. Large (several GB), so it is
# made once and reused. Prints the environment's folder.
#
#   scripts/python-venv.sh            # .venv in the repository (git-ignored)
#   CYBORG_VENV=/elsewhere scripts/python-venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
venv=${CYBORG_VENV:-.venv}
if ! "$venv/bin/python" -c "import sentence_transformers" 2>/dev/null; then
  if ! python3 -c "import ensurepip" 2>/dev/null; then
    echo "python3 cannot make virtual environments; installing python3-venv" >&2
    apt_install python3-venv >&2
  fi
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet sentence-transformers >&2
fi
echo "$venv"
