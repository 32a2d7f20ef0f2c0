-- forget.retry_anonymization(current_username, original_username,
-- original_user_key) completes an anonymization that failed or was cut off:
-- it finds the person by any of the three (the subject column may already
-- hold the pseudonym and the key column the original key), skips what is
-- already anonymized, finishes the rest in the caller's transaction, records
-- `retried`, and returns the new job id. Nothing left is not an error.
\set VERBOSITY terse
BEGIN;
SELECT regress.fixed_key();
CREATE TABLE r_users (id int PRIMARY KEY, username text UNIQUE, user_key text, email text);
COMMENT ON COLUMN r_users.username IS '@pii subject';
COMMENT ON COLUMN r_users.user_key IS '@pii key';
COMMENT ON COLUMN r_users.email IS '@pii email';
CREATE TABLE r_issues (id int PRIMARY KEY, reporter text, assignee_key text, body text);
COMMENT ON COLUMN r_issues.reporter IS '@pii subject';
COMMENT ON COLUMN r_issues.assignee_key IS '@pii key';
COMMENT ON COLUMN r_issues.body IS '@pii scrub';
INSERT INTO r_users VALUES (1, 'jdoe', 'JIRAUSER10100', 'jdoe@example.com'), (2, 'other', 'JIRAUSER10200', 'o@example.com');
INSERT INTO r_issues VALUES (1, 'jdoe', 'JIRAUSER10100', 'jdoe cannot log in'), (2, 'other', 'JIRAUSER10100', 'assigned to JIRAUSER10100'),
                            (3, 'other', 'JIRAUSER10200', 'nothing about him');
-- a first anonymization that was cut off: only the account row was renamed
SELECT forget.anonymize_users('{jdoe}', dry_run => true) AS first_job \gset
UPDATE r_users SET username = 'anonymous-' || left(forget.pseudonym('jdoe'), 8) WHERE id = 1;
SELECT * FROM r_users ORDER BY id;
-- retry by all three: the rest is finished, what is done is not redone
SELECT forget.retry_anonymization('anonymous-' || left(forget.pseudonym('jdoe'), 8), 'jdoe', 'JIRAUSER10100') AS job \gset
SELECT kind, status FROM forget.job_status(:job);
SELECT table_name, column_name, action, row_count FROM forget.job_report(:job) WHERE row_count > 0;
SELECT * FROM r_users ORDER BY id;
SELECT * FROM r_issues ORDER BY id;
-- the earlier job was found through the audit log's pseudonym
SELECT (params->'retry_of') @> to_jsonb(:first_job::bigint) AS found_earlier_job FROM forget.job WHERE id = :job;
SELECT action FROM forget.audit_log WHERE job_id = :job ORDER BY id;
SELECT bool_and(subject_pseudonym = forget.pseudonym('jdoe')) AS pseudonym_of_the_original_name FROM forget.audit_log WHERE job_id = :job;
-- nothing left: not an error, a report of zeros
SELECT forget.retry_anonymization(NULL, 'jdoe', 'JIRAUSER10100') AS job2 \gset
SELECT coalesce(sum(row_count), 0) AS changed FROM forget.job_report(:job2);
-- by the key alone
UPDATE r_issues SET assignee_key = 'JIRAUSER10200' WHERE id = 3;
SELECT forget.retry_anonymization(NULL, NULL, 'JIRAUSER10200') AS job3 \gset
SELECT table_name, column_name, row_count FROM forget.job_report(:job3) WHERE row_count > 0;
-- errors
SELECT regress.err($$SELECT forget.retry_anonymization(NULL, NULL, NULL)$$);
SELECT regress.err($$SELECT forget.retry_anonymization('', NULL, NULL)$$);
SELECT regress.err($$SELECT forget.retry_anonymization('anonymous', NULL, NULL)$$);
ROLLBACK;
