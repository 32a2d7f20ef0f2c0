-- One run of one case on fresh data (bench/sessions_reset.sql ran just before):
-- queues the job, then times CALL forget.run_jobs() on sessions and the
-- hand-written UPDATE on sessions_plain, in the order :ours_first says,
-- then checks what both did. Prints one line starting with "result".
--   :case        name in bench_case
--   :ours_first  true: the job runs first; false: the UPDATE runs first
\set ON_ERROR_STOP 1

SELECT start_ts, end_ts, users::text AS users, nets::text AS nets, expected
  FROM bench_case WHERE name = :'case' \gset

-- queueing returns at once and is not part of the timed work
SELECT forget.create_anonymization_job(:'start_ts', :'end_ts', :'users'::text[], :'nets'::inet[], '{}') AS job \gset
CHECKPOINT;

\if :ours_first
\ir sessions_ours.sql
CHECKPOINT;
\ir sessions_baseline.sql
\else
\ir sessions_baseline.sql
CHECKPOINT;
\ir sessions_ours.sql
\endif

-- what happened, on both sides
SELECT status AS job_status, rows_done AS job_rows FROM forget.jobs WHERE id = :job \gset
SELECT count(*) AS ours_anon FROM sessions WHERE user_id = 'anonymous' \gset
SELECT count(*) AS base_anon FROM sessions_plain WHERE user_id = 'anonymous' \gset
-- rows that differ between the two tables: must be none
SELECT count(*) AS diff
  FROM sessions s FULL JOIN sessions_plain p USING (id)
 WHERE (s.user_id, s.ip, s.agent, s.started_at) IS DISTINCT FROM (p.user_id, p.ip, p.agent, p.started_at) \gset

SELECT format('result ours_ms=%s base_ms=%s job_status=%s job_rows=%s base_rows=%s ours_anon=%s base_anon=%s expected=%s diff=%s',
              :ours_ms, :base_ms, :'job_status', :job_rows, :base_rows, :ours_anon, :base_anon, :expected, :diff);
