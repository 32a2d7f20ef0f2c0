-- What CREATE EXTENSION pg_forget creates: schema forget, the role
-- forget_admin, the HMAC key (only forget_admin and superusers read it; kept by
-- pg_dump), and the settings of SPEC section 8.
\set VERBOSITY terse
SELECT extname, extrelocatable, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'pg_forget';
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = 'forget_admin';
-- one key of 32 random bytes
SELECT count(*) AS keys, min(octet_length(key)) AS key_bytes FROM forget.hmac_key;
-- kept by pg_dump
SELECT c.relname
  FROM pg_extension e, unnest(e.extconfig) AS cfg(oid) JOIN pg_class c ON c.oid = cfg.oid
 WHERE e.extname = 'pg_forget' ORDER BY 1;
-- who may read the key
SELECT r AS role, has_table_privilege(r, 'forget.hmac_key', 'SELECT') AS can_read_key
  FROM unnest(ARRAY['forget_admin', 'public']) AS r;
-- jobs and the audit log: readable by forget_admin, written only by pg_forget's code
SELECT t AS relation, has_table_privilege('forget_admin', t, 'SELECT') AS admin_reads,
       has_table_privilege('forget_admin', t, 'INSERT') OR has_table_privilege('forget_admin', t, 'UPDATE')
       OR has_table_privilege('forget_admin', t, 'DELETE') AS admin_writes,
       has_table_privilege('public', t, 'SELECT') AS public_reads
  FROM unnest(ARRAY['forget.jobs', 'forget.job', 'forget.job_report_row', 'forget.audit_log', 'forget.job_subject']) AS t;
-- who may call what
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_executes,
       has_function_privilege('forget_admin', p.oid, 'EXECUTE') AS admin_executes
  FROM pg_proc p WHERE p.pronamespace = 'forget'::regnamespace ORDER BY 1, 2;
-- settings and their defaults (the library defines them when it is loaded: by
-- any forget.* call, LOAD, or shared_preload_libraries)
LOAD 'pg_forget';
SELECT name, boot_val AS default_value, unit, context FROM pg_settings WHERE name LIKE 'forget.%' ORDER BY name;
-- a plain role may not change them; forget_admin may
BEGIN;
CREATE ROLE regress_plain;
CREATE ROLE regress_admin IN ROLE forget_admin;
SET ROLE regress_plain;
SELECT regress.err('SET forget.batch_size = 5');
RESET ROLE;
SET ROLE regress_admin;
SET forget.batch_size = 5;
SHOW forget.batch_size;
SET forget.anonymize_delay = '2min';
SHOW forget.anonymize_delay;
RESET ROLE;
ROLLBACK;
-- bad values are refused by PostgreSQL with their own codes
SELECT regress.err('SET forget.ip_prefix_v4 = 33');
SELECT regress.err('SET forget.batch_size = 0');
