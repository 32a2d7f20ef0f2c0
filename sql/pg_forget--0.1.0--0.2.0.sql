-- pg_forget 0.1.0 -> 0.2.0. Runs inside ALTER EXTENSION pg_forget UPDATE with
-- search_path = forget. Every change to the SQL surface since 0.1.0 is here;
-- scripts/upgrade_test.sh checks that an upgraded database has exactly the
-- objects, definitions and privileges of a fresh 0.2.0 install, and keeps its
-- jobs, audit rows and key.
\echo Use "ALTER EXTENSION pg_forget UPDATE" to load this file. \quit
