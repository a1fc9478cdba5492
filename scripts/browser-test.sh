#!/usr/bin/env bash
# Browser test of the demo web client (web/): headless Chromium from Debian (`chromium`, `chromium-driver`) driven by
# Selenium from PyPI against a real `authctl up` — log in, notes, the silent refresh after the access token expires,
# reload, two tabs refreshing at once, log out; the refresh token must never be readable by script.
#
#   scripts/browser-test.sh [BIN_DIR] [--screenshot [PATH]]     (default .build/debug; build first: swift build)
#
# Selenium comes from PyPI into .venv-browser/ (git-ignored), pinned with its dependencies in
# scripts/browser-requirements.txt; the venv is rebuilt only when the pins change. The run takes about 30 s.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv-browser"
step() { echo "browser-test: $*"; }

# shellcheck source=scripts/pinned-venv.sh
source "$ROOT/scripts/pinned-venv.sh"
pinned_venv "$VENV" "$ROOT/scripts/browser-requirements.txt" || exit 1
exec "$VENV/bin/python" "$ROOT/scripts/browser-test.py" "$@"
