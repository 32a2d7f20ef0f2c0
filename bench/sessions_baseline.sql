-- The baseline: what a DBA would write by hand, one UPDATE in one transaction.
-- Sets :base_ms and :base_rows.
SELECT clock_timestamp() AS t0 \gset
UPDATE sessions_plain
   SET user_id = 'anonymous', ip = set_masklen(network(set_masklen(ip, 24)), 24)
 WHERE (user_id = ANY (:'users'::text[]) OR ip <<= ANY (:'nets'::inet[]))
   AND started_at BETWEEN :'start_ts' AND :'end_ts';
\set base_rows :ROW_COUNT
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000, 1) AS base_ms \gset
