#!/usr/bin/env bash
# Sets up the machine, builds and installs pg_forget, starts a scratch cluster
# and walks through the developer-portal demo. The cluster is left running and
# the psql line to connect is printed; `scripts/demo.sh --stop` stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export PGFORGET_ROOT="${PGFORGET_ROOT:-/tmp/pg_forget}"
export PGFORGET_PORT="${PGFORGET_PORT:-55432}"
echo "demo: building and installing pg_forget (release)"
cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/dev/null
bash scripts/cluster.sh stop >/dev/null
bash scripts/cluster.sh start
export PGHOST="$PGFORGET_ROOT/sock" PGPORT="$PGFORGET_PORT" PGUSER=postgres
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS portal_demo' -c 'CREATE DATABASE portal_demo'
psql -X -q -d portal_demo -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION pg_forget' -f demo/portal.sql -f demo/tag.sql
psql -X -d portal_demo -v ON_ERROR_STOP=1 -f demo/demo.sql
if [ "${1:-}" = "--stop" ]; then
  bash scripts/cluster.sh stop
else
  echo
  echo "demo: the cluster is still running; connect with:"
  echo "  psql -h $PGHOST -p $PGPORT -U postgres portal_demo"
  echo "demo: stop it with: bash scripts/cluster.sh stop"
fi
