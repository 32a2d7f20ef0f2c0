-- forget.anonymize_users(usernames, dry_run): everything of these people, in
-- every tagged table, in the caller's transaction. Each tagged column gets its
-- strategy; the subject becomes `anonymous`, or `anonymous-<hash8>` where a
-- unique index needs distinct values; scrub and json columns lose the person's
-- identifiers in everyone's rows. The job report counts values that really
-- changed; a second call changes nothing.
\set VERBOSITY terse
BEGIN;
SELECT regress.fixed_key();
CREATE SCHEMA portal;
CREATE TABLE portal.users (
    id         serial PRIMARY KEY,
    username   text NOT NULL UNIQUE,
    user_key   text,
    email      text UNIQUE,
    full_name  text,
    phone      text,
    born       date,
    last_ip    text,
    created_at timestamptz NOT NULL DEFAULT '2026-01-01'
);
COMMENT ON TABLE  portal.users IS '@pii subjects';
COMMENT ON COLUMN portal.users.username IS E'Login.\n@pii subject';
COMMENT ON COLUMN portal.users.user_key IS '@pii key';
COMMENT ON COLUMN portal.users.email IS '@pii email';
COMMENT ON COLUMN portal.users.full_name IS '@pii redact:(removed)';
COMMENT ON COLUMN portal.users.phone IS '@pii null';
COMMENT ON COLUMN portal.users.born IS '@pii year';
COMMENT ON COLUMN portal.users.last_ip IS '@pii ip';
CREATE TABLE portal.events (
    id      serial PRIMARY KEY,
    actor   text NOT NULL,
    ip      inet,
    message text,
    payload jsonb,
    at      timestamptz NOT NULL DEFAULT '2026-02-01'
);
COMMENT ON COLUMN portal.events.actor IS '@pii subject';
COMMENT ON COLUMN portal.events.ip IS '@pii ip';
COMMENT ON COLUMN portal.events.message IS '@pii scrub';
COMMENT ON COLUMN portal.events.payload IS '@pii json:email,invitee';
COMMENT ON COLUMN portal.events.at IS '@pii time';
INSERT INTO portal.users (username, user_key, email, full_name, phone, born, last_ip) VALUES
  ('alice', 'K-1001', 'alice@example.com', 'Alice Archer', '+44 1', '1990-05-17', '203.0.113.17'),
  ('bob',   'K-1002', 'bob@example.org',   'Bob Baker',    '+1 2',  '1985-02-03', 'not an ip'),
  ('carol', 'K-1003', 'carol@example.net', 'Carol Cole',   NULL,    NULL,         '2001:db8:7:1::42');
INSERT INTO portal.events (actor, ip, message, payload) VALUES
  ('alice', '203.0.113.17', 'alice signed in', '{"email": "alice@example.com", "agent": "curl"}'),
  ('alice', '203.0.113.17', 'Alice changed e-mail from alice@example.com', '{"nested": {"email": "alice@example.com"}}'),
  ('bob',   '198.51.100.4', 'bob invited alice to K-1001 review; malice is fine', '{"invitee": "alice", "email": "bob@example.org"}'),
  ('carol', '2001:db8::1',  'carol was here', '{"invitee": "bob"}');
-- before: where alice's data lives
SELECT * FROM forget.locate_users('{alice}');
-- dry run: nothing changes, the report says what would
SELECT forget.anonymize_users('{alice}', dry_run => true) AS job \gset
SELECT kind, status, dry_run, rows_matched, rows_done, percent FROM forget.job_status(:job);
SELECT schema_name, table_name, column_name, action, row_count FROM forget.job_report(:job);
SELECT count(*) AS alice_still_there FROM portal.users WHERE username = 'alice';
-- the real thing
SELECT forget.anonymize_users('{alice}') AS job \gset
SELECT kind, status, dry_run, rows_matched, rows_done, percent, error,
       started_at <= finished_at AS timed FROM forget.jobs WHERE id = :job;
SELECT schema_name, table_name, column_name, action, row_count, note IS NOT NULL AS has_note FROM forget.job_report(:job);
SELECT id, username, user_key, email, full_name, phone, born, last_ip FROM portal.users ORDER BY id;
SELECT id, actor, ip, message, payload FROM portal.events ORDER BY id;
-- the subject replacement of a unique column is anonymous-<hash8> of the person's pseudonym
SELECT username = 'anonymous-' || left(forget.pseudonym('alice'), 8) AS hash8_is_pseudonym FROM portal.users WHERE id = 1;
-- the audit log holds the pseudonym, never the name
SELECT action, subject_pseudonym = forget.pseudonym('alice') AS is_alice FROM forget.audit_log WHERE job_id = :job ORDER BY id;
SELECT count(*) AS clear_names_in_audit FROM forget.audit_log WHERE subject_pseudonym ~ 'alice';
-- a second call changes nothing (alice is not found any more)
SELECT forget.anonymize_users('{alice}') AS job2 \gset
SELECT schema_name, table_name, column_name, action, row_count FROM forget.job_report(:job2) WHERE row_count > 0 OR action = 'not_found';
-- unknown names are not an error: the report lists them as pseudonyms
SELECT forget.anonymize_users('{nobody,carol}') AS job3 \gset
SELECT action, subject_pseudonym = forget.pseudonym('nobody') AS is_nobody FROM forget.job_report(:job3) WHERE action = 'not_found';
SELECT username, email FROM portal.users ORDER BY id;
ROLLBACK;

-- ROLLBACK undoes everything, job and audit rows included
BEGIN;
CREATE TABLE rb_users (id int PRIMARY KEY, username text);
COMMENT ON COLUMN rb_users.username IS '@pii subject';
INSERT INTO rb_users VALUES (1, 'dave');
SELECT (SELECT count(*) FROM forget.job) AS jobs_before, (SELECT count(*) FROM forget.audit_log) AS audit_before \gset
SAVEPOINT before;
SELECT forget.anonymize_users('{dave}') > 0 AS job_made;
SELECT username FROM rb_users;
ROLLBACK TO SAVEPOINT before;
SELECT username FROM rb_users;
SELECT (SELECT count(*) FROM forget.job) = :jobs_before AS no_job_left,
       (SELECT count(*) FROM forget.audit_log) = :audit_before AS no_audit_left;
ROLLBACK;

-- collisions of anonymous-<hash8> in unique columns are lengthened, within one
-- call and against rows already there
BEGIN;
SELECT regress.fixed_key();
CREATE TABLE uq (id int PRIMARY KEY, username text UNIQUE);
COMMENT ON COLUMN uq.username IS '@pii subject';
-- a row that already holds what erin's replacement would be
INSERT INTO uq VALUES (1, 'erin'), (2, 'frank'), (3, 'anonymous-' || left(forget.pseudonym('erin'), 8));
SELECT forget.anonymize_users('{erin,frank}') AS j \gset
SELECT id, length(username) AS len,
       username = 'anonymous-' || left(forget.pseudonym(CASE id WHEN 1 THEN 'erin' ELSE 'frank' END), length(username) - 10) AS prefix_of_pseudonym
  FROM uq WHERE id < 3 ORDER BY id;
SELECT username = 'anonymous-' || left(forget.pseudonym('erin'), 8) AS existing_row_untouched FROM uq WHERE id = 3;
ROLLBACK;

-- hostile names: quotes, semicolons, spaces, unicode, mixed case, 63 bytes,
-- a foreign key between them; names that look like patterns are just values
BEGIN;
SELECT regress.fixed_key();
CREATE SCHEMA "Ev""il; Schema";
CREATE TABLE "Ev""il; Schema"."Us;ers ☃" ("Id" int PRIMARY KEY, "User ""Name""" text UNIQUE);
COMMENT ON COLUMN "Ev""il; Schema"."Us;ers ☃"."User ""Name""" IS '@pii subject';
CREATE TABLE "Ev""il; Schema"."a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk" (
    id int PRIMARY KEY, "Owner" int REFERENCES "Ev""il; Schema"."Us;ers ☃", "select" text);
COMMENT ON COLUMN "Ev""il; Schema"."a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk"."select" IS '@pii scrub';
INSERT INTO "Ev""il; Schema"."Us;ers ☃" VALUES (1, 'x''); DROP TABLE t; --'), (2, '%'), (3, '_'), (4, '.*'), (5, 'Robert');
INSERT INTO "Ev""il; Schema"."a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk" VALUES
  (1, 1, 'by x''); DROP TABLE t; --'), (2, 5, '100% sure, a_b, .*'), (3, 5, 'plain');
SELECT username, table_name, column_name, row_count FROM forget.locate_users(ARRAY['x''); DROP TABLE t; --', '%', '.*']);
SELECT forget.anonymize_users(ARRAY['x''); DROP TABLE t; --', '%', '_']) AS j \gset
SELECT table_name, column_name, action, row_count FROM forget.job_report(:j);
SELECT * FROM "Ev""il; Schema"."Us;ers ☃" ORDER BY 1;
SELECT * FROM "Ev""il; Schema"."a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk" ORDER BY 1;
ROLLBACK;

-- a row of two people belongs to both, but only the person's own values are
-- their identifiers: bob's name in alice's message does not get scrubbed elsewhere
BEGIN;
CREATE TABLE msgs (id int PRIMARY KEY, sender text, recipient text, body text);
COMMENT ON COLUMN msgs.sender IS '@pii subject';
COMMENT ON COLUMN msgs.recipient IS '@pii subject';
COMMENT ON COLUMN msgs.body IS '@pii scrub';
INSERT INTO msgs VALUES (1, 'bob', 'alice', 'hi alice, bob here'), (2, 'bob', 'carol', 'bob says alice left'), (3, 'carol', 'bob', 'ok bob');
SELECT forget.anonymize_users('{alice}') IS NOT NULL AS done;
SELECT * FROM msgs ORDER BY id;
ROLLBACK;
