-- The masking building blocks (SPEC section 4): forget.mask_ip,
-- forget.mask_email, forget.pseudonym, and the pieces the strategies use:
-- forget.redact_json, forget.scrub_text, forget.mask_date.
\set VERBOSITY terse
BEGIN;
SELECT regress.fixed_key();

-- mask_ip: IPv4 keeps /24, IPv6 keeps /48, settable per call or by setting
SELECT ip, forget.mask_ip(ip) AS masked, host(forget.mask_ip(ip)) AS network
  FROM unnest(ARRAY['10.1.2.3', '192.168.200.17/32', '10.0.0.0/8', '2001:db8:1:2::5',
                    '::ffff:10.1.2.3', '0.0.0.0', '255.255.255.255']::inet[]) AS ip;
SELECT forget.mask_ip('10.1.2.3', 16) AS v4_16, forget.mask_ip('2001:db8:1:2::5', NULL, 32) AS v6_32,
       forget.mask_ip('10.1.2.3', 0) AS v4_0, forget.mask_ip('10.1.2.3', 32) AS v4_32;
SET LOCAL forget.ip_prefix_v4 = 8;
SET LOCAL forget.ip_prefix_v6 = 64;
SELECT forget.mask_ip('10.1.2.3') AS v4, forget.mask_ip('2001:db8:1:2:3::5') AS v6;
RESET forget.ip_prefix_v4;
RESET forget.ip_prefix_v6;
SELECT forget.mask_ip(NULL) IS NULL AS null_in_null_out;
SELECT regress.err($$SELECT forget.mask_ip('10.1.2.3', 33)$$);
SELECT regress.err($$SELECT forget.mask_ip('10.1.2.3', NULL, -1)$$);
-- the same as the built-in expression for IPv4
SELECT bool_and(forget.mask_ip(ip) = set_masklen(network(set_masklen(ip, 24)), 24)) AS same_as_builtin
  FROM (SELECT ('10.' || (g % 256) || '.' || (g / 256 % 256) || '.' || (g * 7 % 256))::inet AS ip
          FROM generate_series(1, 2000) g) s;

-- pseudonym: HMAC-SHA-256 under the key in forget.hmac_key, 64 hex digits
SELECT forget.pseudonym('alice') AS alice, forget.pseudonym('bob') AS bob;
SELECT forget.pseudonym('alice') = forget.pseudonym('alice') AS deterministic,
       forget.pseudonym('alice') <> forget.pseudonym('Alice') AS case_sensitive,
       forget.pseudonym('') IS NOT NULL AS empty_ok,
       forget.pseudonym(NULL) IS NULL AS null_in_null_out;
-- a new key gives new pseudonyms at once
UPDATE forget.hmac_key SET key = decode(repeat('ab', 32), 'hex');
SELECT forget.pseudonym('alice') AS alice_new_key;
SELECT regress.fixed_key();

-- mask_email: anon-<hash8>@anonymized.invalid, the same for the same address
SELECT e, forget.mask_email(e) AS masked
  FROM unnest(ARRAY['alice@example.com', 'Alice@Example.com', 'bob@example.org', 'not an address']) AS e;
SELECT forget.mask_email('alice@example.com') = 'anon-' || left(forget.pseudonym('alice@example.com'), 8) || '@anonymized.invalid' AS hash8_of_pseudonym;

-- only forget_admin and superusers hold the key
CREATE ROLE regress_user;
CREATE ROLE regress_admin IN ROLE forget_admin;
SET ROLE regress_user;
SELECT regress.err($$SELECT forget.pseudonym('alice')$$);
SELECT regress.err($$SELECT forget.mask_email('alice@example.com')$$);
SELECT regress.err($$SELECT * FROM forget.hmac_key$$);
SELECT forget.mask_ip('10.1.2.3') AS mask_ip_needs_no_key;
RESET ROLE;
SET ROLE regress_admin;
SELECT left(forget.pseudonym('alice'), 8) AS admin_alice;
RESET ROLE;

-- redact_json: members named K, at any depth, in objects and arrays
SELECT forget.redact_json('{"name": "Alice", "id": 7, "profile": {"name": {"first": "A"}, "tags": [{"name": "x"}, 3]}}',
                          '{name}');
SELECT forget.redact_json('{"e-mail": "a@x.org", "contacts": [{"e-mail": "b@y.org", "kind": "work"}]}', '{e-mail,kind}', 'gone');
SELECT forget.redact_json('[1, "name", {"na\u006de": "escaped key"}]', '{name}');
SELECT forget.redact_json('{"other": 1}', '{name}') AS unchanged;
-- deep documents: 5,000 levels of objects, 2,000 of arrays of objects
WITH d(doc) AS (SELECT (repeat('{"a":', 5000) || '{"name": "deep", "x": 1}' || repeat('}', 5000))::jsonb
                UNION ALL
                SELECT (repeat('[{"a":', 2000) || '{"name": "deep"}' || repeat('}]', 2000))::jsonb)
SELECT strpos(r::text, '"name": "anonymous"') > 0 AS redacted, strpos(r::text, 'deep') = 0 AS value_gone,
       length(r::text) - length(doc::text) AS grew_by
  FROM d, forget.redact_json(doc, '{name}') AS r;
SELECT regress.err($$SELECT forget.redact_json('{}', ARRAY[NULL])$$);

-- scrub_text: each whole-word occurrence, longest first, case-insensitive
SELECT forget.scrub_text('alice wrote to bob about Alice and alice@example.com; malice is fine',
                         '{alice,alice@example.com}');
SELECT forget.scrub_text('100% of a_b and .* stay literal: %, _, .*', '{%,_,.*}', 'X');
SELECT forget.scrub_text('nothing to see', '{}') AS no_identifiers;
SELECT regress.err($$SELECT forget.scrub_text('x', ARRAY[NULL])$$);

-- mask_date: month or year
SELECT forget.mask_date(date '1990-05-17', 'month') AS d_month, forget.mask_date(date '1990-05-17', 'year') AS d_year,
       forget.mask_date(timestamp '1990-05-17 10:11:12', 'MONTH') AS ts_month,
       forget.mask_date(date 'infinity', 'year') AS inf;
SET LOCAL timezone = 'UTC';
SELECT forget.mask_date(timestamptz '1990-05-17 10:11:12+00', 'year') AS tstz_year;
SELECT regress.err($$SELECT forget.mask_date(date '1990-05-17', 'week')$$);
ROLLBACK;
