-- One erasure case: :k people, spread evenly over the users, erased by
-- forget.anonymize_users and by bench_handwritten (bench/handwritten.sql), each
-- :runs times in rolled-back subtransactions (bench/timing.sql). Prints
-- "erase <k> ours_ms=.. baseline_ms=.. same_result=yes|no".
\set ON_ERROR_STOP 1
-- the rolled-back runs of the previous case leave dead rows and index entries
VACUUM ANALYZE;
SELECT count(*) AS n_users FROM users \gset
SELECT array_agg(login ORDER BY id)::text AS names, array_agg(id ORDER BY id)::text AS ids
  FROM users WHERE id % greatest(:n_users / :k, 1) = 0 AND id <= greatest(:n_users / :k, 1) * :k \gset
-- the people's audit events and the ones whose message names them (a word of the message)
SELECT coalesce(array_agg(DISTINCT id ORDER BY id), '{}')::text AS mentions FROM (
    SELECT id FROM audit_events WHERE actor = ANY (:'names'::text[])
    UNION ALL
    SELECT e.id FROM audit_events e CROSS JOIN LATERAL regexp_split_to_table(e.message, ' ') AS w(v)
      JOIN unnest(:'names'::text[]) AS n(v) USING (v)) x \gset
SELECT format('erase %s ours_ms=%s baseline_ms=%s same_result=%s people=%s',
              :k, round(ours_ms::numeric, 2), round(base_ms::numeric, 2), CASE WHEN same THEN 'yes' ELSE 'no' END,
              cardinality(:'names'::text[]))
  FROM bench_pair(format('SELECT forget.anonymize_users(%L::text[])', :'names'),
                  format('SELECT bench_handwritten(%L::text[])', :'names'),
                  format('SELECT bench_digest(%L::bigint[], %L::bigint[])', :'ids', :'mentions'),
                  :runs, :k < 1000);
