-- Hardening found in review: names compare with the column type's own
-- equality (citext is case-insensitive, even under a pinned search_path),
-- names that are not valid values of a non-text subject column match nothing
-- (and never appear in an error), a parent row referenced twice by the person
-- counts once, jobs need a primary key to page through a table, the
-- accounts-table trigger goes only where the owner may erase, and errors from
-- constraints lose their DETAIL (which holds the values).
\set VERBOSITY terse
BEGIN;
SELECT regress.fixed_key();
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE h_users (id int PRIMARY KEY, login citext UNIQUE, badge int);
COMMENT ON COLUMN h_users.login IS '@pii subject';
COMMENT ON COLUMN h_users.badge IS '@pii subject null';
CREATE TABLE h_addresses (id int PRIMARY KEY, street text);
COMMENT ON COLUMN h_addresses.street IS '@pii';
CREATE TABLE h_orders (id int PRIMARY KEY, user_id int REFERENCES h_users, address_id int REFERENCES h_addresses);
INSERT INTO h_addresses VALUES (1, 'Main St');
INSERT INTO h_users VALUES (1, 'Alice', 1001), (2, 'bob', 1002);
INSERT INTO h_orders VALUES (1, 1, 1), (2, 1, 1);
-- citext: 'ALICE' finds Alice in locate, export and anonymize alike
SELECT table_name, column_name, row_count FROM forget.locate_users('{ALICE}') ORDER BY 1, 2;
SELECT table_name, data->>'id' AS id FROM forget.export_users('{ALICE}');
-- a number in an integer subject column matches; a name there matches nothing and raises nothing
SELECT table_name, column_name, row_count FROM forget.locate_users('{1002}') WHERE table_name = 'h_users';
SELECT count(*) AS rows_for_a_name_in_an_int_column FROM forget.locate_users('{not-a-number}');
SELECT forget.anonymize_users('{aLiCe}') AS j \gset
SELECT table_name, column_name, row_count FROM forget.job_report(:j) WHERE row_count > 0;
SELECT * FROM h_users ORDER BY id;
SELECT * FROM h_addresses;
ROLLBACK;

-- errors from the statement keep their SQLSTATE but not their DETAIL
BEGIN;
CREATE TABLE h_people (id int PRIMARY KEY, name text UNIQUE, nick text CHECK (nick <> 'anonymous'));
COMMENT ON COLUMN h_people.name IS '@pii subject';
COMMENT ON COLUMN h_people.nick IS '@pii';
INSERT INTO h_people VALUES (1, 'zoe', 'zz');
\set VERBOSITY default
SELECT forget.anonymize_users('{zoe}');
\set VERBOSITY terse
ROLLBACK;

-- jobs page through tables by primary key
BEGIN;
CREATE TABLE h_log (user_id text, at timestamptz NOT NULL);
COMMENT ON COLUMN h_log.user_id IS '@pii subject';
COMMENT ON COLUMN h_log.at IS '@pii time';
SELECT regress.err($$SELECT forget.create_anonymization_job(NULL, NULL, '{u1}', NULL, NULL)$$);
ROLLBACK;

-- the accounts-table trigger goes only where the table's owner may erase
BEGIN;
CREATE ROLE regress_app_owner;
CREATE TABLE h_accounts (id int PRIMARY KEY, username text);
ALTER TABLE h_accounts OWNER TO regress_app_owner;
COMMENT ON COLUMN h_accounts.username IS '@pii subject';
COMMENT ON TABLE h_accounts IS '@pii subjects';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'h_accounts'::regclass AND tgname = 'forget_auto_anonymize';
GRANT forget_admin TO regress_app_owner;
COMMENT ON TABLE h_accounts IS E'Accounts\n@pii subjects';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'h_accounts'::regclass AND tgname = 'forget_auto_anonymize';
-- nobody can attach the trigger function to a table of their own
SET ROLE regress_app_owner;
SELECT regress.err($$CREATE TRIGGER x AFTER DELETE ON h_accounts REFERENCING OLD TABLE AS forget_deleted FOR EACH STATEMENT EXECUTE FUNCTION forget._on_subject_delete('{username}', '{}')$$);
RESET ROLE;
-- a role outside forget_admin cannot switch the queueing off
CREATE ROLE regress_plain_deleter;
SET ROLE regress_plain_deleter;
SELECT regress.err($$SET forget.auto_anonymize = off$$);
SELECT regress.err($$SET forget.anonymize_delay = '1000d'$$);
RESET ROLE;
ROLLBACK;

-- 100,000 names in one call: a correct result, in seconds
BEGIN;
CREATE TABLE h_many (id int PRIMARY KEY, username text UNIQUE, note text);
COMMENT ON COLUMN h_many.username IS '@pii subject';
COMMENT ON COLUMN h_many.note IS '@pii scrub';
INSERT INTO h_many SELECT g, 'member' || g, 'greetings from member' || (g + 1) FROM generate_series(1, 2000) g;
SELECT forget.anonymize_users(array(SELECT 'member' || g FROM generate_series(1, 200000, 2) g)) AS j \gset
SELECT action, count(*) AS report_rows, sum(row_count) AS rows FROM forget.job_report(:j) GROUP BY action ORDER BY action;
SELECT count(*) FILTER (WHERE username LIKE 'anonymous-%') AS masked, count(*) FILTER (WHERE note LIKE '%anonymous') AS scrubbed,
       count(*) FILTER (WHERE username ~ '^member[0-9]+$' AND substr(username, 7)::int % 2 = 0) AS even_members_untouched
  FROM h_many;
ROLLBACK;

-- a domain's CHECK never runs on the names: they are cast to the base type
BEGIN;
CREATE DOMAIN h_login AS text CHECK (VALUE ~ '^[a-z]+$');
CREATE TABLE h_dom (id int PRIMARY KEY, login h_login);
COMMENT ON COLUMN h_dom.login IS '@pii subject';
INSERT INTO h_dom VALUES (1, 'alice');
SELECT username, table_name, row_count FROM forget.locate_users('{Not-Valid!,alice}');
ROLLBACK;
