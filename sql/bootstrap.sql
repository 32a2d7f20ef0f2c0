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
