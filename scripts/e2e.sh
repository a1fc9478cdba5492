#!/usr/bin/env bash
# End-to-end: the README walk-through against a real `authctl up` (three processes on loopback, SQLite, fresh
# secrets), with curl. Checks every status and the fields that matter; exits non-zero at the first surprise.
#
#   scripts/e2e.sh [BIN_DIR]      (default .build/debug; build first: swift build)
#
# Short lifetimes make expiry and reuse observable in seconds: access tokens live 10 s with no leeway at notes,
# and the refresh grace window is 3 s. Each phase starts from a fresh login, so a slow machine cannot expire a
# token mid-phase.
set -euo pipefail

BIN=${1:-.build/debug}
BIN=$(cd "$BIN" && pwd)
STACKLIB="$(dirname "$0")/stacklib.py"   # free ports, waiting for authctl up, the kid of a token
WORK=$(mktemp -d)
LOG="$WORK/up.log"
UP_PID=""

cleanup() {
    if [[ -n "$UP_PID" ]] && kill -0 "$UP_PID" 2>/dev/null; then kill -TERM "$UP_PID"; wait "$UP_PID" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "e2e: FAIL: $*" >&2
    echo "--- last lines of authctl up ---" >&2
    tail -n 30 "$LOG" | cut -c1-300 >&2 || true
    exit 1
}
step() { echo "e2e: $*"; }

# json FILE EXPR — a field of a JSON document (python3 is everywhere CI and developers are).
json() { python3 -c 'import json,sys; v=eval("d"+sys.argv[2], {"d": json.load(open(sys.argv[1]))}); print("null" if v is None else v)' "$1" "$2"; }

PORTS=$(python3 "$STACKLIB" free-ports 5)
read -r IDENTITY_PORT NOTES_PORT KEYS_PORT GATEWAY_PORT EXAMPLE_PORT <<<"$PORTS"
ID="http://127.0.0.1:$IDENTITY_PORT"; NOTES="http://127.0.0.1:$NOTES_PORT"; KEYS="http://127.0.0.1:$KEYS_PORT"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT"; EXAMPLE="http://127.0.0.1:$EXAMPLE_PORT"

# request METHOD URL EXPECTED_STATUS [curl args…] — body to $WORK/body, headers to $WORK/headers.
request() {
    local method=$1 url=$2 expected=$3; shift 3
    local status
    status=$(curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" "$url" "$@") || fail "$method $url: curl failed"
    [[ "$status" == "$expected" ]] || fail "$method $url: expected $expected, got $status: $(head -c 400 "$WORK/body")"
}
header() { grep -i "^$1:" "$WORK/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
code() { json "$WORK/body" '["code"]'; }
expect_code() { [[ "$(code)" == "$1" ]] || fail "expected problem code $1, got $(code)"; }

# up [VARIABLE=value…] — authctl up in the background ($UP_PID) on the ports above, its keys and data in $WORK, its
# output in $LOG; returns once it says it is up, non-zero (saying why) if it exits first or is not up within 120 s.
# --with-example also runs Examples/WhoAmI, a service on the verifier library with a key-service client of its own.
up() {
    env "$@" "$BIN/authctl" up --bin-dir "$BIN" --keys-dir "$WORK/keys" --data-dir "$WORK/data" \
        --identity-port "$IDENTITY_PORT" --notes-port "$NOTES_PORT" --keys-port "$KEYS_PORT" --gateway-port "$GATEWAY_PORT" \
        --with-example --example-port "$EXAMPLE_PORT" >"$LOG" 2>&1 &
    UP_PID=$!
    python3 "$STACKLIB" wait-up "$LOG" "$UP_PID" 120
}

step "starting authctl up on ports $IDENTITY_PORT/$NOTES_PORT/$KEYS_PORT, gateway $GATEWAY_PORT"
up IDENTITY_ACCESS_TTL=10 IDENTITY_REFRESH_GRACE=3 NOTES_LEEWAY=0 IDENTITY_SCRYPT_LOG_N=14 || fail "the stack did not come up"
[[ -f "$WORK/keys/master.key" && -f "$WORK/keys/admin.token" ]] || fail "authctl up did not generate the secrets"

step "signup, duplicate signup, login, wrong password"
CRED='{"username":"Ada","password":"correct horse battery staple"}'
request POST "$ID/signup" 201 -H 'Content-Type: application/json' -d "$CRED"
[[ "$(json "$WORK/body" '["token_type"]')" == Bearer ]] || fail "token_type"
[[ "$(header Cache-Control)" == no-store ]] || fail "token responses must not be cached"
request POST "$ID/signup" 409 -H 'Content-Type: application/json' -d '{"username":"ada","password":"another password"}'
expect_code username_taken
request POST "$ID/login" 200 -H 'Content-Type: application/json' -d "$CRED" -c "$WORK/cookies"
cp "$WORK/body" "$WORK/login.json"
ACCESS=$(json "$WORK/login.json" '["access_token"]')
request POST "$ID/login" 401 -H 'Content-Type: application/json' -d '{"username":"ada","password":"wrong password!"}'
expect_code invalid_credentials
request POST "$ID/login" 400 -H 'Content-Type: application/json' -d '{"username":"ada"}'
expect_code invalid_request

# fresh_access — log in again and set $ACCESS (scrypt is cheap here: IDENTITY_SCRYPT_LOG_N=14).
fresh_access() {
    request POST "$ID/login" 200 -H 'Content-Type: application/json' -d "$CRED"
    ACCESS=$(json "$WORK/body" '["access_token"]')
}

step "gateway: the web client at /app/, the APIs on the same origin, the key service's paths refused"
request GET "$GATEWAY/app/" 200
grep -q '<script src="app.js" defer></script>' "$WORK/body" || fail "/app/ is not the web client"
[[ -n "$(header Content-Security-Policy)" ]] || fail "the web client is served without a CSP"
request GET "$GATEWAY/app" 301
[[ "$(header Location)" == /app/ ]] || fail "/app redirects to /app/"
request POST "$GATEWAY/login" 200 -H 'Content-Type: application/json' -d "$CRED"
[[ $(grep -ci '^set-cookie: refresh_token=rt_' "$WORK/headers") == 1 ]] || fail "the gateway passes the refresh cookie"
request GET "$GATEWAY/notes" 200 -H "Authorization: Bearer $(json "$WORK/body" '["access_token"]')"
# A browser on the gateway's own origin may use the cookie endpoints; a page of another origin may not, and a form
# post (no preflight needed) is refused by its media type before it can log anybody out.
request POST "$GATEWAY/login" 200 -H 'Content-Type: application/json' -H "Origin: $GATEWAY" -H 'Sec-Fetch-Site: same-origin' -d "$CRED"
request POST "$GATEWAY/login" 403 -H 'Content-Type: application/json' -H 'Origin: https://evil.example' -d "$CRED"
expect_code origin_not_allowed
request POST "$GATEWAY/logout" 415 -H 'Content-Type: application/x-www-form-urlencoded' -d 'a=b'
request GET "$GATEWAY/v1/keyring" 404 -H "Authorization: Bearer $(cat "$WORK/keys/notes.token")"
expect_code not_found
request GET "$GATEWAY/app/../keys/master.key" 400 --path-as-is

step "/me and sessions"
request GET "$ID/me" 200 -H "Authorization: Bearer $ACCESS"
[[ "$(json "$WORK/body" '["username"]')" == Ada ]] || fail "/me username"
request GET "$ID/sessions" 200 -H "Authorization: Bearer $ACCESS"
[[ "$(json "$WORK/body" '["sessions"].__len__()')" -ge 2 ]] || fail "the signup's and the login's sessions expected"

step "notes CRUD"
fresh_access
request POST "$NOTES/notes" 201 -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' -d '{"title":"Groceries","body":"milk"}'
NOTE=$(json "$WORK/body" '["id"]')
[[ "$(header Location)" == "/notes/$NOTE" ]] || fail "Location header: $(header Location)"
request GET "$NOTES/notes" 200 -H "Authorization: Bearer $ACCESS"
[[ "$(json "$WORK/body" '["notes"][0]["id"]')" == "$NOTE" ]] || fail "the list shows the note"
request PATCH "$NOTES/notes/$NOTE" 200 -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' -d '{"body":"milk, eggs"}'
[[ "$(json "$WORK/body" '["body"]')" == "milk, eggs" && "$(json "$WORK/body" '["title"]')" == Groceries ]] || fail "patch"
request GET "$NOTES/notes/$NOTE" 200 -H "Authorization: Bearer $ACCESS"
request DELETE "$NOTES/notes/$NOTE" 204 -H "Authorization: Bearer $ACCESS"
request GET "$NOTES/notes/$NOTE" 404 -H "Authorization: Bearer $ACCESS"
expect_code note_not_found

step "bearer failures at notes"
fresh_access
request GET "$NOTES/notes" 401
expect_code missing_token
[[ "$(header WWW-Authenticate)" == 'Bearer realm="notes"' ]] || fail "challenge without error: $(header WWW-Authenticate)"
request GET "$NOTES/notes" 401 -H "Authorization: Bearer ${ACCESS%?}x"
expect_code invalid_token
[[ "$(header WWW-Authenticate)" == 'Bearer realm="notes", error="invalid_token"' ]] || fail "challenge with error"

step "key rotation: old tokens keep working, new ones carry the new kid"
fresh_access
"$BIN/authctl" keys rotate --force --url "$KEYS" --keys-dir "$WORK/keys" >"$WORK/rotate.txt" || fail "authctl keys rotate"
NEW_KID=$(sed -n 's/^keyring version [0-9]*, current //p' "$WORK/rotate.txt")
request GET "$NOTES/notes" 200 -H "Authorization: Bearer $ACCESS"
# Identity must sign with the new key within the propagation bound (2 s); a session of its own refreshes until then.
request POST "$ID/login" 200 -H 'Content-Type: application/json' -d "$CRED"
cp "$WORK/body" "$WORK/rotation.json"
KID=""
for _ in $(seq 1 20); do
    request POST "$ID/refresh" 200 -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$(json "$WORK/rotation.json" '["refresh_token"]')\"}"
    cp "$WORK/body" "$WORK/rotation.json"
    KID=$(python3 "$STACKLIB" kid "$(json "$WORK/body" '["access_token"]')")
    [[ "$KID" == "$NEW_KID" ]] && break
    sleep 0.1
done
[[ "$KID" == "$NEW_KID" ]] || fail "identity still signs with $KID 2 s after the rotation to $NEW_KID"
"$BIN/authctl" keys list --url "$KEYS" --keys-dir "$WORK/keys" | grep -q previous || fail "keys list shows the previous key"

step "the example service (Examples/WhoAmI, the verifier library): its own client, the same checks, the new key"
ROTATED=$(json "$WORK/rotation.json" '["access_token"]')
request GET "$EXAMPLE/whoami" 200 -H "Authorization: Bearer $ROTATED"
[[ "$(json "$WORK/body" '["username"]')" == "Ada" ]] || fail "whoami answered $(cat "$WORK/body")"
request GET "$EXAMPLE/whoami" 401
expect_code missing_token
request GET "$EXAMPLE/whoami" 401 -H "Authorization: Bearer ${ROTATED%?}x"
expect_code invalid_token
[[ "$(header WWW-Authenticate)" == 'Bearer realm="whoami", error="invalid_token"' ]] || fail "example challenge: $(header WWW-Authenticate)"
[[ "$(stat -c %a "$WORK/keys/whoami.token")" == 600 ]] || fail "the example's token file is not 0600"
"$BIN/authctl" clients list --url "$KEYS" --keys-dir "$WORK/keys" >"$WORK/clients.txt" || fail "authctl clients list"
grep -Eq '^whoami +verifier +active' "$WORK/clients.txt" || fail "authctl clients list lacks the example: $(cat "$WORK/clients.txt")"
# Revoked, the example's client is refused at once; the example keeps serving with the keyring it holds.
"$BIN/authctl" clients revoke whoami --url "$KEYS" --keys-dir "$WORK/keys" >/dev/null || fail "authctl clients revoke"
request GET "$KEYS/v1/keyring" 401 -H "Authorization: Bearer $(cat "$WORK/keys/whoami.token")"
request GET "$EXAMPLE/whoami" 200 -H "Authorization: Bearer $ROTATED"

step "expired access token → token_expired"
fresh_access
sleep 11
request GET "$NOTES/notes" 401 -H "Authorization: Bearer $ACCESS"
expect_code token_expired

step "refresh rotation, grace-window retry, reuse detection"
request POST "$ID/refresh" 200 -b "$WORK/cookies" -c "$WORK/cookies"
SUCCESSOR=$(json "$WORK/body" '["refresh_token"]')
ACCESS=$(json "$WORK/body" '["access_token"]')
OLD=$(json "$WORK/login.json" '["refresh_token"]')
request POST "$ID/refresh" 200 -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$OLD\"}"
[[ "$(json "$WORK/body" '["refresh_token"]')" == "$SUCCESSOR" ]] || fail "a retry inside the grace window must get the same successor"
request GET "$NOTES/notes" 200 -H "Authorization: Bearer $ACCESS"
sleep 3.5
request POST "$ID/refresh" 401 -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$OLD\"}"
expect_code refresh_token_reused
request POST "$ID/refresh" 401 -b "$WORK/cookies"
expect_code invalid_refresh_token

step "logout"
request POST "$ID/login" 200 -H 'Content-Type: application/json' -d "$CRED" -c "$WORK/cookies"
LAST=$(json "$WORK/body" '["refresh_token"]')
request POST "$ID/logout" 204 -b "$WORK/cookies" -c "$WORK/cookies"
header Set-Cookie | grep -q 'Max-Age=0' || fail "logout clears the cookie"
request POST "$ID/logout" 204
request POST "$ID/refresh" 401 -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$LAST\"}"
expect_code invalid_refresh_token

step "key-rotation drill: traffic through rotations, a key-service pause and a revocation"
"$BIN/authctl" drill --identity "$ID" --notes "$NOTES" --keys "$KEYS" --keys-dir "$WORK/keys" \
    --rotations 2 --interval 1 --clients 3 --key-outage 2 --revoke >"$WORK/drill.txt" 2>&1 || { tr '\r' '\n' <"$WORK/drill.txt" | tail -25; fail "authctl drill"; }
tr '\r' '\n' <"$WORK/drill.txt" | grep -E '^(operation|requests|propagation|drill: PASS)' | sed 's/^/e2e:   /'

step "stopping the stack"
kill -TERM "$UP_PID"
wait "$UP_PID" || fail "authctl up exited non-zero after SIGTERM"
UP_PID=""
for port in "$IDENTITY_PORT" "$NOTES_PORT" "$KEYS_PORT" "$GATEWAY_PORT" "$EXAMPLE_PORT"; do
    if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then fail "a service still answers on port $port after authctl up stopped"; fi
done
step "no orphans: SIGKILL authctl up, its services stop on their own"
up || { ps -o pid,stat,etime,cmd -p "$UP_PID" >&2 || true; fail "the stack did not come up a second time (same data and keys)"; }
request GET "$NOTES/notes" 401   # the notes database and keys survived the restart; the service answers
kill -KILL "$UP_PID"; wait "$UP_PID" 2>/dev/null || true
UP_PID=""
gone=""
for _ in $(seq 1 50); do
    gone=yes
    for port in "$IDENTITY_PORT" "$NOTES_PORT" "$KEYS_PORT" "$EXAMPLE_PORT"; do
        if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then gone=""; fi
    done
    [[ -n "$gone" ]] && break
    sleep 0.2
done
[[ -n "$gone" ]] || fail "services kept running 10 s after authctl up was killed"
step "PASS"
