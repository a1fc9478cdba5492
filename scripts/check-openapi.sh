#!/usr/bin/env bash
# Checks the API contract artefacts against the code:
#   1. docs/openapi/{identity,notes,keys}.yaml are valid OpenAPI 3.1 (openapi-spec-validator);
#   2. every request of the Postman collection is an operation of those documents (scripts/check-postman.py);
#   3. a real `authctl up` (three processes on loopback, SQLite, fresh secrets) answers schemathesis' generated
#      requests (examples, boundary/negative coverage, fuzzing, stateful chains through the documents' links)
#      with no 5xx, and only with documented status codes, media types, headers and bodies.
#
#   scripts/check-openapi.sh [BIN_DIR]      (default .build/debug; build first: swift build)
#
# The tools come from PyPI into .venv-api/ (git-ignored), pinned with their dependencies in
# scripts/openapi-requirements.txt. The run is bounded: each service gets a time budget (ST_TIME_IDENTITY,
# ST_TIME_NOTES, ST_TIME_KEYS seconds; default 70, 70, 40) and at most ST_MAX_EXAMPLES (default 30) cases per
# operation and phase, so the whole script takes well under 5 minutes on 2 cores. ST_SEED=<n> replays a run
# (schemathesis prints the seed). Exits non-zero on any failure; the stack is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/.build/debug}
[[ -x "$BIN/authctl" ]] || { echo "check-openapi: no authctl in $BIN (build first: swift build)" >&2; exit 2; }
BIN=$(cd "$BIN" && pwd)
VENV="$ROOT/.venv-api"
REQUIREMENTS="$ROOT/scripts/openapi-requirements.txt"
SPECS="$ROOT/docs/openapi"
WORK=$(mktemp -d)
LOG="$WORK/up.log"
UP_PID=""
START=$SECONDS

cleanup() {
    local status=$?
    if [[ -n "$UP_PID" ]] && kill -0 "$UP_PID" 2>/dev/null; then kill -TERM "$UP_PID"; wait "$UP_PID" || true; fi
    if ((status != 0)) && [[ -s "$LOG" ]]; then
        # A crashed service takes the stack down with it (authctl up stops the others): keep the evidence.
        local kept
        kept=$(mktemp "${TMPDIR:-/tmp}/check-openapi-up.XXXXXX.log")
        cp "$LOG" "$kept"
        echo "--- authctl up: lines above level info, and the last lines (whole log: $kept) ---" >&2
        grep -v '"level":"info"' "$LOG" | grep -vE '^(  |$|authctl: wrote|AuthStack is up|Try it:|Ctrl-C)' | tail -n 40 | cut -c1-400 >&2 || true
        tail -n 5 "$LOG" | cut -c1-400 >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo "check-openapi: $*"; }
fail() {
    echo "check-openapi: FAIL: $*" >&2
    exit 1
}

# --- tools -------------------------------------------------------------------------------------------------------
# shellcheck source=scripts/pinned-venv.sh
source "$ROOT/scripts/pinned-venv.sh"
pinned_venv "$VENV" "$REQUIREMENTS" || fail "pip install"
ST="$VENV/bin/schemathesis"

# --- static checks -----------------------------------------------------------------------------------------------
step "validating the OpenAPI documents"
"$VENV/bin/openapi-spec-validator" "$SPECS/identity.yaml" "$SPECS/notes.yaml" "$SPECS/keys.yaml" || fail "invalid OpenAPI document"
step "checking the Postman collection against them"
"$VENV/bin/python" "$ROOT/scripts/check-postman.py" || fail "the Postman collection does not match the OpenAPI documents"

# --- the stack ---------------------------------------------------------------------------------------------------
STACKLIB="$ROOT/scripts/stacklib.py"   # free ports, waiting for authctl up
PORTS=$(python3 "$STACKLIB" free-ports 4)
read -r IDENTITY_PORT NOTES_PORT KEYS_PORT GATEWAY_PORT <<<"$PORTS"
ID="http://127.0.0.1:$IDENTITY_PORT"; NOTES="http://127.0.0.1:$NOTES_PORT"; KEYS="http://127.0.0.1:$KEYS_PORT"

step "starting authctl up on ports $IDENTITY_PORT/$NOTES_PORT/$KEYS_PORT"
# Cheaper scrypt (16 MiB instead of 128 MiB per hash) so thousands of generated signups and logins fit the budget;
# it changes no answer the documents describe.
IDENTITY_SCRYPT_LOG_N=14 "$BIN/authctl" up --bin-dir "$BIN" --keys-dir "$WORK/keys" --data-dir "$WORK/data" \
    --identity-port "$IDENTITY_PORT" --notes-port "$NOTES_PORT" --keys-port "$KEYS_PORT" --gateway-port "$GATEWAY_PORT" >"$LOG" 2>&1 &
UP_PID=$!
python3 "$STACKLIB" wait-up "$LOG" "$UP_PID" 120 || fail "the stack did not come up"

# The user of the documents' examples, so that the examples phase logs in for real; its access token authorises
# every bearer operation of identity and notes (logout and session deletion leave access tokens valid until exp).
step "signing up the example user"
curl -s -o "$WORK/signup.json" -w '%{http_code}' -X POST "$ID/signup" -H 'Content-Type: application/json' \
    -d '{"username":"ada","password":"correct horse battery staple"}' >"$WORK/status" || fail "signup: curl failed"
[[ "$(cat "$WORK/status")" == 201 ]] || fail "signup answered $(cat "$WORK/status"): $(head -c 300 "$WORK/signup.json")"
ACCESS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/signup.json")
ADMIN=$(cat "$WORK/keys/admin.token")

# --- schemathesis ------------------------------------------------------------------------------------------------
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
FAILED=()
fuzz() {   # fuzz NAME URL SECONDS REQUEST_TIMEOUT TOKEN
    local name=$1 url=$2 seconds=$3 timeout=$4 token=$5
    local args=(run "$SPECS/$name.yaml" --url "$url" --header "Authorization: Bearer $token" --checks "$CHECKS"
        --max-examples "${ST_MAX_EXAMPLES:-30}" --max-time "$seconds" --request-timeout "$timeout" --workers 1
        --generation-database none --no-color)
    [[ -n "${ST_SEED:-}" ]] && args+=(--seed "$ST_SEED")
    step "schemathesis: $name ($url, at most $seconds s)"
    if ! (cd "$WORK" && "$ST" "${args[@]}"); then FAILED+=("$name"); fi
}
fuzz identity "$ID" "${ST_TIME_IDENTITY:-70}" 30 "$ACCESS"
fuzz notes "$NOTES" "${ST_TIME_NOTES:-70}" 30 "$ACCESS"
# Last: admin revocations (the documents' links revoke the current key) invalidate the access token.
# A 70 s request timeout leaves room for a documented 60 s long-poll.
fuzz keys "$KEYS" "${ST_TIME_KEYS:-40}" 70 "$ADMIN"

kill -0 "$UP_PID" 2>/dev/null || FAILED+=("the stack went down during the run (a service exited; see its log below)")

step "finished in $((SECONDS - START)) s"
if ((${#FAILED[@]})); then
    printf 'check-openapi: FAIL: %s\n' "${FAILED[@]}" >&2
    exit 1
fi
step "PASS"
