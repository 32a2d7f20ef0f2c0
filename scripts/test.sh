#!/usr/bin/env bash
# Sets up the machine and runs every test layer, stopping at the first failure:
#   1. unit      plain `cargo test`: the pure Rust core, no PostgreSQL
#   1b. fuzz     the tag parser and every value masker on 10,000 generated inputs each
#   2. pg_test   `cargo pgrx test pg15`: functions inside a server pgrx starts
#   3. regress   pg_regress against the scratch cluster with the installed extension
#   4. client    Rust integration tests (tests/) over TCP to the scratch cluster
#   5. drivers   Python, Node.js and Java clients, bind parameters only
#   6. upgrade   0.1.0 -> current through the shipped scripts keeps jobs, audit rows, key
#   7. replica   a streaming standby and a logical subscriber receive the erasure
#   8. cron      pg_cron runs queued jobs
#   9. concurrency  pgbench writers beside anonymize_users and run_jobs: no deadlock, no lost update
#  10. package   the .deb (scripts/package.sh) installed with dpkg -i and checked
# (0. versions: Cargo.toml, control file, META.json and the upgrade chain agree)
# Prints one summary line per layer and a closing "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PGBIN=/usr/lib/postgresql/15/bin
export PGFORGET_ROOT="${PGFORGET_ROOT:-/tmp/pg_forget}"
export PGFORGET_PORT="${PGFORGET_PORT:-55432}"
mkdir -p "$PGFORGET_ROOT"
LOGS="$PGFORGET_ROOT/logs"
mkdir -p "$LOGS"

declare -a SUMMARY=()
TOTAL_PASSED=0
start_all=$(date +%s)

finish() {
  local failed=$1
  echo
  echo "== summary =="
  for s in "${SUMMARY[@]}"; do echo "$s"; done
  echo "wall time: $(( $(date +%s) - start_all ))s"
  echo "total: $TOTAL_PASSED passed, $failed failed"
}

# Sum "N passed" / "N failed" over cargo's "test result:" lines of a log.
cargo_counts() {
  local log=$1
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
       END { print p + 0, f + 0 }' "$log"
}

run_layer() {
  local name=$1; shift
  local log="$LOGS/$name.log"
  local t0; t0=$(date +%s)
  echo "== layer $name: $* =="
  set +e
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local dt=$(( $(date +%s) - t0 ))
  echo "$rc $dt"  > "$LOGS/$name.rc"
  return "$rc"
}

layer_cargo() {
  local name=$1; shift
  if run_layer "$name" "$@"; then rc=0; else rc=$?; fi
  read -r p f < <(cargo_counts "$LOGS/$name.log")
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  SUMMARY+=("$name: $p passed, $f failed ($(cut -d' ' -f2 "$LOGS/$name.rc")s)")
  if [ "$rc" -ne 0 ] || [ "$p" -eq 0 ]; then finish $(( f > 0 ? f : 1 )); exit 1; fi
}

# A layer whose script prints "ok ..." / "not ok ..." lines.
layer_tap() {
  local name=$1; shift
  if run_layer "$name" "$@"; then rc=0; else rc=$?; fi
  read -r p f < <(awk '/^ok / { p++ } /^not ok / { f++ } END { print p + 0, f + 0 }' "$LOGS/$name.log")
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  SUMMARY+=("$name: $p passed, $f failed ($(cut -d' ' -f2 "$LOGS/$name.rc")s)")
  if [ "$rc" -ne 0 ] || [ "$p" -eq 0 ]; then finish $(( f > 0 ? f : 1 )); exit 1; fi
}

# the pure core never imports pgrx (it is tested without PostgreSQL)
PURE="src/tags.rs src/catalog.rs src/graph.rs src/suggest.rs src/sql.rs src/plan.rs src/session.rs src/unique.rs src/error.rs src/mask/*.rs"
# shellcheck disable=SC2086
if grep -n "use pgrx\|pgrx::" $PURE; then echo "pure modules must not use pgrx" >&2; exit 1; fi

# 0. versions: Cargo.toml, the control file and META.json agree; upgrade scripts chain from 0.1.0
layer_tap versions bash scripts/check_versions.sh

# 1. pure Rust
layer_cargo unit cargo test --lib -- --skip pg_test

# 1b. fuzzing, bounded: the parsers and maskers' never-panic properties with
#     10,000 generated inputs each (the unit layer runs 256)
layer_cargo fuzz env PROPTEST_CASES=10000 timeout 600 cargo test --lib -- never_panic pseudonym_is_64 quoted_identifier_round_trips --skip pg_test

# 2. inside the server (pgrx starts its own cluster as user postgres)
layer_cargo pg_test cargo pgrx test pg15 --runas postgres --pgdata /tmp/pgf_pgrx pg_test

# 3. pg_regress against the scratch cluster with the installed extension
regress() { bash scripts/regress.sh --install; }
if run_layer regress regress; then rc=0; else rc=$?; fi
read -r p f < <(awk '/^(test|ok) .*\.\.\. ok/ || /^ok [0-9]+ / { p++ } /\.\.\. FAILED/ || /^not ok / { f++ } END { print p + 0, f + 0 }' "$LOGS/regress.log")
TOTAL_PASSED=$((TOTAL_PASSED + p))
SUMMARY+=("regress: $p passed, $f failed ($(cut -d' ' -f2 "$LOGS/regress.rc")s)")
if [ "$rc" -ne 0 ] || [ "$p" -eq 0 ]; then finish $(( f > 0 ? f : 1 )); exit 1; fi

# 4. client connections over TCP to the scratch cluster
export PGFORGET_TEST_DSN="host=127.0.0.1 port=$PGFORGET_PORT user=postgres dbname=postgres"
layer_cargo client cargo test --features client_tests --test client --test crash

# 5. driver clients: Python (psycopg 3), Node.js (pg), Java (JDBC), bind parameters only
layer_tap drivers bash scripts/drivers.sh

# 6. upgrade from the first release (0.1.0) through the shipped scripts
layer_tap upgrade bash scripts/upgrade_test.sh

# 7. replicas: a streaming standby and a logical subscriber receive the erasure
layer_tap replica bash scripts/replica_test.sh

# 8. pg_cron (Debian's postgresql-15-cron, preloaded) runs queued jobs
layer_tap cron bash scripts/cron_test.sh

# 9. concurrency: 8 pgbench connections write while anonymize_users and run_jobs work on the
#    same tables, the application locking parent rows first, then child rows first
layer_tap concurrency bash -c 'bash scripts/concurrency_test.sh && bash scripts/concurrency_test.sh --reverse'

# 10. the Debian package: release build, dpkg -i, CREATE EXTENSION and 0.1.0 -> current on a cluster of its own
layer_tap package bash -c 'bash scripts/package.sh && bash scripts/package_test.sh'

bash scripts/cluster.sh stop
finish 0
