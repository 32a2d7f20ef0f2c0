-- Validation comes first: a bad argument or a malformed tag anywhere in the
-- catalog is an error with a SQLSTATE, and nothing changes. Only forget_admin
-- and superusers may erase or locate.
\set VERBOSITY terse
BEGIN;
CREATE TABLE e_users (id int PRIMARY KEY, username text);
COMMENT ON COLUMN e_users.username IS '@pii subject';
INSERT INTO e_users VALUES (1, 'alice');
SELECT count(*) AS jobs_before FROM forget.job \gset
SELECT regress.err($$SELECT forget.anonymize_users(NULL)$$);
SELECT regress.err($$SELECT forget.anonymize_users(ARRAY['alice', NULL])$$);
SELECT regress.err($$SELECT forget.anonymize_users(ARRAY['alice', ''])$$);
SELECT regress.err($$SELECT forget.anonymize_users('{alice}', NULL)$$);
SELECT regress.err($$SELECT forget.delete_users(NULL)$$);
SELECT regress.err($$SELECT forget.delete_users('{""}')$$);
SELECT regress.err($$SELECT * FROM forget.locate_users(NULL)$$);
SELECT regress.err($$SELECT * FROM forget.locate_users('{NULL}')$$);
SELECT regress.err($$SELECT * FROM forget.job_report(NULL)$$);
SELECT regress.err($$SELECT * FROM forget.job_report(-1)$$);
SELECT regress.err($$SELECT * FROM forget.job_status(-1)$$);
-- an empty list is fine and does nothing
SELECT forget.anonymize_users('{}') AS j \gset
SELECT count(*) AS report_rows FROM forget.job_report(:j);
-- an invalid tag anywhere stops every erasing call before any row is touched
CREATE TABLE e_other (id int, note text);
COMMENT ON COLUMN e_other.note IS '@pii scrubb';
SELECT regress.err($$SELECT forget.anonymize_users('{alice}')$$);
SELECT regress.err($$SELECT forget.delete_users('{alice}')$$);
SELECT regress.err($$SELECT * FROM forget.locate_users('{alice}')$$);
SELECT username FROM e_users;
SELECT count(*) - :jobs_before AS new_jobs FROM forget.job;
COMMENT ON COLUMN e_other.note IS '@pii scrub';
-- privileges: a plain role gets 42501, forget_admin may
CREATE ROLE regress_app;
CREATE ROLE regress_dpo IN ROLE forget_admin;
GRANT USAGE ON SCHEMA forget TO regress_app;
GRANT SELECT, UPDATE, DELETE ON e_users, e_other TO regress_app, regress_dpo;
SET ROLE regress_app;
SELECT regress.err($$SELECT forget.anonymize_users('{alice}')$$);
SELECT regress.err($$SELECT forget.delete_users('{alice}')$$);
SELECT regress.err($$SELECT * FROM forget.locate_users('{alice}')$$);
SELECT regress.err($$SELECT * FROM forget.jobs$$);
SELECT regress.err($$SELECT * FROM forget.audit_log$$);
RESET ROLE;
SET ROLE regress_dpo;
SELECT forget.anonymize_users('{alice}') > 0 AS dpo_may;
SELECT regress.err($$UPDATE forget.job SET status = 'failed'$$);
SELECT regress.err($$DELETE FROM forget.audit_log$$);
SELECT regress.err($$INSERT INTO forget.audit_log (action) VALUES ('completed')$$);
SELECT regress.err($$SELECT forget._mask_text('x', 0, true)$$);
RESET ROLE;
SELECT username FROM e_users;
-- a table forget_admin may not update is not touched through the extension's privileges
CREATE TABLE e_locked (id int PRIMARY KEY, username text);
COMMENT ON COLUMN e_locked.username IS '@pii subject';
INSERT INTO e_locked VALUES (1, 'bob');
GRANT SELECT, UPDATE, DELETE ON e_users TO regress_dpo;
SET ROLE regress_dpo;
SELECT regress.err($$SELECT forget.anonymize_users('{bob}')$$);
RESET ROLE;
SELECT username FROM e_locked;
ROLLBACK;
