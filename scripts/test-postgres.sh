#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL server on loopback for the store tests and print its
# SQLAlchemy URL. Data lives in a temp directory; fsync is off (test data only).
set -euo pipefail
PORT=${OPENDCC_TEST_PGPORT:-54329}
DIR=${OPENDCC_TEST_PGDATA:-${TMPDIR:-/tmp}/opendcc-pgtest-$PORT}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/postgres" ] || { echo "PostgreSQL server not installed" >&2; exit 1; }

# The server refuses to run as root: run it as the postgres user when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR" && chmod 700 "$DIR"
if [ ! -f "$DIR/PG_VERSION" ]; then
  as_pg "$PGBIN/initdb" -D "$DIR" -A trust -U postgres --no-sync >"$DIR.initdb.log" 2>&1
fi
if ! as_pg "$PGBIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
  as_pg "$PGBIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
    -o "-h 127.0.0.1 -p $PORT -k $DIR -F -c max_connections=200" start >/dev/null
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
