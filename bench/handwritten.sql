-- The baseline of the erasure cases: what a DBA would write by hand for the
-- schema of bench/schema.sql, one PL/pgSQL function with one statement per
-- table, doing what forget.anonymize_users does there (the same values: the
-- HMAC pseudonyms come from the same key through pgcrypto's hmac()). Returns
-- the number of rows it changed or deleted.
\set ON_ERROR_STOP 1
-- Distinct replacements for a unique column, as pg_forget makes them
-- (src/unique.rs): 8 hex digits of the HMAC, lengthened by 4 for every value
-- that clashes with another replacement or with a value already in the column.
CREATE OR REPLACE FUNCTION bench_unique(olds text[], k bytea, pre text, post text, col text) RETURNS text[]
LANGUAGE plpgsql AS $fn$
DECLARE
    hashes text[] := ARRAY(SELECT encode(hmac(convert_to(o, 'UTF8'), k, 'sha256'), 'hex') FROM unnest(olds) WITH ORDINALITY AS x(o, n) ORDER BY n);
    digits int[] := array_fill(8, ARRAY[cardinality(olds)]);
    cand text[];
    taken text[];
    dups text[];
    bump int[];
BEGIN
    LOOP
        cand := ARRAY(SELECT pre || left(hashes[i], digits[i]) || post FROM generate_subscripts(olds, 1) i ORDER BY i);
        EXECUTE format('SELECT coalesce(array_agg(%I), ''{}'') FROM users WHERE %I = ANY ($1)', col, col) INTO taken USING cand;
        dups := ARRAY(SELECT c FROM unnest(cand) c GROUP BY c HAVING count(*) > 1);
        bump := ARRAY(SELECT i FROM generate_subscripts(olds, 1) i
                       WHERE digits[i] < 64
                         AND (cand[i] = ANY (dups) OR (cand[i] = ANY (taken) AND cand[i] <> olds[i])));
        EXIT WHEN cardinality(bump) = 0;
        FOR j IN 1 .. cardinality(bump) LOOP
            digits[bump[j]] := least(digits[bump[j]] + 4, 64);
        END LOOP;
    END LOOP;
    RETURN cand;
END
$fn$;

CREATE OR REPLACE FUNCTION bench_handwritten(names text[]) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    k     bytea := (SELECT key FROM forget.hmac_key ORDER BY created_at, ctid LIMIT 1);
    ids   bigint[];
    idents text[];
    pats  text[];
    mention bigint[];
    idmap jsonb;
    old_logins text[];
    old_emails text[];
    n     bigint := 0;
    c     bigint;
BEGIN
    SELECT array_agg(id), names || array_agg(email) INTO ids, idents FROM users WHERE login = ANY (names);
    idents := coalesce(idents, names);
    idmap := (SELECT jsonb_object_agg(i, true) FROM unnest(idents) i);   -- a lookup table of the identifiers
    -- other people's rows that mention someone: found through the pg_trgm indexes
    pats := (SELECT array_agg('%' || replace(replace(replace(i, '\', '\\'), '%', '\%'), '_', '\_') || '%') FROM unnest(idents) i);

    DELETE FROM login_tokens WHERE user_id = ANY (ids);
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    UPDATE addresses SET street = 'anonymous', postcode = 'anonymous'
     WHERE user_id = ANY (ids) AND (street IS DISTINCT FROM 'anonymous' OR postcode IS DISTINCT FROM 'anonymous');
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    UPDATE order_items SET gift_message = CASE WHEN gift_message IS NOT NULL THEN 'anonymous' END
     WHERE order_id IN (SELECT id FROM orders WHERE user_id = ANY (ids));
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    UPDATE orders SET shipping_name = 'anonymous' WHERE user_id = ANY (ids);
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    UPDATE payments SET card_last4 = NULL WHERE user_id = ANY (ids);
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    UPDATE support_tickets SET body = 'anonymous', phone = 'anonymous' WHERE user_id = ANY (ids);
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    UPDATE sessions SET user_id = 'anonymous', ip = network(set_masklen(ip, 24))::inet WHERE user_id = ANY (names);
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    -- other people's rows that mention someone: through the pg_trgm indexes for a
    -- few identifiers; for many, one pass over the table with a hash of them
    IF cardinality(idents) <= 64 THEN
        SELECT coalesce(array_agg(id), '{}') INTO mention FROM audit_events
         WHERE message ILIKE ANY (pats) OR payload::text ILIKE ANY (pats);
    ELSE
        SELECT coalesce(array_agg(DISTINCT id), '{}') INTO mention FROM (
            SELECT e.id FROM audit_events e CROSS JOIN LATERAL regexp_split_to_table(e.message, ' ') w
             WHERE w IN (SELECT unnest(idents))
            UNION ALL
            SELECT e.id FROM audit_events e
             WHERE e.payload->>'email' IN (SELECT unnest(idents)) OR e.payload->>'name' IN (SELECT unnest(idents))
                OR e.payload->>'ip' IN (SELECT unnest(idents))) x;
    END IF;
    UPDATE audit_events a
       SET actor = CASE WHEN mine THEN 'anonymous' ELSE actor END,
           payload = CASE WHEN mine
                          THEN payload || jsonb_strip_nulls(jsonb_build_object(
                                 'email', CASE WHEN payload ? 'email' THEN 'anonymous' END,
                                 'name', CASE WHEN payload ? 'name' THEN 'anonymous' END,
                                 'ip', CASE WHEN payload ? 'ip' THEN 'anonymous' END))
                          ELSE payload END,
           message = array_to_string(ARRAY(
                       SELECT CASE WHEN idmap ? w THEN 'anonymous' ELSE w END
                         FROM regexp_split_to_table(message, ' ') WITH ORDINALITY AS x(w, o) ORDER BY o), ' ')
      FROM (SELECT id, actor = ANY (names) AS mine FROM audit_events
             WHERE actor = ANY (names) OR id = ANY (mention)) m
     WHERE a.id = m.id;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    SELECT array_agg(login ORDER BY id), array_agg(email ORDER BY id), array_agg(id ORDER BY id)
      INTO old_logins, old_emails, ids FROM users WHERE id = ANY (ids);
    UPDATE users u
       SET login = m.login, email = m.email, full_name = 'anonymous',
           birth_date = date_trunc('year', u.birth_date)::date
      FROM unnest(ids, bench_unique(old_logins, k, 'anonymous-', '', 'login'),
                  bench_unique(old_emails, k, 'anon-', '@anonymized.invalid', 'email')) AS m(id, login, email)
     WHERE u.id = m.id;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    RETURN n;
END
$fn$;

-- What both sides must leave behind, as one digest: the people's rows in
-- every table (through their ids, which erasure keeps) and the rows that
-- mentioned them. Taken inside the timed transaction, before its rollback.
CREATE OR REPLACE FUNCTION bench_digest(ids bigint[], mention_ids bigint[]) RETURNS text
LANGUAGE sql AS $fn$
SELECT md5(concat_ws('|',
  (SELECT string_agg(format('%s', u), ',' ORDER BY id) FROM users u WHERE id = ANY (ids)),
  (SELECT string_agg(format('%s', a), ',' ORDER BY id) FROM addresses a WHERE user_id = ANY (ids)),
  (SELECT string_agg(format('%s', o), ',' ORDER BY id) FROM orders o WHERE user_id = ANY (ids)),
  (SELECT string_agg(format('%s', i), ',' ORDER BY i.id) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.user_id = ANY (ids)),
  (SELECT string_agg(format('%s', p), ',' ORDER BY id, paid_at) FROM payments p WHERE user_id = ANY (ids)),
  (SELECT count(*)::text FROM login_tokens WHERE user_id = ANY (ids)),
  (SELECT string_agg(format('%s', t), ',' ORDER BY id) FROM support_tickets t WHERE user_id = ANY (ids)),
  (SELECT string_agg(format('%s', e), ',' ORDER BY id) FROM audit_events e WHERE id = ANY (mention_ids)),
  (SELECT string_agg(format('%s', s), ',' ORDER BY id) FROM sessions s WHERE user_id = 'anonymous')))
$fn$;
