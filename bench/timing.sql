-- Timing helpers of scripts/bench.sh, run inside the server so that no client
-- round trip is measured. Each run of a case executes inside a subtransaction
-- that is rolled back, so every run starts from the same data; pg_forget and
-- the baseline alternate which goes first.
\set ON_ERROR_STOP 1

-- The median of an array of numbers.
CREATE OR REPLACE FUNCTION bench_median(v float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(v) x
$$;

-- Runs `ours` and `base` (SQL text, returning one value) `runs` times each
-- (after one uncounted warm-up run each when `warmup`), every run rolled back;
-- `digest` (SQL text) is evaluated after each side's first run, before its
-- rollback, outside the timed part. Returns the medians in milliseconds and
-- whether both sides left the same digest.
CREATE OR REPLACE FUNCTION bench_pair(ours text, base text, digest text, runs int, warmup boolean,
                                      OUT ours_ms float8, OUT base_ms float8, OUT same boolean,
                                      OUT ours_digest text, OUT base_digest text)
LANGUAGE plpgsql AS $fn$
DECLARE
    o float8[] := '{}';
    b float8[] := '{}';
    t0 timestamptz;
    ms float8;
    d text;
    side text;
    first_run int := CASE WHEN warmup THEN 0 ELSE 1 END;
BEGIN
    -- run 0 warms caches and plans and is not counted (skipped for long cases,
    -- where one run is much longer than any warming)
    FOR i IN first_run .. runs LOOP
        FOREACH side IN ARRAY CASE WHEN i % 2 = 0 THEN ARRAY['ours', 'base'] ELSE ARRAY['base', 'ours'] END LOOP
            BEGIN
                t0 := clock_timestamp();
                EXECUTE CASE side WHEN 'ours' THEN ours ELSE base END;
                ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
                IF i = first_run AND digest IS NOT NULL THEN
                    EXECUTE digest INTO d;
                    IF side = 'ours' THEN ours_digest := d; ELSE base_digest := d; END IF;
                END IF;
                RAISE EXCEPTION USING ERRCODE = 'P0099', MESSAGE = 'bench rollback';
            EXCEPTION WHEN SQLSTATE 'P0099' THEN
                NULL;
            END;
            IF i > 0 THEN   -- (a run with the digest query counts its own time only)
                IF side = 'ours' THEN o := o || ms; ELSE b := b || ms; END IF;
            END IF;
        END LOOP;
    END LOOP;
    ours_ms := bench_median(o);
    base_ms := bench_median(b);
    same := ours_digest IS NOT DISTINCT FROM base_digest;
END
$fn$;

-- Throughput of two expressions over a table of values: `runs` timed passes
-- of SELECT count(expr) FROM tab for each, alternating which goes first (as
-- bench_pair does), after one warm-up pass each; the medians in milliseconds.
CREATE OR REPLACE FUNCTION bench_expr_pair(ours text, base text, tab text, runs int,
                                           OUT ours_ms float8, OUT base_ms float8)
LANGUAGE plpgsql AS $fn$
DECLARE
    o float8[] := '{}';
    b float8[] := '{}';
    t0 timestamptz;
    n bigint;
    side text;
BEGIN
    EXECUTE format('SELECT count(%s) FROM %s', ours, tab) INTO n;   -- warm-up
    EXECUTE format('SELECT count(%s) FROM %s', base, tab) INTO n;
    FOR i IN 1 .. runs LOOP
        FOREACH side IN ARRAY CASE WHEN i % 2 = 0 THEN ARRAY['ours', 'base'] ELSE ARRAY['base', 'ours'] END LOOP
            t0 := clock_timestamp();
            EXECUTE format('SELECT count(%s) FROM %s', CASE side WHEN 'ours' THEN ours ELSE base END, tab) INTO n;
            IF side = 'ours' THEN
                o := o || extract(epoch FROM clock_timestamp() - t0) * 1000;
            ELSE
                b := b || extract(epoch FROM clock_timestamp() - t0) * 1000;
            END IF;
        END LOOP;
    END LOOP;
    ours_ms := bench_median(o);
    base_ms := bench_median(b);
END
$fn$;
