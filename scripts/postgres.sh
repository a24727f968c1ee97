#!/usr/bin/env bash
# A throwaway PostgreSQL from Debian's packages, for the test suite: `start` prints the URL, `stop` ends it.
#   scripts/postgres.sh start   -> initdb + pg_ctl start on a free loopback port, prints postgresql+psycopg://...
#   scripts/postgres.sh stop    -> pg_ctl stop and remove the data directory
# PG_DIR (default .cache/postgres) holds the cluster. There is no init system here, so pg_ctl runs it.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

PG_DIR=${PG_DIR:-$PWD/.cache/postgres}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}

as_owner() {
    # initdb refuses to run as root: run the server as the `postgres` user the package created.
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    [[ -x $PG_BIN/initdb ]] || { echo "postgres.sh: PostgreSQL binaries not found (apt-get install postgresql)" >&2; exit 1; }
    stop >/dev/null 2>&1 || true
    mkdir -p "$PG_DIR"
    [[ $(id -u) -ne 0 ]] || chown postgres: "$PG_DIR"
    local port
    port=$(free_port)
    as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
        { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DIR -c fsync=off" start >/dev/null ||
        { cat "$PG_DIR/server.log" >&2; exit 1; }
    as_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres mindhit_test
    echo "$port" >"$PG_DIR/port"
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/mindhit_test"
}

stop() {
    if [[ -d $PG_DIR/data ]]; then
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
