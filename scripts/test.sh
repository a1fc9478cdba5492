#!/usr/bin/env bash
# Runs every AuthStack test: the README's test command, and what CI runs on a clean clone.
#   1. the Swift test suites (unit, HTTP, live loopback tests with a real key service);
#   2. the end-to-end walk-through against a real `authctl up` (scripts/e2e.sh: curl + python3), which ends with a
#      key-rotation drill (rotations, a key-service pause and a revocation under live traffic);
#   3. the fault drills: kill -9 and SIGTERM under write load lose no acknowledged write, and a 30 s key-service
#      outage under load fails no valid request (scripts/fault-drills.py);
#   4. the browser test: the demo web client in headless Chromium through authctl up's gateway, silent refresh
#      included (scripts/browser-test.sh; Debian's chromium and chromium-driver, Selenium from PyPI);
#   5. the scaled topology of compose.yaml as processes: nginx with the gateway's routes, 2 identity + 3 notes replicas,
#      a key service, PostgreSQL (scripts/scaled-topology.py).
# Network tests bind to 127.0.0.1 only; nothing here needs Docker, and the only download is the pinned Selenium (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build
./scripts/e2e.sh .build/debug
python3 scripts/fault-drills.py .build/debug
./scripts/browser-test.sh .build/debug
python3 scripts/scaled-topology.py .build/debug
