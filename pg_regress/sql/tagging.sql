-- The @pii column-comment convention (SPEC section 2).
-- A column holds personal data when a line of its comment starts with @pii;
-- the other lines stay free text. forget.pii_columns lists the valid tags,
-- forget.check_tags() every problem, naming table, column and word.
\set VERBOSITY terse
BEGIN;
CREATE SCHEMA tag;
CREATE DOMAIN tag.handle AS varchar(40);
CREATE TABLE tag.people (
    id        serial PRIMARY KEY,
    username  text NOT NULL UNIQUE,
    user_key  text,
    email     text,
    ip        inet,
    ip_text   text,
    note      text,
    doc       jsonb,
    born      date,
    seen_at   timestamptz NOT NULL DEFAULT now(),
    nick      tag.handle,
    score     int
);
-- every role and strategy, free text around the tag, arguments
COMMENT ON TABLE tag.people IS E'People.\n@pii subjects';
COMMENT ON COLUMN tag.people.username IS E'The login.\n@pii subject\nShown on the profile page.';
COMMENT ON COLUMN tag.people.user_key IS '@pii key';
COMMENT ON COLUMN tag.people.email IS '@pii email';
COMMENT ON COLUMN tag.people.ip IS '@pii ip:16/32';
COMMENT ON COLUMN tag.people.ip_text IS '@pii ip';
COMMENT ON COLUMN tag.people.note IS E'  @pii   scrub  ';
COMMENT ON COLUMN tag.people.doc IS '@pii json:name,e-mail,Address';
COMMENT ON COLUMN tag.people.born IS '@pii month';
COMMENT ON COLUMN tag.people.seen_at IS '@pii time';
COMMENT ON COLUMN tag.people.nick IS '@pii redact:someone';
COMMENT ON COLUMN tag.people.score IS '@pii null';
SELECT column_name, data_type, roles, strategy, tag, via_fk
  FROM forget.pii_columns WHERE schema_name = 'tag' ORDER BY column_name;
SELECT * FROM forget.check_tags() WHERE schema_name = 'tag';
-- keywords are case-insensitive, arguments keep their case; several tag lines merge
COMMENT ON COLUMN tag.people.user_key IS E'@pii Key\n@pii HASH\n@pii';
COMMENT ON COLUMN tag.people.nick IS E'@pii REDACT:Someone';
SELECT column_name, roles, strategy, tag FROM forget.pii_columns
 WHERE schema_name = 'tag' AND column_name IN ('user_key', 'nick') ORDER BY 1;
-- a line must start with @pii (lower case) and the word must end there: these are free text
COMMENT ON COLUMN tag.people.score IS E'see @pii docs\n@piiX null\n#@pii null\n@PII null';
SELECT count(*) AS tagged_score FROM forget.pii_columns WHERE schema_name = 'tag' AND column_name = 'score';
-- a bare @pii uses the type default: redact for text, ip for inet, null otherwise
COMMENT ON COLUMN tag.people.note IS '@pii';
COMMENT ON COLUMN tag.people.ip IS '@pii';
COMMENT ON COLUMN tag.people.score IS '@pii';
SELECT column_name, strategy FROM forget.pii_columns
 WHERE schema_name = 'tag' AND column_name IN ('note', 'ip', 'score') ORDER BY 1;

-- problems: unknown words, arguments, two strategies, misfits, NOT NULL
COMMENT ON COLUMN tag.people.note IS E'Notes.\n@pii scrub frobnicate';
COMMENT ON COLUMN tag.people.email IS '@pii email hash';
COMMENT ON COLUMN tag.people.doc IS '@pii json';
COMMENT ON COLUMN tag.people.ip IS '@pii ip:33';
COMMENT ON COLUMN tag.people.ip_text IS '@pii ip:24/200';
COMMENT ON COLUMN tag.people.nick IS '@pii redact:';
COMMENT ON COLUMN tag.people.user_key IS '@pii subject:x';
COMMENT ON COLUMN tag.people.born IS '@pii email';
COMMENT ON COLUMN tag.people.score IS '@pii scrub';
COMMENT ON COLUMN tag.people.seen_at IS '@pii time month';
COMMENT ON COLUMN tag.people.username IS '@pii subject null';
COMMENT ON COLUMN tag.people.id IS '@pii json:a,,b';
COMMENT ON TABLE tag.people IS E'@pii subjects\n@pii remove';
SELECT column_name, word, problem FROM forget.check_tags() WHERE schema_name = 'tag' ORDER BY column_name NULLS FIRST, word;
-- columns with problems are not in pii_columns
SELECT count(*) AS still_listed FROM forget.pii_columns WHERE schema_name = 'tag';
ROLLBACK;

-- Hostile names and comments: quotes, semicolons, newlines, spaces, unicode,
-- mixed case, 63-byte names. Names are only ever quoted identifiers; a comment
-- is only ever parsed as words.
BEGIN;
CREATE SCHEMA "We;ird ""Schema""";
CREATE TABLE "We;ird ""Schema""".";DROP TABLE x;--" (
    "Id" int PRIMARY KEY,
    "user name" text,
    "E-Mail ✉" text,
    "line
break" text,
    "a_column_name_that_is_exactly_sixty_three_bytes_long_abcdefghij" text,
    "select" text
);
COMMENT ON COLUMN "We;ird ""Schema""".";DROP TABLE x;--"."user name" IS '@pii subject';
COMMENT ON COLUMN "We;ird ""Schema""".";DROP TABLE x;--"."E-Mail ✉" IS E'Mail.\n@pii email';
COMMENT ON COLUMN "We;ird ""Schema""".";DROP TABLE x;--"."line
break" IS E'@pii redact:x\'); DROP TABLE y; --';
COMMENT ON COLUMN "We;ird ""Schema""".";DROP TABLE x;--"."a_column_name_that_is_exactly_sixty_three_bytes_long_abcdefghij" IS '@pii';
COMMENT ON COLUMN "We;ird ""Schema""".";DROP TABLE x;--"."select" IS E'@pii \'; DELETE FROM t; --';
SELECT schema_name, table_name, column_name, length(column_name) AS len, strategy, tag
  FROM forget.pii_columns WHERE schema_name LIKE 'We;%' ORDER BY column_name;
SELECT table_name, column_name, word, problem FROM forget.check_tags() WHERE schema_name LIKE 'We;%';
-- the table is still there and nothing was run
SELECT count(*) AS still_there FROM "We;ird ""Schema""".";DROP TABLE x;--";
-- a long comment full of words, NUL-free binary garbage and unicode does not break the parser
DO $$ BEGIN
  EXECUTE format('COMMENT ON COLUMN %I.%I.%I IS %L', 'We;ird "Schema"', ';DROP TABLE x;--', 'select', '@pii ' || repeat('scrub ', 200));
END $$;
SELECT word, problem FROM forget.check_tags() WHERE schema_name LIKE 'We;%';
COMMENT ON COLUMN "We;ird ""Schema""".";DROP TABLE x;--"."select" IS E'@pii \u00e9t\u00e9 \u2603 \t redact';
SELECT word, problem FROM forget.check_tags() WHERE schema_name LIKE 'We;%';
ROLLBACK;

-- Each session caches the @pii catalog (src/cache.rs); a tag changed in this
-- session is used by the next call, and a rolled-back change is forgotten.
CREATE TABLE cache_t (id int PRIMARY KEY, login text, email text);
COMMENT ON COLUMN cache_t.login IS '@pii subject';
COMMENT ON COLUMN cache_t.email IS '@pii redact';
INSERT INTO cache_t SELECT i, 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, 4) i;
SELECT forget.anonymize_users('{c1}') IS NOT NULL AS done;
COMMENT ON COLUMN cache_t.email IS '@pii null';
SELECT forget.anonymize_users('{c2}') IS NOT NULL AS done;
BEGIN;
COMMENT ON COLUMN cache_t.email IS '@pii email';
SELECT forget.anonymize_users('{c3}') IS NOT NULL AS done;
SELECT email LIKE 'anon-%' AS email_strategy_in_the_transaction FROM cache_t WHERE id = 3;
ROLLBACK;
SELECT forget.anonymize_users('{c4}') IS NOT NULL AS done;
SELECT id, login, email FROM cache_t ORDER BY id;
DROP TABLE cache_t;
