-- The masking functions against the closest built-in SQL expression, over
-- :n values (one table, in memory), median of :runs passes of
-- SELECT count(expr), alternating which side goes first. Prints "mask <name> ours_ms=.. baseline_ms=..".
\set ON_ERROR_STOP 1
DROP TABLE IF EXISTS bench_values;
CREATE TABLE bench_values AS
SELECT ('0.0.0.0'::inet + (536870912 + (i * 2654435761) % 1073741824)) AS ip,
       'user-' || lpad(i::text, 7, '0') || '@example.com' AS email,
       'user-' || lpad(i::text, 7, '0') AS name,
       jsonb_build_object('email', 'user-' || i || '@example.com', 'name', 'User ' || i,
                          'action', 'login', 'n', i) AS doc
  FROM generate_series(1, :n) i;
VACUUM ANALYZE bench_values;
SELECT format('mask %s ours_ms=%s baseline_ms=%s', name, round(r.ours_ms::numeric, 1), round(r.base_ms::numeric, 1))
  FROM (VALUES
    ('mask_ip', 'forget.mask_ip(ip)', 'network(set_masklen(ip, 24))::inet'),
    ('pseudonym', 'forget.pseudonym(name)', $$encode(sha256(convert_to(name, 'UTF8')), 'hex')$$),
    ('mask_email', 'forget.mask_email(email)',
     $$'anon-' || left(encode(sha256(convert_to(email, 'UTF8')), 'hex'), 8) || '@anonymized.invalid'$$),
    ('redact_json', $$forget.redact_json(doc, '{email,name}')$$,
     $$jsonb_set(jsonb_set(doc, '{email}', '"anonymous"'), '{name}', '"anonymous"')$$)
  ) AS c(name, ours, base),
  LATERAL bench_expr_pair(ours, base, 'bench_values', :runs) AS r;
