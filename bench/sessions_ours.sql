-- pg_forget: the queued job, from CALL to return (batches of forget.batch_size,
-- a commit after each). Sets :ours_ms.
SELECT clock_timestamp() AS t0 \gset
CALL forget.run_jobs();
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000, 1) AS ours_ms \gset
