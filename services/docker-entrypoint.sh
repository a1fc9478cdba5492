#!/bin/sh
# Entry point of the AuthStack service images: runs the service given as arguments, after putting the PostgreSQL
# password from a secret file into its database URL.
#
#   <PREFIX>_DATABASE_URL=postgres://authstack@postgres:5432/identity?sslmode=disable     (no password in it)
#   <PREFIX>_DATABASE_PASSWORD_FILE=/run/secrets/postgres_password                     (compose secret)
#
# for PREFIX in IDENTITY, NOTES, KEYS. The password thus never sits in compose.yaml, an image or `docker inspect`;
# it is the same file the postgres container reads (POSTGRES_PASSWORD_FILE). `authctl init --compose` writes it
# URL-safe (base64url), so it goes into the URL as it is. Any problem stops the container with one line, status 2,
# like an invalid setting of the services themselves.
set -eu

fail() {
    echo "authstack-entrypoint: $*" >&2
    exit 2
}

for prefix in IDENTITY NOTES KEYS; do
    eval "password_file=\${${prefix}_DATABASE_PASSWORD_FILE:-}"
    [ -n "$password_file" ] || continue
    eval "url=\${${prefix}_DATABASE_URL:-}"
    [ -n "$url" ] || fail "${prefix}_DATABASE_PASSWORD_FILE is set but ${prefix}_DATABASE_URL is not"
    [ -r "$password_file" ] || fail "${prefix}_DATABASE_PASSWORD_FILE: cannot read $password_file (it must be readable by uid $(id -u))"
    password=$(cat "$password_file")
    case "$password" in
        "" | *[!A-Za-z0-9_-]*) fail "${prefix}_DATABASE_PASSWORD_FILE: $password_file must hold one non-empty line of A-Z a-z 0-9 _ - (authctl init --compose writes one)" ;;
    esac
    case "$url" in
        postgres://*@* | postgresql://*@*) ;;
        *) fail "${prefix}_DATABASE_URL must be postgres://user@host:port/database when ${prefix}_DATABASE_PASSWORD_FILE is set" ;;
    esac
    scheme=${url%%://*}
    rest=${url#*://}
    user=${rest%%@*}
    case "$user" in
        *:* | */*) fail "${prefix}_DATABASE_URL must not contain a password when ${prefix}_DATABASE_PASSWORD_FILE is set" ;;
    esac
    export "${prefix}_DATABASE_URL=${scheme}://${user}:${password}@${rest#*@}"
done

exec "$@"
