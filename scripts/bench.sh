#!/usr/bin/env bash
# Benchmark of anonymization jobs: `CALL forget.run_jobs()` on a tagged
# sessions table against one hand-written UPDATE on an identical untagged
# table, same rows, same indexes, measured in the same run.
#
#   scripts/bench.sh [--scale N] [--runs R] [--no-build] [--no-ip-index] [--explain]
#
#   --scale N      session rows (default 1000000)
#   --runs R       runs per case, the median is reported (default 5, at least 3)
#   --no-build     skip scripts/setup.sh and `cargo pgrx install`
#   --no-ip-index  no GiST inet_ops index on ip (default: both tables have one)
#   --explain      after the timed runs, one more run per case with auto_explain
#                  (EXPLAIN ANALYZE of every statement inside CALL forget.run_jobs()
#                  and of the UPDATE), written to $PGFORGET_ROOT/explain-<case>.log
#
# It starts its own scratch cluster (port 55440, under /tmp/pgf_bench, created
# afresh, running a snapshot of the installed extension) and stops it at the end.
# Output on stdout (progress goes to stderr):
#   bench_header nproc=.. mem_mib=.. cpu=.. postgresql=.. scale=N runs=.. batch_size=.. ip_gist_index=.. extension_build=..
#   bench_case <case> window=[..] users=.. nets=..(/prefix) rows=.. of N (..%)      one per case
#   bench <case> ours_ms=<median> baseline_ms=<median> ratio=<ours/baseline> rows=<masked> \
#         ours_rows_per_s=<n> baseline_rows_per_s=<n>                              one line per case
#   bench_total wall_s=<whole run>
#   bench_error <what>     when the job and the UPDATE did not mask the same rows (then exit 1)
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=1000000
RUNS=5
BUILD=1
IP_INDEX=on
EXPLAIN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="${2:?--scale needs a number}"; shift 2 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-ip-index) IP_INDEX=off; shift ;;
    --explain) EXPLAIN=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$SCALE" =~ ^[0-9]+$ ]] && [ "$SCALE" -ge 10000 ] || { echo "bench: --scale must be a number >= 10000" >&2; exit 2; }
[[ "$RUNS" =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 3 ] || { echo "bench: --runs must be a number >= 3" >&2; exit 2; }

# our own cluster, never the one on 55432
export PGFORGET_PORT=55440
export PGFORGET_ROOT=/tmp/pgf_bench
export PGHOST="$PGFORGET_ROOT/sock" PGPORT="$PGFORGET_PORT" PGUSER=postgres PGDATABASE=bench
BIN=/usr/lib/postgresql/15/bin
T_START=$(date +%s)

if [ "$BUILD" -eq 1 ]; then
  bash scripts/setup.sh
  export PATH="$HOME/.cargo/bin:$PATH"
  echo "bench: building and installing pg_forget (release)" >&2
  cargo pgrx install --release --pg-config "$BIN/pg_config" >/dev/null
fi

# A fresh cluster, running a snapshot of the extension as installed now (library,
# control file, scripts). `cargo pgrx install` rewrites pg_forget.so in place, and
# scripts/test.sh runs one (a debug build): a cluster that has the library loaded
# then dies of SIGBUS. So the cluster runs in a private mount namespace where the
# snapshot is bind-mounted over the installed files; nothing outside it changes.
LIBDIR=$("$BIN/pg_config" --pkglibdir)
EXTDIR="$("$BIN/pg_config" --sharedir)/extension"
bash scripts/cluster.sh destroy
SNAP="$PGFORGET_ROOT/ext"
mkdir -p "$SNAP"
# copy when no install is under way: files untouched for 3 s, copies equal to them
for attempt in $(seq 1 30); do
  files=("$LIBDIR/pg_forget.so" "$EXTDIR"/pg_forget.control "$EXTDIR"/pg_forget--*.sql)
  cp "${files[@]}" "$SNAP/"
  newest=$(stat -c %Y "${files[@]}" | sort -n | tail -1)
  same=yes
  for f in "${files[@]}"; do cmp -s "$f" "$SNAP/${f##*/}" || same=no; done
  if [ "$same" = yes ] && [ $(( $(date +%s) - newest )) -ge 3 ]; then break; fi
  [ "$attempt" -lt 30 ] || { echo "bench: pg_forget keeps being reinstalled; try again later" >&2; exit 1; }
  sleep 2
done
chmod -R a+rX "$PGFORGET_ROOT"
SO_SUM=$(sha256sum "$SNAP/pg_forget.so" | cut -c1-12)
# a debug build (what scripts/regress.sh --install leaves) runs the Rust code several times slower
if ! command -v readelf >/dev/null; then
  SO_BUILD=unknown
elif readelf -S "$SNAP/pg_forget.so" | grep -q '\.debug_info'; then
  SO_BUILD=debug
  echo "bench: WARNING: the installed pg_forget.so is a debug build; run without --no-build to measure a release build" >&2
else
  SO_BUILD=release
fi

# enough shared_buffers to hold both tables and their indexes, no autovacuum (it
# would start in the middle of a timed run; sessions_reset.sql vacuums), no
# checkpoint forced by WAL volume during a run
CONF=("shared_buffers = 1GB" "autovacuum = off" "max_wal_size = 8GB" "checkpoint_timeout = 30min")
trap 'bash scripts/cluster.sh stop >/dev/null' EXIT
if [ "$(id -u)" -eq 0 ] && unshare --mount --propagation private true 2>/dev/null; then
  ISOLATED=yes
  unshare --mount --propagation private bash -c '
    set -euo pipefail
    snap=$1 libdir=$2 extdir=$3
    shift 3
    for f in "$snap"/*; do
      case "$f" in
        *.so) mount --bind "$f" "$libdir/${f##*/}" ;;
        *) mount --bind "$f" "$extdir/${f##*/}" ;;
      esac
    done
    exec bash scripts/cluster.sh start "$@"' _ "$SNAP" "$LIBDIR" "$EXTDIR" "${CONF[@]}" >/dev/null
else
  ISOLATED=no
  echo "bench: WARNING: no private mount namespace (needs root and unshare): installing pg_forget during the run will crash the cluster" >&2
  bash scripts/cluster.sh start "${CONF[@]}" >/dev/null
fi

q() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres "$@"; }

q -d postgres -c 'CREATE DATABASE bench'
q -c 'CREATE EXTENSION pg_forget'

mem_mib=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
pg_version=$(q -At -c 'SHOW server_version' | awk '{ print $1 }')
batch=$(q -At -c 'SHOW forget.batch_size')
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | tr -s ' ' | tr ' ' '_')
echo "bench_header nproc=$(nproc) mem_mib=$mem_mib cpu=${cpu:-unknown} postgresql=$pg_version scale=$SCALE runs=$RUNS batch_size=$batch ip_gist_index=$IP_INDEX extension_build=$SO_BUILD extension_sha256=$SO_SUM isolated=$ISOLATED"

echo "bench: generating $SCALE sessions (ip GiST index: $IP_INDEX)" >&2
q -v scale="$SCALE" -v ip_index="$IP_INDEX" -f bench/sessions.sql >/dev/null

# the cases: name, percent of all rows, window, prefix of the networks in the ips list
CASES=(
  "job_1pct   1  2024-01-01T00:00:00Z 2025-01-01T00:00:00Z 16"
  "job_10pct 10  2024-04-01T00:00:00Z 2024-09-30T23:59:59Z 12"
)
for c in "${CASES[@]}"; do
  read -r name pct start end prefix <<<"$c"
  q -At -v case="$name" -v pct="$pct" -v start_ts="$start" -v end_ts="$end" -v net_prefix="$prefix" \
    -f bench/sessions_choose.sql
done

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# value of key=... in a result line
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

for c in "${CASES[@]}"; do
  read -r name _ <<<"$c"
  ours=()
  base=()
  rows=""
  for run in $(seq 1 "$RUNS"); do
    q -f bench/sessions_reset.sql >/dev/null
    # alternate which side runs first, so that neither always gets the warmer cache
    if [ $((run % 2)) -eq 1 ]; then first=true; else first=false; fi
    line=$(q -At -v case="$name" -v ours_first="$first" -f bench/sessions_run.sql | grep '^result ')
    echo "bench: $name run $run (ours first: $first): ${line#result }" >&2
    o_ms=$(field "$line" ours_ms); b_ms=$(field "$line" base_ms)
    status=$(field "$line" job_status); job_rows=$(field "$line" job_rows); base_rows=$(field "$line" base_rows)
    o_anon=$(field "$line" ours_anon); b_anon=$(field "$line" base_anon)
    expected=$(field "$line" expected); diff=$(field "$line" diff)
    if [ "$status" != done ] || [ "$diff" != 0 ] || [ "$job_rows" != "$base_rows" ] \
       || [ "$job_rows" != "$expected" ] || [ "$o_anon" != "$expected" ] || [ "$b_anon" != "$expected" ]; then
      msg="MISMATCH in $name run $run: job status=$status, job rows=$job_rows, UPDATE rows=$base_rows,"
      msg+=" anonymous rows ours=$o_anon baseline=$b_anon, expected=$expected, rows that differ=$diff"
      echo "bench_error $msg"
      echo "bench: $msg" >&2
      exit 1
    fi
    ours+=("$o_ms")
    base+=("$b_ms")
    rows="$job_rows"
  done
  o_med=$(printf '%s\n' "${ours[@]}" | median)
  b_med=$(printf '%s\n' "${base[@]}" | median)
  awk -v n="$name" -v o="$o_med" -v b="$b_med" -v r="$rows" 'BEGIN {
    printf "bench %s ours_ms=%.1f baseline_ms=%.1f ratio=%.2f rows=%d ours_rows_per_s=%d baseline_rows_per_s=%d\n",
           n, o, b, o / b, r, r / (o / 1000), r / (b / 1000) }'
done

if [ "$EXPLAIN" -eq 1 ]; then
  # auto_explain logs the plan, with actual times, of every statement the
  # procedure runs (count, each batch, bookkeeping) and of the UPDATE
  for c in "${CASES[@]}"; do
    read -r name _ <<<"$c"
    q -f bench/sessions_reset.sql >/dev/null
    log="$PGFORGET_ROOT/explain-$name.log"
    before=$(wc -c <"$PGFORGET_ROOT/server.log")
    q -At -v case="$name" -v ours_first=true \
      -c "LOAD 'auto_explain'" -c 'SET auto_explain.log_min_duration = 0' \
      -c 'SET auto_explain.log_analyze = on' -c 'SET auto_explain.log_buffers = on' \
      -c 'SET auto_explain.log_nested_statements = on' -c 'SET client_min_messages = warning' \
      -f bench/sessions_run.sql >/dev/null
    tail -c +"$((before + 1))" "$PGFORGET_ROOT/server.log" >"$log"
    # the statements that took 1 ms or more, in order, with the start of their text
    echo "bench: $name, statements of 1 ms or more (plans in $log):" >&2
    awk '/LOG:  duration: / { for (i = 1; i <= NF; i++) if ($i == "duration:") d = $(i + 1); want = 1; next }
         want && /Query Text:/ { sub(/^[ \t]*Query Text: */, ""); if (d >= 1) printf "  %10.1f ms  %s\n", d, substr($0, 1, 90); want = 0 }' \
      "$log" >&2
  done
fi


echo "bench_total wall_s=$(( $(date +%s) - T_START ))"
