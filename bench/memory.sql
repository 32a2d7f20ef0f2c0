-- Peak memory of one backend doing the largest job (:side = ours: CALL
-- forget.run_jobs() on the queued job; base: the hand-written UPDATE), on fresh
-- data, in a session of its own. Prints "memory <side> vmhwm_kb=<n> rssanon_kb=<n>":
-- the backend's peak resident set (shared buffers it touched included) and its
-- private memory at the end (RssAnon: without shared buffers).
\set ON_ERROR_STOP 1
SELECT start_ts, end_ts, users::text AS users, nets::text AS nets FROM bench_case WHERE name = :'case' \gset
SELECT :'side' = 'ours' AS ours \gset
\if :ours
SELECT forget.create_anonymization_job(:'start_ts', :'end_ts', :'users'::text[], :'nets'::inet[], '{}') AS job \gset
CALL forget.run_jobs();
\else
UPDATE sessions_plain
   SET user_id = 'anonymous', ip = set_masklen(network(set_masklen(ip, 24)), 24)
 WHERE (user_id = ANY (:'users'::text[]) OR ip <<= ANY (:'nets'::inet[]))
   AND started_at BETWEEN :'start_ts' AND :'end_ts';
\endif
SELECT format('memory %s vmhwm_kb=%s rssanon_kb=%s', :'side',
              substring(s FROM 'VmHWM:\s+(\d+)'), substring(s FROM 'RssAnon:\s+(\d+)'))
  FROM pg_read_file('/proc/self/status') AS s;
