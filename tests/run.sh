#!/usr/bin/env bash
# Install what the tests need (Python packages, Debian's Chromium for the browser tests), lint, then run
# every test offline (`-m "not slow"` for a quick pass), one test file per worker on every core, at most four
# (`-n 0` runs them in this process).
set -euo pipefail
python3 -m pip install -q -r requirements-dev.txt
if ! command -v chromium >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
python3 -m ruff check .
HF_HUB_OFFLINE=1 python3 -m pytest -n auto --maxprocesses 4 --dist loadfile "$@"
