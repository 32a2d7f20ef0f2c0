-- pg_forget: objects created before the functions (tables, the admin role,
-- the HMAC key). Runs inside CREATE EXTENSION with search_path = forget.

-- Roles are shared by all databases of the cluster: the lock serializes
-- concurrent CREATE EXTENSION in several databases.
DO $$
BEGIN
    LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'forget_admin') THEN
        CREATE ROLE forget_admin NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON SCHEMA forget FROM PUBLIC;
GRANT USAGE ON SCHEMA forget TO PUBLIC;

-- The HMAC key behind forget.pseudonym, the `hash` and `email` strategies and
-- the `anonymous-<hash8>` subject replacement. Generated here from
-- pg_strong_random (through gen_random_uuid: 244 random bits). The key in use
-- is the oldest row: a pg_dump restore adds the dumped key next to the one
-- CREATE EXTENSION made, and the dumped (older) one wins, so pseudonyms stay
-- stable across dump and restore.
CREATE TABLE forget.hmac_key (
    key        bytea       NOT NULL CHECK (octet_length(key) >= 16),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
INSERT INTO forget.hmac_key (key, created_at)
VALUES (pg_catalog.decode(pg_catalog.replace(pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', ''), 'hex'),
        pg_catalog.clock_timestamp());
REVOKE ALL ON forget.hmac_key FROM PUBLIC;
GRANT SELECT ON forget.hmac_key TO forget_admin;
SELECT pg_catalog.pg_extension_config_dump('forget.hmac_key', '');

-- Jobs: one row per call of anonymize_users / delete_users (done in the
-- caller's transaction) and per queued job. Never holds personal data.
CREATE TABLE forget.job (
    id           bigserial   PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('anonymize', 'delete', 'session', 'retry', 'auto')),
    status       text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    dry_run      boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    due_at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at   timestamptz,
    finished_at  timestamptz,
    rows_matched bigint      NOT NULL DEFAULT 0,
    rows_done    bigint      NOT NULL DEFAULT 0,
    error        text,
    role_name    text        NOT NULL DEFAULT CURRENT_USER,
    params       jsonb       NOT NULL DEFAULT '{}',
    progress     jsonb       NOT NULL DEFAULT '{}',
    runner_pid   integer,
    claimed_at   timestamptz,
    attempts     integer     NOT NULL DEFAULT 0
);
CREATE INDEX job_due_idx ON forget.job (due_at) WHERE status = 'queued';

-- Per table and column of a job: rows changed (or that would change), rows
-- deleted, and the people not found (as pseudonyms).
CREATE TABLE forget.job_report_row (
    job_id            bigint NOT NULL REFERENCES forget.job ON DELETE CASCADE,
    ord               integer NOT NULL,
    schema_name       text,
    table_name        text,
    column_name       text,
    action            text   NOT NULL CHECK (action IN ('masked', 'deleted', 'would_mask', 'would_delete', 'not_found')),
    row_count         bigint NOT NULL DEFAULT 0,
    subject_pseudonym text,
    note              text,
    PRIMARY KEY (job_id, ord)
);

-- The audit log: who did what when, the person only as an HMAC pseudonym.
CREATE TABLE forget.audit_log (
    id                bigserial   PRIMARY KEY,
    at                timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    role_name         text        NOT NULL DEFAULT SESSION_USER,
    action            text        NOT NULL CHECK (action IN ('started', 'key_changed', 'completed', 'failed', 'retried', 'deleted', 'queued', 'exported')),
    job_id            bigint,
    subject_pseudonym text
);
-- A person's jobs are found through the row that opened each ('started',
-- 'queued', ...): the 'completed' rows, one per person of a job that may
-- have erased tens of thousands, are left out of the index, which would
-- otherwise cost a job more to finish than its last batch.
CREATE INDEX audit_log_subject_idx ON forget.audit_log (subject_pseudonym) WHERE action <> 'completed';
CREATE INDEX audit_log_job_idx ON forget.audit_log (job_id);

-- Identifiers a queued job needs to find its rows; removed when the job is done.
CREATE TABLE forget.job_subject (
    job_id bigint NOT NULL REFERENCES forget.job ON DELETE CASCADE,
    kind   text   NOT NULL CHECK (kind IN ('user', 'ip', 'key')),
    value  text   NOT NULL
);
CREATE INDEX job_subject_job_idx ON forget.job_subject (job_id);

REVOKE ALL ON forget.job, forget.job_report_row, forget.audit_log, forget.job_subject FROM PUBLIC;
GRANT SELECT ON forget.job, forget.job_report_row, forget.audit_log, forget.job_subject TO forget_admin;
SELECT pg_catalog.pg_extension_config_dump('forget.job', '');
SELECT pg_catalog.pg_extension_config_dump('forget.job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('forget.job_report_row', '');
SELECT pg_catalog.pg_extension_config_dump('forget.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('forget.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('forget.job_subject', '');
