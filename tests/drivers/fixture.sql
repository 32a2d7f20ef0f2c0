-- The database every driver client starts from.
CREATE EXTENSION pg_forget;
CREATE TABLE users (id int PRIMARY KEY, username text UNIQUE, email text);
COMMENT ON COLUMN users.username IS '@pii subject';
COMMENT ON COLUMN users.email IS '@pii email';
CREATE TABLE sessions (id bigint PRIMARY KEY, user_id text, ip inet, started_at timestamptz NOT NULL);
COMMENT ON COLUMN sessions.user_id IS '@pii subject';
COMMENT ON COLUMN sessions.ip IS '@pii ip';
COMMENT ON COLUMN sessions.started_at IS '@pii time';
INSERT INTO users VALUES (1, 'alice', 'alice@example.com'), (2, 'bob', 'bob@example.org');
INSERT INTO sessions
SELECT g, CASE WHEN g % 2 = 0 THEN 'carol' ELSE 'dave' END, ('10.0.0.' || g)::inet,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour'
  FROM generate_series(1, 50) g;
