-- pg_forget: objects that need the functions (views, grants).

CREATE VIEW forget.pii_columns AS
SELECT schema_name, table_name, column_name, data_type, roles, strategy, tag, via_fk
  FROM forget._pii_columns();
COMMENT ON VIEW forget.pii_columns IS 'Every column with a valid @pii tag: the field summary of personal data.';
GRANT SELECT ON forget.pii_columns TO PUBLIC;

-- JSON redaction works on the document text, so any depth PostgreSQL accepts works.
-- mask_ip reads and writes inet's bytes directly (src/api/mask.rs), so it is
-- defined here rather than generated; the definition is the one of 0.1.0.
CREATE  FUNCTION "mask_ip"(
	"ip" inet, /* Option < Inet > */
	"v4_prefix" INT DEFAULT NULL, /* Option < i32 > */
	"v6_prefix" INT DEFAULT NULL /* Option < i32 > */
) RETURNS inet /* Option < Inet > */
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'mask_ip_wrapper';

-- _mask_inet, like mask_ip, works on inet's bytes (src/context.rs); the definition is the one of 0.1.0
CREATE  FUNCTION "_mask_inet"(
	"val" inet, /* Option < Inet > */
	"slot" INT /* i32 */
) RETURNS inet /* Option < Inet > */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_mask_inet_wrapper';

-- redact_json walks the binary jsonb with PostgreSQL's iterator (src/api/mask.rs)
CREATE FUNCTION forget.redact_json(doc jsonb, keys text[], replacement text DEFAULT 'anonymous')
RETURNS jsonb
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'forget_redact_json';
COMMENT ON FUNCTION forget.redact_json(jsonb, text[], text) IS 'doc with every member named one of keys, at any depth, replaced by replacement';

CREATE FUNCTION forget.mask_date(value timestamptz, unit text)
RETURNS timestamptz
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$ SELECT forget.mask_date(value::timestamp, unit)::timestamptz $$;
COMMENT ON FUNCTION forget.mask_date(timestamptz, text) IS 'value truncated to its month or year, in the session time zone';

-- Settings are SUSET; forget_admin may set them too (PostgreSQL 15+). The
-- grants live in a shared catalog: lock it so that CREATE EXTENSION in several
-- databases at once does not collide, and grant only what is missing.
DO $$
DECLARE
    p text;
BEGIN
    IF pg_catalog.current_setting('server_version_num')::int >= 150000 THEN
        EXECUTE 'LOCK TABLE pg_catalog.pg_parameter_acl IN SHARE ROW EXCLUSIVE MODE';
        FOREACH p IN ARRAY ARRAY['forget.batch_size', 'forget.auto_anonymize', 'forget.anonymize_delay',
                                 'forget.ip_prefix_v4', 'forget.ip_prefix_v6'] LOOP
            IF NOT pg_catalog.has_parameter_privilege('forget_admin', p, 'SET') THEN
                EXECUTE pg_catalog.format('GRANT SET ON PARAMETER %s TO forget_admin', p);
            END IF;
        END LOOP;
        FOREACH p IN ARRAY ARRAY['forget.worker', 'forget.worker_naptime'] LOOP
            IF NOT pg_catalog.has_parameter_privilege('forget_admin', p, 'ALTER SYSTEM') THEN
                EXECUTE pg_catalog.format('GRANT ALTER SYSTEM ON PARAMETER %s TO forget_admin', p);
            END IF;
        END LOOP;
    END IF;
END
$$;

-- Is the process that claimed a running job still there? (A pid alone is not
-- enough: after a restart the same pid may belong to another backend.)
CREATE FUNCTION forget._runner_alive(pid integer, claimed_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_stat_activity a
                    WHERE a.pid = _runner_alive.pid AND a.backend_start <= _runner_alive.claimed_at)
$$;

CREATE VIEW forget.jobs AS
SELECT id, kind, status, dry_run, created_at, due_at, started_at, finished_at,
       rows_matched, rows_done,
       CASE WHEN status = 'done' THEN 100::numeric
            WHEN rows_matched = 0 THEN 0::numeric
            ELSE pg_catalog.round(100.0 * rows_done / rows_matched, 1) END AS percent,
       error,
       status = 'running' AND NOT coalesce(forget._runner_alive(runner_pid, claimed_at), false) AS abandoned,
       attempts
  FROM forget.job;
COMMENT ON VIEW forget.jobs IS 'pg_forget jobs: kind, status, times, progress, error of a failed job';
REVOKE ALL ON forget.jobs FROM PUBLIC;
GRANT SELECT ON forget.jobs TO forget_admin;

CREATE FUNCTION forget.job_status(job_id bigint)
RETURNS SETOF forget.jobs
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY SELECT * FROM forget.jobs j WHERE j.id = job_status.job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'P0002';
    END IF;
END
$$;

CREATE FUNCTION forget.job_report(job_id bigint)
RETURNS TABLE (schema_name text, table_name text, column_name text, action text,
               row_count bigint, subject_pseudonym text, note text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM forget.job j WHERE j.id = job_report.job_id) THEN
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY
        SELECT r.schema_name, r.table_name, r.column_name, r.action, r.row_count, r.subject_pseudonym, r.note
          FROM forget.job_report_row r
         WHERE r.job_id = job_report.job_id
         ORDER BY r.ord;
END
$$;

CREATE FUNCTION forget.create_anonymization_job(start_ts timestamptz, end_ts timestamptz,
    user_ids text[] DEFAULT NULL, ips inet[] DEFAULT NULL, additional_fields text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE
AS $$ SELECT forget._create_anonymization_job(start_ts, end_ts, user_ids, ips::text[], additional_fields) $$;
COMMENT ON FUNCTION forget.create_anonymization_job(timestamptz, timestamptz, text[], inet[], text[])
    IS 'queues a job masking rows in [start_ts, end_ts] whose subject is in user_ids or whose IP is in ips';

-- A copy of each person's data (access and portability requests): the rows
-- locate_users counts, each as to_jsonb gives it. RETURN QUERY streams through
-- a tuplestore (work_mem, then temporary files), not one array in memory.
CREATE FUNCTION forget.export_users(usernames text[])
RETURNS TABLE (username text, schema_name text, table_name text, data jsonb)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q text;
BEGIN
    q := forget._export_users_sql(usernames);
    RETURN QUERY EXECUTE q USING usernames;
END
$$;
COMMENT ON FUNCTION forget.export_users(text[]) IS 'a copy of each person''s rows (GDPR articles 15 and 20), the same reach as locate_users';

-- Runs queued jobs in batches, committing after each batch (a C procedure:
-- it must be called with CALL outside a transaction block).
CREATE PROCEDURE forget.run_jobs(max_jobs integer DEFAULT NULL)
LANGUAGE c AS 'MODULE_PATHNAME', 'forget_run_jobs';
COMMENT ON PROCEDURE forget.run_jobs(integer) IS 'runs due pg_forget jobs in batches of forget.batch_size rows, committing after each';

-- Queues a failed job, or a running one whose runner is gone, again; it
-- resumes from its recorded progress and keeps its id.
CREATE FUNCTION forget.retry_job(job_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j forget.job;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO j FROM forget.job WHERE id = retry_job.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'P0002';
    END IF;
    IF j.status = 'running' AND forget._runner_alive(j.runner_pid, j.claimed_at) THEN
        RAISE EXCEPTION 'job % is running in process %', job_id, j.runner_pid USING ERRCODE = '55000';
    END IF;
    IF j.status NOT IN ('failed', 'running') THEN
        RAISE EXCEPTION 'job % is %, only a failed or abandoned job can be retried', job_id, j.status USING ERRCODE = '55000';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM forget.job_subject s WHERE s.job_id = retry_job.job_id) THEN
        RAISE EXCEPTION 'job % has no identifiers left to resume with (it ran in the caller''s transaction)', job_id USING ERRCODE = '55000';
    END IF;
    UPDATE forget.job SET status = 'queued', runner_pid = NULL, claimed_at = NULL, finished_at = NULL,
                          error = NULL, due_at = least(due_at, clock_timestamp())
     WHERE id = retry_job.job_id;
    INSERT INTO forget.audit_log (action, job_id, role_name) VALUES ('retried', retry_job.job_id, session_user);
    RETURN job_id;
END
$$;

-- Automatic anonymization after a delete (SPEC section 6). Tables tagged
-- `@pii subjects` get a statement-level AFTER DELETE trigger that queues the
-- deleted people (their subject and key values) as an `auto` job due after
-- forget.anonymize_delay. An event trigger keeps these triggers in step with
-- the comments; rows deleted by pg_forget itself queue nothing.
CREATE FUNCTION forget._queue_auto(names text[], keys text[], owner_role text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id bigint;
BEGIN
    INSERT INTO forget.job (kind, status, due_at, role_name)
    VALUES ('auto', 'queued', clock_timestamp() + make_interval(secs => forget._auto_delay_seconds()), owner_role)
    RETURNING job.id INTO id;
    INSERT INTO forget.job_subject (job_id, kind, value)
    SELECT id, 'user', n FROM unnest(names) AS n
    UNION ALL SELECT id, 'key', k FROM unnest(keys) AS k;
    INSERT INTO forget.audit_log (action, job_id, role_name, subject_pseudonym)
    SELECT 'queued', id, session_user, forget.pseudonym(n) FROM unnest(names) AS n;
    RETURN id;
END
$$;
REVOKE EXECUTE ON FUNCTION forget._queue_auto(text[], text[], text) FROM PUBLIC;

-- The trigger function runs as the extension owner, so it is executable by
-- nobody but the owner: only forget._sync_subject_triggers attaches it, with
-- the column names from the tags. Values are read with format('%s'), the
-- type's output function, never a cast someone else could define.
CREATE FUNCTION forget._on_subject_delete()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    subjects text[] := TG_ARGV[0]::text[];
    keycols text[] := coalesce(TG_ARGV[1]::text[], '{}');
    names text[];
    keys text[];
    q text;
BEGIN
    IF TG_NAME <> 'forget_auto_anonymize' OR NOT forget._auto_queue_wanted() THEN
        RETURN NULL;
    END IF;
    SELECT string_agg(format('SELECT format(''%%s'', %I) FROM forget_deleted', c), ' UNION ') INTO q FROM unnest(subjects) AS c;
    EXECUTE 'SELECT array_agg(DISTINCT v) FROM (' || q || ') s(v) WHERE v IS NOT NULL AND v <> '''''
       INTO names;
    IF names IS NULL THEN
        RETURN NULL;
    END IF;
    IF cardinality(keycols) > 0 THEN
        SELECT string_agg(format('SELECT format(''%%s'', %I) FROM forget_deleted', c), ' UNION ') INTO q FROM unnest(keycols) AS c;
        EXECUTE 'SELECT coalesce(array_agg(DISTINCT v), ''{}'') FROM (' || q || ') s(v) WHERE v IS NOT NULL AND v <> '''''
           INTO keys;
    END IF;
    PERFORM forget._queue_auto(names, coalesce(keys, '{}'),
                               (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = TG_RELID));
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    -- never block the application's DELETE; say what went wrong (no values)
    RAISE WARNING 'pg_forget: could not queue automatic anonymization after a delete from %.%: %',
        TG_TABLE_SCHEMA, TG_TABLE_NAME, SQLSTATE;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION forget._on_subject_delete() FROM PUBLIC;

-- Keeps the triggers in step with the `@pii subjects` tags. Only a table whose
-- owner is a superuser or a member of forget_admin gets one: the queued job
-- runs as that owner, and nobody else may decide whose data is erased.
CREATE FUNCTION forget._sync_subject_triggers()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    want oid[] := '{}';
    args bytea;
BEGIN
    FOR r IN SELECT s.*, c.oid AS rel, c.relowner
               FROM forget._subject_tables() s
               JOIN pg_namespace n ON n.nspname = s.schema_name
               JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.table_name LOOP
        IF NOT (pg_has_role(r.relowner, 'forget_admin', 'MEMBER')
                OR (SELECT rolsuper FROM pg_roles WHERE oid = r.relowner)) THEN
            RAISE WARNING 'pg_forget: %.% is tagged @pii subjects, but automatic anonymization needs its owner to be a member of forget_admin',
                r.schema_name, r.table_name;
            CONTINUE;
        END IF;
        want := want || r.rel;
        args := convert_to(r.subject_columns::text, 'UTF8') || '\x00'::bytea || convert_to(r.key_columns::text, 'UTF8') || '\x00'::bytea;
        IF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = r.rel AND t.tgname = 'forget_auto_anonymize' AND t.tgargs = args) THEN
            IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = r.rel AND t.tgname = 'forget_auto_anonymize') THEN
                EXECUTE format('DROP TRIGGER forget_auto_anonymize ON %s', r.rel::regclass);
            END IF;
            EXECUTE format('CREATE TRIGGER forget_auto_anonymize AFTER DELETE ON %s REFERENCING OLD TABLE AS forget_deleted '
                           'FOR EACH STATEMENT EXECUTE FUNCTION forget._on_subject_delete(%L, %L)',
                           r.rel::regclass, r.subject_columns::text, r.key_columns::text);
        END IF;
    END LOOP;
    FOR r IN SELECT t.tgrelid::regclass AS rel FROM pg_trigger t
              WHERE t.tgname = 'forget_auto_anonymize' AND NOT (t.tgrelid = ANY(want)) LOOP
        EXECUTE format('DROP TRIGGER forget_auto_anonymize ON %s', r.rel);
    END LOOP;
END
$$;

CREATE FUNCTION forget._on_ddl()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- A COMMENT changes no cache of PostgreSQL's: a relcache invalidation of
    -- the commented table makes every session's pg_forget read its @pii
    -- catalog again (src/cache.rs)
    PERFORM forget._relation_changed(c.objid)
       FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
      WHERE c.command_tag = 'COMMENT' AND c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass;
    -- a pg_dump script or pg_restore (they turn check_function_bodies off)
    -- brings the triggers themselves; creating them here would collide
    IF pg_catalog.current_setting('check_function_bodies') = 'off' THEN
        RETURN;
    END IF;
    -- (in a block of its own: a failure here must not undo the invalidation above)
    BEGIN
        PERFORM forget._sync_subject_triggers();
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_forget: could not update its automatic-anonymization triggers: % (%)', SQLERRM, SQLSTATE;
    END;
END
$$;
REVOKE EXECUTE ON FUNCTION forget._sync_subject_triggers() FROM PUBLIC;
CREATE EVENT TRIGGER forget_sync_subject_triggers ON ddl_command_end
    WHEN TAG IN ('COMMENT', 'CREATE TABLE', 'ALTER TABLE', 'CREATE TABLE AS', 'SELECT INTO')
    EXECUTE FUNCTION forget._on_ddl();

-- Only forget_admin (and superusers) may erase, locate, read jobs or use the
-- internal masking helpers: one list, revoked from PUBLIC and granted to forget_admin.
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'FUNCTION forget.anonymize_users(text[], boolean)', 'FUNCTION forget.delete_users(text[], boolean)',
        'FUNCTION forget.locate_users(text[])', 'FUNCTION forget.export_users(text[])',
        'FUNCTION forget.job_status(bigint)', 'FUNCTION forget.job_report(bigint)',
        'FUNCTION forget.create_anonymization_job(timestamptz, timestamptz, text[], inet[], text[])',
        'FUNCTION forget.retry_job(bigint)', 'FUNCTION forget.retry_anonymization(text, text, text)',
        'PROCEDURE forget.run_jobs(integer)',
        'FUNCTION forget._mask_text(text, integer, boolean)', 'FUNCTION forget._mask_inet(inet, integer)',
        'FUNCTION forget._mask_json(text, integer, boolean)', 'FUNCTION forget._would_change(text, integer)',
        'FUNCTION forget._tick(integer, boolean)',
        'FUNCTION forget._create_anonymization_job(timestamptz, timestamptz, text[], text[], text[])',
        'FUNCTION forget._text_ip_in(text, text[])', 'FUNCTION forget._export_users_sql(text[])',
        'FUNCTION forget._runner_alive(integer, timestamptz)', 'FUNCTION forget._relation_changed(oid)',
        'FUNCTION forget._within_batch(bigint)'] LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON %s FROM PUBLIC', f);
        EXECUTE pg_catalog.format('GRANT EXECUTE ON %s TO forget_admin', f);
    END LOOP;
END
$$;

-- tables already tagged `@pii subjects` when the extension is created
SELECT forget._sync_subject_triggers();
