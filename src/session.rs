//! Plans for anonymization jobs over time windows (`create_anonymization_job`):
//! in every table with a `time` column, the rows whose time is in the window
//! and whose subject is one of the user ids OR whose IP is in one of the
//! networks. Their subject and IP columns are masked, plus the additional
//! fields named. A job run reads each table's matching rows once, in (time,
//! primary key) order, through a cursor ([`SessionPlan::cursor_sql`]), and
//! masks them in batches of at most `batch_size` rows, each one UPDATE
//! committed on its own ([`SessionPlan::batch_sql`]), so a job over tens of
//! millions of rows never holds one long transaction. A table whose rows the
//! planner expects to fit in half a batch is read and masked in one statement
//! instead ([`SessionPlan::single_sql`]). Pure: no pgrx.
//!
//! Parameters of both statements: `$1` start, `$2` end (timestamptz), `$3`
//! user ids (text[]), `$4` networks (inet[] or text[]); the cursor's `$5` is
//! the last key done (text[], NULL at the start); the batch's `$5`... are the
//! arrays of what the cursor read.

use crate::catalog::{Analysis, Catalog, TaggedColumn};
use crate::error::ForgetError;
use crate::plan::{new_value, slot, value_match, Slot};
use crate::sql::ident;
use crate::tags::{Role, Strategy, TypeClass};

/// A column named in `additional_fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    pub schema: String,
    pub table: String,
    pub column: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionTable {
    /// index into `Catalog::tables`
    pub table: usize,
    pub schema: String,
    pub name: String,
    /// (expression on alias `t`, type) of each key part
    pub key: Vec<(String, String)>,
    pub time: String,
    /// the subject columns (matched with `plan::value_match`)
    pub subjects: Vec<TaggedColumn>,
    /// `ONLY "schema"."table"` or the partitioned table
    pub from: String,
    /// (column, is inet/cidr)
    pub ips: Vec<(String, bool)>,
    /// slot ids (into `SessionPlan::slots`)
    pub slots: Vec<usize>,
    /// the time column is part of the primary key (so a row is found by key
    /// with it; otherwise by the primary key alone, should its time change)
    pub time_in_pk: bool,
    /// a partitioned table (a tid names a row only together with its partition)
    pub partitioned: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionPlan {
    pub tables: Vec<SessionTable>,
    pub slots: Vec<Slot>,
}

/// Tables that can match rows: a `time` column and a `subject` or `ip` column.
fn time_tables<'a>(cat: &'a Catalog, a: &'a Analysis) -> impl Iterator<Item = (usize, &'a [TaggedColumn])> + 'a {
    a.tables.iter().filter_map(move |tt| {
        let cols = tt.columns.as_slice();
        let has_time = cols.iter().any(|c| c.has_role(Role::Time));
        let has_match = cols.iter().any(|c| c.has_role(Role::Subject) || c.has_role(Role::Ip));
        let _ = cat;
        (has_time && has_match).then_some((tt.index, cols))
    })
}

/// Resolves `column`, `table.column` or `schema.table.column` entries against
/// the columns of the tables a job can match. Unknown entries are an error
/// listing the candidates.
pub fn resolve_fields(cat: &Catalog, a: &Analysis, entries: &[String]) -> Result<Vec<FieldRef>, ForgetError> {
    let mut out = Vec::new();
    let mut candidates = Vec::new();
    for (ti, _) in time_tables(cat, a) {
        let t = &cat.tables[ti];
        for c in &t.columns {
            candidates.push(FieldRef { schema: t.schema.clone(), table: t.name.clone(), column: c.name.clone() });
        }
    }
    for e in entries {
        let parts: Vec<&str> = e.split('.').collect();
        let hits: Vec<&FieldRef> = candidates
            .iter()
            .filter(|f| match parts.as_slice() {
                [c] => f.column == *c,
                [t, c] => f.table == *t && f.column == *c,
                [s, t, c] => f.schema == *s && f.table == *t && f.column == *c,
                _ => false,
            })
            .collect();
        if hits.is_empty() {
            let mut list: Vec<String> =
                candidates.iter().map(|f| format!("{}.{}.{}", f.schema, f.table, f.column)).collect();
            let more = list.len().saturating_sub(50);
            list.truncate(50);
            let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
            return Err(ForgetError::InvalidArgument(format!(
                "additional field \"{e}\" names no column of a table with a time column; candidates: {}{tail}",
                if list.is_empty() {
                    "(none: no table has both a time and a subject or ip column)".to_string()
                } else {
                    list.join(", ")
                }
            )));
        }
        for h in hits {
            if !out.contains(h) {
                out.push(h.clone());
            }
        }
    }
    Ok(out)
}

/// The strategy for an additional field without a tag of its own.
fn untagged_strategy(class: TypeClass, not_null: bool) -> Option<Strategy> {
    match class {
        TypeClass::Text => Some(Strategy::Redact(None)),
        TypeClass::Inet => Some(Strategy::Ip { v4: None, v6: None }),
        _ if !not_null => Some(Strategy::Null),
        _ => None,
    }
}

impl SessionPlan {
    pub fn new(cat: &Catalog, a: &Analysis, fields: &[FieldRef]) -> Result<SessionPlan, ForgetError> {
        let mut tables = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        for (ti, cols) in time_tables(cat, a) {
            let t = &cat.tables[ti];
            let ty_of = |name: &str| {
                t.columns.iter().find(|c| c.name == name).map(|c| c.type_ident.clone()).unwrap_or_default()
            };
            let time = cols.iter().find(|c| c.has_role(Role::Time)).map(|c| c.name.clone()).unwrap_or_default();
            // batches page over (time, primary key): they start inside the window (an
            // index on the time column finds it) and a row is never visited twice. A
            // ctid moves when the job updates the row, so a table needs a primary key.
            let pk = match &t.primary_key {
                Some(pk) if !pk.is_empty() => pk,
                _ => {
                    return Err(ForgetError::NotSupported(format!(
                        "table {}.{} has a time column but no primary key; jobs page through tables by primary key: add one",
                        t.schema, t.name
                    )))
                }
            };
            // the last key is kept as text: only types whose text form reads back exactly
            for c in pk.iter() {
                let col = t.columns.iter().find(|x| &x.name == c);
                let cat_ok = col.is_some_and(|x| {
                    matches!(x.category.as_str(), "N" | "S" | "D" | "U" | "B" | "I")
                        && !matches!(x.base_type.as_str(), "float4" | "float8" | "money" | "json" | "jsonb")
                });
                if !cat_ok {
                    return Err(ForgetError::NotSupported(format!(
                        "table {}.{}: jobs cannot page through a primary key column of this type ({c})",
                        t.schema, t.name
                    )));
                }
            }
            let mut key: Vec<(String, String)> = vec![(format!("t.{}", ident(&time)), ty_of(&time))];
            key.extend(pk.iter().filter(|c| **c != time).map(|c| (format!("t.{}", ident(c)), ty_of(c))));
            let subjects: Vec<TaggedColumn> = cols.iter().filter(|c| c.has_role(Role::Subject)).cloned().collect();
            let ips: Vec<(String, bool)> = cols
                .iter()
                .filter(|c| c.has_role(Role::Ip))
                .map(|c| (c.name.clone(), c.class == TypeClass::Inet))
                .collect();
            let pi = tables.len();
            let mut ids = Vec::new();
            let mut masked: Vec<String> = Vec::new();
            for c in cols.iter().filter(|c| c.has_role(Role::Subject) || c.has_role(Role::Ip)) {
                if let Some(s) = c.strategy.clone() {
                    ids.push(slots.len());
                    slots.push(slot(slots.len(), pi, c, s));
                    masked.push(c.name.clone());
                }
            }
            for f in fields.iter().filter(|f| f.schema == t.schema && f.table == t.name) {
                if masked.contains(&f.column) {
                    continue;
                }
                let tagged = cols.iter().find(|c| c.name == f.column);
                let col = t.columns.iter().find(|c| c.name == f.column).expect("resolved against this table");
                let (strategy, tc) = match tagged {
                    Some(tc) if tc.has_role(Role::Time) => {
                        return Err(ForgetError::InvalidArgument(format!(
                            "additional field {}.{}.{} is the time column, which is never masked",
                            t.schema, t.name, f.column
                        )))
                    }
                    Some(tc) => (tc.strategy.clone(), tc.clone()),
                    None => {
                        let class = col.type_class();
                        let tc = TaggedColumn {
                            name: col.name.clone(),
                            data_type: col.data_type.clone(),
                            type_ident: col.type_ident.clone(),
                            eq_op: col.eq_op.clone().unwrap_or_else(|| "OPERATOR(pg_catalog.=)".into()),
                            cast_ident: col.base_type_ident.clone().unwrap_or_else(|| col.type_ident.clone()),
                            class,
                            tag: Default::default(),
                            strategy: None,
                            unique: col.unique,
                            not_null: col.not_null,
                        };
                        (untagged_strategy(class, col.not_null), tc)
                    }
                };
                let Some(strategy) = strategy else {
                    return Err(ForgetError::InvalidArgument(format!(
                        "additional field {}.{}.{} ({}) has no strategy that fits; tag it with @pii and a strategy",
                        t.schema, t.name, f.column, col.data_type
                    )));
                };
                ids.push(slots.len());
                slots.push(slot(slots.len(), pi, &tc, strategy));
                masked.push(f.column.clone());
            }
            let time_in_pk = pk.iter().any(|c| *c == time);
            tables.push(SessionTable {
                time_in_pk,
                partitioned: t.partitioned,
                table: ti,
                schema: t.schema.clone(),
                name: t.name.clone(),
                key,
                time,
                subjects,
                ips,
                slots: ids,
                from: t.from_sql(),
            });
        }
        Ok(SessionPlan { tables, slots })
    }

    fn matches(&self, t: &SessionTable) -> String {
        let mut conds = Vec::new();
        for c in &t.subjects {
            conds.push(value_match("t", c, "$3"));
        }
        for (c, inet) in &t.ips {
            if *inet {
                conds.push(format!("t.{}::inet <<= ANY($4::inet[])", ident(c)));
            } else {
                conds.push(format!("forget._text_ip_in(t.{}::text, $4::text[])", ident(c)));
            }
        }
        format!(
            "t.{time} BETWEEN $1::timestamptz AND $2::timestamptz AND ({})",
            conds.join(" OR "),
            time = ident(&t.time)
        )
    }

    /// The columns the cursor of table `i` reads, before the count: its key
    /// columns, then the row's tid, table oid, xmin and primary key as text.
    pub fn read_columns(&self, i: usize) -> usize {
        self.tables[i].key.len() + 4
    }

    /// The primary key of a row of table `t` as text: a row's identity, of
    /// one type whatever the key's types (one column, or a row of several).
    fn pk_text(&self, t: &SessionTable) -> String {
        let pk: Vec<&str> = t.key[usize::from(!t.time_in_pk)..].iter().map(|(e, _)| e.as_str()).collect();
        if pk.len() == 1 {
            format!("({})::pg_catalog.text", pk[0])
        } else {
            format!("ROW({})::pg_catalog.text", pk.join(", "))
        }
    }

    /// The rows of table `i` the job will mask, after the last key done
    /// (`$5`, NULL at the start), read once per job run through a cursor (see
    /// `crate::cursor`). The first row carries their count in its last column
    /// (no first row: nothing left); then come the rows, in key order, which
    /// the batches read `batch_size` at a time: key (`k0`, ...), tid, table
    /// oid, xmin as text (which together name the very version read) and
    /// primary key as text.
    pub fn cursor_sql(&self, i: usize) -> String {
        let t = &self.tables[i];
        let key_names: Vec<String> = (0..t.key.len()).map(|k| format!("k{k}")).collect();
        let mut sel: Vec<String> = t.key.iter().zip(&key_names).map(|((e, _), a)| format!("{e} AS {a}")).collect();
        sel.push("t.ctid AS tid, t.tableoid AS o, t.xmin::pg_catalog.text AS x".into());
        sel.push(format!("{} AS p", self.pk_text(t)));
        let mut names = key_names.clone();
        names.extend(["tid", "o", "x", "p"].map(String::from));
        format!(
            "WITH m AS MATERIALIZED (SELECT {sel} FROM {from} t WHERE {m} AND {after})\n\
             (SELECT {names}, (SELECT pg_catalog.count(*) FROM m) FROM m LIMIT 1)\n\
             UNION ALL\n\
             (SELECT {names}, NULL FROM m ORDER BY {order})",
            sel = sel.join(", "),
            from = t.from,
            m = self.matches(t),
            after = self.after_last(t),
            names = names.join(", "),
            order = key_names.join(", "),
        )
    }

    /// The rows after the last key done (`$5`, text[], NULL at the start).
    fn after_last(&self, t: &SessionTable) -> String {
        let keys: Vec<&str> = t.key.iter().map(|(e, _)| e.as_str()).collect();
        let after: Vec<String> = t.key.iter().enumerate().map(|(k, (_, ty))| format!("$5[{}]::{ty}", k + 1)).collect();
        format!("($5::pg_catalog.text[] IS NULL OR ({}) > ({}))", keys.join(", "), after.join(", "))
    }

    /// The SET list of table `t`'s masked columns.
    fn sets(&self, t: &SessionTable) -> String {
        let sets: Vec<String> = t
            .slots
            .iter()
            .map(|&s| format!("{} = {}", ident(&self.slots[s].column), new_value(&self.slots[s], "true")))
            .collect();
        sets.join(", ")
    }

    /// Whether a row of `t` matches the user ids (`$3`) or networks (`$4`),
    /// through subqueries: a statement that checks a row again costs nothing
    /// to plan, whatever the number of ids (a list of constants is planned
    /// id by id), and nothing to run when the check is not reached.
    fn again(&self, t: &SessionTable) -> String {
        let mut again: Vec<String> = Vec::new();
        for c in &t.subjects {
            let col = format!("t.{}", ident(&c.name));
            again.push(match c.class {
                TypeClass::Text => {
                    format!("{col} {} ANY (SELECT pg_catalog.unnest($3::{}[]))", c.eq_op, c.cast_ident)
                }
                _ => format!("{col}::text OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.unnest($3::text[]))"),
            });
        }
        for (c, inet) in &t.ips {
            again.push(if *inet {
                format!(
                    "EXISTS (SELECT FROM pg_catalog.unnest($4::inet[]) AS n(net) WHERE t.{}::inet <<= n.net)",
                    ident(c)
                )
            } else {
                format!("forget._text_ip_in(t.{}::text, $4::text[])", ident(c))
            });
        }
        again.join(" OR ")
    }

    /// Whether table `i`'s rows can be masked by [`Self::single_sql`]: not a
    /// partitioned table (a tid is unique within one table only).
    pub fn single_ok(&self, i: usize) -> bool {
        !self.tables[i].partitioned
    }

    /// Table `i`'s rows after the last key done (`$5`) masked in one
    /// statement, the way a hand-written UPDATE would, for a table whose rows
    /// the planner expects to fit in one batch: `forget._within_batch($6)`,
    /// the last condition, ends the statement with an error when more than
    /// `$6` rows match (the runner then rolls it back and reads the table
    /// through a cursor). Returns the rows updated.
    pub fn single_sql(&self, i: usize) -> String {
        let t = &self.tables[i];
        format!(
            "WITH u AS (UPDATE {from} t SET {sets} WHERE {m} AND {after} AND forget._within_batch($6::pg_catalog.int8) RETURNING 1)\n\
             SELECT pg_catalog.count(*) FROM u",
            from = t.from,
            sets = self.sets(t),
            m = self.matches(t),
            after = self.after_last(t),
        )
    }

    /// One batch of table `i`: masks the rows read by the cursor, whose
    /// columns come as one array each from `$5` on (see [`Self::cursor_sql`]):
    /// the keys, then tids, table oids, xmins and primary keys as text.
    ///
    /// - `by_tid`: each row is fetched at the place the cursor read it at (a
    ///   TID scan, in table order; the tids come through a subquery, so the
    ///   planner does not estimate them one by one, which for 10,000 tids
    ///   takes longer than fetching them). It is masked at once when it is the very
    ///   version the cursor read (same table, tid, xmin and primary key: one
    ///   hashed lookup per row), and otherwise only when it is one of the
    ///   batch's rows (by primary key) and matches again: a row the batch did
    ///   not read is never masked, nor counted.
    ///   Returns `(rows updated, last key as text)`. A row the application
    ///   updated since is somewhere else now; when fewer rows were updated
    ///   than read, the rest are left to:
    /// - not `by_tid`: the rows are looked up by primary key (through an
    ///   index, hash and merge joins turned off), except the versions the
    ///   batch wrote already (their xmin is the transaction id in the
    ///   parameter after the arrays, as text), and masked when they match
    ///   again. Returns `(rows updated)`.
    ///
    /// Either way a batch costs what its rows cost, whatever the size of the
    /// table. Rows are matched again against the user ids and networks through
    /// subqueries that cost nothing when no row changed (the ids are never
    /// planned as a list of constants, which for 100,000 ids would cost more
    /// to plan than the batch costs to run).
    pub fn batch_sql(&self, i: usize, by_tid: bool) -> String {
        let t = &self.tables[i];
        let nk = t.key.len();
        let keys: Vec<&str> = t.key.iter().map(|(e, _)| e.as_str()).collect();
        let (tid, oid, xmin, pk) = (nk + 5, nk + 6, nk + 7, nk + 8);
        let extra = nk + 9;
        let again = self.again(t);
        let window = format!("t.{} BETWEEN $1::timestamptz AND $2::timestamptz", ident(&t.time));
        let pk_text = self.pk_text(t);
        if by_tid {
            // the last key as text that reads back the same whatever the session's DateStyle
            let last: Vec<String> = (0..nk)
                .map(|k| format!("pg_catalog.to_json(${n}[pg_catalog.array_upper(${n}, 1)]) #>> '{{}}'", n = k + 5))
                .collect();
            // a partitioned table: only the partitions of the batch's times (a tid is per partition)
            let prune = if t.partitioned {
                format!(" AND t.{} BETWEEN $5[1] AND $5[pg_catalog.array_upper($5, 1)]", ident(&t.time))
            } else {
                String::new()
            };
            format!(
                "WITH u AS (UPDATE {from} t SET {sets}\n\
                 WHERE t.ctid OPERATOR(pg_catalog.=) ANY ((SELECT ${tid}::pg_catalog.tid[])::pg_catalog.tid[]) AND {window}{prune}\n\
                 AND ((t.tableoid, t.ctid, t.xmin::pg_catalog.text, {pk_text}) IN (SELECT * FROM ROWS FROM (pg_catalog.unnest(${oid}::pg_catalog.oid[]), \
                 pg_catalog.unnest(${tid}::pg_catalog.tid[]), pg_catalog.unnest(${xmin}::pg_catalog.text[]), pg_catalog.unnest(${pk}::pg_catalog.text[])))\n\
                 OR ({pk_text} IN (SELECT pg_catalog.unnest(${pk}::pg_catalog.text[])) AND ({again}))) RETURNING 1)\n\
                 SELECT (SELECT pg_catalog.count(*) FROM u), ARRAY[{last}]",
                from = t.from,
                sets = self.sets(t),
                last = last.join(", "),
                again = again,
            )
        } else {
            // by primary key: a row whose time changed (still in the window) is found too
            let skip = usize::from(!t.time_in_pk);
            let arrays: Vec<String> =
                t.key.iter().enumerate().map(|(k, (_, ty))| format!("pg_catalog.unnest(${}::{ty}[])", k + 5)).collect();
            let names: Vec<String> = (0..nk).map(|k| format!("k{k}")).collect();
            let b_keys: Vec<String> = (0..nk).map(|k| format!("b.k{k}")).collect();
            format!(
                "WITH u AS (UPDATE {from} t SET {sets} FROM (SELECT * FROM ROWS FROM ({arrays}) AS b({names})) AS b\n\
                 WHERE ({keys}) = ({b_keys}) AND t.xmin::pg_catalog.text OPERATOR(pg_catalog.<>) ${extra}::pg_catalog.text AND {window}\n\
                 AND ({again}) RETURNING 1)\n\
                 SELECT (SELECT pg_catalog.count(*) FROM u)",
                from = t.from,
                sets = self.sets(t),
                arrays = arrays.join(", "),
                names = names.join(", "),
                keys = keys[skip..].join(", "),
                b_keys = b_keys[skip..].join(", "),
                again = again,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::analyze;
    use crate::catalog::fixtures::*;

    fn sessions_catalog() -> Catalog {
        let mut cat = portal();
        cat.tables.push(table(
            5,
            "app",
            "sessions",
            None,
            vec![
                col("id", "int8", "N", None),
                col("user_id", "text", "S", Some("@pii subject")),
                col("ip", "inet", "I", Some("@pii ip")),
                col("agent", "text", "S", None),
                col("country", "text", "S", Some("@pii redact:XX")),
                col("started_at", "timestamptz", "D", Some("@pii time")),
            ],
        ));
        cat
    }

    #[test]
    fn only_tables_with_time_and_subject_or_ip_are_planned() {
        let cat = sessions_catalog();
        let a = analyze(&cat);
        let p = SessionPlan::new(&cat, &a, &[]).unwrap();
        assert_eq!(p.tables.len(), 1);
        assert_eq!(p.tables[0].name, "sessions");
        assert_eq!(p.tables[0].time, "started_at");
        // subject and ip are always masked
        let cols: Vec<&str> = p.slots.iter().map(|s| s.column.as_str()).collect();
        assert_eq!(cols, vec!["user_id", "ip"]);
    }

    #[test]
    fn additional_fields_resolve_in_three_forms_with_their_strategy() {
        let cat = sessions_catalog();
        let a = analyze(&cat);
        for e in ["agent", "sessions.agent", "app.sessions.agent"] {
            let f = resolve_fields(&cat, &a, &[e.to_string()]).unwrap();
            assert_eq!(f, vec![FieldRef { schema: "app".into(), table: "sessions".into(), column: "agent".into() }]);
        }
        let f = resolve_fields(&cat, &a, &["agent".into(), "country".into()]).unwrap();
        let p = SessionPlan::new(&cat, &a, &f).unwrap();
        let strategies: Vec<(&str, &Strategy)> = p.slots.iter().map(|s| (s.column.as_str(), &s.strategy)).collect();
        assert_eq!(strategies[2], ("agent", &Strategy::Redact(None)));
        assert_eq!(strategies[3], ("country", &Strategy::Redact(Some("XX".into()))));
    }

    #[test]
    fn unknown_fields_list_the_candidates() {
        let cat = sessions_catalog();
        let a = analyze(&cat);
        let e = resolve_fields(&cat, &a, &["nope".into()]).unwrap_err();
        let m = e.to_string();
        assert_eq!(e.sqlstate(), "22023");
        assert!(
            m.contains("\"nope\"") && m.contains("app.sessions.agent") && m.contains("app.sessions.started_at"),
            "{m}"
        );
        // a column of a table without a time column is not a candidate
        assert!(resolve_fields(&cat, &a, &["users.email".into()]).is_err());
        let t = resolve_fields(&cat, &a, &["started_at".into()]).unwrap();
        assert!(SessionPlan::new(&cat, &a, &t).is_err());
    }

    #[test]
    fn cursor_reads_the_rows_after_the_last_key_once_in_key_order() {
        let cat = sessions_catalog();
        let a = analyze(&cat);
        let p = SessionPlan::new(&cat, &a, &[]).unwrap();
        let sql = p.cursor_sql(0);
        assert!(sql.contains(r#"t."started_at" BETWEEN $1::timestamptz AND $2::timestamptz AND (t."user_id" OPERATOR(pg_catalog.=) ANY($3::"pg_catalog"."text"[]) OR t."ip"::inet <<= ANY($4::inet[]))"#), "{sql}");
        assert!(
            sql.contains(r#"($5::pg_catalog.text[] IS NULL OR (t."started_at", t."id") > ($5[1]::"pg_catalog"."timestamptz", $5[2]::"pg_catalog"."int8"))"#),
            "{sql}"
        );
        // the key, then what names the very version read: tid, table, xmin, primary key
        assert!(sql.starts_with(r#"WITH m AS MATERIALIZED (SELECT t."started_at" AS k0, t."id" AS k1, t.ctid AS tid, t.tableoid AS o, t.xmin::pg_catalog.text AS x, (t."id")::pg_catalog.text AS p FROM ONLY "app"."sessions" t"#), "{sql}");
        // the count first, then the rows in key order
        assert!(sql.contains("(SELECT k0, k1, tid, o, x, p, (SELECT pg_catalog.count(*) FROM m) FROM m LIMIT 1)\nUNION ALL\n(SELECT k0, k1, tid, o, x, p, NULL FROM m ORDER BY k0, k1)"), "{sql}");
        assert_eq!(p.read_columns(0), 6);
    }

    #[test]
    fn batch_statement_masks_the_rows_read_at_their_tids_and_what_still_matches() {
        let cat = sessions_catalog();
        let a = analyze(&cat);
        let p = SessionPlan::new(&cat, &a, &[]).unwrap();
        let sql = p.batch_sql(0, true);
        assert!(
            sql.contains(
                r#"UPDATE ONLY "app"."sessions" t SET "user_id" = forget._mask_text(t."user_id"::text, 0, true)"#
            ),
            "{sql}"
        );
        // at their tids (a TID scan), still in the window
        assert!(sql.contains(r#"WHERE t.ctid OPERATOR(pg_catalog.=) ANY ((SELECT $7::pg_catalog.tid[])::pg_catalog.tid[]) AND t."started_at" BETWEEN $1::timestamptz AND $2::timestamptz"#), "{sql}");
        assert!(!sql.contains("$5[1]"), "a plain table has no partitions to choose: {sql}");
        // the very version the cursor read, or matching again
        assert!(sql.contains(r#"AND ((t.tableoid, t.ctid, t.xmin::pg_catalog.text, (t."id")::pg_catalog.text) IN (SELECT * FROM ROWS FROM (pg_catalog.unnest($8::pg_catalog.oid[]), pg_catalog.unnest($7::pg_catalog.tid[]), pg_catalog.unnest($9::pg_catalog.text[]), pg_catalog.unnest($10::pg_catalog.text[])))"#), "{sql}");
        // another version is masked only when it is one of the batch's rows and matches again
        assert!(sql.contains(r#"OR ((t."id")::pg_catalog.text IN (SELECT pg_catalog.unnest($10::pg_catalog.text[])) AND (t."user_id" OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.unnest($3::"pg_catalog"."text"[])) OR EXISTS (SELECT FROM pg_catalog.unnest($4::inet[]) AS n(net) WHERE t."ip"::inet <<= n.net)))) RETURNING 1)"#), "{sql}");
        // no list of ids for the planner to go through
        assert!(!sql.contains("ANY($3"), "{sql}");
        assert!(sql.contains("ARRAY[pg_catalog.to_json($5[pg_catalog.array_upper($5, 1)]) #>> '{}', pg_catalog.to_json($6[pg_catalog.array_upper($6, 1)]) #>> '{}']"), "{sql}");
        // the rows that moved: by primary key alone (a row whose time changed is found too),
        // except the versions the batch wrote, matched again
        let again = p.batch_sql(0, false);
        assert!(again.contains(r#"FROM (SELECT * FROM ROWS FROM (pg_catalog.unnest($5::"pg_catalog"."timestamptz"[]), pg_catalog.unnest($6::"pg_catalog"."int8"[])) AS b(k0, k1)) AS b"#), "{again}");
        assert!(again.contains(r#"WHERE (t."id") = (b.k1) AND t.xmin::pg_catalog.text OPERATOR(pg_catalog.<>) $11::pg_catalog.text AND t."started_at" BETWEEN"#), "{again}");
        assert!(again.contains(r#"AND (t."user_id" OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.unnest($3::"pg_catalog"."text"[])) OR EXISTS"#), "{again}");
        assert!(!again.contains("ctid"), "{again}");
    }

    #[test]
    fn a_partitioned_table_is_read_in_the_partitions_of_the_batch_and_never_in_one_statement() {
        let mut cat = sessions_catalog();
        cat.tables[4].partitioned = true;
        let a = analyze(&cat);
        let p = SessionPlan::new(&cat, &a, &[]).unwrap();
        assert!(!p.single_ok(0));
        let sql = p.batch_sql(0, true);
        assert!(sql.contains(r#"UPDATE "app"."sessions" t"#), "{sql}");
        assert!(sql.contains(r#" AND t."started_at" BETWEEN $5[1] AND $5[pg_catalog.array_upper($5, 1)]"#), "{sql}");
    }

    #[test]
    fn one_statement_masks_a_table_that_fits_in_a_batch() {
        let cat = sessions_catalog();
        let a = analyze(&cat);
        let p = SessionPlan::new(&cat, &a, &[]).unwrap();
        assert!(p.single_ok(0));
        let sql = p.single_sql(0);
        assert!(sql.starts_with(r#"WITH u AS (UPDATE ONLY "app"."sessions" t SET "user_id" = forget._mask_text(t."user_id"::text, 0, true)"#), "{sql}");
        // the rows of the window, after the last key done, and at most a batch of them
        assert!(sql.contains(r#" WHERE t."started_at" BETWEEN $1::timestamptz AND $2::timestamptz AND (t."user_id" OPERATOR(pg_catalog.=) ANY($3::"pg_catalog"."text"[]) OR t."ip"::inet <<= ANY($4::inet[])) AND ($5::pg_catalog.text[] IS NULL OR (t."started_at", t."id") > ($5[1]::"pg_catalog"."timestamptz", $5[2]::"pg_catalog"."int8")) AND forget._within_batch($6::pg_catalog.int8) RETURNING 1)"#), "{sql}");
        assert!(sql.ends_with("SELECT pg_catalog.count(*) FROM u"), "{sql}");
    }

    #[test]
    fn rows_that_moved_are_found_by_primary_key_with_the_time_only_when_it_is_part_of_it() {
        let mut cat = sessions_catalog();
        cat.tables[4].primary_key = Some(vec!["id".into(), "started_at".into()]);
        let a = analyze(&cat);
        let p = SessionPlan::new(&cat, &a, &[]).unwrap();
        assert!(p.tables[0].time_in_pk);
        let again = p.batch_sql(0, false);
        assert!(again.contains(r#"WHERE (t."started_at", t."id") = (b.k0, b.k1) AND t.xmin"#), "{again}");
        // a key of several columns names a row as one text
        assert!(p.cursor_sql(0).contains(r#"ROW(t."started_at", t."id")::pg_catalog.text AS p"#));
    }

    #[test]
    fn subjects_of_other_types_than_text_are_compared_as_text() {
        let mut cat = sessions_catalog();
        let c = cat.tables[4].columns.iter_mut().find(|c| c.name == "user_id").unwrap();
        *c = col("user_id", "int8", "N", Some("@pii subject null"));
        let a = analyze(&cat);
        let p = SessionPlan::new(&cat, &a, &[]).unwrap();
        let batch = p.batch_sql(0, true);
        assert!(
            batch.contains(r#"t."user_id"::text OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.unnest($3::text[]))"#),
            "{batch}"
        );
    }

    #[test]
    fn tables_without_a_primary_key_are_refused() {
        let mut cat = sessions_catalog();
        cat.tables[4].primary_key = None;
        let a = analyze(&cat);
        let e = SessionPlan::new(&cat, &a, &[]).unwrap_err();
        assert_eq!(e.sqlstate(), "0A000");
        assert!(e.to_string().contains("app.sessions"), "{e}");
    }
}
