-- Anonymization jobs over time windows (SPEC section 4):
-- forget.create_anonymization_job queues a job that masks, in every table with
-- a `time` column, the rows whose time is in [start_ts, end_ts] (inclusive)
-- and whose subject is in user_ids OR whose IP is in ips (a netmask matches
-- its whole network). Subject and IP columns are always masked, plus the
-- additional fields. CALL forget.run_jobs() runs due jobs in batches of
-- forget.batch_size rows, committing after each: it cannot run inside a
-- transaction block, so this suite cleans up after itself.
\set VERBOSITY terse
SELECT regress.fixed_key();
CREATE SCHEMA mon;
CREATE TABLE mon.sessions (
    id         bigint PRIMARY KEY,
    user_id    text,
    ip         inet,
    agent      text,
    country    text,
    started_at timestamptz NOT NULL
);
COMMENT ON COLUMN mon.sessions.user_id IS '@pii subject';
COMMENT ON COLUMN mon.sessions.ip IS '@pii ip';
COMMENT ON COLUMN mon.sessions.country IS '@pii redact:XX';
COMMENT ON COLUMN mon.sessions.started_at IS '@pii time';
CREATE TABLE mon.page_views (
    id        bigint PRIMARY KEY,
    visitor   text,
    client_ip text,
    url       text,
    seen_at   timestamp NOT NULL
);
COMMENT ON COLUMN mon.page_views.visitor IS '@pii subject';
COMMENT ON COLUMN mon.page_views.client_ip IS '@pii ip';
COMMENT ON COLUMN mon.page_views.seen_at IS '@pii time';
SET timezone = 'UTC';
INSERT INTO mon.sessions VALUES
  (1, 'u1', '10.0.0.1',      'curl',    'FR', '2026-03-01 00:00:00+00'),   -- u1, at the window start
  (2, 'u1', '10.0.0.1',      'firefox', 'FR', '2026-03-31 23:59:59+00'),   -- u1, at the window end
  (3, 'u1', '10.0.0.1',      'curl',    'FR', '2026-04-01 00:00:00+00'),   -- u1, after the window
  (4, 'u2', '192.168.7.200', 'curl',    'DE', '2026-03-10 00:00:00+00'),   -- matched by the network 192.168.7.0/24
  (5, 'u3', '192.168.8.1',   'curl',    'DE', '2026-03-10 00:00:00+00'),   -- neither
  (6, 'u4', '2001:db8:1:2::7', 'curl',  'NL', '2026-03-15 00:00:00+00'),   -- IPv6 network
  (7, 'u5', NULL,            'curl',    'US', '2026-03-15 00:00:00+00');   -- neither
INSERT INTO mon.page_views VALUES
  (1, 'u1', '10.0.0.1',    '/a', '2026-03-05'),
  (2, 'u9', '192.168.7.9', '/b', '2026-03-06'),
  (3, 'u9', 'garbage',     '/c', '2026-03-07'),
  (4, 'u8', '10.9.9.9',    '/d', '2026-05-01');

-- errors, before anything is queued
SELECT count(*) AS jobs_before FROM forget.job \gset
SELECT regress.err($$SELECT forget.create_anonymization_job('2026-04-01', '2026-03-01', '{u1}', NULL, NULL)$$);
SELECT regress.err($$SELECT forget.create_anonymization_job(NULL, NULL, NULL, NULL, NULL)$$);
SELECT regress.err($$SELECT forget.create_anonymization_job(NULL, NULL, '{}', '{}', NULL)$$);
SELECT regress.err($$SELECT forget.create_anonymization_job(NULL, NULL, ARRAY['u1', NULL], NULL, NULL)$$);
SELECT regress.err($$SELECT forget.create_anonymization_job(NULL, NULL, '{""}', NULL, NULL)$$);
SELECT regress.err($$SELECT forget.create_anonymization_job(NULL, NULL, NULL, ARRAY[NULL::inet], NULL)$$);
SELECT regress.err($$SELECT forget.create_anonymization_job(NULL, NULL, '{u1}', NULL, '{nonexistent}')$$);
SELECT regress.err($$SELECT forget.create_anonymization_job(NULL, NULL, '{u1}', NULL, '{started_at}')$$);
SELECT count(*) - :jobs_before AS queued_by_errors FROM forget.job;
-- run_jobs commits, so not inside a transaction block
BEGIN;
CALL forget.run_jobs();
ROLLBACK;
CALL forget.run_jobs(0);

-- the job: users u1, networks 192.168.7.0/24 and 2001:db8:1::/48, in March, plus the agent
SELECT forget.create_anonymization_job('2026-03-01 00:00:00+00', '2026-03-31 23:59:59+00',
                                       '{u1}', '{192.168.7.0/24,2001:db8:1::/48}', '{sessions.agent,url}') AS job \gset
SELECT kind, status, rows_matched, rows_done, started_at IS NULL AS not_started FROM forget.job_status(:job);
-- the identifiers wait in a table only forget_admin reads; the job row holds none
SELECT kind, count(*) FROM forget.job_subject WHERE job_id = :job GROUP BY kind ORDER BY kind;
SELECT params::text ~ 'u1|192\.168' AS params_hold_identifiers FROM forget.job WHERE id = :job;
SET forget.batch_size = 2;
CALL forget.run_jobs();
SELECT kind, status, rows_matched, rows_done, percent, error FROM forget.job_status(:job);
SELECT * FROM mon.sessions ORDER BY id;
SELECT * FROM mon.page_views ORDER BY id;
SELECT schema_name, table_name, column_name, action, row_count FROM forget.job_report(:job);
-- done: the identifiers are gone; the audit log has pseudonyms only
SELECT count(*) AS identifiers_left FROM forget.job_subject WHERE job_id = :job;
SELECT action, count(*) FROM forget.audit_log WHERE job_id = :job GROUP BY action ORDER BY action;
SELECT bool_and(subject_pseudonym ~ '^[0-9a-f]{64}$') AS pseudonyms_only FROM forget.audit_log WHERE job_id = :job AND subject_pseudonym IS NOT NULL;
-- nothing due: run_jobs returns at once
CALL forget.run_jobs();
-- NULL start and end: the whole past up to now
SELECT forget.create_anonymization_job(NULL, NULL, '{u8}', NULL, NULL) AS job2 \gset
CALL forget.run_jobs(1);
SELECT status, rows_done FROM forget.job_status(:job2);
SELECT id, visitor, client_ip FROM mon.page_views WHERE id = 4;
-- a failing job keeps its progress and says why, without the identifiers
CREATE FUNCTION mon.boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'trigger refused the change for row %', NEW.id; END $$;
CREATE TRIGGER boom BEFORE UPDATE ON mon.sessions FOR EACH ROW EXECUTE FUNCTION mon.boom();
SELECT forget.create_anonymization_job(NULL, NULL, '{u3}', NULL, NULL) AS job3 \gset
CALL forget.run_jobs();
SELECT status, error, finished_at IS NOT NULL AS finished FROM forget.job_status(:job3);
SELECT action FROM forget.audit_log WHERE job_id = :job3 ORDER BY id;
DROP TRIGGER boom ON mon.sessions;
-- forget.retry_job queues a failed job again; it keeps its id and resumes
SELECT forget.retry_job(:job3) = :job3 AS same_id;
SELECT status, error, abandoned FROM forget.jobs WHERE id = :job3;
CALL forget.run_jobs();
SELECT status, rows_done, error FROM forget.job_status(:job3);
SELECT id, user_id FROM mon.sessions WHERE id = 5;
SELECT action FROM forget.audit_log WHERE job_id = :job3 ORDER BY id;
-- only failed or abandoned jobs can be retried
SELECT regress.err($$SELECT forget.retry_job(NULL)$$);
SELECT regress.err($$SELECT forget.retry_job(-1)$$);
SELECT regexp_replace(regress.err(format('SELECT forget.retry_job(%s)', :job3)), 'job \d+', 'job N') AS err;
-- a plain role may not queue or run jobs
CREATE ROLE regress_jobs_app;
SET ROLE regress_jobs_app;
SELECT regress.err($$SELECT forget.create_anonymization_job(NULL, NULL, '{u1}', NULL, NULL)$$);
SELECT regress.err($$CALL forget.run_jobs()$$);
SELECT regexp_replace(regress.err(format('SELECT forget.retry_job(%s)', :job3)), 'job \d+', 'job N') AS err;
RESET ROLE;
DROP ROLE regress_jobs_app;
-- rows the application changes while a job runs: a job reads the rows it will
-- mask when it starts, and masks them batch after batch. Here a trigger, when
-- the job masks row 10, changes rows 11, 12 and 14, which the job has read
-- already: a row that still matches is masked, one that no longer matches is not.
CREATE TABLE mon.visits (id bigint PRIMARY KEY, who text, ip inet, at timestamptz NOT NULL);
COMMENT ON COLUMN mon.visits.who IS '@pii subject';
COMMENT ON COLUMN mon.visits.ip IS '@pii ip';
COMMENT ON COLUMN mon.visits.at IS '@pii time';
INSERT INTO mon.visits VALUES
  (10, 'v1', '10.5.0.1', '2026-03-01'),
  (11, 'v1', '10.5.0.2', '2026-03-02'),   -- becomes v2's: still matched
  (12, 'v1', '10.5.0.3', '2026-03-03'),   -- becomes v7's, on another network: no longer matched
  (13, 'v9', '10.6.0.1', '2026-03-04'),   -- never matched
  (14, 'v1', '10.5.0.5', '2026-03-05');   -- its time moves, within the window: still matched
CREATE FUNCTION mon.meddle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.id = 10 THEN
        UPDATE mon.visits SET who = 'v2' WHERE id = 11;
        UPDATE mon.visits SET who = 'v7', ip = '10.7.0.1' WHERE id = 12;
        UPDATE mon.visits SET at = at + interval '1 day' WHERE id = 14;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER meddle AFTER UPDATE ON mon.visits FOR EACH ROW EXECUTE FUNCTION mon.meddle();
SET forget.batch_size = 1;
SELECT forget.create_anonymization_job(NULL, NULL, '{v1,v2}', NULL, NULL) AS job4 \gset
CALL forget.run_jobs();
SELECT status, rows_matched, rows_done FROM forget.job_status(:job4);
SELECT * FROM mon.visits ORDER BY id;
SELECT table_name, column_name, row_count FROM forget.job_report(:job4) WHERE table_name = 'visits';
-- the same with the networks: row 12 leaves 10.5.0.0/16, row 11 stays in it
ALTER TABLE mon.visits DISABLE TRIGGER meddle;
UPDATE mon.visits SET who = 'v1', ip = ('10.5.0.' || (id - 9))::inet WHERE id IN (10, 11, 12, 14);
ALTER TABLE mon.visits ENABLE TRIGGER meddle;
SELECT forget.create_anonymization_job(NULL, NULL, NULL, '{10.5.0.0/16}', NULL) AS job5 \gset
CALL forget.run_jobs();
SELECT status, rows_matched, rows_done FROM forget.job_status(:job5);
SELECT * FROM mon.visits ORDER BY id;
DROP TABLE mon.visits;
DROP FUNCTION mon.meddle();
-- a partitioned table: a tid names a row only within its partition (both
-- partitions have rows at the same tids), and a batch reads only the
-- partitions of its times
CREATE TABLE mon.logins (id bigint, who text, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE mon.logins_2026 PARTITION OF mon.logins FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE mon.logins_2027 PARTITION OF mon.logins FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
COMMENT ON COLUMN mon.logins.who IS '@pii subject';
COMMENT ON COLUMN mon.logins.at IS '@pii time';
INSERT INTO mon.logins VALUES (1, 'p1', '2026-03-01'), (2, 'p9', '2026-03-02'), (3, 'p9', '2027-03-01'), (4, 'p1', '2027-03-02'), (5, 'p1', '2027-03-03');
SELECT tableoid::regclass AS part, ctid, id FROM mon.logins ORDER BY id;
SET forget.batch_size = 2;
SELECT forget.create_anonymization_job('2026-01-01', '2027-12-31', '{p1}', NULL, NULL) AS job6 \gset
CALL forget.run_jobs();
SELECT status, rows_matched, rows_done FROM forget.job_status(:job6);
SELECT * FROM mon.logins ORDER BY id;
DROP TABLE mon.logins;
-- a batch that spans two partitions reads the tids of both in both: a row it
-- did not read, found at one of them, is never masked (and never counted, so
-- the batch's own rows that moved meanwhile are still looked up by key). When
-- the job masks row 1, a trigger moves row 7 (read, in the next batch) and
-- inserts row 8 (matching, after the run started) at a tid of that batch.
CREATE TABLE mon.logins2 (id bigint, who text, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE mon.logins2_2026 PARTITION OF mon.logins2 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE mon.logins2_2027 PARTITION OF mon.logins2 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
COMMENT ON COLUMN mon.logins2.who IS '@pii subject';
COMMENT ON COLUMN mon.logins2.at IS '@pii time';
INSERT INTO mon.logins2 VALUES (1, 'p1', '2026-03-01'), (2, 'p1', '2026-03-02'), (7, 'p1', '2026-03-03'), (3, 'p9', '2027-01-01'), (4, 'p1', '2027-03-02');
SELECT tableoid::regclass AS part, ctid, id FROM mon.logins2 ORDER BY part, ctid;
CREATE FUNCTION mon.meddle2() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.id = 1 THEN
        INSERT INTO mon.logins2 VALUES (8, 'p1', '2027-01-05');
        UPDATE mon.logins2 SET at = at WHERE id = 7;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER meddle2 AFTER UPDATE ON mon.logins2 FOR EACH ROW EXECUTE FUNCTION mon.meddle2();
SELECT forget.create_anonymization_job('2026-01-01', '2027-12-31', '{p1}', NULL, NULL) AS job8 \gset
CALL forget.run_jobs();
SELECT status, rows_matched, rows_done FROM forget.job_status(:job8);
SELECT tableoid::regclass AS part, ctid, id, who FROM mon.logins2 ORDER BY id;
DROP TABLE mon.logins2;
DROP FUNCTION mon.meddle2();
-- a table whose rows the planner underestimates (statistics from before most
-- of them came): one statement masks the first batch, a cursor the rest
CREATE TABLE mon.hits (id bigint PRIMARY KEY, who text, at timestamptz NOT NULL);
COMMENT ON COLUMN mon.hits.who IS '@pii subject';
COMMENT ON COLUMN mon.hits.at IS '@pii time';
INSERT INTO mon.hits SELECT i, 'h' || (i % 50), timestamptz '2026-03-01' + i * interval '1 minute' FROM generate_series(1, 1000) i;
ANALYZE mon.hits;
INSERT INTO mon.hits SELECT i, 'h1', timestamptz '2026-03-02' + i * interval '1 minute' FROM generate_series(1001, 1150) i;
SET forget.batch_size = 60;
SELECT forget.create_anonymization_job(NULL, NULL, '{h1}', NULL, NULL) AS job7 \gset
CALL forget.run_jobs();
SELECT status, rows_matched, rows_done FROM forget.job_status(:job7);
SELECT count(*) FILTER (WHERE who = 'h1') AS left_h1, count(*) FILTER (WHERE who = 'anonymous') AS masked, count(*) AS all_rows FROM mon.hits;
-- the report counts each value once (not the batch rolled back)
SELECT table_name, column_name, row_count FROM forget.job_report(:job7) WHERE table_name = 'hits';
DROP TABLE mon.hits;
RESET forget.batch_size;
RESET timezone;
DROP SCHEMA mon CASCADE;
DELETE FROM forget.job;
DELETE FROM forget.audit_log;
