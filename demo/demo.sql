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
