#!/usr/bin/env bash
# Erasure reaches replicas (issue 9): a primary with a tagged schema, a
# streaming standby (pg_basebackup -R) and a logical subscriber (its own
# initdb, tables from `pg_dump -s`, a publication of the tagged tables).
# pg_forget erases people on the primary; after replay a data-only pg_dump of
# each of the three must hold none of their identifiers, and still hold a
# person nobody erased. A table of the subscriber's own (not replicated) keeps
# the person until pg_forget runs there too, with the primary's key, which
# gives the same pseudonyms.
#
# Everything runs as user postgres under $PGF_REPLICA_ROOT (/tmp/pgf_replica),
# ports 55461-55463, trust authentication, and is removed at the end.
# Prints "ok N - ..." / "not ok N - ...", "replica: N passed, N failed";
# exits non-zero on any failure. Needs the installed extension, no cargo.
# PGF_REPLICA_KEEP=1 keeps the directory (dumps, logs) for a look afterwards;
# PGF_REPLICA_SKIP_ERASURE=1 skips the erasure, to see the checks fail.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
ROOT="${PGF_REPLICA_ROOT:-/tmp/pgf_replica}"
SOCK="$ROOT/sock"
P_PORT="${PGF_REPLICA_PORT:-55461}"   # primary
S_PORT=$((P_PORT + 1))                # streaming standby
L_PORT=$((P_PORT + 2))                # logical subscriber
DB=app
TIMEOUT=30                            # seconds to wait for replay or sync
t_start=$(date +%s)

as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }

N=0; PASS=0; FAIL=0
ok()     { N=$((N + 1)); PASS=$((PASS + 1)); echo "ok $N - $1"; }
not_ok() { N=$((N + 1)); FAIL=$((FAIL + 1)); echo "not ok $N - $1"; }
# check DESCRIPTION COMMAND...: one TAP line; the command's stderr follows as "#" lines
check()  { local desc=$1 out; shift
           if out=$("$@" 2>&1 >/dev/null); then ok "$desc"; else not_ok "$desc"; fi
           [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^\(# *\)\{0,1\}/#   /'; }

stop_all() {
  for d in primary standby subscriber; do
    if [ -f "$ROOT/$d/postmaster.pid" ]; then
      as_pg "$BIN/pg_ctl" -D "$ROOT/$d" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  done
}
cleanup() {
  local rc=$?
  stop_all
  if [ "${PGF_REPLICA_KEEP:-0}" = 1 ]; then echo "# kept $ROOT"; else rm -rf "$ROOT"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# psql against one node: q PORT SQL...  (prints unaligned tuples only)
q() { local port=$1; shift; as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$SOCK" -p "$port" -U postgres -d "$DB" "$@"; }
dump() { as_pg "$BIN/pg_dump" --data-only -h "$SOCK" -p "$1" -U postgres "${@:2}" "$DB"; }

# a fresh start: leftovers of an earlier run (servers included) go
stop_all
rm -rf "$ROOT"
mkdir -p "$SOCK"
chown -R postgres "$ROOT"

conf() {  # conf DATADIR PORT [extra lines]
  local dir=$1 port=$2; shift 2
  {
    echo "port = $port"
    echo "unix_socket_directories = '$SOCK'"
    echo "listen_addresses = '127.0.0.1'"
    echo "fsync = off"
    echo "max_connections = 30"
    for l in "$@"; do echo "$l"; done
  } | as_pg tee -a "$dir/postgresql.conf" >/dev/null
}
start() { as_pg "$BIN/pg_ctl" -D "$ROOT/$1" -w -t 30 -l "$ROOT/$1.log" start >/dev/null; }

# --- the primary ---------------------------------------------------------------
as_pg "$BIN/initdb" -D "$ROOT/primary" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
conf "$ROOT/primary" "$P_PORT" "wal_level = logical" "max_wal_senders = 10" "max_replication_slots = 10"
start primary
as_pg "$BIN/psql" -X -q -h "$SOCK" -p "$P_PORT" -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null

# The tagged schema: accounts, their orders (reached through a foreign key),
# events with an inet, a JSON document and free text that mentions people.
q "$P_PORT" >/dev/null <<'SQL'
CREATE EXTENSION pg_forget;
CREATE SCHEMA shop;
CREATE TABLE shop.users (
    id        int PRIMARY KEY,
    username  text NOT NULL UNIQUE,
    email     text UNIQUE,
    full_name text,
    last_ip   inet
);
COMMENT ON TABLE  shop.users IS E'Customer accounts.\n@pii subjects';
COMMENT ON COLUMN shop.users.username IS E'Login.\n@pii subject';
COMMENT ON COLUMN shop.users.email IS '@pii email';
COMMENT ON COLUMN shop.users.full_name IS '@pii redact';
COMMENT ON COLUMN shop.users.last_ip IS '@pii ip';
CREATE TABLE shop.orders (
    id          int PRIMARY KEY,
    user_id     int NOT NULL REFERENCES shop.users,
    ship_to     text,
    total_cents int NOT NULL
);
COMMENT ON COLUMN shop.orders.ship_to IS '@pii redact';
CREATE TABLE shop.events (
    id      int PRIMARY KEY,
    actor   text NOT NULL,
    ip      inet,
    payload jsonb,
    message text,
    at      timestamptz NOT NULL
);
COMMENT ON COLUMN shop.events.actor IS '@pii subject';
COMMENT ON COLUMN shop.events.ip IS '@pii ip';
COMMENT ON COLUMN shop.events.payload IS '@pii json:email,name';
COMMENT ON COLUMN shop.events.message IS '@pii scrub';
COMMENT ON COLUMN shop.events.at IS '@pii time';
INSERT INTO shop.users VALUES
  (1, 'alice', 'alice@example.com', 'Alice Archer', '203.0.113.17'),
  (2, 'bob',   'bob@example.org',   'Bob Baker',    '198.51.100.44'),
  (3, 'carol', 'carol@example.net', 'Carol Cole',   '2001:db8:7:1::42'),
  (4, 'dave',  'dave@example.com',  'Dave Dunn',    '192.0.2.99');
INSERT INTO shop.orders VALUES
  (10, 1, '1 Acacia Avenue, Alicetown', 1200),
  (11, 2, '22 Baker Street, Bobville',  3400),
  (12, 3, '3 Cole Road, Carolburg',      560),
  (13, 4, '4 Dunn Lane, Daveham',        780);
INSERT INTO shop.events VALUES
  (100, 'alice', '203.0.113.17', '{"email": "alice@example.com", "name": "Alice Archer"}', 'alice signed in', '2026-03-01 10:00+00'),
  (101, 'bob',   '198.51.100.44', '{"email": "bob@example.org", "agent": "curl"}', 'bob invited carol', '2026-03-02 10:00+00'),
  (102, 'carol', '2001:db8:7:1::42', '{"name": "Carol Cole"}', 'carol@example.net asked for a refund', '2026-03-03 10:00+00'),
  (103, 'dave',  '192.0.2.99', '{"email": "dave@example.com"}', 'dave signed in; alice and bob are friends', '2026-03-04 10:00+00');
CREATE PUBLICATION pgf_pub FOR TABLE shop.users, shop.orders, shop.events;
SQL

# --- (a) the streaming standby -----------------------------------------------
as_pg "$BIN/pg_basebackup" -h "$SOCK" -p "$P_PORT" -U postgres -D "$ROOT/standby" -R -X stream -c fast --no-sync
conf "$ROOT/standby" "$S_PORT" "hot_standby = on"
start standby

# --- (b) the logical subscriber ------------------------------------------------
as_pg "$BIN/initdb" -D "$ROOT/subscriber" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
conf "$ROOT/subscriber" "$L_PORT"
start subscriber
as_pg "$BIN/psql" -X -q -h "$SOCK" -p "$L_PORT" -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null
# pg_forget there too (for its own table below); then the replicated tables,
# their comments and triggers from the primary's schema dump
q "$L_PORT" -c 'CREATE EXTENSION pg_forget' >/dev/null
as_pg "$BIN/pg_dump" -s -n shop -h "$SOCK" -p "$P_PORT" -U postgres "$DB" > "$ROOT/schema.sql"
q "$L_PORT" -f "$ROOT/schema.sql" >/dev/null
# a table of the subscriber's own, not replicated: a support desk's notes
q "$L_PORT" >/dev/null <<'SQL'
CREATE SCHEMA desk;
CREATE TABLE desk.tickets (id int PRIMARY KEY, requester text UNIQUE, contact text, note text);
COMMENT ON COLUMN desk.tickets.requester IS '@pii subject';
COMMENT ON COLUMN desk.tickets.contact IS '@pii email';
COMMENT ON COLUMN desk.tickets.note IS '@pii scrub';
INSERT INTO desk.tickets VALUES (1, 'alice', 'alice@example.com', 'alice cannot log in'),
                                (2, 'dave',  'dave@example.com',  'dave wants an invoice');
SQL
q "$L_PORT" -c "CREATE SUBSCRIPTION pgf_sub CONNECTION 'host=$SOCK port=$P_PORT user=postgres dbname=$DB' PUBLICATION pgf_pub" >/dev/null 2>&1

# wait_until DESCRIPTION PORT SQL: poll until SQL returns t, at most $TIMEOUT s
wait_until() {
  local desc=$1 port=$2 sql=$3 deadline=$((SECONDS + TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(q "$port" -c "$sql" 2>/dev/null || true)" = t ] && return 0
    sleep 0.1
  done
  echo "timed out after ${TIMEOUT}s: $desc" >&2
  return 1
}

# the initial copy must be done before the erasure, so that the subscriber
# really receives the erasure as changes
check "subscriber: initial table sync done" \
  wait_until "table sync" "$L_PORT" \
  "SELECT count(*) = 3 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel"
P_LSN=$(q "$P_PORT" -c 'SELECT pg_current_wal_lsn()')
check "standby: replayed the initial data" \
  wait_until "standby replay" "$S_PORT" "SELECT pg_last_wal_replay_lsn() >= '$P_LSN'::pg_lsn"

# Identifiers of the people erased below; each must be in every node before,
# and in none after. dave is erased by nobody.
ERASED=(alice alice@example.com 'Alice Archer' 203.0.113.17 'Acacia Avenue'
        bob bob@example.org 'Bob Baker' 198.51.100.44 'Baker Street'
        carol carol@example.net 'Carol Cole' 2001:db8:7:1::42 'Cole Road')
KEPT=(dave dave@example.com 'Dave Dunn' 192.0.2.99 'Dunn Lane')

# found TEXT FILE: TEXT occurs in FILE as a whole word (fixed string)
found() { grep -qwF -- "$1" "$2"; }
# none_of FILE WORDS...: prints the words found, fails if any
none_of() { local f=$1 w bad=(); shift; for w in "$@"; do found "$w" "$f" && bad+=("$w"); done
            [ ${#bad[@]} -eq 0 ] || { echo "still there: ${bad[*]}" >&2; return 1; }; }
all_of()  { local f=$1 w bad=(); shift; for w in "$@"; do found "$w" "$f" || bad+=("$w"); done
            [ ${#bad[@]} -eq 0 ] || { echo "missing: ${bad[*]}" >&2; return 1; }; }

# replicated tables only (-n shop): the same scope on the three nodes
dump "$P_PORT" -n shop > "$ROOT/before_primary.sql"
dump "$S_PORT" -n shop > "$ROOT/before_standby.sql"
dump "$L_PORT" -n shop > "$ROOT/before_subscriber.sql"
for node in primary standby subscriber; do
  check "$node: before the erasure its dump holds every person" \
    all_of "$ROOT/before_$node.sql" "${ERASED[@]}" "${KEPT[@]}"
done

# --- the erasure on the primary -------------------------------------------------
if [ "${PGF_REPLICA_SKIP_ERASURE:-0}" != 1 ]; then
  q "$P_PORT" -c "SELECT forget.anonymize_users('{alice,bob}')" >/dev/null
  q "$P_PORT" -c "SELECT forget.delete_users('{carol}')" >/dev/null
fi
check "primary: anonymized alice and bob, deleted carol" \
  test "$(q "$P_PORT" -c "SELECT count(*) FILTER (WHERE username LIKE 'anonymous-%') || '/' || count(*) FROM shop.users")" = 2/3

P_LSN=$(q "$P_PORT" -c 'SELECT pg_current_wal_lsn()')
t0=$(date +%s%N)
check "standby: replay LSN reached the primary's WAL position after the erasure" \
  wait_until "standby replay" "$S_PORT" "SELECT pg_last_wal_replay_lsn() >= '$P_LSN'::pg_lsn"
echo "# standby: waited $(( ($(date +%s%N) - t0) / 1000000 )) ms"
t0=$(date +%s%N)
# logical: the subscription's walsender reports the subscriber's replay
# position (what PostgreSQL's own tests wait on)
check "subscriber: replay LSN reached the primary's WAL position after the erasure" \
  wait_until "subscriber catch-up" "$P_PORT" \
  "SELECT coalesce(bool_and(replay_lsn >= '$P_LSN'::pg_lsn), false) FROM pg_stat_replication WHERE application_name = 'pgf_sub'"
echo "# subscriber: waited $(( ($(date +%s%N) - t0) / 1000000 )) ms"

dump "$P_PORT" -n shop > "$ROOT/after_primary.sql"
dump "$S_PORT" -n shop > "$ROOT/after_standby.sql"
dump "$L_PORT" -n shop > "$ROOT/after_subscriber.sql"
for node in primary standby subscriber; do
  check "$node: data-only dump holds no identifier of alice, bob, carol" \
    none_of "$ROOT/after_$node.sql" "${ERASED[@]}"
  check "$node: data-only dump still holds dave" \
    all_of "$ROOT/after_$node.sql" "${KEPT[@]}"
done
# row order and the dump's \restrict key may differ; the rows may not
rows() { grep -v -e '^--' -e '^\\restrict' -e '^\\unrestrict' "$1" | sort; }
same_rows() { cmp -s <(rows "$1") <(rows "$2") || { diff <(rows "$1") <(rows "$2") >&2; return 1; }; }
check "standby: its dump of the replicated tables has the primary's rows" \
  same_rows "$ROOT/after_primary.sql" "$ROOT/after_standby.sql"
check "subscriber: its dump of the replicated tables has the primary's rows" \
  same_rows "$ROOT/after_primary.sql" "$ROOT/after_subscriber.sql"
# the whole database (pg_forget's own tables included: jobs, audit log) on
# the primary and the standby
dump "$P_PORT" > "$ROOT/all_primary.sql"
dump "$S_PORT" > "$ROOT/all_standby.sql"
check "primary: whole-database data-only dump holds no identifier of the erased" \
  none_of "$ROOT/all_primary.sql" "${ERASED[@]}"
check "standby: whole-database data-only dump holds no identifier of the erased" \
  none_of "$ROOT/all_standby.sql" "${ERASED[@]}"

# --- the subscriber's own table ---------------------------------------------------
dump "$L_PORT" -n desk > "$ROOT/desk_before.sql"
check "subscriber: its own (not replicated) table still holds alice: erasure does not reach it" \
  all_of "$ROOT/desk_before.sql" alice alice@example.com
# run pg_forget there with the primary's key: the same pseudonym
# (the key is the oldest row of forget.hmac_key; a pg_dump of the primary
# carries it as well)
P_KEY=$(q "$P_PORT" -c "SELECT encode(key, 'hex') FROM forget.hmac_key ORDER BY created_at LIMIT 1")
q "$L_PORT" >/dev/null <<SQL
BEGIN;
DELETE FROM forget.hmac_key;
INSERT INTO forget.hmac_key (key) VALUES (decode('$P_KEY', 'hex'));
COMMIT;
SQL
q "$L_PORT" -c "SELECT forget.anonymize_users('{alice}')" >/dev/null
dump "$L_PORT" > "$ROOT/all_subscriber.sql"
check "subscriber: after pg_forget ran there, its whole-database dump holds no identifier of the erased" \
  none_of "$ROOT/all_subscriber.sql" "${ERASED[@]}"
check "subscriber: whole-database dump still holds dave" \
  all_of "$ROOT/all_subscriber.sql" "${KEPT[@]}"
P_PSEUDO=$(q "$P_PORT" -c "SELECT username || ' ' || email FROM shop.users WHERE id = 1")
L_PSEUDO=$(q "$L_PORT" -c "SELECT requester || ' ' || contact FROM desk.tickets WHERE id = 1")
check "subscriber: with the primary's key alice gets the same pseudonyms there ($L_PSEUDO)" \
  test "$P_PSEUDO" = "$L_PSEUDO"

echo "replica: $PASS passed, $FAIL failed ($(( $(date +%s) - t_start ))s)"
[ "$FAIL" -eq 0 ]
