-- Reach through foreign keys (SPEC section 2): rows that reference a person's
-- rows are the person's too (any depth, composite keys, self references,
-- cycles), and a tagged row the person's rows reference is the person's when
-- nobody else references it. Partitioned tables follow their parent's tags,
-- whichever of parent or partitions declares the foreign key. Several schemas.
\set VERBOSITY terse
BEGIN;
SELECT regress.fixed_key();
CREATE SCHEMA shop;
CREATE SCHEMA crm;
CREATE TABLE crm.addresses (id int PRIMARY KEY, street text);
COMMENT ON COLUMN crm.addresses.street IS '@pii';
CREATE TABLE crm.customers (id int PRIMARY KEY, login text UNIQUE, address_id int REFERENCES crm.addresses);
COMMENT ON COLUMN crm.customers.login IS '@pii subject';
-- chain: customers <- orders <- order_lines (composite key) <- line_notes (three deep)
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int REFERENCES crm.customers, ship_to text);
COMMENT ON COLUMN shop.orders.ship_to IS '@pii';
CREATE TABLE shop.order_lines (order_id int REFERENCES shop.orders, line int, gift_note text, PRIMARY KEY (order_id, line));
COMMENT ON COLUMN shop.order_lines.gift_note IS '@pii redact:-';
CREATE TABLE shop.line_notes (id int PRIMARY KEY, order_id int, line int, body text,
    FOREIGN KEY (order_id, line) REFERENCES shop.order_lines);
COMMENT ON COLUMN shop.line_notes.body IS '@pii';
-- a self reference: replies to the person's comments are reached too
CREATE TABLE shop.comments (id int PRIMARY KEY, customer_id int REFERENCES crm.customers, parent_id int REFERENCES shop.comments, body text);
COMMENT ON COLUMN shop.comments.body IS '@pii redact:[deleted]';
-- an untagged child: reached (delete_users removes it), nothing to mask
CREATE TABLE shop.wishlist (id int PRIMARY KEY, customer_id int REFERENCES crm.customers, item text);
-- a cycle: orders -> invoices -> orders
CREATE TABLE shop.invoices (id int PRIMARY KEY, order_id int REFERENCES shop.orders, billing_name text);
COMMENT ON COLUMN shop.invoices.billing_name IS '@pii';
ALTER TABLE shop.orders ADD COLUMN last_invoice_id int REFERENCES shop.invoices;
-- a partitioned table, foreign key declared on the parent
CREATE TABLE shop.visits (id int, customer_id int REFERENCES crm.customers, ip inet, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE shop.visits_2026 PARTITION OF shop.visits FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE shop.visits_2027 PARTITION OF shop.visits FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
COMMENT ON COLUMN shop.visits.ip IS '@pii ip';
-- a partitioned table whose foreign key is declared on one partition only
CREATE TABLE shop.clicks (id int, customer_id int, ref text, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE shop.clicks_2026 PARTITION OF shop.clicks FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
ALTER TABLE shop.clicks_2026 ADD FOREIGN KEY (customer_id) REFERENCES crm.customers;
COMMENT ON COLUMN shop.clicks.ref IS '@pii';

INSERT INTO crm.addresses VALUES (1, '1 Alice Lane'), (2, '2 Shared Street'), (3, '3 Bob Road');
INSERT INTO crm.customers VALUES (1, 'alice', 1), (2, 'bob', 2), (3, 'carol', 2), (4, 'dan', 3);
INSERT INTO shop.orders VALUES (10, 1, 'Alice Lane'), (11, 2, 'Bob Road'), (12, 1, 'Office');
INSERT INTO shop.invoices VALUES (100, 10, 'Alice A.'), (101, 11, 'Bob B.');
UPDATE shop.orders SET last_invoice_id = 100 WHERE id = 10;
INSERT INTO shop.order_lines VALUES (10, 1, 'for mum'), (10, 2, 'for dad'), (11, 1, 'for bob');
INSERT INTO shop.line_notes VALUES (1, 10, 1, 'wrap it'), (2, 11, 1, 'no wrap');
INSERT INTO shop.comments VALUES (1, 1, NULL, 'alice asks'), (2, 2, 1, 'bob replies to alice'), (3, 1, 2, 'alice again'), (4, 2, NULL, 'bob alone');
INSERT INTO shop.wishlist VALUES (1, 1, 'book'), (2, 2, 'pen');
INSERT INTO shop.visits VALUES (1, 1, '10.0.0.1', '2026-03-01'), (2, 1, '10.0.0.2', '2027-03-01'), (3, 2, '10.0.0.3', '2026-03-01');
INSERT INTO shop.clicks VALUES (1, 1, 'alice-ref', '2026-05-01'), (2, 2, 'bob-ref', '2026-05-01');

SELECT table_name, column_name, via_fk FROM forget.pii_columns WHERE schema_name IN ('shop', 'crm') ORDER BY 1, 2;
SELECT username, schema_name, table_name, column_name, row_count FROM forget.locate_users('{alice,bob}');
SELECT forget.anonymize_users('{alice}') AS job \gset
SELECT schema_name, table_name, column_name, action, row_count FROM forget.job_report(:job);
-- alice's address is hers alone and is masked; the shared one is not touched by bob's erasure below
SELECT * FROM crm.addresses ORDER BY id;
SELECT id, customer_id, ship_to FROM shop.orders ORDER BY id;
SELECT * FROM shop.order_lines ORDER BY 1, 2;
SELECT * FROM shop.line_notes ORDER BY id;
SELECT * FROM shop.comments ORDER BY id;
SELECT * FROM shop.invoices ORDER BY id;
SELECT tableoid::regclass AS partition, id, ip FROM shop.visits ORDER BY id;
SELECT * FROM shop.clicks ORDER BY id;
-- bob shares his address with carol: erasing bob leaves it; erasing both takes it
SAVEPOINT s;
SELECT forget.anonymize_users('{bob}') IS NOT NULL AS done;
SELECT * FROM crm.addresses WHERE id = 2;
ROLLBACK TO SAVEPOINT s;
SELECT forget.anonymize_users('{bob,carol}') IS NOT NULL AS done;
SELECT * FROM crm.addresses WHERE id = 2;
ROLLBACK;
