#!/usr/bin/env bash
# Runs every AuthStack test: the README's test command, and what CI runs on a clean clone.
# Network tests bind to 127.0.0.1 only; nothing here needs Docker or the internet.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build
