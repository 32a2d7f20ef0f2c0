-- Benchmark of anonymization jobs (scripts/bench.sh runs it; the files):
--   sessions.sql           this file: the data, both tables, their indexes
--   sessions_choose.sql    picks the user ids and networks of a case (~1% or ~10% of rows)
--   sessions_reset.sql     fresh rows before each run (outside the timed part)
--   sessions_run.sql       one run: queues the job, times sessions_ours.sql and
--                          sessions_baseline.sql, checks both masked the same rows
--
-- The benchmark data: N sessions (psql variable :scale), generated once into
-- bench_source, then copied into two tables with the same rows and indexes:
--   sessions        tagged for pg_forget (subject, ip, time)
--   sessions_plain  no tags: the hand-written UPDATE runs here
-- :ip_index (on/off) adds a GiST inet_ops index on ip to both tables: on by
-- default, because a table that is searched by network (`ip <<= '203.0.113.0/24'`,
-- what an erasure by IP does) gets one from its DBA; without it the IP half of
-- the OR cannot use an index and every statement reads the whole table.
--
-- Shape of the data (deterministic: setseed):
--   id          1..N, in time order (a sequence-fed key, like most session tables)
--   user_id     'user-00001'..'user-10000', uniform: about N/10000 sessions each
--   ip          70% from the user's home /24 (one per user), 30% anywhere in
--               32.0.0.0 - 95.255.255.255: ~4.2M possible /24s, 65,536 /16s
--   agent       one of eight browser strings
--   started_at  spread evenly over 2024 (366 days), increasing with id
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DROP TABLE IF EXISTS bench_source, sessions, sessions_plain, bench_case;

SELECT setseed(0.4242);
CREATE TABLE bench_source AS
SELECT g AS id,
       'user-' || lpad(u::text, 5, '0') AS user_id,
       '0.0.0.0'::inet + CASE
           WHEN r_home < 0.7  -- home /24 of user u: a bijection of u onto 2^22 /24s
             THEN 536870912 + ((u * 2654435761) % 4194304) * 256 + 1 + floor(r_addr * 254)::bigint
           ELSE 536870912 + floor(r_addr * 1073741824)::bigint
         END AS ip,
       (ARRAY['Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0',
              'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0',
              'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Safari/605.1.15',
              'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) Mobile/15E148',
              'Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile',
              'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/120.0',
              'curl/8.5.0',
              'python-requests/2.31.0'])[1 + floor(r_agent * 8)::int] AS agent,
       '2024-01-01 00:00:00+00'::timestamptz
         + ((g - 1 + r_time) / :scale) * interval '366 days' AS started_at
  FROM (SELECT g, 1 + floor(random() * 10000)::bigint AS u,
               random() AS r_home, random() AS r_addr, random() AS r_agent, random() AS r_time
          FROM generate_series(1, :scale) AS g
        OFFSET 0) AS r;
ALTER TABLE bench_source ADD PRIMARY KEY (id);

CREATE TABLE sessions (
  id         bigint PRIMARY KEY,
  user_id    text,
  ip         inet,
  agent      text,
  started_at timestamptz NOT NULL
);
COMMENT ON COLUMN sessions.user_id    IS E'Who logged in.\n@pii subject';
COMMENT ON COLUMN sessions.ip         IS E'Client address.\n@pii ip';
COMMENT ON COLUMN sessions.started_at IS E'Login time.\n@pii time';
CREATE INDEX sessions_user_id_idx    ON sessions (user_id);
CREATE INDEX sessions_started_at_idx ON sessions (started_at);

-- the same columns, constraints and indexes, but no comments: pg_forget never sees it
CREATE TABLE sessions_plain (LIKE sessions INCLUDING ALL EXCLUDING COMMENTS);

\if :ip_index
CREATE INDEX sessions_ip_idx       ON sessions       USING gist (ip inet_ops);
CREATE INDEX sessions_plain_ip_idx ON sessions_plain USING gist (ip inet_ops);
\endif

-- one row per case: the window, the people and networks, the rows that must match
CREATE TABLE bench_case (
  name     text PRIMARY KEY,
  start_ts timestamptz NOT NULL,
  end_ts   timestamptz NOT NULL,
  users    text[] NOT NULL,
  nets     inet[] NOT NULL,
  expected bigint NOT NULL
);
