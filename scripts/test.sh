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
#      a key service, PostgreSQL (scripts/scaled-topology.py);
#   6. the Python verifier recipe (Examples/python-verifier: PyJWT from PyPI, pinned) against a real `authctl up`, with
#      a client of its own, forged tokens, rotations, a revocation and a key-service outage
#      (scripts/python-verifier-test.sh).
# Network tests bind to 127.0.0.1 only; nothing here needs Docker, and the only downloads are the pinned Selenium and
# PyJWT (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests

# The Swift suites take well under a minute. A rare hang was seen twice in ~15 full runs (a PostgreSQL readiness
# test: every task suspended, nothing on the event loops, PostgreSQL idle); its cause, a statement written to a
# connection the server had just closed and never answered, is fixed (docs/decisions.md, PostgreSQL storage), and
# the tests around it now check liveness with bounded waits. The run stays bounded as a guard against any other
# hang: after 10 minutes it is stopped, the tests that had started but not finished are named, and test.sh fails.
# Nothing is retried: a hang is a bug to find, not a flake to run again.
#
# At most 12 tests run at once (Swift Testing's SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH; set it to override).
# Unbounded, all ~425 start together on two cores: the scrypt-heavy identity tests and the live servers then starve
# one another, and an HTTP test's 30 s read timeout expired in about half the runs (gateway and identity live tests,
# while no test was slow on its own). Bounded at 12 the run is as fast or faster (34–42 s against 37–46 s).
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-12}
log=$(mktemp)
set +e
timeout --signal=KILL 600 swift test --skip-build 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -eq 137 ]; then
    echo "test.sh: the Swift test run hung for 10 minutes and was stopped; tests started but not finished:" >&2
    grep -oE "Test [A-Za-z0-9_]+\([^)]*\) started" "$log" | sed 's/ started$//' | sort -u > "$log.started" || true
    grep -oE "Test [A-Za-z0-9_]+\([^)]*\)( with [0-9]+ test cases?)? (passed|failed|skipped)" "$log" \
        | sed -E 's/( with [0-9]+ test cases?)? (passed|failed|skipped)$//' | sort -u > "$log.ended" || true
    comm -23 "$log.started" "$log.ended" >&2 || true
    rm -f "$log" "$log.started" "$log.ended"
    exit 1
elif [ "$status" -ne 0 ]; then
    exit "$status"
fi
rm -f "$log" "$log.started" "$log.ended"
./scripts/e2e.sh .build/debug
python3 scripts/fault-drills.py .build/debug
./scripts/browser-test.sh .build/debug
python3 scripts/scaled-topology.py .build/debug
./scripts/python-verifier-test.sh .build/debug
