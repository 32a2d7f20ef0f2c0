-- export_users of one person with :rows rows, against a hand-written
-- SELECT to_jsonb(t) of the same rows; peak backend memory from /proc.
\set ON_ERROR_STOP 1
DROP TABLE IF EXISTS ex_events, ex_users;
CREATE TABLE ex_users (id int PRIMARY KEY, username text UNIQUE, email text);
COMMENT ON TABLE ex_users IS '@pii subjects';
COMMENT ON COLUMN ex_users.username IS '@pii subject';
COMMENT ON COLUMN ex_users.email IS '@pii email';
CREATE TABLE ex_events (id bigint PRIMARY KEY, user_id int REFERENCES ex_users, ip inet, payload jsonb, at timestamptz NOT NULL);
COMMENT ON COLUMN ex_events.ip IS '@pii ip';
COMMENT ON COLUMN ex_events.at IS '@pii time';
INSERT INTO ex_users VALUES (1, 'heavy', 'heavy@example.com'), (2, 'light', 'light@example.com');
INSERT INTO ex_events SELECT g, 1 + (g % 1000 = 0)::int, ('10.0.' || (g % 250) || '.' || (1 + g % 250))::inet,
       jsonb_build_object('n', g, 'path', '/page/' || g), timestamptz '2025-01-01' + g * interval '1 second'
  FROM generate_series(1, :rows) g;
CREATE INDEX ON ex_events (user_id);
VACUUM ANALYZE ex_users, ex_events;
