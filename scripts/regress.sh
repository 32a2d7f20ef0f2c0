#!/usr/bin/env bash
# pg_regress suites (pg_regress/sql, expected output in pg_regress/expected)
# against the scratch cluster, in a fresh `regression` database with the
# installed extension. Usage: scripts/regress.sh [--install] [test names...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export PGFORGET_ROOT="${PGFORGET_ROOT:-/tmp/pg_forget}"
export PGFORGET_PORT="${PGFORGET_PORT:-55432}"
if [ "${1:-}" = "--install" ]; then
  shift
  cargo pgrx install --pg-config /usr/lib/postgresql/15/bin/pg_config >/dev/null
  bash scripts/cluster.sh stop >/dev/null   # a running backend keeps the old library
fi
bash scripts/cluster.sh start >/dev/null
export PGHOST="$PGFORGET_ROOT/sock" PGPORT="$PGFORGET_PORT" PGUSER=postgres
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c 'DROP DATABASE IF EXISTS regression' -c 'CREATE DATABASE regression' 2>/dev/null
psql -X -q -d regression -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION pg_forget'
out="$PGFORGET_ROOT/regress"
rm -rf "$out"; mkdir -p "$out"
if [ $# -eq 0 ]; then
  set -- $(cd pg_regress/sql && ls *.sql | sed 's/\.sql$//' | sort)
else
  set -- 00_helpers "$@"
fi
if ! /usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
    --use-existing --host="$PGHOST" --port="$PGPORT" --user=postgres \
    --inputdir=pg_regress --outputdir="$out" --dbname=regression "$@"; then
  [ -f "$out/regression.diffs" ] && head -c 20000 "$out/regression.diffs"
  exit 1
fi
