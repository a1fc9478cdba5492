#!/usr/bin/env bash
# Installs what the peers of the GET /notes benchmark need (Benchmarks/run.py --peers): Debian packages for Go +
# golang-jwt, Express + jose, nginx and wrk; a pinned virtualenv for FastAPI + PyJWT + uvicorn in Benchmarks/peers/.venv.
# Idempotent: installs only what is missing (apt-get update only then), and reinstalls the venv only when its pins
# changed. Needs root for apt-get (it is root on this project's machines). Nothing is vendored into the repository.
#
#   bash Benchmarks/peers/setup.sh            # everything
#   bash Benchmarks/peers/setup.sh --no-apt   # only the FastAPI venv (PyPI)
#
# Debian packages are not pinned to a revision (security updates replace them); Debian 12 holds their versions fixed:
# golang-go 1.19, golang-jwt 4.4.3, node-express 4.18, node-jose 4.11, nginx 1.22. run.py prints the versions it ran.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
step() { echo "peers setup: $*"; }

apt=true
[[ ${1:-} == --no-apt ]] && apt=false

if $apt; then
    # A package per peer (and wrk, the load generator); nodejs only if no node is installed at all (a newer one from
    # elsewhere is fine: run.py points it at Debian's modules with NODE_PATH=/usr/share/nodejs).
    wanted=(golang-go golang-github-golang-jwt-jwt-dev node-express node-jose nginx wrk python3-venv)
    command -v node >/dev/null || wanted+=(nodejs)
    missing=()
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if ((${#missing[@]})); then
        step "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # Debian's nginx package may start a system-wide nginx on port 80 where an init system runs; the benchmark
        # does not use it (run.py starts its own on a free port).
    else
        step "Debian packages present"
    fi
fi

# shellcheck source=../../scripts/pinned-venv.sh
source "$repo/scripts/pinned-venv.sh"
pinned_venv "$here/.venv" "$here/fastapi/requirements.txt"
step "ready: python3 Benchmarks/run.py --bin .build/release"
