#!/usr/bin/env bash
# Benchmark: forget.export_users of one person with ~1,000,000 rows against a
# hand-written SELECT to_jsonb(t) ... JOIN of the same rows, in the same run,
# and the backend's peak memory (VmHWM) for each. Usage: scripts/bench_export.sh [--no-build] [--rows N]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=1000000
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --rows) ROWS=$2; shift ;;
    *) echo "usage: $0 [--no-build] [--rows N]" >&2; exit 2 ;;
  esac
  shift
done
export PGFORGET_PORT="${PGFORGET_PORT:-55441}" PGFORGET_ROOT="${PGFORGET_ROOT:-/tmp/pgf_bench_export}"
if [ $BUILD -eq 1 ]; then
  bash scripts/setup.sh >/dev/null
  "$HOME/.cargo/bin/cargo" pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/dev/null
fi
bash scripts/cluster.sh stop >/dev/null
bash scripts/cluster.sh start >/dev/null
export PGHOST="$PGFORGET_ROOT/sock" PGPORT="$PGFORGET_PORT" PGUSER=postgres
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS bench_export' -c 'CREATE DATABASE bench_export'
psql -X -q -d bench_export -c 'CREATE EXTENSION pg_forget' -v rows="$ROWS" -f bench/export.sql
# run a query in a fresh backend; print elapsed ms and the backend's peak RSS in kB
measure() {
  local sql=$1
  psql -X -q -t -A -d bench_export <<SQL
SELECT pg_backend_pid() AS pid \gset
\o /dev/null
SELECT clock_timestamp() AS t0 \gset
$sql
\o
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000) || ' ' ||
       (SELECT regexp_replace(line, '[^0-9]', '', 'g') FROM regexp_split_to_table(pg_read_file('/proc/' || :pid || '/status'), E'\n') AS line
         WHERE line LIKE 'VmHWM:%');
SQL
}
ours_runs=(); base_runs=(); ours_mem=0; base_mem=0
for i in 1 2 3; do
  read -r ms kb < <(measure "SELECT count(*) FROM (SELECT * FROM forget.export_users('{heavy}')) e WHERE e.data IS NOT NULL;")
  ours_runs+=("$ms"); [ "$kb" -gt "$ours_mem" ] && ours_mem=$kb
  read -r ms kb < <(measure "SELECT count(*) FROM (SELECT 'heavy' AS username, 'public' AS schema_name, 'ex_events' AS table_name, to_jsonb(t) AS data FROM ex_events t JOIN ex_users u ON u.id = t.user_id WHERE u.username = 'heavy' ORDER BY t.id) e WHERE e.data IS NOT NULL;")
  base_runs+=("$ms"); [ "$kb" -gt "$base_mem" ] && base_mem=$kb
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
om=$(median "${ours_runs[@]}"); bm=$(median "${base_runs[@]}")
n=$(psql -X -q -t -A -d bench_export -c "SELECT count(*) FROM ex_events WHERE user_id = 1")
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(psql -X -q -t -A -d postgres -c 'SHOW server_version'), work_mem $(psql -X -q -t -A -d postgres -c 'SHOW work_mem')"
echo "bench export_1_person rows=$n ours_ms=$om baseline_ms=$bm ratio=$(awk -v a="$om" -v b="$bm" 'BEGIN { printf "%.2f", a / b }') ours_peak_rss_kb=$ours_mem baseline_peak_rss_kb=$base_mem"
bash scripts/cluster.sh stop >/dev/null
