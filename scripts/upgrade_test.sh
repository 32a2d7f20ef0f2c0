#!/usr/bin/env bash
# Upgrade test: installs the first release's SQL (sql/pg_forget--0.1.0.sql,
# git tag v0.1.0) next to the current one, creates a database at 0.1.0 with
# tagged tables, jobs, audit rows and the key, runs ALTER EXTENSION pg_forget
# UPDATE through the shipped pg_forget--A--B.sql scripts, and checks:
#   - the version is the current one and jobs, reports, audit rows and the key
#     are all kept (same rows, same pseudonyms);
#   - the upgraded extension has exactly the objects, definitions and
#     privileges of a fresh install of the current version.
# Needs the scratch cluster running with the current extension installed
# (scripts/regress.sh --install does both). Prints ok/not ok lines.
set -euo pipefail
cd "$(dirname "$0")/.."
export PGFORGET_ROOT="${PGFORGET_ROOT:-/tmp/pg_forget}"
export PGFORGET_PORT="${PGFORGET_PORT:-55432}"
export PGHOST="$PGFORGET_ROOT/sock" PGPORT="$PGFORGET_PORT" PGUSER=postgres
BIN=/usr/lib/postgresql/15/bin
EXTDIR="$("$BIN/pg_config" --sharedir)/extension"
CURRENT=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
FIRST=0.1.0
bash scripts/cluster.sh start >/dev/null

# the base script of the first release and every upgrade script
install -m 644 "sql/pg_forget--$FIRST.sql" sql/pg_forget--*--*.sql "$EXTDIR/"

n=0; failed=0
check() {  # check <description> <command...>
  n=$((n + 1))
  if "${@:2}"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi
}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

for db in pgf_upgraded pgf_fresh; do
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" 2>/dev/null -c "CREATE DATABASE $db"
done
q pgf_upgraded "CREATE EXTENSION pg_forget VERSION '$FIRST'"
check "CREATE EXTENSION at $FIRST" test "$(q pgf_upgraded "SELECT extversion FROM pg_extension WHERE extname = 'pg_forget'")" = "$FIRST"

# state made by 0.1.0: people erased (jobs, reports, audit rows), a queued job
# with its identifiers, the key
psql -X -q -v ON_ERROR_STOP=1 -d pgf_upgraded >/dev/null <<'SQL'
CREATE TABLE users (id int PRIMARY KEY, login text UNIQUE, email text, ip inet, seen timestamptz NOT NULL DEFAULT now());
COMMENT ON COLUMN users.login IS '@pii subject';
COMMENT ON COLUMN users.email IS '@pii email';
COMMENT ON COLUMN users.ip IS '@pii ip';
COMMENT ON COLUMN users.seen IS '@pii time';
CREATE TABLE notes (id int PRIMARY KEY, user_id int REFERENCES users, body text);
COMMENT ON COLUMN notes.body IS '@pii redact';
INSERT INTO users SELECT i, 'user' || i, 'user' || i || '@example.com', ('10.0.0.' || i)::inet, now() - i * interval '1 day' FROM generate_series(1, 20) i;
INSERT INTO notes SELECT i, i, 'note of user' || i FROM generate_series(1, 20) i;
SELECT forget.anonymize_users('{user1,user2,nobody}');
SELECT forget.delete_users('{user3}');
SELECT forget.anonymize_users('{user4}', dry_run => true);
SELECT forget.create_anonymization_job(NULL, NULL, '{user5}', '{10.0.0.6}', NULL);
SQL
snapshot() {
  q "$1" "SELECT md5(string_agg(t, E'\n' ORDER BY t)) FROM (
      SELECT format('job %s', to_jsonb(j) - 'created_at' - 'due_at') AS t FROM forget.job j
      UNION ALL SELECT format('report %s', to_jsonb(r)) FROM forget.job_report_row r
      UNION ALL SELECT format('audit %s', to_jsonb(a)) FROM forget.audit_log a
      UNION ALL SELECT format('subject %s', to_jsonb(s)) FROM forget.job_subject s
      UNION ALL SELECT format('key %s', encode(key, 'hex')) FROM forget.hmac_key
      UNION ALL SELECT format('pseudonym %s', forget.pseudonym('alice'))) s"
}
before=$(snapshot pgf_upgraded)
counts_before=$(q pgf_upgraded "SELECT (SELECT count(*) FROM forget.job) || '/' || (SELECT count(*) FROM forget.audit_log) || '/' || (SELECT count(*) FROM forget.job_subject)")

q pgf_upgraded "ALTER EXTENSION pg_forget UPDATE"
check "ALTER EXTENSION pg_forget UPDATE reaches $CURRENT" test "$(q pgf_upgraded "SELECT extversion FROM pg_extension WHERE extname = 'pg_forget'")" = "$CURRENT"
after=$(snapshot pgf_upgraded)
check "jobs, reports, audit rows, queued identifiers and key kept ($counts_before jobs/audit/subjects)" test "$before" = "$after"

# the queued job still runs after the upgrade, and new calls work
q pgf_upgraded "CALL forget.run_jobs()"
check "a job queued at $FIRST runs after the upgrade" test "$(q pgf_upgraded "SELECT status FROM forget.jobs ORDER BY id DESC LIMIT 1")" = done
q pgf_upgraded "SELECT forget.anonymize_users('{user7}')" >/dev/null
check "anonymize_users after the upgrade" test "$(q pgf_upgraded "SELECT email LIKE 'anon-%@anonymized.invalid' FROM users WHERE id = 7")" = t

# an upgraded install equals a fresh one: members, definitions, privileges
q pgf_fresh "CREATE EXTENSION pg_forget"
describe() {
  q "$1" "WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'pg_forget'),
    members AS (SELECT classid, objid, objsubid FROM pg_depend, ext
                WHERE refclassid = 'pg_extension'::regclass AND refobjid = ext.oid AND deptype = 'e')
    SELECT t FROM (
      SELECT 'member ' || pg_describe_object(classid, objid, objsubid) AS t FROM members
      UNION ALL SELECT 'function ' || p.oid::regprocedure || ' ' || pg_get_functiondef(p.oid) || ' acl ' || coalesce(p.proacl::text, '-')
        || ' owner ' || pg_get_userbyid(p.proowner)
        FROM pg_proc p WHERE p.pronamespace = 'forget'::regnamespace AND p.prokind IN ('f', 'p')
      UNION ALL SELECT 'relation ' || c.oid::regclass || ' ' || c.relkind::text || ' acl ' || coalesce(c.relacl::text, '-')
        || ' owner ' || pg_get_userbyid(c.relowner)
        || coalesce(' view ' || pg_get_viewdef(c.oid), '')
        FROM pg_class c WHERE c.relnamespace = 'forget'::regnamespace
      UNION ALL SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
        || ' acl ' || coalesce(a.attacl::text, '-')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'forget'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
      UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'forget'::regnamespace
      UNION ALL SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = 'forget'::regnamespace
      UNION ALL SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = 'forget'::regnamespace AND NOT t.tgisinternal
      UNION ALL SELECT 'event trigger ' || evtname || ' ' || evtevent || ' ' || evtfoid::regproc || ' ' || coalesce(evttags::text, '-')
        || ' enabled ' || evtenabled::text
        FROM pg_event_trigger
      UNION ALL SELECT 'schema acl ' || coalesce(nspacl::text, '-') FROM pg_namespace WHERE nspname = 'forget'
      UNION ALL SELECT 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ': ' || d.description
        FROM pg_description d JOIN members m ON m.classid = d.classoid AND m.objid = d.objoid
      UNION ALL SELECT 'init privs ' || pg_describe_object(i.classoid, i.objoid, i.objsubid) || ' ' || i.privtype::text || ' ' || i.initprivs::text
        FROM pg_init_privs i JOIN members m ON m.classid = i.classoid AND m.objid = i.objoid
      UNION ALL SELECT 'config dump ' || e.extconfig::regclass[]::text || ' ' || coalesce(e.extcondition::text, '-')
        FROM pg_extension e WHERE extname = 'pg_forget'
      UNION ALL SELECT 'parameter acl ' || parname || ' ' || coalesce(paracl::text, '-') FROM pg_parameter_acl
        WHERE parname LIKE 'forget.%'
    ) s ORDER BY t"
}
describe pgf_fresh >"$PGFORGET_ROOT/upgrade-fresh.txt"
describe pgf_upgraded >"$PGFORGET_ROOT/upgrade-upgraded.txt"
if diff -u "$PGFORGET_ROOT/upgrade-fresh.txt" "$PGFORGET_ROOT/upgrade-upgraded.txt" >"$PGFORGET_ROOT/upgrade.diff"; then same=yes; else same=no; head -c 6000 "$PGFORGET_ROOT/upgrade.diff"; fi
check "upgraded $FIRST -> $CURRENT has the objects, definitions and privileges of a fresh install ($(wc -l <"$PGFORGET_ROOT/upgrade-fresh.txt") catalog lines compared)" test "$same" = yes

for db in pgf_upgraded pgf_fresh; do q postgres "DROP DATABASE $db"; done
echo "upgrade: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
