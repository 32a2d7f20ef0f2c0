\pset footer off
\echo
\echo '== 1. The field summary: every tagged column, its roles and strategy =='
SELECT * FROM forget.pii_columns ORDER BY table_name, column_name;

\echo '== 2. check_tags() finds mistakes, naming table, column and word =='
COMMENT ON COLUMN portal.users.last_name IS E'@pii redcat';
COMMENT ON COLUMN portal.users.created_at IS E'@pii email';
SELECT * FROM forget.check_tags();
COMMENT ON COLUMN portal.users.last_name IS '@pii';
COMMENT ON COLUMN portal.users.created_at IS NULL;
SELECT count(*) AS problems_after_fix FROM forget.check_tags();

\echo '== 3. suggest_tags() proposes tags for the columns still untagged =='
SELECT * FROM forget.suggest_tags() ORDER BY table_name, column_name;

\echo '== 4. The masking building blocks =='
SELECT ip, forget.mask_ip(ip) AS masked FROM (SELECT DISTINCT ip FROM portal.audit_events) s ORDER BY ip;
SELECT email, forget.mask_email(email) AS masked, left(forget.pseudonym(username), 16) || '...' AS pseudonym
  FROM portal.users ORDER BY id;
SELECT forget.redact_json(payload, '{email}') AS payload_without_email FROM portal.audit_events ORDER BY id;
SELECT forget.scrub_text(message, ARRAY['alice', 'alice@example.com']) AS message_without_alice
  FROM portal.audit_events ORDER BY id;
SELECT forget.mask_date(created_at, 'month') AS created_month FROM portal.users ORDER BY id LIMIT 1;

\echo '== 5. An access request first: where does alice live? =='
SELECT * FROM forget.locate_users('{alice}');

\echo '== 6. A dry run says what would change, and changes nothing =='
SELECT forget.anonymize_users('{alice}', dry_run => true) AS job \gset
SELECT table_name, column_name, action, row_count FROM forget.job_report(:job);

\echo '== 7. Forget alice: one call, in this transaction =='
SELECT forget.anonymize_users('{alice}') AS job \gset
SELECT id, kind, status, rows_matched, rows_done, percent FROM forget.job_status(:job);
SELECT table_name, column_name, action, row_count FROM forget.job_report(:job);
\echo 'alice''s account, her API keys (deleted: @pii delete) and the audit events, which now say anonymous:'
SELECT id, username, email, first_name, last_name, phone FROM portal.users ORDER BY id;
SELECT * FROM portal.api_keys ORDER BY id;
SELECT id, actor, ip, message, payload FROM portal.audit_events ORDER BY id;
\echo 'the audit log keeps only her pseudonym:'
SELECT action, job_id, left(subject_pseudonym, 16) || '...' AS subject_pseudonym,
       subject_pseudonym = forget.pseudonym('alice') AS is_alice
  FROM forget.audit_log WHERE job_id = :job ORDER BY id;

\echo '== 8. A second call finds nothing more to do =='
SELECT forget.anonymize_users('{alice}') AS job \gset
SELECT action, count(*), sum(row_count) FROM forget.job_report(:job) GROUP BY action ORDER BY action;

\echo '== 9. bob deletes his own account: the worker anonymizes what remains of him after the delay (3 seconds here) =='
ALTER SYSTEM SET forget.worker = on;
SELECT pg_reload_conf() AS worker_on;
SET forget.anonymize_delay = '3s';
DELETE FROM portal.users WHERE username = 'bob';
SELECT kind, status, due_at - created_at AS delay FROM forget.jobs WHERE kind = 'auto';
DO $$
BEGIN
    FOR i IN 1..60 LOOP
        PERFORM pg_sleep(0.5);
        EXIT WHEN EXISTS (SELECT 1 FROM forget.job WHERE kind = 'auto' AND status = 'done');
    END LOOP;
END $$;
SELECT kind, status, rows_done, finished_at - due_at < interval '3 seconds' AS picked_up_promptly FROM forget.jobs WHERE kind = 'auto';
\echo 'nobody called anything; bob''s audit events now say anonymous too:'
SELECT id, actor, ip, message, payload FROM portal.audit_events ORDER BY id;
ALTER SYSTEM RESET forget.worker;
SELECT pg_reload_conf() AS worker_back_to_default;
