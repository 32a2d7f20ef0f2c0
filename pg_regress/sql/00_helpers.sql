-- Helpers shared by the suites (the regression database already has the
-- extension). regress.err(sql) runs a statement and shows its SQLSTATE and
-- message instead of failing the script, so the expected files document the
-- exact error codes.
\set VERBOSITY terse
CREATE SCHEMA regress;
GRANT USAGE ON SCHEMA regress TO PUBLIC;
CREATE FUNCTION regress.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- A fixed HMAC key, so pseudonyms in the expected files are stable.
CREATE FUNCTION regress.fixed_key() RETURNS void LANGUAGE sql AS $$
    UPDATE forget.hmac_key SET key = decode(repeat('00', 32), 'hex')
$$;
SELECT regress.err('SELECT 1/0');
