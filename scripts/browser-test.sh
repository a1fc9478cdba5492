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
REQUIREMENTS="$ROOT/scripts/browser-requirements.txt"

STAMP="$VENV/.requirements.sha256"
WANTED=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "$WANTED" ]]; then
    echo "browser-test: installing the pinned Selenium into .venv-browser/"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$WANTED" >"$STAMP"
fi
exec "$VENV/bin/python" "$ROOT/scripts/browser-test.py" "$@"
