-- The benchmark database (scripts/bench.sh): about :scale rows in total over
-- nine tagged tables of a shop, with the indexes a DBA would have, and one
-- untagged copy of the sessions (the jobs baseline). Deterministic (setseed).
--
--   table            share  reached by               tags
--   users            5%     subject (login)          login subject, email email, full_name redact, birth_date year; @pii subjects
--   addresses        5%     FK user_id               street, postcode redact
--   orders           10%    FK user_id               shipping_name redact
--   order_items      20%    FK order_id -> orders    gift_message redact
--   payments         10%    FK user_id; partitioned by month (12 partitions)   card_last4 null
--   login_tokens     2.5%   FK user_id; @pii delete  (rows deleted)
--   support_tickets  2.5%   FK user_id               body redact, phone redact
--   sessions         25%    subject (user_id = login), no FK                   user_id subject, ip ip, started_at time
--   audit_events     20%    subject (actor = login)  payload json:email,name,ip; message scrub (2% mention another user)
--
-- Logins are 'u' + 12 hex digits (as diverse as real user names: a pg_trgm
-- index finds one among millions), e-mails login@example.com.
--
-- Indexes: every primary key, unique login and email, every foreign key
-- column, sessions(user_id), sessions(started_at), GiST on sessions.ip,
-- audit_events(actor), and pg_trgm GIN indexes on audit_events.message and
-- on audit_events.payload::text (what lets the scrub and JSON columns find
-- other people's rows that mention someone without reading the table).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS pgcrypto;

SELECT (:scale * 0.05)::bigint AS n_users, (:scale * 0.10)::bigint AS n_orders,
       (:scale * 0.20)::bigint AS n_items, (:scale * 0.25)::bigint AS n_sessions,
       (:scale * 0.025)::bigint AS n_small \gset
SELECT setseed(0.4242) \gset

CREATE TABLE users (
    id         bigint PRIMARY KEY,
    login      text NOT NULL UNIQUE,
    email      text NOT NULL UNIQUE,
    full_name  text,
    birth_date date,
    created_at timestamptz NOT NULL
);
COMMENT ON TABLE users IS E'Accounts.\n@pii subjects';
COMMENT ON COLUMN users.login IS '@pii subject';
COMMENT ON COLUMN users.email IS '@pii email';
COMMENT ON COLUMN users.full_name IS '@pii redact';
COMMENT ON COLUMN users.birth_date IS '@pii year';
INSERT INTO users
SELECT i, 'u' || substr(md5(i::text), 1, 12), 'u' || substr(md5(i::text), 1, 12) || '@example.com',
       (ARRAY['Ada', 'Alan', 'Grace', 'Edsger', 'Barbara', 'Donald'])[1 + i % 6] || ' '
         || (ARRAY['Lovelace', 'Turing', 'Hopper', 'Dijkstra', 'Liskov', 'Knuth'])[1 + (i / 6) % 6],
       date '1950-01-01' + (i::bigint * 7919 % 18000)::int, timestamptz '2020-01-01 00:00+00' + i * interval '1 minute'
  FROM generate_series(1, :n_users) i;

CREATE TABLE addresses (
    id       bigint PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES users,
    street   text,
    city     text,
    postcode text
);
COMMENT ON COLUMN addresses.street IS '@pii redact';
COMMENT ON COLUMN addresses.postcode IS '@pii redact';
INSERT INTO addresses SELECT i, i, i || ' Main Street', 'Springfield', lpad((i % 99999)::text, 5, '0')
  FROM generate_series(1, :n_users) i;
CREATE INDEX ON addresses (user_id);

CREATE TABLE orders (
    id            bigint PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users,
    created_at    timestamptz NOT NULL,
    total         numeric(10, 2) NOT NULL,
    shipping_name text
);
COMMENT ON COLUMN orders.shipping_name IS '@pii redact';
INSERT INTO orders SELECT i, 1 + (i * 7) % :n_users, timestamptz '2024-01-01 00:00+00' + i * interval '1 second',
       (i % 500) + 0.99, 'Recipient ' || i
  FROM generate_series(1, :n_orders) i;
CREATE INDEX ON orders (user_id);

CREATE TABLE order_items (
    id           bigint PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES orders,
    product      text NOT NULL,
    gift_message text
);
COMMENT ON COLUMN order_items.gift_message IS '@pii redact';
INSERT INTO order_items SELECT i, 1 + i % :n_orders, 'product ' || (i % 1000),
       CASE WHEN i % 10 = 0 THEN 'Happy birthday!' END
  FROM generate_series(1, :n_items) i;
CREATE INDEX ON order_items (order_id);

CREATE TABLE payments (
    id         bigint NOT NULL,
    user_id    bigint NOT NULL REFERENCES users,
    paid_at    timestamptz NOT NULL,
    amount     numeric(10, 2) NOT NULL,
    card_last4 text,
    PRIMARY KEY (id, paid_at)
) PARTITION BY RANGE (paid_at);
COMMENT ON COLUMN payments.card_last4 IS '@pii null';
SELECT format('CREATE TABLE payments_2024_%s PARTITION OF payments FOR VALUES FROM (%L) TO (%L)',
              lpad(m::text, 2, '0'), make_timestamptz(2024, m, 1, 0, 0, 0, 'UTC'),
              make_timestamptz(2024, m, 1, 0, 0, 0, 'UTC') + interval '1 month')
  FROM generate_series(1, 12) m \gexec
INSERT INTO payments SELECT i, 1 + (i * 13) % :n_users,
       timestamptz '2024-01-01 00:00+00' + (i::float8 / :n_orders) * interval '365 days',
       (i % 300) + 0.5, lpad((i % 10000)::text, 4, '0')
  FROM generate_series(1, :n_orders) i;
CREATE INDEX ON payments (user_id);

CREATE TABLE login_tokens (
    id      bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users,
    token   text NOT NULL
);
COMMENT ON TABLE login_tokens IS '@pii delete';
COMMENT ON COLUMN login_tokens.token IS '@pii hash';
INSERT INTO login_tokens SELECT i, 1 + (i * 3) % :n_users, md5(i::text) FROM generate_series(1, :n_small) i;
CREATE INDEX ON login_tokens (user_id);

CREATE TABLE support_tickets (
    id      bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users,
    subject text NOT NULL,
    body    text,
    phone   text
);
COMMENT ON COLUMN support_tickets.body IS '@pii redact';
COMMENT ON COLUMN support_tickets.phone IS '@pii redact';
INSERT INTO support_tickets SELECT i, 1 + (i * 11) % :n_users, 'ticket ' || i, 'My parcel did not arrive.',
       '+1-555-' || lpad((i % 10000)::text, 4, '0')
  FROM generate_series(1, :n_small) i;
CREATE INDEX ON support_tickets (user_id);

-- sessions: generated once into bench_source, copied into the tagged table
-- and into sessions_plain (untagged, same rows and indexes) for the jobs baseline
CREATE TABLE bench_source AS
SELECT g AS id,
       'u' || substr(md5((1 + floor(random() * :n_users))::bigint::text), 1, 12) AS user_id,
       '0.0.0.0'::inet + (536870912 + floor(random() * 1073741824)::bigint) AS ip,
       (ARRAY['Firefox/121.0', 'Chrome/120.0', 'Safari/605.1.15', 'curl/8.5.0'])[1 + g % 4] AS agent,
       timestamptz '2024-01-01 00:00+00' + ((g - 1 + random()) / :n_sessions) * interval '366 days' AS started_at
  FROM generate_series(1, :n_sessions) g;
ALTER TABLE bench_source ADD PRIMARY KEY (id);
CREATE TABLE sessions (
    id         bigint PRIMARY KEY,
    user_id    text,
    ip         inet,
    agent      text,
    started_at timestamptz NOT NULL
);
COMMENT ON COLUMN sessions.user_id IS E'Who logged in.\n@pii subject';
COMMENT ON COLUMN sessions.ip IS E'Client address.\n@pii ip';
COMMENT ON COLUMN sessions.started_at IS E'Login time.\n@pii time';
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_started_at_idx ON sessions (started_at);
CREATE INDEX sessions_ip_idx ON sessions USING gist (ip inet_ops);
CREATE TABLE sessions_plain (LIKE sessions INCLUDING ALL EXCLUDING COMMENTS);
INSERT INTO sessions SELECT * FROM bench_source ORDER BY id;
INSERT INTO sessions_plain SELECT * FROM bench_source ORDER BY id;

CREATE TABLE audit_events (
    id      bigint PRIMARY KEY,
    actor   text NOT NULL,
    at      timestamptz NOT NULL,
    payload jsonb,
    message text
);
COMMENT ON COLUMN audit_events.actor IS '@pii subject';
COMMENT ON COLUMN audit_events.payload IS '@pii json:email,name,ip';
COMMENT ON COLUMN audit_events.message IS '@pii scrub';
INSERT INTO audit_events
SELECT i, u.login, timestamptz '2024-01-01 00:00+00' + i * interval '5 seconds',
       jsonb_build_object('email', u.email, 'name', u.full_name, 'ip', '10.1.' || (i % 250) || '.7',
                          'action', (ARRAY['login', 'view', 'update', 'export'])[1 + i % 4]),
       CASE WHEN i % 50 = 0
            THEN 'support note: ' || u.login || ' asked about the order of ' || 'u' || substr(md5((1 + (i * 31) % :n_users)::text), 1, 12)
            ELSE 'login by ' || u.login || ' from web' END
  FROM generate_series(1, :n_items) i
  JOIN users u ON u.id = 1 + (i * 17) % :n_users;
CREATE INDEX ON audit_events (actor);
CREATE INDEX audit_events_message_trgm ON audit_events USING gin (message gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX audit_events_payload_trgm ON audit_events USING gin ((payload::text) gin_trgm_ops) WITH (fastupdate = off);

VACUUM ANALYZE;
SELECT sum(n_live_tup) AS total_rows FROM pg_stat_user_tables
 WHERE relname NOT IN ('bench_source', 'sessions_plain', 'payments') \gset

-- the jobs cases (bench/sessions_choose.sql): window, people and networks per case
CREATE TABLE bench_case (
  name     text PRIMARY KEY,
  start_ts timestamptz NOT NULL,
  end_ts   timestamptz NOT NULL,
  users    text[] NOT NULL,
  nets     inet[] NOT NULL,
  expected bigint NOT NULL
);
