-- pg_forget 0.1.0 -> 0.2.0. Runs inside ALTER EXTENSION pg_forget UPDATE with
-- search_path = forget. Every change to the SQL surface since 0.1.0 is here;
-- scripts/upgrade_test.sh checks that an upgraded database has exactly the
-- objects, definitions and privileges of a fresh 0.2.0 install, and keeps its
-- jobs, audit rows and key.
\echo Use "ALTER EXTENSION pg_forget UPDATE" to load this file. \quit

-- Per-session caches of the @pii catalog and of prepared statements
-- (src/cache.rs). A COMMENT changes no cache of PostgreSQL's, so the event
-- trigger sends a relcache invalidation for the commented table.
CREATE FUNCTION "_relation_changed"(
	"rel" oid /* pg_sys :: Oid */
) RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_relation_changed_wrapper';
REVOKE EXECUTE ON FUNCTION forget._relation_changed(oid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forget._relation_changed(oid) TO forget_admin;

CREATE OR REPLACE FUNCTION forget._on_ddl()
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

-- redact_json walks the binary jsonb with PostgreSQL's iterator (src/api/mask.rs)
CREATE OR REPLACE FUNCTION forget.redact_json(doc jsonb, keys text[], replacement text DEFAULT 'anonymous')
RETURNS jsonb
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'forget_redact_json';

-- A person's jobs are found through the row that opened each: the
-- 'completed' rows (one per person of a job) are left out of the index.
DROP INDEX forget.audit_log_subject_idx;
CREATE INDEX audit_log_subject_idx ON forget.audit_log (subject_pseudonym) WHERE action <> 'completed';

-- A job masks a table that fits in one batch in one statement, at most a
-- batch of rows (src/context.rs).
CREATE  FUNCTION "_within_batch"(
	"lim" bigint /* i64 */
) RETURNS bool /* bool */
STRICT VOLATILE PARALLEL UNSAFE COST 10000
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_within_batch_wrapper';
REVOKE EXECUTE ON FUNCTION forget._within_batch(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forget._within_batch(bigint) TO forget_admin;
