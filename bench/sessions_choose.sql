-- Chooses the people and networks of one case so that about :pct percent of
-- all sessions match, and records them in bench_case.
--   :case        case name
--   :pct         share of all rows that should match (percent)
--   :start_ts, :end_ts   the time window
--   :net_prefix  size of the networks in the ips list (/16, /12, ...)
-- Networks first: /net_prefix networks of sessions in the window, in a fixed
-- pseudo-random order, until they hold about a tenth of the target. Then
-- users, in a fixed pseudo-random order, until the rows they add (beyond the
-- networks) reach the target.
\set ON_ERROR_STOP 1

SELECT round(count(*) * :pct / 100.0)::bigint AS target FROM bench_source \gset

CREATE TEMP TABLE w AS
SELECT user_id, ip FROM bench_source
 WHERE started_at BETWEEN :'start_ts' AND :'end_ts';

CREATE TEMP TABLE chosen_nets AS
SELECT net FROM (
  SELECT net, sum(n) OVER (ORDER BY md5(net::text), net) - n AS before
    FROM (SELECT network(set_masklen(ip, :net_prefix))::inet AS net, count(*) AS n
            FROM w GROUP BY 1) AS per_net
) AS x
WHERE before < :target / 10;

SELECT count(*) AS net_rows FROM w
 WHERE EXISTS (SELECT 1 FROM chosen_nets c WHERE w.ip <<= c.net) \gset

CREATE TEMP TABLE chosen_users AS
SELECT user_id FROM (
  SELECT user_id, sum(n) OVER (ORDER BY md5(user_id), user_id) - n AS before
    FROM (SELECT user_id, count(*) AS n FROM w
           WHERE NOT EXISTS (SELECT 1 FROM chosen_nets c WHERE w.ip <<= c.net)
           GROUP BY 1) AS per_user
) AS x
WHERE before < :target - :net_rows;

INSERT INTO bench_case (name, start_ts, end_ts, users, nets, expected)
SELECT :'case', :'start_ts', :'end_ts', u.users, n.nets,
       (SELECT count(*) FROM bench_source s
         WHERE (s.user_id IN (SELECT user_id FROM chosen_users) OR s.ip <<= ANY (n.nets))
           AND s.started_at BETWEEN :'start_ts' AND :'end_ts')
  FROM (SELECT coalesce(array_agg(user_id ORDER BY user_id), '{}') AS users FROM chosen_users) AS u,
       (SELECT coalesce(array_agg(net ORDER BY net), '{}') AS nets FROM chosen_nets) AS n;

SELECT format('bench_case %s window=[%s,%s] users=%s nets=%s(/%s) rows=%s of %s (%s%%)',
              name, to_char(start_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
              to_char(end_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
              cardinality(users), cardinality(nets), :net_prefix, expected,
              (SELECT count(*) FROM bench_source),
              round(100.0 * expected / (SELECT count(*) FROM bench_source), 2))
  FROM bench_case WHERE name = :'case';
