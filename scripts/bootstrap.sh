#!/usr/bin/env bash
# Create .venv with Python >= 3.12 (the version in .python-version when pyenv has it) and
# install exactly the locked dependencies (uv.lock) into it.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(cat .python-version)
python=""
for cand in "$HOME/.pyenv/versions/$want/bin/python3" "python$want" python3.13 python3.12 python3; do
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    python=$cand
    break
  fi
done
if [ -z "$python" ]; then
  echo "bootstrap: Python >= 3.12 not found (wanted $want; pyenv install $want)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
  rm -rf .venv
  "$python" -m venv .venv
fi
# uv installs what uv.lock pins, byte for byte (hashes checked), and nothing else.
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.8"
UV_PROJECT_ENVIRONMENT=.venv .venv/bin/uv sync --frozen --inexact --quiet
