#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster, then stop and delete the cluster.
#
#   bash server/pg-test.sh server/.venv/bin/pytest -q server/tests
#
# The cluster (Debian's postgresql, /usr/lib/postgresql/<version>/bin) lives in a fresh temp dir
# and listens only on a unix socket inside it (no TCP port, so nothing clashes and nothing
# outside this machine can reach it); trust auth for the `postgres` role; fsync off (it is
# thrown away). initdb refuses to run as root, so under root (CI) the server runs as the
# `postgres` system user via runuser. The command gets DEVICEHUB_PG_HOST (the socket dir),
# DEVICEHUB_PG_PORT, DEVICEHUB_PG_USER and DEVICEHUB_PG_NAME (an empty database `devicehub`),
# which server/testproject's settings turn into a PostgreSQL DATABASES entry.
# Exit status: the command's. Environment: PG_BIN to pick another PostgreSQL bin directory.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: pg-test.sh COMMAND [ARGS...]" >&2
    exit 2
fi
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]]; then
    echo "pg-test: no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)" >&2
    exit 1
fi

DIR="$(mktemp -d "${TMPDIR:-/tmp}/devicehub-pg.XXXXXX")"
if [[ "$(id -u)" == 0 ]]; then
    chown postgres: "$DIR"
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi
PORT=5432

cleanup() {
    as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

as_pg "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 -o \
    "-c listen_addresses='' -c unix_socket_directories=$DIR -p $PORT -c fsync=off \
     -c synchronous_commit=off -c full_page_writes=off -c max_connections=60" start >/dev/null \
    || { cat "$DIR/server.log" >&2; exit 1; }
as_pg "$PG_BIN/createdb" -h "$DIR" -p "$PORT" -U postgres devicehub

export DEVICEHUB_PG_HOST="$DIR" DEVICEHUB_PG_PORT="$PORT" DEVICEHUB_PG_USER=postgres \
    DEVICEHUB_PG_NAME=devicehub
echo "pg-test: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on $DIR" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
