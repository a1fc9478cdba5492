#!/usr/bin/env bash
# End-to-end test of the Python verifier recipe (Examples/python-verifier: PyJWT + the keyring follower, and its
# example service) against a real `authctl up`: forged tokens, two key rotations and a revocation while the service
# runs, and a key-service outage. One line per check; exits non-zero at the first failure; bounded to 120 s.
#
#   scripts/python-verifier-test.sh [BIN_DIR]     (default .build/debug; build first: swift build)
#
# PyJWT comes from PyPI into .venv-python-verifier/ (git-ignored), pinned with hashes in
# Examples/python-verifier/requirements.txt; the venv is rebuilt only when the pins change. The run takes about 10 s.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv-python-verifier"
step() { echo "python-verifier-test: $*"; }

# shellcheck source=scripts/pinned-venv.sh
source "$ROOT/scripts/pinned-venv.sh"
pinned_venv "$VENV" "$ROOT/Examples/python-verifier/requirements.txt" || exit 1
exec "$VENV/bin/python" "$ROOT/scripts/python-verifier-test.py" "$@"
