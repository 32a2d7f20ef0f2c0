-- Automatic anonymization after deletion (SPEC section 6): a row deleted from a
-- table tagged `@pii subjects` queues the person (an `auto` job) due after
-- forget.anonymize_delay, when forget.auto_anonymize is on (the default).
-- run_jobs and the worker take only due work. A name deleted and re-created
-- before the job runs is left alone. Rows deleted by pg_forget queue nothing.
\set VERBOSITY terse
SELECT regress.fixed_key();
CREATE SCHEMA dev;
CREATE TABLE dev.users (id int PRIMARY KEY, username text UNIQUE, user_key text);
COMMENT ON COLUMN dev.users.username IS '@pii subject';
COMMENT ON COLUMN dev.users.user_key IS '@pii key';
CREATE TABLE dev.events (id int PRIMARY KEY, actor text, message text);
COMMENT ON COLUMN dev.events.actor IS '@pii subject';
COMMENT ON COLUMN dev.events.message IS '@pii scrub';
-- tagging the table as the accounts table installs the trigger
SELECT count(*) AS triggers_before FROM pg_trigger WHERE tgname = 'forget_auto_anonymize';
COMMENT ON TABLE dev.users IS E'Accounts.\n@pii subjects';
SELECT tgrelid::regclass AS on_table, tgtype FROM pg_trigger WHERE tgname = 'forget_auto_anonymize';
INSERT INTO dev.users VALUES (1, 'alice', 'K-1'), (2, 'bob', 'K-2'), (3, 'carol', 'K-3'), (4, 'dave', 'K-4');
INSERT INTO dev.events VALUES (1, 'alice', 'alice logged in'), (2, 'bob', 'bob met alice'), (3, 'carol', 'hi'), (4, 'dave', 'K-4 rotated');

-- the default delay is ten minutes: the job waits
DELETE FROM dev.users WHERE username = 'alice';
SELECT kind, status, due_at - created_at BETWEEN interval '9 min' AND interval '11 min' AS ten_minutes FROM forget.jobs;
CALL forget.run_jobs();
SELECT status FROM forget.jobs;
SELECT actor FROM dev.events WHERE id = 1;
-- with a delay of zero it is due at once
DELETE FROM forget.job;
SET forget.anonymize_delay = 0;
DELETE FROM dev.users WHERE username = 'alice';
INSERT INTO dev.users VALUES (1, 'alice', 'K-1');
DELETE FROM dev.users WHERE username = 'alice';
SELECT count(*) AS jobs, sum((SELECT count(*) FROM forget.job_subject s WHERE s.job_id = j.id)) AS identifiers FROM forget.job j;
SELECT action, count(*) FROM forget.audit_log WHERE action = 'queued' AND subject_pseudonym = forget.pseudonym('alice') GROUP BY action;
CALL forget.run_jobs();
SELECT kind, status, rows_done FROM forget.jobs ORDER BY id;
SELECT * FROM dev.events ORDER BY id;
SELECT count(*) AS identifiers_left FROM forget.job_subject;

-- deleted and re-created before the job runs: the new account is left alone
DELETE FROM forget.job;
DELETE FROM dev.users WHERE username = 'carol';
INSERT INTO dev.users VALUES (3, 'carol', 'K-3b');
CALL forget.run_jobs();
SELECT status, rows_matched, params ? 'recreated' AS says_recreated FROM forget.job;
SELECT actor, message FROM dev.events WHERE id = 3;

-- forget.auto_anonymize off: nothing is queued
DELETE FROM forget.job;
SET forget.auto_anonymize = off;
DELETE FROM dev.users WHERE username = 'carol';
SELECT count(*) AS queued_when_off FROM forget.job;
RESET forget.auto_anonymize;

-- rows deleted by delete_users queue nothing
SELECT forget.delete_users('{bob}') IS NOT NULL AS deleted;
SELECT kind, count(*) FROM forget.job GROUP BY kind;

-- keys travel too: dave's key is scrubbed from the free text
DELETE FROM forget.job;
DELETE FROM dev.users WHERE username = 'dave';
CALL forget.run_jobs();
SELECT actor, message FROM dev.events WHERE id = 4;

-- untagging the table removes the trigger
COMMENT ON TABLE dev.users IS 'Accounts.';
SELECT count(*) AS triggers_after FROM pg_trigger WHERE tgname = 'forget_auto_anonymize';
RESET forget.anonymize_delay;
DROP SCHEMA dev CASCADE;
DELETE FROM forget.job;
DELETE FROM forget.audit_log;
