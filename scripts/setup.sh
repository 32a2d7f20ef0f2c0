#!/usr/bin/env bash
# One-time (and cheap to re-run) setup of a Debian 12 machine for pg_forget:
# PostgreSQL 15 server + dev packages at matching versions, libclang, sudo,
# cargo-pgrx 0.18.1 and `cargo pgrx init` pointed at Debian's pg_config.
set -euo pipefail

PGRX_VERSION=0.18.1
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=0
for p in postgresql-15 postgresql-server-dev-15 libclang-dev sudo libpostgresql-jdbc-java postgresql-15-cron; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt=1
done
# server and dev package must be at the same version
if [ $need_apt -eq 0 ]; then
  sv=$(dpkg-query -W -f='${Version}' postgresql-15)
  dv=$(dpkg-query -W -f='${Version}' postgresql-server-dev-15)
  [ "$sv" = "$dv" ] || need_apt=1
fi
if [ $need_apt -eq 1 ]; then
  echo "setup: installing Debian packages"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql-15 postgresql-server-dev-15 libclang-dev sudo libpostgresql-jdbc-java postgresql-15-cron >/dev/null
else
  echo "setup: Debian packages present"
fi

export PATH="$HOME/.cargo/bin:$PATH"
if cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then
  echo "setup: cargo-pgrx $PGRX_VERSION present"
else
  echo "setup: installing cargo-pgrx $PGRX_VERSION (a few minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --quiet
fi

cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
if [ -f "$cfg" ] && grep -q "pg15 = \"$PG_CONFIG\"" "$cfg"; then
  echo "setup: cargo pgrx already initialised for pg15"
else
  echo "setup: cargo pgrx init --pg15 $PG_CONFIG"
  cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
fi

# driver clients (tests/drivers): psycopg 3 for Python, node-postgres for Node.js
# (JDBC comes from Debian's libpostgresql-jdbc-java above; javac is on the machine)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if python3 -c 'import psycopg' 2>/dev/null; then
  echo "setup: psycopg present"
else
  echo "setup: installing psycopg 3"
  python3 -m pip install --quiet --disable-pip-version-check 'psycopg[binary]>=3.1,<4'
fi
if [ -d "$ROOT/tests/drivers/node/node_modules/pg" ]; then
  echo "setup: node-postgres present"
else
  echo "setup: installing node-postgres"
  (cd "$ROOT/tests/drivers/node" && npm install --no-audit --no-fund --silent >/dev/null)
fi

# the pg_test runner and the scratch cluster run as user postgres, which must be
# able to write into the pgrx test directories
id postgres >/dev/null 2>&1 || { echo "setup: user postgres missing" >&2; exit 1; }
echo "setup: done ($($PG_CONFIG --version))"
