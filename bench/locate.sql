-- forget.locate_users for one person against hand-written counts over the same
-- tables (bench_locate). Prints "locate 1 ours_ms=.. baseline_ms=..".
\set ON_ERROR_STOP 1
CREATE OR REPLACE FUNCTION bench_locate(names text[]) RETURNS bigint
LANGUAGE sql AS $$
WITH u AS (SELECT id FROM users WHERE login = ANY (names))
SELECT (SELECT count(*) FROM u)
     + (SELECT count(*) FROM addresses WHERE user_id IN (SELECT id FROM u))
     + (SELECT count(*) FROM orders WHERE user_id IN (SELECT id FROM u))
     + (SELECT count(*) FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE user_id IN (SELECT id FROM u)))
     + (SELECT count(*) FROM payments WHERE user_id IN (SELECT id FROM u))
     + (SELECT count(*) FROM login_tokens WHERE user_id IN (SELECT id FROM u))
     + (SELECT count(*) FROM support_tickets WHERE user_id IN (SELECT id FROM u))
     + (SELECT count(*) FROM sessions WHERE user_id = ANY (names))
     + (SELECT count(*) FROM audit_events WHERE actor = ANY (names))
$$;
SELECT login AS who FROM users WHERE id = (SELECT count(*) / 2 FROM users) \gset
SELECT format('locate 1 ours_ms=%s baseline_ms=%s', round(ours_ms::numeric, 2), round(base_ms::numeric, 2))
  FROM bench_pair(format('SELECT count(*) FROM forget.locate_users(ARRAY[%L])', :'who'),
                  format('SELECT bench_locate(ARRAY[%L])', :'who'), NULL, :runs, true);
