-- forget.export_users(usernames): a copy of each person's data for an access
-- or portability request (GDPR articles 15 and 20). One row per row of the
-- person's, `data` as to_jsonb gives it (every column, tagged or not), from
-- exactly the rows locate_users counts: one planner decides the reach of
-- locate, export, anonymize and delete. Ordered by name, table, then key.
-- Other people's rows that merely mention the person are not theirs.
\set VERBOSITY terse
BEGIN;
SELECT regress.fixed_key();
CREATE SCHEMA dsar;
CREATE TABLE dsar.customers (id int PRIMARY KEY, login text UNIQUE, email text, vip boolean DEFAULT false);
COMMENT ON COLUMN dsar.customers.login IS '@pii subject';
COMMENT ON COLUMN dsar.customers.email IS '@pii email';
CREATE TABLE dsar.orders (id int PRIMARY KEY, customer_id int REFERENCES dsar.customers, total numeric);
COMMENT ON COLUMN dsar.orders.total IS '@pii null';
CREATE TABLE dsar.order_lines (order_id int REFERENCES dsar.orders, line int, item text, PRIMARY KEY (order_id, line));
CREATE TABLE dsar.line_notes (id int PRIMARY KEY, order_id int, line int, body text, FOREIGN KEY (order_id, line) REFERENCES dsar.order_lines);
COMMENT ON COLUMN dsar.line_notes.body IS '@pii';
CREATE TABLE dsar.comments (id int PRIMARY KEY, customer_id int REFERENCES dsar.customers, parent_id int REFERENCES dsar.comments, body text);
COMMENT ON COLUMN dsar.comments.body IS '@pii scrub';
CREATE TABLE dsar.visits (id int, customer_id int REFERENCES dsar.customers, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE dsar.visits_1 PARTITION OF dsar.visits FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
CREATE TABLE dsar.visits_2 PARTITION OF dsar.visits FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
CREATE TABLE dsar.notes (id int PRIMARY KEY, body text);
COMMENT ON COLUMN dsar.notes.body IS '@pii scrub';
INSERT INTO dsar.customers VALUES (1, 'alice', 'alice@example.com', true), (2, 'bob', 'bob@example.org', false);
INSERT INTO dsar.orders VALUES (10, 1, 12.5), (11, 2, 3), (12, 1, 7);
INSERT INTO dsar.order_lines VALUES (10, 1, 'book'), (10, 2, 'pen'), (11, 1, 'ink'), (12, 1, 'cup');
INSERT INTO dsar.line_notes VALUES (1, 10, 2, 'gift'), (2, 11, 1, 'fragile');
INSERT INTO dsar.comments VALUES (1, 1, NULL, 'hi'), (2, 2, 1, 'hello alice'), (3, 2, NULL, 'bob alone');
INSERT INTO dsar.visits VALUES (1, 1, '2026-02-01'), (2, 1, '2026-08-01'), (3, 2, '2026-08-02');
INSERT INTO dsar.notes VALUES (1, 'alice called');
SELECT * FROM forget.export_users('{alice,nobody}');
-- export's rows per table equal locate_users' counts, table by table
SELECT l.table_name, l.row_count AS located, e.exported, l.row_count = e.exported AS same
  FROM (SELECT DISTINCT table_name, row_count FROM forget.locate_users('{alice}') WHERE schema_name = 'dsar') l
  JOIN (SELECT table_name, count(*) AS exported FROM forget.export_users('{alice}') GROUP BY table_name) e USING (table_name)
 ORDER BY 1;
-- two people, duplicates in the list, stable order
SELECT username, table_name, data->>'id' AS id FROM forget.export_users('{bob,alice,bob}') WHERE table_name IN ('customers', 'orders');
-- two exports of unchanged data are identical
SELECT (SELECT array_agg(e::text) FROM forget.export_users('{alice}') e) = (SELECT array_agg(e::text) FROM forget.export_users('{alice}') e) AS identical;
-- nothing changed; the audit log says exported, with the pseudonym only
SELECT count(*) AS customers_unchanged FROM dsar.customers WHERE login IN ('alice', 'bob');
SELECT action, job_id, subject_pseudonym = forget.pseudonym('alice') AS is_alice
  FROM forget.audit_log WHERE action = 'exported' AND subject_pseudonym = forget.pseudonym('alice') LIMIT 1;
SELECT count(*) AS names_in_audit FROM forget.audit_log WHERE subject_pseudonym IN ('alice', 'bob', 'nobody');
-- after anonymizing, an export finds nothing
SELECT forget.anonymize_users('{alice}') IS NOT NULL AS anonymized;
SELECT * FROM forget.export_users('{alice}');
-- errors
SELECT regress.err($$SELECT * FROM forget.export_users(NULL)$$);
SELECT regress.err($$SELECT * FROM forget.export_users('{alice,NULL}')$$);
SELECT regress.err($$SELECT * FROM forget.export_users('{""}')$$);
CREATE ROLE regress_export_app;
SET ROLE regress_export_app;
SELECT regress.err($$SELECT * FROM forget.export_users('{bob}')$$);
RESET ROLE;
ROLLBACK;
