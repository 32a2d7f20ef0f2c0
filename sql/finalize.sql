-- pg_forget: objects that need the functions (views, grants).

CREATE VIEW forget.pii_columns AS
SELECT schema_name, table_name, column_name, data_type, roles, strategy, tag, via_fk
  FROM forget._pii_columns();
COMMENT ON VIEW forget.pii_columns IS 'Every column with a valid @pii tag: the field summary of personal data.';
GRANT SELECT ON forget.pii_columns TO PUBLIC;

-- JSON redaction works on the document text, so any depth PostgreSQL accepts works.
CREATE FUNCTION forget.redact_json(doc jsonb, keys text[], replacement text DEFAULT 'anonymous')
RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT forget._redact_json_text(doc::text, keys, replacement)::jsonb $$;
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
