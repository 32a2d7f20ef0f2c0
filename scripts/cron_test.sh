#!/usr/bin/env bash
# pg_forget jobs run by pg_cron (issue 9): a cluster of its own with
# shared_preload_libraries = 'pg_cron,pg_forget' and pg_forget's own worker
# off; a job queued with forget.create_anonymization_job must be run by
# `CALL forget.run_jobs()` scheduled with cron.schedule, and its rows masked.
#
# Needs Debian's postgresql-15-cron (1.4.2 in Debian 12: minute schedules
# only, so the run comes at the next full minute: up to ~60 s of waiting;
# with pg_cron >= 1.5 the schedule is '2 seconds'). Runs as user postgres
# under $PGF_CRON_ROOT (/tmp/pgf_cron), port 55465, trust authentication;
# removed at the end. Prints "ok N - ..." / "not ok N - ...",
# "cron: N passed, N failed"; exits non-zero on any failure.
# PGF_CRON_BGW=1 runs pg_cron's jobs in background workers
# (cron.use_background_workers) instead of connections through cron.host;
# PGF_CRON_KEEP=1 keeps the directory.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
ROOT="${PGF_CRON_ROOT:-/tmp/pgf_cron}"
SOCK="$ROOT/sock"
PORT="${PGF_CRON_PORT:-55465}"
DB=app
t_start=$(date +%s)

as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }

N=0; PASS=0; FAIL=0
ok()     { N=$((N + 1)); PASS=$((PASS + 1)); echo "ok $N - $1"; }
not_ok() { N=$((N + 1)); FAIL=$((FAIL + 1)); echo "not ok $N - $1"; }
# check DESCRIPTION COMMAND...: one TAP line; the command's stderr follows as "#" lines
check()  { local desc=$1 out; shift
           if out=$("$@" 2>&1 >/dev/null); then ok "$desc"; else not_ok "$desc"; fi
           [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/#   /'; }
# is SQL EXPECTED: the query's (unaligned) output equals EXPECTED
is() { local got; got=$(q -c "$1" 2>&1) || true
       [ "$got" = "$2" ] || { printf 'expected: %s\ngot:      %s\n' "$2" "$got" >&2; return 1; }; }

stop() {
  if [ -f "$ROOT/data/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$ROOT/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}
cleanup() {
  local rc=$?
  stop
  if [ "${PGF_CRON_KEEP:-0}" = 1 ]; then echo "# kept $ROOT"; else rm -rf "$ROOT"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

q() { as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$SOCK" -p "$PORT" -U postgres -d "$DB" "$@"; }

if [ ! -f /usr/lib/postgresql/15/lib/pg_cron.so ]; then
  not_ok "pg_cron installed (apt-get install postgresql-15-cron)"
  echo "cron: $PASS passed, $FAIL failed"
  exit 1
fi

if [ "${PGF_CRON_BGW:-0}" = 1 ]; then
  # pg_cron runs each job in a background worker of its own: no connection
  CRON_CONNECT="cron.use_background_workers = on"
else
  # pg_cron runs each job over a libpq connection: through the socket
  # directory (trust in pg_hba.conf) rather than its default 'localhost',
  # which may resolve to ::1 where this server does not listen
  CRON_CONNECT="cron.host = '$SOCK'"
fi

stop
rm -rf "$ROOT"
mkdir -p "$SOCK"
chown -R postgres "$ROOT"
as_pg "$BIN/initdb" -D "$ROOT/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
as_pg tee -a "$ROOT/data/postgresql.conf" >/dev/null <<CONF
port = $PORT
unix_socket_directories = '$SOCK'
listen_addresses = '127.0.0.1'
fsync = off
max_connections = 30
shared_preload_libraries = 'pg_cron,pg_forget'
# pg_forget's own background worker stays off: pg_cron runs the jobs
forget.worker = off
# pg_cron's metadata and jobs live in the application database
cron.database_name = '$DB'
$CRON_CONNECT
CONF
# the database must exist before pg_cron's launcher connects to it
as_pg "$BIN/postgres" --single -D "$ROOT/data" -c shared_preload_libraries= postgres >/dev/null 2>"$ROOT/single.log" <<<"CREATE DATABASE $DB;"
as_pg "$BIN/pg_ctl" -D "$ROOT/data" -w -t 30 -l "$ROOT/server.log" start >/dev/null

q >/dev/null <<'SQL'
CREATE EXTENSION pg_cron;
CREATE EXTENSION pg_forget;
CREATE SCHEMA mon;
CREATE TABLE mon.sessions (
    id         bigint PRIMARY KEY,
    user_id    text,
    ip         inet,
    agent      text,
    started_at timestamptz NOT NULL
);
COMMENT ON COLUMN mon.sessions.user_id IS '@pii subject';
COMMENT ON COLUMN mon.sessions.ip IS '@pii ip';
COMMENT ON COLUMN mon.sessions.agent IS '@pii redact';
COMMENT ON COLUMN mon.sessions.started_at IS '@pii time';
-- one row per batch: several COMMITs inside the CALL that pg_cron runs
ALTER DATABASE app SET forget.batch_size = 1;
SET timezone = 'UTC';
INSERT INTO mon.sessions VALUES
  (1, 'u1', '10.0.0.1',      'curl',    '2026-03-01 00:00:00+00'),   -- u1, at the window start
  (2, 'u1', '10.0.0.2',      'firefox', '2026-03-31 23:59:59+00'),   -- u1, at the window end
  (3, 'u1', '10.0.0.3',      'curl',    '2026-04-01 00:00:00+00'),   -- u1, after the window
  (4, 'u2', '192.168.7.200', 'curl',    '2026-03-10 00:00:00+00'),   -- in the network 192.168.7.0/24
  (5, 'u3', '192.168.8.1',   'curl',    '2026-03-10 00:00:00+00');   -- neither
SQL
check "pg_cron and pg_forget preloaded, forget.worker off" \
  is "SELECT current_setting('shared_preload_libraries') || ' ' || current_setting('forget.worker')" "pg_cron,pg_forget off"
check "the database runs jobs one row per batch (forget.batch_size = 1)" is "SHOW forget.batch_size" 1
CRON_VERSION=$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")
echo "# pg_cron $CRON_VERSION, $CRON_CONNECT"

JOB=$(q -c "SET timezone = 'UTC'; SELECT forget.create_anonymization_job('2026-03-01 00:00:00+00', '2026-03-31 23:59:59+00', '{u1}', '{192.168.7.0/24}', '{sessions.agent}')")
check "job $JOB queued" is "SELECT status FROM forget.job_status($JOB)" queued
# a running worker would take the job at once (it is woken when a job is queued)
q -c "SELECT pg_sleep(2)" >/dev/null
check "nothing runs the job unless pg_cron does (forget.worker is off)" \
  is "SELECT status FROM forget.job_status($JOB)" queued

# pg_cron >= 1.5 takes '[1-59] seconds'; 1.4 only cron syntax, at most once a minute
if CRON_ID=$(q -c "SELECT cron.schedule('forget-jobs', '2 seconds', 'CALL forget.run_jobs()')" 2>/dev/null); then
  TIMEOUT=30; echo "# schedule: every 2 seconds"
else
  CRON_ID=$(q -c "SELECT cron.schedule('forget-jobs', '* * * * *', 'CALL forget.run_jobs()')")
  TIMEOUT=75; echo "# schedule: every minute (this pg_cron has no seconds schedules)"
fi
check "cron.schedule made cron job $CRON_ID" is "SELECT jobname || ' ' || command FROM cron.job WHERE jobid = $CRON_ID" "forget-jobs CALL forget.run_jobs()"

t0=$(date +%s)
waited() {
  local st deadline=$((SECONDS + TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    st=$(q -c "SELECT status FROM forget.job_status($JOB)" 2>/dev/null || true)
    case "$st" in done|failed) return 0 ;; esac
    sleep 0.5
  done
  echo "timed out after ${TIMEOUT}s; job status: $st" >&2
  echo "cron.job_run_details: $(q -c "SELECT string_agg(status || ' ' || coalesce(return_message, ''), '; ') FROM cron.job_run_details" 2>&1)" >&2
  return 1
}
check "pg_cron ran the job within ${TIMEOUT}s" waited
echo "# waited $(( $(date +%s) - t0 ))s for the run"
check "job_status: done, 3 rows matched and done, 100 %" \
  is "SELECT status || ' ' || rows_matched || ' ' || rows_done || ' ' || percent || ' ' || coalesce(error, '-') FROM forget.job_status($JOB)" \
  "done 3 3 100 -"
check "the window's rows are masked: subject, IP to /24, the additional field" \
  is "SELECT string_agg(id || ' ' || user_id || ' ' || ip || ' ' || agent, ', ' ORDER BY id) FROM mon.sessions WHERE id IN (1, 2, 4)" \
  "1 anonymous 10.0.0.0/24 anonymous, 2 anonymous 10.0.0.0/24 anonymous, 4 anonymous 192.168.7.0/24 anonymous"
check "rows outside the window or of other people are untouched" \
  is "SELECT string_agg(id || ' ' || user_id || ' ' || ip || ' ' || agent, ', ' ORDER BY id) FROM mon.sessions WHERE id IN (3, 5)" \
  "3 u1 10.0.0.3/32 curl, 5 u3 192.168.8.1/32 curl"
check "the job's identifiers are gone from forget.job_subject" \
  is "SELECT count(*) FROM forget.job_subject WHERE job_id = $JOB" 0
check "cron.job_run_details: a succeeded run of CALL forget.run_jobs()" \
  is "SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $CRON_ID AND status = 'succeeded' AND command = 'CALL forget.run_jobs()'" t
# pg_cron takes a run's start_time after it has started the command (its background
# worker started, or the query sent), so a job claimed at once can show a started_at
# a few milliseconds before it
check "the job was started inside that cron run" \
  is "SELECT EXISTS (SELECT FROM cron.job_run_details d, forget.job_status($JOB) j WHERE d.jobid = $CRON_ID AND d.status = 'succeeded' AND j.started_at BETWEEN d.start_time - interval '1 second' AND d.end_time)" t
check "cron.unschedule removes the schedule" is "SELECT cron.unschedule('forget-jobs')" t

echo "cron: $PASS passed, $FAIL failed ($(( $(date +%s) - t_start ))s)"
[ "$FAIL" -eq 0 ]
