-- Hostile input (SPEC section 7): NULLs everywhere, IPs stored as text that
-- are not addresses, huge and deep JSON in a tagged column, identifiers that
-- are LIKE or regex patterns, and names that are not in the database. Each
-- case gives a correct result or a clear error, never a crash, and nothing
-- changes on error. (Hostile table, column and schema names and comments are
-- in tagging.sql and erase.sql; 100,000 names in one call in hardening.sql.)
\set VERBOSITY terse
SELECT regress.fixed_key();
CREATE SCHEMA hos;
CREATE TABLE hos.people (
    id      int PRIMARY KEY,
    login   text,
    email   text,
    ip_text text,
    ip      inet,
    born    date,
    doc     jsonb,
    note    text
);
COMMENT ON COLUMN hos.people.login IS '@pii subject';
COMMENT ON COLUMN hos.people.email IS '@pii email';
COMMENT ON COLUMN hos.people.ip_text IS '@pii ip';
COMMENT ON COLUMN hos.people.ip IS '@pii ip';
COMMENT ON COLUMN hos.people.born IS '@pii year';
COMMENT ON COLUMN hos.people.doc IS '@pii json:email,name';
COMMENT ON COLUMN hos.people.note IS '@pii scrub';
INSERT INTO hos.people VALUES
  -- every tagged column NULL but the subject
  (1, 'nulls', NULL, NULL, NULL, NULL, NULL, NULL),
  -- IPs as text: not addresses, an address, a network, an out-of-range mask, empty
  (2, 'garbage1', 'g1@example.com', 'not-an-ip', '10.1.2.3', '1990-05-17', '{"email": "g1@example.com"}', 'hi'),
  (3, 'garbage2', NULL, '999.1.1.1', NULL, NULL, NULL, NULL),
  (4, 'garbage3', NULL, '10.0.0.1/33', NULL, NULL, NULL, NULL),
  (5, 'garbage4', NULL, '', NULL, NULL, NULL, NULL),
  (6, 'garbage5', NULL, '2001:db8::1', NULL, NULL, NULL, NULL),
  (7, 'garbage6', NULL, '192.168.10.77', NULL, NULL, NULL, NULL),
  -- identifiers that are patterns: matched only as themselves
  (8, '%', NULL, NULL, NULL, NULL, NULL, 'the name % appears here, and _ too'),
  (9, '_', NULL, NULL, NULL, NULL, NULL, NULL),
  (10, '.*', NULL, NULL, NULL, NULL, NULL, 'regex .* here'),
  (11, 'bystander', 'by@example.com', '10.9.9.9', NULL, NULL, NULL, 'mentions nobody: 100% a_b .x');

-- NULLs and empty values are errors with their SQLSTATE, and change nothing
SELECT md5(string_agg(p::text, ',' ORDER BY id)) AS before FROM hos.people p \gset
SELECT count(*) AS jobs_before FROM forget.job \gset
SELECT regress.err($$SELECT forget.anonymize_users(NULL)$$);
SELECT regress.err($$SELECT forget.anonymize_users(ARRAY[NULL])$$);
SELECT regress.err($$SELECT forget.anonymize_users(ARRAY['nulls', NULL])$$);
SELECT regress.err($$SELECT forget.anonymize_users(ARRAY['nulls'], NULL)$$);
SELECT regress.err($$SELECT forget.delete_users(ARRAY[''])$$);
SELECT regress.err($$SELECT forget.locate_users(NULL)$$);
SELECT regress.err($$SELECT forget.retry_anonymization(NULL, NULL, NULL)$$);
SELECT md5(string_agg(p::text, ',' ORDER BY id)) = :'before' AS rows_unchanged,
       (SELECT count(*) FROM forget.job) = :jobs_before AS no_job_recorded
  FROM hos.people p;

-- a person whose tagged values are all NULL: found, nothing to mask but the subject
SELECT forget.anonymize_users('{nulls}') AS j \gset
SELECT column_name, action, row_count FROM forget.job_report(:j) WHERE row_count > 0 ORDER BY 1;
SELECT login, email, ip_text, ip, born, doc, note FROM hos.people WHERE id = 1;

-- IPs stored as text: an address or network is masked to its network, anything
-- else is replaced whole by 'anonymous'; no row makes the call fail
SELECT forget.anonymize_users('{garbage1,garbage2,garbage3,garbage4,garbage5,garbage6}') AS j \gset
SELECT id, ip_text, ip, born, doc FROM hos.people WHERE id BETWEEN 2 AND 7 ORDER BY id;
SELECT column_name, action, row_count FROM forget.job_report(:j) WHERE row_count > 0 ORDER BY 1;

-- identifiers that are LIKE or regex patterns match only themselves, literally:
-- in free text, an identifier with no letter or digit at its ends needs no word
-- boundary, so the '%' of "100%" is that identifier too; "a_b" is one word
SELECT username, column_name, row_count FROM forget.locate_users('{%,_,.*}') ORDER BY 1, 2;
SELECT forget.anonymize_users('{%,_,.*}') AS j \gset
SELECT id, login, note FROM hos.people WHERE id BETWEEN 8 AND 11 ORDER BY id;

-- a huge document (20,000 members, about 1 MB) and a deep one (3,000 levels)
-- in the person's row; members named by the tag are redacted at any depth
INSERT INTO hos.people (id, login, doc)
SELECT 12, 'huge', jsonb_object_agg('k' || i, CASE WHEN i % 1000 = 0 THEN jsonb_build_object('email', 'huge@example.com', 'name', 'Huge ' || i) ELSE to_jsonb(repeat('v', 40)) END)
  FROM generate_series(1, 20000) i;
INSERT INTO hos.people (id, login, doc)
VALUES (13, 'deep', (repeat('{"a":', 3000) || '{"name": "Deep Person", "email": "deep@example.com"}' || repeat('}', 3000))::jsonb);
SELECT id, octet_length(doc::text) > 900000 AS big FROM hos.people WHERE id = 12;
SELECT forget.anonymize_users('{huge,deep}') AS j \gset
SELECT id, strpos(doc::text, 'huge@example.com') = 0 AND strpos(doc::text, 'Huge ') = 0 AS redacted,
       (SELECT count(*) FROM jsonb_each(doc)) AS members_kept
  FROM hos.people WHERE id = 12;
SELECT id, strpos(doc::text, 'Deep Person') = 0 AND strpos(doc::text, 'deep@example.com') = 0 AS redacted,
       strpos(doc::text, '"name": "anonymous"') > 0 AS member_kept
  FROM hos.people WHERE id = 13;

-- a document that is not valid JSON never reaches the masker (jsonb checks it);
-- a json column with a duplicate key keeps working
CREATE TABLE hos.raw (id int PRIMARY KEY, who text, doc json);
COMMENT ON COLUMN hos.raw.who IS '@pii subject';
COMMENT ON COLUMN hos.raw.doc IS '@pii json:email';
INSERT INTO hos.raw VALUES (1, 'dup', '{"email": "a@x", "email": "b@x", "n": [1, 2, {"email": "c@x"}]}');
SELECT forget.anonymize_users('{dup}') IS NOT NULL AS done;
SELECT doc FROM hos.raw;

-- names that are in no table: not an error, reported as not found
SELECT forget.anonymize_users(ARRAY['nobody-' || repeat('x', 1000), 'ghost']) AS j \gset
SELECT action, row_count, length(subject_pseudonym) AS pseudonym_length FROM forget.job_report(:j) ORDER BY 1;

DROP SCHEMA hos CASCADE;
