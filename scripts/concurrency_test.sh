#!/usr/bin/env bash
# Concurrency test (issue 7): pg_forget erasing people while an application
# writes to the same rows.
#
# On a cluster of its own (port 55480, /tmp/pgf_conc, trust auth, the library
# preloaded, the worker off) it builds an application schema tagged with @pii
# (app.users is the `@pii subjects` table; addresses and orders reach it
# through foreign keys; sessions has a login name, an inet and a timestamptz,
# and a foreign key to users), some thousands of users, then runs AT THE SAME
# TIME:
#   - pgbench, 8 connections, realistic application transactions on the same
#     tables, half of them on the people being erased; every transaction
#     increments app.users.visits and app.sessions.hits exactly once;
#   - two psql sessions calling forget.anonymize_users over batches of the
#     target people (every 5th user);
#   - one psql session queueing forget.create_anonymization_job over three
#     time windows of the seeded sessions (user ids of every 5th user + 2,
#     and a /16 network) and running them with CALL forget.run_jobs().
# Then it checks (TAP-like "ok N - ..." lines, then "concurrency: N passed,
# N failed"; exits non-zero on any failure):
#   - pgbench: no failed transaction, no aborted client, no deadlock (40P01)
#     or serialization failure; the erasure sessions: no error;
#   - no lost update: the counters add up to the transactions pgbench made;
#   - every targeted row is masked; nobody else's row is touched.
#
# Usage: scripts/concurrency_test.sh [--reverse] [--prototype-fix] [--keep]
#   --reverse  the application locks child rows first and the users row last
#              (the deadlock experiment: it reports who got 40P01)
#   --prototype-fix  the erasure sessions do in SQL what the proposed lock-order
#              fix does in the library: lock the people's account rows first
#              (ORDER BY id FOR UPDATE), deadlock_timeout 50ms for the call,
#              and retry the call in a subtransaction on 40P01 (up to 20 tries,
#              exponential backoff with jitter); PGF_CONC_PROTO_LOCK=0 leaves
#              out the locking of the account rows (retry only);
#              PGF_CONC_PROTO_LOCK=nowait locks all the people's rows, table
#              by table, with NOWAIT first and retries on 55P03 too
#   --keep     leave the cluster running (and its files) at the end
# Without --keep the cluster is removed at the end; the clients' logs, the
# SQL they ran and the server log stay in $ROOT.logs (/tmp/pgf_conc.logs).
# Environment: PGF_CONC_PORT (55480), PGF_CONC_ROOT (/tmp/pgf_conc),
#   PGF_CONC_DURATION (18 s), PGF_CONC_USERS (5000), PGF_CONC_BATCH (20 people
#   per anonymize_users call), PGF_CONC_JOB_BATCH (forget.batch_size, 100),
#   PGF_CONC_DEADLOCK_TIMEOUT (the server's deadlock_timeout, 1s).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

ORDER=forward
KEEP=0
PROTO=0
for a in "$@"; do
  case "$a" in
    --reverse) ORDER=reverse ;;
    --prototype-fix) PROTO=1 ;;
    --keep) KEEP=1 ;;
    *) echo "usage: $0 [--reverse] [--prototype-fix] [--keep]" >&2; exit 2 ;;
  esac
done

PORT="${PGF_CONC_PORT:-55480}"
ROOT="${PGF_CONC_ROOT:-/tmp/pgf_conc}"
DURATION="${PGF_CONC_DURATION:-18}"
NUSERS="${PGF_CONC_USERS:-5000}"
BATCH="${PGF_CONC_BATCH:-20}"
JOB_BATCH="${PGF_CONC_JOB_BATCH:-100}"
SPU=20            # seeded sessions per user
NET=10.3.0.0/16   # the job's network: the seeded sessions of users 768..1023
BIN=/usr/lib/postgresql/15/bin
DATA="$ROOT/data"
SOCK="$ROOT/sock"
W="$ROOT/work"
DB=conc

as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

cleanup() {
  local rc=$?
  # background clients of this run only (by pid)
  for p in "${BG_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  if [ "$KEEP" = 1 ]; then
    echo "# kept: psql -h $SOCK -p $PORT -U postgres $DB ; files in $W"
  else
    [ -f "$DATA/PG_VERSION" ] && as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1
    # the clients' logs and the server log survive the cluster, for a look after a failure
    rm -rf "$ROOT.logs"; [ -d "$W" ] && cp "$ROOT/server.log" "$W/" 2>/dev/null; [ -d "$W" ] && mv "$W" "$ROOT.logs"
    rm -rf "$ROOT"
  fi
  exit "$rc"
}
BG_PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the cluster
if [ -f "$DATA/postmaster.pid" ]; then
  as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
fi
rm -rf "$ROOT"
mkdir -p "$SOCK" "$W"
chown postgres "$ROOT" "$SOCK" "$W"
as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null || exit 1
cat >> "$DATA/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$SOCK'
listen_addresses = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 40
shared_buffers = 128MB
timezone = 'UTC'
shared_preload_libraries = 'pg_forget'
forget.worker = off
log_lock_waits = on
deadlock_timeout = ${PGF_CONC_DEADLOCK_TIMEOUT:-1s}
log_line_prefix = '%m [%p] %a: '
CONF
as_pg "$BIN/pg_ctl" -D "$DATA" -w -l "$ROOT/server.log" start >/dev/null || { cat "$ROOT/server.log"; exit 1; }

PSQL=("$BIN/psql" -X -q -h "$SOCK" -p "$PORT" -U postgres)
q() { "${PSQL[@]}" -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" || exit 1

# ------------------------------------------------------------------ the schema
q <<SQL || exit 1
CREATE EXTENSION pg_forget;
CREATE SCHEMA app;
CREATE TABLE app.users (
    id         bigint PRIMARY KEY,
    username   text NOT NULL UNIQUE,
    email      text NOT NULL UNIQUE,
    full_name  text,
    visits     bigint NOT NULL DEFAULT 0,      -- the application's counter
    last_seen  timestamptz
);
COMMENT ON TABLE app.users IS E'Accounts.\n@pii subjects';
COMMENT ON COLUMN app.users.username IS E'Login.\n@pii subject';
COMMENT ON COLUMN app.users.email IS '@pii email';
COMMENT ON COLUMN app.users.full_name IS '@pii';
CREATE TABLE app.addresses (
    id          bigint PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES app.users,
    street      text,
    city        text,
    verified_at timestamptz
);
COMMENT ON COLUMN app.addresses.street IS '@pii';
CREATE TABLE app.orders (
    id          bigint PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES app.users,
    ship_to     text,
    total       numeric(10,2) NOT NULL,
    touched_at  timestamptz
);
COMMENT ON COLUMN app.orders.ship_to IS '@pii';
CREATE TABLE app.sessions (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES app.users,
    username    text NOT NULL,
    ip          inet,
    started_at  timestamptz NOT NULL,
    hits        bigint NOT NULL DEFAULT 0       -- the application's counter
);
COMMENT ON COLUMN app.sessions.username IS '@pii subject';
COMMENT ON COLUMN app.sessions.ip IS '@pii ip';
COMMENT ON COLUMN app.sessions.started_at IS '@pii time';
CREATE INDEX ON app.addresses (user_id);
CREATE INDEX ON app.orders (user_id);
CREATE INDEX ON app.sessions (user_id);
CREATE INDEX ON app.sessions (username);
CREATE INDEX ON app.sessions (started_at);

INSERT INTO app.users (id, username, email, full_name)
SELECT u, 'u' || u, 'u' || u || '@example.com', 'User ' || u FROM generate_series(1, $NUSERS) u;
INSERT INTO app.addresses (id, user_id, street, city)
SELECT u, u, u || ' Main Street', 'Springfield' FROM generate_series(1, $NUSERS) u;
INSERT INTO app.orders (id, user_id, ship_to, total)
SELECT (u - 1) * 3 + k, u, 'Ship ' || u || '/' || k, k * 10 FROM generate_series(1, $NUSERS) u, generate_series(1, 3) k;
-- the seeded sessions of user u have ids (u-1)*$SPU+1 .. u*$SPU, spread over 2025
INSERT INTO app.sessions (id, user_id, username, ip, started_at)
SELECT (u - 1) * $SPU + n, u, 'u' || u,
       ('10.' || (u / 256 % 256) || '.' || (u % 256) || '.' || n)::inet,
       timestamptz '2025-01-01 00:00:00+00' + ((u * 37 + n * 17) % 365) * interval '1 day'
                                             + ((u * n * 7919) % 86400) * interval '1 second'
  FROM generate_series(1, $NUSERS) u, generate_series(1, $SPU) n;
SELECT setval('app.sessions_id_seq', $NUSERS * $SPU) \\g /dev/null
VACUUM ANALYZE;
SQL
if [ -n "$(q -c 'SELECT 1 FROM forget.check_tags() LIMIT 1')" ]; then echo "Bail out! tags do not check" >&2; exit 1; fi
SEEDED=$((NUSERS * SPU))

# ------------------------------------------------------- the application load
# Half the transactions go to the people being erased (every 5th user).
cat > "$W/app.sql" <<'PGB'
\set id random(1, :nusers)
\set t random(0, 1)
\set id case when :t = 1 then random(1, :nusers / 5) * 5 else :id end
\set sid (:id - 1) * :spu + random(1, :spu)
PGB
if [ "$ORDER" = forward ]; then
  # the usual order: the person's row first, then their other rows
  cat >> "$W/app.sql" <<'PGB'
BEGIN;
UPDATE app.users SET visits = visits + 1, last_seen = now() WHERE id = :id;
UPDATE app.orders SET touched_at = now() WHERE user_id = :id;
UPDATE app.addresses SET verified_at = now() WHERE user_id = :id;
UPDATE app.sessions SET hits = hits + 1 WHERE id = :sid;
INSERT INTO app.sessions (user_id, username, ip, started_at)
  SELECT u.id, u.username, inet '192.0.2.1', now() FROM app.users u WHERE u.id = :id;
END;
PGB
else
  # the reverse order: the person's other rows first, their account row last
  cat >> "$W/app.sql" <<'PGB'
BEGIN;
UPDATE app.sessions SET hits = hits + 1 WHERE id = :sid;
UPDATE app.orders SET touched_at = now() WHERE user_id = :id;
UPDATE app.addresses SET verified_at = now() WHERE user_id = :id;
UPDATE app.users SET visits = visits + 1, last_seen = now() WHERE id = :id;
INSERT INTO app.sessions (user_id, username, ip, started_at)
  SELECT u.id, u.username, inet '192.0.2.1', now() FROM app.users u WHERE u.id = :id;
END;
PGB
fi

# ------------------------------------------------------------ the erasure side
# Target people: every 5th user, in batches of $BATCH, dealt to two sessions.
NTARGET=$((NUSERS / 5))
NBATCH=$(( (NTARGET + BATCH - 1) / BATCH ))
PER_SESSION=$(( (NBATCH + 1) / 2 ))
# spread each session's calls over the load (start 1 s in, end ~2 s before it)
PAUSE=$(awk -v d="$DURATION" -v n="$PER_SESSION" 'BEGIN { p = (d - 3) / n - 0.05; if (p < 0) p = 0; printf "%.3f", p }')
for s in 0 1; do
  {
    echo '\set VERBOSITY verbose'
    echo "SET application_name = 'erase$s';"
    echo 'SELECT pg_sleep(1);'
    echo '\timing on'
    b=0
    while [ $b -lt "$NBATCH" ]; do
      if [ $((b % 2)) -eq $s ]; then
        lo=$((b * BATCH + 1)); hi=$(( (b + 1) * BATCH )); [ $hi -gt $NTARGET ] && hi=$NTARGET
        if [ "$PROTO" = 0 ]; then
          echo "SELECT forget.anonymize_users(ARRAY(SELECT 'u' || (i * 5) FROM generate_series($lo, $hi) i)) AS job;"
        else
          cat <<SQL
DO \$\$
DECLARE names text[] := ARRAY(SELECT 'u' || (i * 5) FROM generate_series($lo, $hi) i); tries int := 0;
BEGIN
  PERFORM pg_catalog.set_config('deadlock_timeout', '50ms', true);
  LOOP
    BEGIN
$(case "${PGF_CONC_PROTO_LOCK:-1}" in
  1) echo "      PERFORM 1 FROM app.users WHERE username = ANY(names) ORDER BY id FOR UPDATE;" ;;
  nowait) echo "      PERFORM 1 FROM app.users WHERE username = ANY(names) ORDER BY id FOR UPDATE NOWAIT;
      PERFORM 1 FROM app.sessions WHERE username = ANY(names) ORDER BY id FOR UPDATE NOWAIT;
      PERFORM 1 FROM app.addresses WHERE user_id IN (SELECT id FROM app.users WHERE username = ANY(names)) ORDER BY id FOR UPDATE NOWAIT;
      PERFORM 1 FROM app.orders WHERE user_id IN (SELECT id FROM app.users WHERE username = ANY(names)) ORDER BY id FOR UPDATE NOWAIT;" ;;
esac)
      PERFORM forget.anonymize_users(names);
      EXIT;
    EXCEPTION WHEN deadlock_detected OR lock_not_available THEN
      tries := tries + 1;
      RAISE NOTICE 'pgf-retry % after %', tries, SQLSTATE;
      IF tries >= 20 THEN RAISE; END IF;
      PERFORM pg_sleep(least(0.5, 0.005 * 2 ^ tries) * (0.5 + random()));
    END;
  END LOOP;
END \$\$;
SQL
        fi
        echo '\timing off'
        echo "SELECT pg_sleep($PAUSE);"
        echo '\timing on'
      fi
      b=$((b + 1))
    done
  } > "$W/erase$s.sql"
done
# Jobs over three windows of the seeded sessions: user ids of every 5th user + 2, and a network.
cat > "$W/jobs.sql" <<SQL
\set VERBOSITY verbose
SET application_name = 'jobs';
SET forget.batch_size = $JOB_BATCH;
CREATE TEMP TABLE win (n int, lo timestamptz, hi timestamptz, job bigint);
INSERT INTO win VALUES (1, '2025-02-01 00:00:00+00', '2025-03-31 23:59:59+00', NULL),
                       (2, '2025-05-01 00:00:00+00', '2025-06-30 23:59:59+00', NULL),
                       (3, '2025-09-01 00:00:00+00', '2025-10-31 23:59:59+00', NULL);
SELECT pg_sleep(2);
SQL
for n in 1 2 3; do
  cat >> "$W/jobs.sql" <<SQL
UPDATE win SET job = forget.create_anonymization_job(lo, hi,
    ARRAY(SELECT 'u' || (i * 5 + 2) FROM generate_series(0, $NUSERS / 5 - 1) i), '{$NET}', NULL) WHERE n = $n;
\timing on
CALL forget.run_jobs();
\timing off
SELECT pg_sleep($(awk -v d="$DURATION" 'BEGIN { printf "%.1f", (d - 6) / 3 }'));
SQL
done
echo "SELECT 'jobs', string_agg(job::text, ',' ORDER BY n) FROM win;" >> "$W/jobs.sql"

# --------------------------------------------------------------------- the run
echo "# $ORDER order$([ "$PROTO" = 1 ] && echo ', prototype fix'); $NUSERS users ($NTARGET erased in $NBATCH calls of $BATCH, $SEEDED seeded sessions); pgbench -c 8 -j 2 -T $DURATION"
"${PSQL[@]}" -d "$DB" -v ON_ERROR_STOP=0 -f "$W/erase0.sql" > "$W/erase0.log" 2>&1 & BG_PIDS+=($!)
"${PSQL[@]}" -d "$DB" -v ON_ERROR_STOP=0 -f "$W/erase1.sql" > "$W/erase1.log" 2>&1 & BG_PIDS+=($!)
"${PSQL[@]}" -d "$DB" -At -v ON_ERROR_STOP=0 -f "$W/jobs.sql" > "$W/jobs.log" 2>&1 & BG_PIDS+=($!)
PGAPPNAME=app "$BIN/pgbench" -n -h "$SOCK" -p "$PORT" -U postgres -c 8 -j 2 -T "$DURATION" \
  -f "$W/app.sql" -D nusers="$NUSERS" -D spu="$SPU" --failures-detailed --verbose-errors "$DB" \
  > "$W/pgbench.out" 2> "$W/pgbench.err"
PGBENCH_RC=$?
for p in "${BG_PIDS[@]}"; do wait "$p"; done
BG_PIDS=()

# ------------------------------------------------------------------ the checks
N=0; PASSED=0; FAILED=0
report() {  # report <0|1> <description> [diagnostic]
  N=$((N + 1))
  if [ "$1" = 0 ]; then
    echo "ok $N - $2"; PASSED=$((PASSED + 1))
  else
    echo "not ok $N - $2"; FAILED=$((FAILED + 1))
    [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
  fi
}
# check_sql <description> <query returning one row: ok boolean, diagnostic text>
check_sql() {
  local r
  r=$(q -F '|' -c "$2" 2>&1)
  report "$([ "${r%%|*}" = t ] && echo 0 || echo 1)" "$1" "${r#*|}"
}
count() { grep -c "$@" || true; }

TX=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$W/pgbench.out")
FAILED_TX=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$W/pgbench.out")
TPS=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/pgbench.out")
DEADLOCK_TX=$(sed -n 's/^number of deadlock failures: \([0-9]*\).*/\1/p' "$W/pgbench.out")
SERIAL_TX=$(sed -n 's/^number of serialization failures: \([0-9]*\).*/\1/p' "$W/pgbench.out")
cat "$W/erase0.log" "$W/erase1.log" > "$W/erase.log"
ERASE_ERRORS=$(count 'ERROR:' "$W/erase.log")
ERASE_DEADLOCKS=$(count 'ERROR: *40P01' "$W/erase.log")
JOB_ERRORS=$(count 'ERROR:' "$W/jobs.log")
APP_DEADLOCKS=$(count -i 'deadlock detected' "$W/pgbench.err")
APP_SERIAL=$(count -i 'could not serialize' "$W/pgbench.err")
CALLS=$(count '^Time:' "$W/erase.log")
CALL_MS=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$W/erase.log" | sort -n |
  awk '{ a[NR] = $1 } END { if (NR) printf "min %.0f, median %.0f, max %.0f ms", a[1], a[int((NR + 1) / 2)], a[NR]; else printf "none" }')
JOB_MS=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$W/jobs.log" | awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 } END { if (!NR) printf "none" }')
echo "# pgbench: ${TX:-?} transactions, ${TPS:-?} tps, ${FAILED_TX:-?} failed (deadlock ${DEADLOCK_TX:-?}, serialization ${SERIAL_TX:-?})"
echo "# anonymize_users: $CALLS calls ($CALL_MS), $ERASE_ERRORS errors$([ "$PROTO" = 1 ] && echo ", $(count 'pgf-retry.*40P01' "$W/erase.log") retries after 40P01, $(count 'pgf-retry.*55P03' "$W/erase.log") after 55P03"); run_jobs calls: $JOB_MS ms, $JOB_ERRORS errors"
echo "# 40P01 victims: application $APP_DEADLOCKS, anonymize_users $ERASE_DEADLOCKS, jobs $(count 'ERROR: *40P01' "$W/jobs.log");" \
  "server log: $(count 'ERROR:  deadlock detected' "$ROOT/server.log") deadlocks, $(count 'still waiting for' "$ROOT/server.log") lock waits over deadlock_timeout"

report "$([ "$PGBENCH_RC" = 0 ] && [ -n "$TX" ] && [ "$TX" -gt 0 ] && echo 0 || echo 1)" \
  "pgbench ran ($TX transactions, $TPS tps)" "$(tail -5 "$W/pgbench.err")"
report "$([ "${FAILED_TX:-x}" = 0 ] && echo 0 || echo 1)" "pgbench: no failed transaction" \
  "$FAILED_TX failed; $(grep -m3 'ERROR' "$W/pgbench.err")"
report "$(grep -q 'aborted' "$W/pgbench.out" "$W/pgbench.err" && echo 1 || echo 0)" "pgbench: no aborted client" \
  "$(grep -m5 'aborted' "$W/pgbench.out" "$W/pgbench.err")"
report "$([ "$APP_DEADLOCKS" = 0 ] && [ "$APP_SERIAL" = 0 ] && ! grep -q '40P01\|40001' "$W/pgbench.err" && echo 0 || echo 1)" \
  "pgbench: no deadlock (40P01) or serialization failure in the application" \
  "$APP_DEADLOCKS deadlocks, $APP_SERIAL serialization failures"
report "$([ "$ERASE_ERRORS" = 0 ] && [ "$CALLS" -ge "$NBATCH" ] && echo 0 || echo 1)" \
  "anonymize_users: $CALLS calls, no error" \
  "$(grep -h 'ERROR:' "$W/erase.log" | sed 's/^psql:[^ ]* //' | sort | uniq -c | head -5)"
JOBS=$(sed -n 's/^jobs|//p' "$W/jobs.log")
report "$([ "$JOB_ERRORS" = 0 ] && [ -n "$JOBS" ] && echo 0 || echo 1)" "jobs session: no error" \
  "$(grep -h 'ERROR:' "$W/jobs.log" | head -5)"
check_sql "the three session jobs are done" \
  "SELECT count(*) = 3 AND bool_and(status = 'done' AND error IS NULL),
          string_agg(id || ' ' || status || ' ' || rows_done || '/' || rows_matched || coalesce(' ' || error, ''), '; ')
     FROM forget.jobs WHERE id = ANY('{${JOBS:-0}}'::bigint[])"

# no lost update
check_sql "no lost update: sum(users.visits) = transactions pgbench processed ($TX)" \
  "SELECT sum(visits) = ${TX:-0}, 'sum(visits) = ' || sum(visits) FROM app.users"
check_sql "no lost update: sum(sessions.hits) = transactions pgbench processed ($TX)" \
  "SELECT sum(hits) = ${TX:-0}, 'sum(hits) = ' || sum(hits) FROM app.sessions"
check_sql "every transaction inserted its session (visits and inserts agree)" \
  "SELECT (SELECT count(*) FROM app.sessions WHERE id > $SEEDED) = (SELECT sum(visits) FROM app.users),
          (SELECT count(*) FROM app.sessions WHERE id > $SEEDED) || ' sessions inserted'"

# every targeted row is masked (by the calls made during the run)
check_sql "all $NTARGET target users masked (username, email, full_name)" \
  "SELECT count(*) = 0, count(*) || ' not masked, e.g. id ' || min(id) FROM app.users
    WHERE id % 5 = 0 AND NOT (username LIKE 'anonymous-%' AND email LIKE 'anon-%@anonymized.invalid' AND full_name = 'anonymous')"
check_sql "target users' addresses and orders masked" \
  "SELECT (SELECT count(*) FROM app.addresses WHERE user_id % 5 = 0 AND street IS DISTINCT FROM 'anonymous')
        + (SELECT count(*) FROM app.orders WHERE user_id % 5 = 0 AND ship_to IS DISTINCT FROM 'anonymous') = 0,
          (SELECT count(*) FROM app.addresses WHERE user_id % 5 = 0 AND street IS DISTINCT FROM 'anonymous') || ' addresses, '
       || (SELECT count(*) FROM app.orders WHERE user_id % 5 = 0 AND ship_to IS DISTINCT FROM 'anonymous') || ' orders not masked'"
check_sql "target users' seeded sessions masked (subject and ip)" \
  "SELECT count(*) = 0, count(*) || ' not masked, e.g. id ' || min(id) FROM app.sessions
    WHERE id <= $SEEDED AND user_id % 5 = 0 AND NOT (username = 'anonymous' AND masklen(ip) = 24 AND host(ip) LIKE '%.0')"
# a session the application inserted for a target, committed before the
# target's erasure committed, must not keep the clear name
check_sql "no session the application inserted during the run keeps the clear name of an erased target" \
  "SELECT count(*) = 0, count(*) || ' sessions (ids ' || min(s.id) || '..' || max(s.id) || ') of ' || count(DISTINCT s.user_id) || ' erased targets'
     FROM app.sessions s JOIN app.users u ON u.id = s.user_id
    WHERE s.id > $SEEDED AND s.user_id % 5 = 0 AND s.username = 'u' || s.user_id AND u.username LIKE 'anonymous-%'"
# the job windows
WIN="((s.started_at BETWEEN '2025-02-01 00:00:00+00' AND '2025-03-31 23:59:59+00')
   OR (s.started_at BETWEEN '2025-05-01 00:00:00+00' AND '2025-06-30 23:59:59+00')
   OR (s.started_at BETWEEN '2025-09-01 00:00:00+00' AND '2025-10-31 23:59:59+00'))"
ORIG_IP="('10.' || (s.user_id / 256 % 256) || '.' || (s.user_id % 256) || '.' || (s.id - (s.user_id - 1) * $SPU))::inet"
JOBMATCH="($WIN AND (s.user_id % 5 = 2 OR $ORIG_IP <<= '$NET'))"
MASKED="(s.username = 'anonymous' AND s.ip = set_masklen(network(set_masklen($ORIG_IP, 24)), 24))"
check_sql "every seeded session the jobs matched is masked (subject and ip)" \
  "SELECT count(*) FILTER (WHERE NOT $MASKED) = 0,
          count(*) || ' matched, ' || count(*) FILTER (WHERE NOT $MASKED) || ' not masked'
     FROM app.sessions s WHERE s.id <= $SEEDED AND $JOBMATCH"
# nobody else is touched
check_sql "users not targeted are untouched" \
  "SELECT count(*) = 0, count(*) || ' changed, e.g. id ' || min(id) FROM app.users
    WHERE id % 5 <> 0 AND NOT (username = 'u' || id AND email = 'u' || id || '@example.com' AND full_name = 'User ' || id)"
check_sql "addresses and orders of users not targeted are untouched" \
  "SELECT (SELECT count(*) FROM app.addresses WHERE user_id % 5 <> 0 AND street IS DISTINCT FROM id || ' Main Street')
        + (SELECT count(*) FROM app.orders WHERE user_id % 5 <> 0 AND ship_to IS DISTINCT FROM 'Ship ' || user_id || '/' || (id - (user_id - 1) * 3)) = 0, 'some changed'"
check_sql "seeded sessions neither erased nor matched by a job are untouched" \
  "SELECT count(*) FILTER (WHERE NOT (s.username = 'u' || s.user_id AND s.ip = $ORIG_IP)) = 0,
          count(*) FILTER (WHERE NOT (s.username = 'u' || s.user_id AND s.ip = $ORIG_IP)) || ' of ' || count(*) || ' changed'
     FROM app.sessions s WHERE s.id <= $SEEDED AND s.user_id % 5 <> 0 AND NOT $JOBMATCH"
check_sql "sessions the application inserted for users not targeted are untouched" \
  "SELECT count(*) = 0, count(*) || ' changed' FROM app.sessions s
    WHERE s.id > $SEEDED AND s.user_id % 5 <> 0 AND NOT (s.username = 'u' || s.user_id AND s.ip = '192.0.2.1')"

# what a caller does after an error: one more call for everyone leaves nothing behind
q -c "SELECT forget.anonymize_users(ARRAY(SELECT 'u' || (i * 5) FROM generate_series(1, $NTARGET) i))" >/dev/null
check_sql "after one more anonymize_users call for all targets, nothing of theirs keeps a clear value" \
  "SELECT (SELECT count(*) FROM app.sessions WHERE user_id % 5 = 0 AND username = 'u' || user_id)
        + (SELECT count(*) FROM app.users WHERE id % 5 = 0 AND username = 'u' || id) = 0, 'some left'"

echo "concurrency: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
