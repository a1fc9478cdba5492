#!/bin/sh
# The postgres image's program (services/Dockerfile, target postgres): Debian's PostgreSQL as uid 10001.
#
#   authstack-postgres               on an empty $PGDATA: initdb with the superuser `authstack` and the password of
#                                    $POSTGRES_PASSWORD_FILE, the databases of init-databases.sql, remote logins by
#                                    password only (scram-sha-256); then the server, in the foreground
#   authstack-postgres healthcheck   0 when the server accepts connections over TCP
#
# POSTGRES_MAX_CONNECTIONS (default 200) is max_connections: the sum of every replica's pool must fit in it
# (docs/configuration.md "Scaling on PostgreSQL"). A first start that stopped half-way is refused with one line
# rather than served from a cluster without its databases.
set -eu

fail() {
    echo "authstack-postgres: $*" >&2
    exit 2
}

bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d | sort | tail -n 1)
[ -n "$bin" ] || fail "no PostgreSQL under /usr/lib/postgresql"
data=${PGDATA:-/var/lib/postgresql/data}
marker="$data/authstack-initialized"

if [ "${1:-}" = healthcheck ]; then
    exec "$bin/pg_isready" -q -h 127.0.0.1 -p 5432 -U authstack -d postgres
fi

max_connections=${POSTGRES_MAX_CONNECTIONS:-200}
case "$max_connections" in
    "" | *[!0-9]*) fail "POSTGRES_MAX_CONNECTIONS must be a whole number" ;;
esac

if [ ! -e "$marker" ]; then
    [ ! -s "$data/PG_VERSION" ] \
        || fail "$data holds a cluster whose first start did not finish; remove the volume (docker compose down -v) and start again"
    password_file=${POSTGRES_PASSWORD_FILE:-}
    [ -n "$password_file" ] || fail "POSTGRES_PASSWORD_FILE is not set"
    [ -s "$password_file" ] || fail "POSTGRES_PASSWORD_FILE: cannot read $password_file (the secrets service writes it)"
    "$bin/initdb" --pgdata="$data" --username=authstack --pwfile="$password_file" --auth-local=peer \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    # Logins from the other containers: by password, never trust.
    printf '%s\n' "host all all 0.0.0.0/0 scram-sha-256" "host all all ::/0 scram-sha-256" >>"$data/pg_hba.conf"
    # The databases, with the server reachable on its socket only.
    "$bin/pg_ctl" --pgdata="$data" --wait --silent \
        --options="-c listen_addresses='' -c unix_socket_directories=/tmp" start
    "$bin/psql" -X -q -h /tmp -U authstack -d postgres -v ON_ERROR_STOP=1 \
        -f /usr/local/share/authstack/init-databases.sql
    "$bin/pg_ctl" --pgdata="$data" --wait --silent --mode=fast stop
    : >"$marker"
    echo "authstack-postgres: initialized $data (databases identity, notes, keys)"
fi

exec "$bin/postgres" -D "$data" -c listen_addresses='*' -c unix_socket_directories=/tmp \
    -c max_connections="$max_connections" -c log_destination=stderr
