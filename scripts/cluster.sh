#!/usr/bin/env bash
# A scratch PostgreSQL 15 cluster for the demo, the tests and the benchmarks:
# run as user postgres, own port, socket under /tmp, trust authentication on
# the socket and on 127.0.0.1 only.
#   scripts/cluster.sh start [extra postgresql.conf lines...] | stop | status | env
set -euo pipefail

export PGFORGET_PORT="${PGFORGET_PORT:-55432}"
export PGFORGET_ROOT="${PGFORGET_ROOT:-/tmp/pg_forget}"
DATA="$PGFORGET_ROOT/data"
SOCK="$PGFORGET_ROOT/sock"
BIN=/usr/lib/postgresql/15/bin

as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

case "${1:-}" in
  start)
    shift
    mkdir -p "$PGFORGET_ROOT" "$SOCK"
    chown postgres "$PGFORGET_ROOT" "$SOCK" 2>/dev/null || true
    if [ ! -f "$DATA/PG_VERSION" ]; then
      as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
      cat >> "$DATA/postgresql.conf" <<CONF
port = $PGFORGET_PORT
unix_socket_directories = '$SOCK'
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
# the background worker is loaded but off; tests that need it turn it on
shared_preload_libraries = 'pg_forget'
forget.worker = off
forget.worker_naptime = 1
CONF
    fi
    for line in "$@"; do echo "$line" >> "$DATA/postgresql.conf"; done
    if as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      [ $# -eq 0 ] || as_pg "$BIN/pg_ctl" -D "$DATA" -w -l "$PGFORGET_ROOT/server.log" restart >/dev/null
    else
      as_pg "$BIN/pg_ctl" -D "$DATA" -w -l "$PGFORGET_ROOT/server.log" start >/dev/null
    fi
    echo "cluster: running on port $PGFORGET_PORT (psql -h $SOCK -p $PGFORGET_PORT -U postgres)"
    ;;
  stop)
    if [ -f "$DATA/PG_VERSION" ]; then
      as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    echo "cluster: stopped"
    ;;
  crash)
    # stop without a shutdown checkpoint, as a power cut would (crash tests)
    as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    echo "cluster: crashed"
    ;;
  destroy)
    "$0" stop >/dev/null
    rm -rf "$PGFORGET_ROOT"
    ;;
  status)
    as_pg "$BIN/pg_ctl" -D "$DATA" status
    ;;
  env)
    echo "export PGHOST=$SOCK PGPORT=$PGFORGET_PORT PGUSER=postgres"
    ;;
  *)
    echo "usage: $0 start [conf lines]|stop|crash|destroy|status|env" >&2
    exit 2
    ;;
esac
