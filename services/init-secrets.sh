#!/bin/sh
# The one-shot `secrets` service of compose.yaml (image target service): makes the stack's secrets on the first
# `docker compose up` and hands each container only what it reads, one volume per reader. Nothing that exists is
# ever overwritten, so running it again (every `up` does) changes nothing.
#
#   /run/authstack/keys       master.key, identity/notes/admin.token, postgres.password   the key service, authctl
#   /run/authstack/identity   identity.token, postgres.password                          identity
#   /run/authstack/notes      notes.token, postgres.password                             notes
#   /run/authstack/postgres   postgres.password                                          postgres
#   /run/authstack/gateway    ca.crt, tls.crt, tls.key (only with AUTHSTACK_TLS_NAMES)   gateway (compose.tls.yaml)
#
# AUTHSTACK_TLS_NAMES (compose.tls.yaml sets it): comma-separated DNS names and IP addresses of a self-signed
# certificate for the gateway, issued by a local CA made alongside (ca.crt, which clients trust). A certificate
# already in the volume is kept, the user's own included. Any failure is one line and status 1.
set -eu
umask 077

fail() {
    echo "secrets: $*" >&2
    exit 1
}

root=/run/authstack
# A pipe would hide authctl's status (sh has no pipefail): its output is kept, then printed.
written=$(authctl init --compose --keys-dir "$root/keys" 2>&1) || fail "authctl init: $written"
[ -z "$written" ] || echo "$written" | sed 's/^/secrets: /'

# share FILE DIRECTORY: a copy of keys/FILE, made only when absent, renamed into place whole.
share() {
    [ -e "$2/$1" ] && return 0
    cp "$root/keys/$1" "$2/.$1.new" && chmod 0400 "$2/.$1.new" && mv "$2/.$1.new" "$2/$1" || fail "cannot write $2/$1"
    echo "secrets: wrote $2/$1"
}
share identity.token "$root/identity"
share postgres.password "$root/identity"
share notes.token "$root/notes"
share postgres.password "$root/notes"
share postgres.password "$root/postgres"

names=${AUTHSTACK_TLS_NAMES:-}
gateway="$root/gateway"
if [ -n "$names" ] && [ ! -e "$gateway/tls.crt" ]; then
    san=""
    for name in $(echo "$names" | tr ',' ' '); do
        case "$name" in
            *[!0-9.]*) entry="DNS:$name" ;;
            *) entry="IP:$name" ;;
        esac
        san="${san:+$san,}$entry"
    done
    [ -n "$san" ] || fail "AUTHSTACK_TLS_NAMES names nothing"
    work=$(mktemp -d)
    # A CA of its own, so that clients trust one file (ca.crt) and the server key can be replaced under it.
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -subj "/CN=AuthStack local CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null || fail "openssl: cannot make the CA"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=${names%%,*}" \
        -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null || fail "openssl: cannot make the key"
    printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" >"$work/extensions"
    openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 397 \
        -extfile "$work/extensions" -out "$work/tls.crt" 2>/dev/null || fail "openssl: cannot sign the certificate"
    cp "$work/ca.crt" "$work/tls.key" "$gateway/" || fail "cannot write $gateway"
    # The certificate last: its presence is what says the set is complete.
    cp "$work/tls.crt" "$gateway/.tls.crt.new" && mv "$gateway/.tls.crt.new" "$gateway/tls.crt" || fail "cannot write $gateway/tls.crt"
    chmod 0444 "$gateway/ca.crt" "$gateway/tls.crt"
    chmod 0400 "$gateway/tls.key"
    rm -rf "$work"
    echo "secrets: wrote $gateway/tls.crt for $san (issuer: $gateway/ca.crt, which clients must trust)"
fi
