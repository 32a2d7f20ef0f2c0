-- forget.pii_columns across schemas, foreign keys and partitions.
-- via_fk says a table has no subject column and is reached through foreign
-- keys: rows that reference a person's rows (any depth) and tagged rows the
-- person's rows reference. Partitioned tables show once, through their parent.
\set VERBOSITY terse
BEGIN;
CREATE SCHEMA cat_a;
CREATE SCHEMA cat_b;
CREATE TABLE cat_a.addresses (id int PRIMARY KEY, street text, city text);
COMMENT ON COLUMN cat_a.addresses.street IS '@pii';
CREATE TABLE cat_a.users (id int PRIMARY KEY, username text UNIQUE, address_id int REFERENCES cat_a.addresses);
COMMENT ON COLUMN cat_a.users.username IS '@pii subject';
CREATE TABLE cat_b.orders (id int PRIMARY KEY, user_id int REFERENCES cat_a.users, ship_to text);
COMMENT ON COLUMN cat_b.orders.ship_to IS '@pii';
CREATE TABLE cat_b.order_lines (order_id int REFERENCES cat_b.orders, line int, gift_note text, PRIMARY KEY (order_id, line));
COMMENT ON COLUMN cat_b.order_lines.gift_note IS '@pii scrub';
CREATE TABLE cat_b.line_notes (order_id int, line int, body text,
    FOREIGN KEY (order_id, line) REFERENCES cat_b.order_lines);
COMMENT ON COLUMN cat_b.line_notes.body IS '@pii';
-- a self reference and an untagged, unconnected table
CREATE TABLE cat_b.threads (id int PRIMARY KEY, parent_id int REFERENCES cat_b.threads, author_id int REFERENCES cat_a.users, title text);
COMMENT ON COLUMN cat_b.threads.title IS '@pii scrub';
CREATE TABLE cat_b.lonely (id int, secret text);
COMMENT ON COLUMN cat_b.lonely.secret IS '@pii';
-- a partitioned table with foreign keys declared on the parent
CREATE TABLE cat_b.sessions (id bigint, user_id int REFERENCES cat_a.users, ip inet, started_at timestamptz NOT NULL)
    PARTITION BY RANGE (started_at);
CREATE TABLE cat_b.sessions_2026 PARTITION OF cat_b.sessions FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE cat_b.sessions_2027 PARTITION OF cat_b.sessions FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
COMMENT ON COLUMN cat_b.sessions.ip IS '@pii ip';
COMMENT ON COLUMN cat_b.sessions.started_at IS '@pii time';
-- comments on a partition are not read: the parent's tags count
COMMENT ON COLUMN cat_b.sessions_2026.ip IS '@pii null';
SELECT schema_name, table_name, column_name, data_type, roles, strategy, via_fk
  FROM forget.pii_columns WHERE schema_name LIKE 'cat_%' ORDER BY 1, 2, 3;
-- the view exports as CSV for a field summary
COPY (SELECT schema_name, table_name, column_name, strategy FROM forget.pii_columns
       WHERE schema_name = 'cat_a' ORDER BY 1, 2, 3) TO STDOUT WITH (FORMAT csv, HEADER);
-- extension tables are never listed
SELECT count(*) AS forget_tables FROM forget.pii_columns WHERE schema_name = 'forget';
ROLLBACK;
