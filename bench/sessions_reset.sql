-- Fresh data for one run: both tables get the untouched rows again, in the
-- same physical order, then VACUUM ANALYZE (visibility map, hint bits and
-- statistics as after a normal load) and a CHECKPOINT, so that no run starts
-- with the previous run's dead rows or dirty pages.
\set ON_ERROR_STOP 1
TRUNCATE sessions, sessions_plain;
INSERT INTO sessions       SELECT * FROM bench_source ORDER BY id;
INSERT INTO sessions_plain SELECT * FROM bench_source ORDER BY id;
VACUUM (ANALYZE) sessions, sessions_plain;
CHECKPOINT;
