-- forget.suggest_tags(): untagged columns whose name or sampled content looks
-- personal, with a tag that fits the column type. Only counts of sampled
-- values are shown, never the values themselves.
\set VERBOSITY terse
BEGIN;
CREATE SCHEMA sug;
CREATE TABLE sug.contacts (
    id int PRIMARY KEY,
    email text,
    first_name text,
    "LastName" varchar(80),
    registered_company text,
    position text,
    phone text,
    preferred_language text,
    modified_by text,
    client_ip inet,
    birth_date date,
    contact text,
    remote text,
    title text,
    notes text
);
INSERT INTO sug.contacts (id, contact, remote, title, notes)
SELECT g, 'person' || g || '@example.org', '192.0.2.' || g, 'Film ' || g, 'nothing here'
  FROM generate_series(1, 20) g;
SELECT column_name, suggested_tag, reason FROM forget.suggest_tags()
 WHERE schema_name = 'sug' ORDER BY column_name;
-- once tagged (even wrongly), a column is the DBA's and is not suggested again
COMMENT ON COLUMN sug.contacts.email IS '@pii email';
COMMENT ON COLUMN sug.contacts.contact IS '@pii bogus';
SELECT column_name FROM forget.suggest_tags() WHERE schema_name = 'sug' AND column_name IN ('email', 'contact');
-- tables the caller may not read are judged by column names only
CREATE ROLE regress_nosee;
GRANT USAGE ON SCHEMA sug TO regress_nosee;
SET ROLE regress_nosee;
SELECT column_name, suggested_tag FROM forget.suggest_tags()
 WHERE schema_name = 'sug' AND column_name IN ('remote', 'first_name') ORDER BY 1;
RESET ROLE;
ROLLBACK;
