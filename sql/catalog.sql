-- The catalog as pg_forget sees it, read once per statement: every ordinary or
-- partitioned table outside the system schemas (partitions fold into their
-- root), its columns with comments, type class inputs, NOT NULL and unique
-- membership, and every foreign key between root tables. One jsonb document,
-- deserialized into src/catalog.rs structs.
WITH rel AS (
    SELECT c.oid,
           n.nspname::text AS schema_name,
           c.relname::text AS table_name,
           c.relkind = 'p' AS partitioned,
           pg_catalog.obj_description(c.oid, 'pg_class') AS comment
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p')
       AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'forget')
       AND n.nspname !~ '^pg_(toast|temp_)'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
),
col AS (
    SELECT a.attrelid AS oid,
           jsonb_agg(jsonb_build_object(
               'name', a.attname::text,
               'num', a.attnum,
               'data_type', pg_catalog.format_type(a.atttypid, a.atttypmod),
               'base_type', bt.typname::text,
               'type_ident', pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.typname),
               -- the type's own equality operator, schema-qualified (citext's is case-insensitive)
               'eq_op', (SELECT pg_catalog.format('OPERATOR(%I.%s)', opn.nspname, o.oprname)
                           FROM pg_catalog.pg_operator o
                           JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace
                          WHERE o.oprname = '=' AND o.oprleft = bt.oid AND o.oprright = bt.oid
                            -- only pg_catalog's or the type owner's own operator: nobody else's
                            AND (opn.nspname = 'pg_catalog' OR o.oprowner = bt.typowner)
                          ORDER BY opn.nspname = 'pg_catalog' DESC LIMIT 1),
               'base_type_ident', pg_catalog.quote_ident(btn.nspname) || '.' || pg_catalog.quote_ident(bt.typname),
               'category', bt.typcategory::text,
               'not_null', a.attnotnull,
               'comment', pg_catalog.col_description(a.attrelid, a.attnum),
               'unique', EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                  WHERE i.indrelid = a.attrelid AND i.indisunique
                                    AND a.attnum = ANY (i.indkey::int2[]))
           ) ORDER BY a.attnum) AS columns
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
      JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
      JOIN pg_catalog.pg_namespace btn ON btn.oid = bt.typnamespace
     WHERE a.attrelid IN (SELECT oid FROM rel) AND a.attnum > 0 AND NOT a.attisdropped
     GROUP BY a.attrelid
),
pk AS (
    SELECT i.indrelid AS oid, array_agg(a.attname::text ORDER BY k.ord) AS cols
      FROM pg_catalog.pg_index i
      CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indisprimary AND i.indrelid IN (SELECT oid FROM rel)
     GROUP BY i.indrelid
),
fk AS (
    SELECT DISTINCT
           COALESCE(pg_catalog.pg_partition_root(con.conrelid), con.conrelid) AS child,
           COALESCE(pg_catalog.pg_partition_root(con.confrelid), con.confrelid) AS parent,
           con.conname::text AS name,
           (SELECT array_agg(a.attname::text ORDER BY k.ord)
              FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS child_cols,
           (SELECT array_agg(a.attname::text ORDER BY k.ord)
              FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS parent_cols,
           con.confdeltype::text AS on_delete
      FROM pg_catalog.pg_constraint con
     WHERE con.contype = 'f' AND con.conparentid = 0
)
SELECT jsonb_build_object(
    'tables', COALESCE((
        SELECT jsonb_agg(jsonb_build_object(
                   'oid', rel.oid::int8,
                   'schema', rel.schema_name,
                   'name', rel.table_name,
                   'partitioned', rel.partitioned,
                   'comment', rel.comment,
                   'primary_key', pk.cols,
                   'columns', COALESCE(col.columns, '[]'::jsonb))
                 ORDER BY rel.schema_name, rel.table_name)
          FROM rel
          LEFT JOIN col ON col.oid = rel.oid
          LEFT JOIN pk ON pk.oid = rel.oid), '[]'::jsonb),
    'foreign_keys', COALESCE((
        SELECT jsonb_agg(jsonb_build_object(
                   'name', fk.name,
                   'child', fk.child::int8,
                   'parent', fk.parent::int8,
                   'child_columns', fk.child_cols,
                   'parent_columns', fk.parent_cols,
                   'on_delete', fk.on_delete)
                 ORDER BY fk.child, fk.name)
          FROM fk
         WHERE fk.child IN (SELECT oid FROM rel) AND fk.parent IN (SELECT oid FROM rel)), '[]'::jsonb)
)
