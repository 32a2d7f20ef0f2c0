#!/usr/bin/env bash
# The benchmark suite: pg_forget against hand-written SQL doing the same work,
# measured in the same run, on the same data, in a scratch cluster of its own.
#
#   scripts/bench.sh [--scales N,N] [--runs R] [--no-build]
#
#   --scales   total rows of the shop database (bench/schema.sql: nine tagged
#              tables), default 1000000,10000000
#   --runs     timed runs per case, the median is reported (default 5, at least 3)
#   --no-build skip scripts/setup.sh and `cargo pgrx install --release`
#   --cases    only these cases, comma-separated (default: all), e.g. erase_1,locate_1
#
# Cases, at each scale:
#   erase_1, erase_100, erase_10000   forget.anonymize_users of 1, 100, 10,000 people
#                                     vs bench_handwritten (bench/handwritten.sql), each
#                                     run rolled back; same_result=yes when both left
#                                     the same rows (digest of the people's rows)
#   locate_1                          forget.locate_users of one person vs hand-written counts
#   job_1pct, job_10pct               CALL forget.run_jobs() of a job over ~1% / ~10% of
#                                     the sessions vs one plain UPDATE (bench/sessions_*.sql);
#                                     paired_ratio= is the median of each run's ours/UPDATE
#                                     (the two run back to back), which a slow spell of the
#                                     machine that spans several runs does not move
#   job_memory                        peak resident memory (VmHWM, kB) of the backend
#                                     running the 10% job vs the one running the UPDATE
# Once, over 1,000,000 values: mask_ip, pseudonym, mask_email, redact_json vs the
# closest built-in expression (bench/maskers.sql).
#
# Output on stdout, one line per case (progress goes to stderr):
#   bench_header nproc=.. mem_mib=.. cpu=.. postgresql=.. runs=.. extension_build=..
#   bench case=<name> scale=<rows> ours=<v> baseline=<v> ratio=<ours/baseline> unit=<ms|kB> [...]
#   bench_total wall_s=<whole run>
# ratio is always pg_forget's cost over the baseline's: below 1 is faster.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALES=1000000,10000000
RUNS=5
BUILD=1
CASES_WANTED=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scales) SCALES="${2:?--scales needs numbers}"; shift 2 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --cases) CASES_WANTED=",${2:?--cases needs names},"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$SCALES" =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "bench: --scales must be numbers separated by commas" >&2; exit 2; }
[[ "$RUNS" =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 3 ] || { echo "bench: --runs must be a number >= 3" >&2; exit 2; }

# our own cluster, never the one on 55432
export PGFORGET_PORT=55440
export PGFORGET_ROOT=/tmp/pgf_bench
export PGHOST="$PGFORGET_ROOT/sock" PGPORT="$PGFORGET_PORT" PGUSER=postgres PGDATABASE=bench
BIN=/usr/lib/postgresql/15/bin
T_START=$(date +%s)

if [ "$BUILD" -eq 1 ]; then
  bash scripts/setup.sh >&2
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

# enough shared_buffers to hold the database, no autovacuum (it would start in
# the middle of a timed run; the scripts vacuum), no checkpoint forced by WAL
# volume during a run
CONF=("shared_buffers = 4GB" "autovacuum = off" "max_wal_size = 8GB" "checkpoint_timeout = 30min")
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

mem_mib=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
pg_version=$(q -d postgres -At -c 'SHOW server_version' | awk '{ print $1 }')
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | tr -s ' ' | tr ' ' '_')
echo "bench_header nproc=$(nproc) mem_mib=$mem_mib cpu=${cpu:-unknown} postgresql=$pg_version runs=$RUNS extension_build=$SO_BUILD extension_sha256=$SO_SUM isolated=$ISOLATED"

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# value of key=... in a result line
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# is case $1 wanted (--cases)?
want() { [ -z "$CASES_WANTED" ] || [[ "$CASES_WANTED" == *",$1,"* ]]; }
# one result line: case scale ours baseline unit [extra...]
emit() {
  local name=$1 scale=$2 ours=$3 base=$4 unit=$5; shift 5
  awk -v n="$name" -v s="$scale" -v o="$ours" -v b="$base" -v u="$unit" -v x="$*" 'BEGIN {
    printf "bench case=%s scale=%s ours=%s baseline=%s ratio=%.2f unit=%s%s\n", n, s, o, b, (b > 0 ? o / b : 0), u, (x != "" ? " " x : "") }'
}

IFS=, read -r -a scale_list <<<"$SCALES"
for SCALE in "${scale_list[@]}"; do
  echo "bench: scale $SCALE: generating the shop database" >&2
  t0=$(date +%s)
  q -d postgres -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench'
  q -c 'CREATE EXTENSION pg_forget'
  q -v scale="$SCALE" -f bench/schema.sql
  q -f bench/handwritten.sql -f bench/timing.sql
  rows=$(q -At -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables WHERE relname NOT IN ('bench_source', 'sessions_plain')")
  echo "bench: scale $SCALE: $rows rows in the tagged tables, generated in $(( $(date +%s) - t0 )) s" >&2

  for k in 1 100 10000; do
    want "erase_$k" || continue
    line=$(q -At -v k="$k" -v runs="$RUNS" -f bench/erase.sql | grep '^erase ')
    echo "bench: $line" >&2
    emit "erase_$k" "$rows" "$(field "$line" ours_ms)" "$(field "$line" baseline_ms)" ms \
      "same_result=$(field "$line" same_result) people=$(field "$line" people)"
  done

  if want locate_1; then
    line=$(q -At -v runs="$RUNS" -f bench/locate.sql | grep '^locate ')
    emit locate_1 "$rows" "$(field "$line" ours_ms)" "$(field "$line" baseline_ms)" ms
  fi

  # jobs: the people and networks of each case, then fresh data before every run
  CASES=(
    "job_1pct   1  2024-01-01T00:00:00Z 2025-01-01T00:00:00Z 16"
    "job_10pct 10  2024-04-01T00:00:00Z 2024-09-30T23:59:59Z 12"
  )
  for c in "${CASES[@]}"; do
    read -r name pct start end prefix <<<"$c"
    want "$name" || want job_memory || continue
    q -At -v case="$name" -v pct="$pct" -v start_ts="$start" -v end_ts="$end" -v net_prefix="$prefix" \
      -f bench/sessions_choose.sql >&2
  done
  for c in "${CASES[@]}"; do
    read -r name _ <<<"$c"
    want "$name" || continue
    ours=(); base=(); pairs=(); jrows=""
    for run in $(seq 1 "$RUNS"); do
      q -f bench/sessions_reset.sql >/dev/null
      if [ $((run % 2)) -eq 1 ]; then first=true; else first=false; fi
      line=$(q -At -v case="$name" -v ours_first="$first" -f bench/sessions_run.sql | grep '^result ')
      echo "bench: $name run $run (ours first: $first): ${line#result }" >&2
      status=$(field "$line" job_status); job_rows=$(field "$line" job_rows); base_rows=$(field "$line" base_rows)
      expected=$(field "$line" expected); diff=$(field "$line" diff)
      if [ "$status" != done ] || [ "$diff" != 0 ] || [ "$job_rows" != "$base_rows" ] || [ "$job_rows" != "$expected" ]; then
        echo "bench_error $name run $run: job status=$status rows=$job_rows, UPDATE rows=$base_rows, expected=$expected, differing rows=$diff"
        exit 1
      fi
      ours+=("$(field "$line" ours_ms)"); base+=("$(field "$line" base_ms)"); jrows=$job_rows
      pairs+=("$(awk -v o="$(field "$line" ours_ms)" -v b="$(field "$line" base_ms)" 'BEGIN { printf "%.4f", (b > 0 ? o / b : 0) }')")
    done
    emit "$name" "$rows" "$(printf '%s\n' "${ours[@]}" | median)" "$(printf '%s\n' "${base[@]}" | median)" ms "rows=$jrows" \
      "paired_ratio=$(printf '%s\n' "${pairs[@]}" | median | awk '{ printf "%.2f", $1 }')"
  done

  # peak memory of the largest job, each side in a fresh session on fresh data
  want job_memory || continue
  q -f bench/sessions_reset.sql >/dev/null
  m_ours=$(q -At -v case=job_10pct -v side=ours -f bench/memory.sql | grep '^memory ')
  q -f bench/sessions_reset.sql >/dev/null
  m_base=$(q -At -v case=job_10pct -v side=base -f bench/memory.sql | grep '^memory ')
  emit job_memory "$rows" "$(field "$m_ours" vmhwm_kb)" "$(field "$m_base" vmhwm_kb)" kB \
    "job=job_10pct ours_rssanon_kb=$(field "$m_ours" rssanon_kb) baseline_rssanon_kb=$(field "$m_base" rssanon_kb)"
done

# the masking functions, once: their cost does not depend on the database
want mask_ip || want pseudonym || want mask_email || want redact_json || { echo "bench_total wall_s=$(( $(date +%s) - T_START ))"; exit 0; }
echo "bench: masking functions over 1,000,000 values" >&2
while read -r line; do
  name=$(awk '{ print $2 }' <<<"$line")
  o=$(field "$line" ours_ms); b=$(field "$line" baseline_ms)
  emit "$name" 1000000 "$o" "$b" ms "ours_calls_per_s=$(awk -v o="$o" 'BEGIN { printf "%d", 1e6 / (o / 1000) }') baseline_calls_per_s=$(awk -v b="$b" 'BEGIN { printf "%d", 1e6 / (b / 1000) }')"
done < <(q -At -v n=1000000 -v runs="$RUNS" -f bench/maskers.sql | grep '^mask ')

echo "bench_total wall_s=$(( $(date +%s) - T_START ))"
