#!/usr/bin/env bash
# Driver clients (tests/drivers): psycopg 3, node-postgres and JDBC call the SQL
# surface with bind parameters over TCP to the scratch cluster (it must be
# running, with the extension installed). Prints "ok"/"not ok" lines and
# "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PGFORGET_PORT="${PGFORGET_PORT:-55432}"
out=$(mktemp)
rc=0
echo "-- python (psycopg 3)"; python3 tests/drivers/python/client.py | tee -a "$out" || rc=1
echo "-- node (pg)"; (cd tests/drivers/node && node client.js) | tee -a "$out" || rc=1
echo "-- java (JDBC)"
jdir=$(mktemp -d)
javac -d "$jdir" tests/drivers/java/Client.java
java -cp "$jdir:/usr/share/java/postgresql.jar" Client tests/drivers/fixture.sql | tee -a "$out" || rc=1
rm -rf "$jdir"
p=$(grep -c '^ok ' "$out" || true)
f=$(grep -c '^not ok ' "$out" || true)
rm -f "$out"
echo "drivers: $p passed, $f failed"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]
