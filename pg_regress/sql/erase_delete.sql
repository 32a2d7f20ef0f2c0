-- forget.delete_users(usernames, dry_run): the same reach as anonymize_users,
-- but the rows are deleted, children with parents, whatever the ON DELETE
-- action of their foreign keys. Other people's rows that mention the person in
-- scrub or json columns are scrubbed, not deleted.
\set VERBOSITY terse
BEGIN;
SELECT regress.fixed_key();
CREATE TABLE d_addresses (id int PRIMARY KEY, street text);
COMMENT ON COLUMN d_addresses.street IS '@pii';
CREATE TABLE d_users (id int PRIMARY KEY, username text UNIQUE, address_id int REFERENCES d_addresses);
COMMENT ON COLUMN d_users.username IS '@pii subject';
CREATE TABLE d_restrict (id int PRIMARY KEY, user_id int REFERENCES d_users ON DELETE RESTRICT, v text);
CREATE TABLE d_noaction (id int PRIMARY KEY, user_id int REFERENCES d_users ON DELETE NO ACTION);
CREATE TABLE d_cascade (id int PRIMARY KEY, user_id int REFERENCES d_users ON DELETE CASCADE);
CREATE TABLE d_setnull (id int PRIMARY KEY, user_id int REFERENCES d_users ON DELETE SET NULL);
CREATE TABLE d_grand (id int PRIMARY KEY, restrict_id int REFERENCES d_restrict ON DELETE RESTRICT);
CREATE TABLE d_notes (id int PRIMARY KEY, body text);
COMMENT ON COLUMN d_notes.body IS '@pii scrub';
INSERT INTO d_addresses VALUES (1, 'a street'), (2, 'b street');
INSERT INTO d_users VALUES (1, 'alice', 1), (2, 'bob', 2);
INSERT INTO d_restrict VALUES (1, 1, 'x'), (2, 2, 'y');
INSERT INTO d_noaction VALUES (1, 1), (2, 2);
INSERT INTO d_cascade VALUES (1, 1), (2, 2);
INSERT INTO d_setnull VALUES (1, 1), (2, 2);
INSERT INTO d_grand VALUES (1, 1), (2, 2);
INSERT INTO d_notes VALUES (1, 'call alice tomorrow'), (2, 'nothing');
SELECT forget.delete_users('{alice}', true) AS dry \gset
SELECT table_name, column_name, action, row_count FROM forget.job_report(:dry);
SELECT count(*) AS users_still FROM d_users;
SELECT forget.delete_users('{alice}') AS job \gset
SELECT kind, status, dry_run, rows_done FROM forget.job_status(:job);
SELECT table_name, column_name, action, row_count FROM forget.job_report(:job);
SELECT 'users' AS t, array_agg(id ORDER BY id) FROM d_users
UNION ALL SELECT 'addresses', array_agg(id ORDER BY id) FROM d_addresses
UNION ALL SELECT 'restrict', array_agg(id ORDER BY id) FROM d_restrict
UNION ALL SELECT 'noaction', array_agg(id ORDER BY id) FROM d_noaction
UNION ALL SELECT 'cascade', array_agg(id ORDER BY id) FROM d_cascade
UNION ALL SELECT 'setnull', array_agg(id ORDER BY id) FROM d_setnull
UNION ALL SELECT 'grand', array_agg(id ORDER BY id) FROM d_grand;
SELECT * FROM d_notes ORDER BY id;
SELECT action FROM forget.audit_log WHERE job_id = :job ORDER BY id;
-- again: nothing left
SELECT forget.delete_users('{alice}') AS job2 \gset
SELECT action, row_count FROM forget.job_report(:job2) WHERE row_count > 0 OR action = 'not_found';
ROLLBACK;
