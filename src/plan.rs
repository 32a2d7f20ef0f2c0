//! The pure planner: from the catalog and its tags, which tables hold a
//! person's rows (and how to find them in SQL), which columns are masked with
//! which strategy, and the statements of one call, rendered with every
//! identifier quoted and every value a `$n` parameter. No pgrx.
//!
//! A person's rows of each reached table are a CTE `m_<i>` ("matched"):
//! subject tables match on their `subject` columns; child tables join the
//! CTE of a table they reference (and close over their own self-references
//! recursively); parent tables join the CTE of a table that references them
//! and keep only rows that no other row references. Each CTE only reads CTEs of
//! tables discovered before it, so the whole set is computed from one snapshot
//! in one statement, and the UPDATEs (or DELETEs) of all tables run in that
//! same statement: one data-modifying CTE per table, over all the people of
//! the call at once.
//!
//! Parameters of the rendered statements: `$1` the people's names (`text[]`),
//! `$2` LIKE patterns of their identifiers (`text[]`, for scrubbing other
//! people's rows).

use std::fmt::Write;

use crate::catalog::{Analysis, Catalog, TaggedColumn};
use crate::graph::{Graph, Reach};
use crate::sql::{ident, sql_literal};
use crate::tags::{Role, Strategy, TypeClass};

/// Name of the CTE column that says whose row it is (NULL when all people of
/// the call are treated as one group).
pub const WHO: &str = "__pgf_who";
const TOID: &str = "__pgf_toid";
const TID: &str = "__pgf_tid";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// all names of the call together (anonymize, delete)
    All,
    /// rows attributed to each name (locate, export)
    PerName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// mask the person's rows (delete those of `@pii delete` tables)
    Anonymize,
    /// delete the person's rows
    Delete,
}

/// How a masked column's new value is computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub id: usize,
    /// index into `Plan::tables`
    pub table: usize,
    pub column: String,
    pub strategy: Strategy,
    pub class: TypeClass,
    pub type_ident: String,
    pub unique: bool,
    pub roles: Vec<Role>,
}

impl Slot {
    /// Scrub and JSON columns change other people's rows too.
    pub fn touches_others(&self) -> bool {
        matches!(self.strategy, Strategy::Scrub | Strategy::Json(_))
    }

    /// A constant-like replacement in a unique column needs a distinct value per person.
    pub fn needs_unique_map(&self) -> bool {
        self.unique && matches!(self.strategy, Strategy::Subject | Strategy::Redact(_) | Strategy::Email)
    }
}

/// One table of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanTable {
    /// index into `Catalog::tables`
    pub table: usize,
    /// `Reach::None` for tables scanned only for other people's mentions (scrub, json)
    pub reach: Reach,
    /// primary key columns; empty: rows are keyed by (tableoid, ctid)
    pub key: Vec<String>,
    /// columns the CTE carries (key and foreign-key columns)
    pub carried: Vec<String>,
    /// `@pii delete` on the table
    pub delete_tag: bool,
    /// slot ids of its masked columns
    pub slots: Vec<usize>,
    /// does any column carry a tag at all
    pub tagged: bool,
}

impl PlanTable {
    pub fn has_cte(&self) -> bool {
        self.reach != Reach::None
    }
}

pub struct Plan<'a> {
    pub cat: &'a Catalog,
    pub analysis: &'a Analysis,
    pub tables: Vec<PlanTable>,
    pub slots: Vec<Slot>,
    /// catalog index -> plan index
    pos: Vec<Option<usize>>,
    /// foreign keys as (child catalog index, parent catalog index, fk index)
    edges: Vec<(usize, usize, usize)>,
    /// also match rows on `key` columns against `$3` (retry_anonymization)
    pub match_keys: bool,
    /// other people's rows are first narrowed with `ILIKE ANY($2)` (an index
    /// such as pg_trgm can answer it); off, every row goes to the scrubber
    pub like_prefilter: bool,
}

impl<'a> Plan<'a> {
    pub fn new(cat: &'a Catalog, analysis: &'a Analysis) -> Plan<'a> {
        let graph = Graph::new(cat, analysis);
        let (reach, order) = graph.discover();
        let edges: Vec<(usize, usize, usize)> = graph
            .edges
            .iter()
            .enumerate()
            .filter(|(_, (c, p))| *c != usize::MAX && *p != usize::MAX)
            .map(|(k, (c, p))| (*c, *p, k))
            .collect();
        let mut pos = vec![None; cat.tables.len()];
        let mut tables = Vec::new();
        let mut slots = Vec::new();
        let mut add = |ci: usize, r: Reach, tables: &mut Vec<PlanTable>, slots: &mut Vec<Slot>| {
            let tt = &analysis.tables[ci];
            let t = &cat.tables[ci];
            let pi = tables.len();
            let mut ids = Vec::new();
            for c in &tt.columns {
                let Some(strategy) = c.strategy.clone() else { continue };
                if r == Reach::None && !matches!(strategy, Strategy::Scrub | Strategy::Json(_)) {
                    continue;
                }
                ids.push(slots.len());
                slots.push(slot(slots.len(), pi, c, strategy));
            }
            tables.push(PlanTable {
                table: ci,
                reach: r,
                key: t.primary_key.clone().unwrap_or_default(),
                carried: Vec::new(),
                delete_tag: tt.table.delete,
                slots: ids,
                tagged: !tt.columns.is_empty(),
            });
            pos[ci] = Some(pi);
        };
        for &ci in &order {
            add(ci, reach[ci], &mut tables, &mut slots);
        }
        // tables nobody's rows reach, but whose free text or JSON may mention people
        for tt in &analysis.tables {
            if reach[tt.index] == Reach::None
                && tt.columns.iter().any(|c| matches!(c.strategy, Some(Strategy::Scrub | Strategy::Json(_))))
            {
                add(tt.index, Reach::None, &mut tables, &mut slots);
            }
        }
        let mut plan = Plan { cat, analysis, tables, slots, pos, edges, match_keys: false, like_prefilter: true };
        plan.compute_carried();
        plan
    }

    fn compute_carried(&mut self) {
        for i in 0..self.tables.len() {
            let mut cols = self.tables[i].key.clone();
            let ci = self.tables[i].table;
            if self.tables[i].has_cte() {
                for &(c, p, k) in &self.edges {
                    let fk = &self.cat.foreign_keys[k];
                    if c == ci && self.reached(p) {
                        cols.extend(fk.child_columns.iter().cloned());
                    }
                    if p == ci && self.reached(c) {
                        cols.extend(fk.parent_columns.iter().cloned());
                    }
                }
            }
            let mut seen = std::collections::HashSet::new();
            cols.retain(|c| seen.insert(c.clone()));
            self.tables[i].carried = cols;
        }
    }

    fn reached(&self, ci: usize) -> bool {
        self.pos[ci].is_some_and(|p| self.tables[p].has_cte())
    }

    /// plan index of a catalog table that has a CTE
    fn cte_of(&self, ci: usize) -> Option<usize> {
        self.pos[ci].filter(|&p| self.tables[p].has_cte())
    }

    pub fn schema_table(&self, pi: usize) -> (&str, &str) {
        let t = &self.cat.tables[self.tables[pi].table];
        (&t.schema, &t.name)
    }

    /// The table as it goes after FROM, UPDATE or DELETE FROM (see `Table::from_sql`).
    fn qname(&self, pi: usize) -> String {
        self.cat.tables[self.tables[pi].table].from_sql()
    }

    pub fn cte_name(pi: usize) -> String {
        format!("m_{pi}")
    }

    /// Tagged columns of a plan table (valid tags only).
    pub fn tagged_columns(&self, pi: usize) -> &[TaggedColumn] {
        &self.analysis.tables[self.tables[pi].table].columns
    }

    // ---- rendering helpers -------------------------------------------------

    fn cols(alias: &str, cols: &[String]) -> String {
        let parts: Vec<String> = cols.iter().map(|c| format!("{alias}.{}", ident(c))).collect();
        format!("({})", parts.join(", "))
    }

    /// The row key of `alias` in plan table `pi`, as a row value.
    fn key_expr(&self, pi: usize, alias: &str) -> String {
        let t = &self.tables[pi];
        if t.key.is_empty() {
            format!("({alias}.tableoid, {alias}.ctid)")
        } else {
            Self::cols(alias, &t.key)
        }
    }

    /// The key columns as the CTE carries them.
    fn cte_key_expr(&self, pi: usize, alias: &str) -> String {
        let t = &self.tables[pi];
        if t.key.is_empty() {
            format!("({alias}.{}, {alias}.{})", ident(TOID), ident(TID))
        } else {
            Self::cols(alias, &t.key)
        }
    }

    /// `t."a", t."b"` (plus tableoid/ctid when keyed by ctid) for a CTE's select list.
    fn carried_select(&self, pi: usize, alias: &str) -> String {
        let t = &self.tables[pi];
        let mut parts: Vec<String> = t.carried.iter().map(|c| format!("{alias}.{}", ident(c))).collect();
        if t.key.is_empty() {
            parts.push(format!("{alias}.tableoid AS {}", ident(TOID)));
            parts.push(format!("{alias}.ctid AS {}", ident(TID)));
        }
        parts.join(", ")
    }

    /// Is the row `alias` of plan table `pi` one of the people's rows?
    pub fn is_person(&self, pi: usize, alias: &str) -> String {
        format!(
            "({} IN (SELECT {} FROM {} m))",
            self.key_expr(pi, alias),
            self.cte_key_expr(pi, "m").trim_start_matches('(').trim_end_matches(')'),
            Self::cte_name(pi)
        )
    }

    fn subject_match(&self, pi: usize, alias: &str, names: &str) -> String {
        let mut conds: Vec<String> = self
            .tagged_columns(pi)
            .iter()
            .filter(|c| c.has_role(Role::Subject))
            .map(|c| value_match(alias, c, names))
            .collect();
        if self.match_keys && names == "$1" {
            conds.extend(
                self.tagged_columns(pi).iter().filter(|c| c.has_role(Role::Key)).map(|c| value_match(alias, c, "$3")),
            );
        }
        format!("({})", conds.join(" OR "))
    }

    /// Plan indexes of the tables tagged `@pii subjects` that have a subject column.
    pub fn account_tables(&self) -> Vec<usize> {
        (0..self.tables.len())
            .filter(|&pi| {
                self.tables[pi].reach == Reach::Subject && self.analysis.tables[self.tables[pi].table].table.subjects
            })
            .collect()
    }

    /// Which of the names `$1` have a row in account table `pi` (`SELECT name`).
    pub fn existing_names_sql(&self, pi: usize) -> String {
        format!(
            "SELECT n.name FROM pg_catalog.unnest($1::text[]) AS n(name) WHERE EXISTS (SELECT 1 FROM {} t WHERE {})",
            self.qname(pi),
            self.subject_match(pi, "t", "n.name")
        )
    }

    // ---- the matched-rows CTEs ---------------------------------------------

    /// `m_0 AS (...), m_1 AS (...)` for every reached table (to follow `WITH RECURSIVE`).
    pub fn matched_ctes(&self, g: Grouping) -> String {
        let mut out = Vec::new();
        for pi in 0..self.tables.len() {
            if let Some(body) = self.cte_body(pi, g) {
                out.push(format!("{} AS ({body})", Self::cte_name(pi)));
            }
        }
        out.join(",\n")
    }

    fn cte_body(&self, pi: usize, g: Grouping) -> Option<String> {
        let t = &self.tables[pi];
        let ci = t.table;
        let from = self.qname(pi);
        let sel = self.carried_select(pi, "t");
        match t.reach {
            Reach::None => None,
            Reach::Subject => Some(match g {
                Grouping::All => format!(
                    "SELECT DISTINCT NULL::text AS {}, {sel} FROM {from} t WHERE {}",
                    ident(WHO),
                    self.subject_match(pi, "t", "$1")
                ),
                Grouping::PerName => format!(
                    "SELECT DISTINCT n.name AS {}, {sel} FROM pg_catalog.unnest($1::text[]) AS n(name) JOIN {from} t ON {}",
                    ident(WHO),
                    self.subject_match(pi, "t", "n.name")
                ),
            }),
            Reach::Child => {
                let mut base = Vec::new();
                let mut selfs = Vec::new();
                for &(c, p, k) in &self.edges {
                    if c != ci {
                        continue;
                    }
                    let fk = &self.cat.foreign_keys[k];
                    let on = format!("{} = {}", Self::cols("t", &fk.child_columns), Self::cols("m", &fk.parent_columns));
                    if p == ci {
                        selfs.push(on);
                        continue;
                    }
                    let Some(pp) = self.cte_of(p) else { continue };
                    if pp >= pi || !matches!(self.tables[pp].reach, Reach::Subject | Reach::Child) {
                        continue;
                    }
                    base.push(format!(
                        "SELECT m.{}, {sel} FROM {from} t JOIN {} m ON {on}",
                        ident(WHO),
                        Self::cte_name(pp)
                    ));
                }
                let mut body = base.join(" UNION ");
                if !selfs.is_empty() {
                    let _ = write!(
                        body,
                        " UNION SELECT m.{}, {sel} FROM {from} t JOIN {} m ON ({})",
                        ident(WHO),
                        Self::cte_name(pi),
                        selfs.join(" OR ")
                    );
                }
                Some(body)
            }
            Reach::Parent => {
                let mut parts = Vec::new();
                for &(c, p, k) in &self.edges {
                    if p != ci || c == ci {
                        continue;
                    }
                    let Some(cp) = self.cte_of(c) else { continue };
                    if cp >= pi {
                        continue;
                    }
                    let fk = &self.cat.foreign_keys[k];
                    parts.push(format!(
                        "SELECT DISTINCT m.{}, {sel} FROM {from} t JOIN {} m ON {} = {} WHERE {}",
                        ident(WHO),
                        Self::cte_name(cp),
                        Self::cols("t", &fk.parent_columns),
                        Self::cols("m", &fk.child_columns),
                        self.alone(pi)
                    ));
                }
                Some(parts.join(" UNION "))
            }
        }
    }

    /// The parent row `t` is referenced by nobody but the person `m`.
    fn alone(&self, pi: usize) -> String {
        let ci = self.tables[pi].table;
        let mut conds = Vec::new();
        for &(c, p, k) in &self.edges {
            if p != ci {
                continue;
            }
            let fk = &self.cat.foreign_keys[k];
            let x = format!("x{k}");
            let refs = format!("{} = {}", Self::cols(&x, &fk.child_columns), Self::cols("t", &fk.parent_columns));
            let child = self.cat.tables[c].from_sql();
            match self.cte_of(c).filter(|&cp| cp < pi && c != ci) {
                Some(cp) => conds.push(format!(
                    "(SELECT count(*) FROM {child} {x} WHERE {refs}) = (SELECT count(*) FROM {} {x} WHERE {refs} AND {x}.{who} IS NOT DISTINCT FROM m.{who})",
                    Self::cte_name(cp),
                    who = ident(WHO)
                )),
                None => conds.push(format!("NOT EXISTS (SELECT 1 FROM {child} {x} WHERE {refs})")),
            }
        }
        if conds.is_empty() {
            "true".into()
        } else {
            conds.join(" AND ")
        }
    }

    // ---- statements --------------------------------------------------------

    /// Rows matched per table and name: `SELECT who, plan_table, count`.
    pub fn locate_sql(&self) -> String {
        let mut sel = Vec::new();
        for (pi, t) in self.tables.iter().enumerate() {
            if t.has_cte() {
                sel.push(format!(
                    "SELECT m.{who}, {pi}, count(*) FROM {} m GROUP BY m.{who}",
                    Self::cte_name(pi),
                    who = ident(WHO)
                ));
            }
        }
        if sel.is_empty() {
            return "SELECT NULL::text, 0, 0::bigint WHERE false".into();
        }
        format!("WITH RECURSIVE {}\n{}", self.matched_ctes(Grouping::PerName), sel.join("\nUNION ALL "))
    }

    /// A copy of each person's rows (`export_users`): `(username, schema_name,
    /// table_name, data jsonb)`, from exactly the rows `locate_sql` counts,
    /// ordered by name (as given), table, then key; a name with no rows gives
    /// one row with NULLs.
    pub fn export_sql(&self) -> String {
        let mut branches = Vec::new();
        for (pi, t) in self.tables.iter().enumerate() {
            if !t.has_cte() {
                continue;
            }
            let (schema, table) = self.schema_table(pi);
            let key = self.key_expr(pi, "t");
            let mkey = self.cte_key_expr(pi, "m");
            branches.push(format!(
                "SELECT m.{who} AS who, {pi} AS ti, row_number() OVER (PARTITION BY m.{who} ORDER BY {korder}) AS rn, {s}::text AS schema_name, {tn}::text AS table_name, pg_catalog.to_jsonb(t.*) AS data FROM {from} t JOIN (SELECT DISTINCT m.{who}, {mcols} FROM {cte} m) m ON {key} = {mkey}",
                who = ident(WHO),
                korder = key.trim_start_matches('(').trim_end_matches(')'),
                s = sql_literal(schema),
                tn = sql_literal(table),
                from = self.qname(pi),
                mcols = mkey.trim_start_matches('(').trim_end_matches(')'),
                cte = Self::cte_name(pi),
            ));
        }
        let names = "names AS (SELECT n.name, min(n.ord) AS ord FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS n(name, ord) GROUP BY n.name)";
        if branches.is_empty() {
            return format!(
                "WITH {names} SELECT names.name, NULL::text, NULL::text, NULL::jsonb FROM names ORDER BY names.ord"
            );
        }
        format!(
            "WITH RECURSIVE {ctes},
{names},
rows AS ({rows})
             SELECT names.name, r.schema_name, r.table_name, r.data FROM names LEFT JOIN rows r ON r.who = names.name ORDER BY names.ord, r.schema_name, r.table_name, r.rn",
            ctes = self.matched_ctes(Grouping::PerName),
            rows = branches.join("
UNION ALL "),
        )
    }

    /// Before changing anything: the people's identifiers (for scrubbing), the
    /// old values of unique masked columns (to give each a distinct
    /// replacement), the names found in no subject table, and rows matched per
    /// table. Rows: `(kind text, n int, value text)` with kind `id`, `old`
    /// (n = slot), `nf`, `cnt` (n = plan table, value = count).
    pub fn gather_sql(&self) -> String {
        let mut parts = Vec::new();
        let mut subject_tables = Vec::new();
        for (pi, t) in self.tables.iter().enumerate() {
            if !t.has_cte() {
                continue;
            }
            let from = self.qname(pi);
            let isp = self.is_person(pi, "t");
            // Identifiers come from rows that are the person's alone: an account
            // row (`@pii subjects`), a row whose every subject value is one of
            // the names, or a row reached through foreign keys. A row that also
            // names someone else (bob's message to alice) gives none, or bob's
            // name would be scrubbed everywhere.
            let alone = if t.reach == Reach::Subject && !self.analysis.tables[t.table].table.subjects {
                let conds: Vec<String> = self
                    .tagged_columns(pi)
                    .iter()
                    .filter(|c| c.has_role(Role::Subject))
                    .map(|c| format!("(t.{} IS NULL OR {})", ident(&c.name), value_match("t", c, "$1")))
                    .collect();
                format!(" AND {}", conds.join(" AND "))
            } else {
                String::new()
            };
            for c in self.tagged_columns(pi) {
                let ident_like =
                    c.has_role(Role::Subject) || c.has_role(Role::Key) || matches!(c.strategy, Some(Strategy::Email));
                if ident_like && c.class == TypeClass::Text {
                    parts.push(format!(
                        "SELECT 'id'::text, NULL::int, t.{col}::text FROM {from} t WHERE {isp}{alone} AND t.{col} IS NOT NULL",
                        col = ident(&c.name)
                    ));
                }
            }
            for &s in &t.slots {
                let slot = &self.slots[s];
                if slot.needs_unique_map() {
                    parts.push(format!(
                        "SELECT 'old'::text, {s}, t.{col}::text FROM {from} t WHERE {isp} AND t.{col} IS NOT NULL",
                        col = ident(&slot.column)
                    ));
                }
            }
            parts.push(format!("SELECT 'cnt'::text, {pi}, count(*)::text FROM {} m", Self::cte_name(pi)));
            if t.reach == Reach::Subject {
                subject_tables.push(format!(
                    "NOT EXISTS (SELECT 1 FROM {from} t WHERE {})",
                    self.subject_match(pi, "t", "n.name")
                ));
            }
        }
        let nf = if subject_tables.is_empty() {
            "SELECT 'nf'::text, NULL::int, n.name FROM pg_catalog.unnest($1::text[]) AS n(name)".to_string()
        } else {
            format!(
                "SELECT 'nf'::text, NULL::int, n.name FROM pg_catalog.unnest($1::text[]) AS n(name) WHERE {}",
                subject_tables.join(" AND ")
            )
        };
        parts.push(nf);
        let ctes = self.matched_ctes(Grouping::All);
        if ctes.is_empty() {
            parts.join("\nUNION ")
        } else {
            format!("WITH RECURSIVE {ctes}\n{}", parts.join("\nUNION "))
        }
    }

    /// The tables whose rows an erasure locks before it changes anything, in
    /// the order it locks them: the account tables (`@pii subjects`) first,
    /// then every other table with rows of the people, in plan order.
    pub fn lock_order(&self) -> Vec<usize> {
        let mut order = self.account_tables();
        for (pi, t) in self.tables.iter().enumerate() {
            if t.has_cte() && !order.contains(&pi) {
                order.push(pi);
            }
        }
        order
    }

    /// Locks the people's rows of plan table `pi` in key order, with the lock
    /// the main statement takes there (`FOR UPDATE` where it deletes or changes
    /// a column with a unique index, `FOR NO KEY UPDATE` otherwise), so that it
    /// never has to upgrade a lock it holds.
    pub fn lock_sql(&self, pi: usize, mode: Mode, nowait: bool) -> String {
        let t = &self.tables[pi];
        let delete = mode == Mode::Delete || (t.delete_tag && t.reach != Reach::Parent);
        let unique = t.slots.iter().any(|&s| self.slots[s].unique);
        let strength = if delete || unique { "UPDATE" } else { "NO KEY UPDATE" };
        let order = if t.key.is_empty() {
            "t.tableoid, t.ctid".to_string()
        } else {
            t.key.iter().map(|c| format!("t.{}", ident(c))).collect::<Vec<_>>().join(", ")
        };
        format!(
            "WITH RECURSIVE {}\nSELECT 1 FROM {} t WHERE {} ORDER BY {order} FOR {strength} OF t{}",
            self.matched_ctes(Grouping::All),
            self.qname(pi),
            self.is_person(pi, "t"),
            if nowait { " NOWAIT" } else { "" }
        )
    }

    /// Other people's rows of table `pi` that a scrub or JSON column of theirs may change.
    fn others_filter(&self, pi: usize, alias: &str) -> Option<String> {
        let conds: Vec<String> = self.tables[pi]
            .slots
            .iter()
            .map(|&s| &self.slots[s])
            .filter(|s| s.touches_others())
            .map(|s| {
                let would = format!("forget._would_change({alias}.{}::text, {})", ident(&s.column), s.id);
                if self.like_prefilter {
                    format!("({alias}.{}::text ILIKE ANY($2::text[]) AND {would})", ident(&s.column))
                } else {
                    would
                }
            })
            .collect();
        (!conds.is_empty()).then(|| format!("({})", conds.join(" OR ")))
    }

    /// The one statement that changes (or, for a dry run, evaluates) every
    /// table. Returns rows `(plan_table int, person_rows bigint, other_rows bigint, deleted bool)`.
    pub fn main_sql(&self, mode: Mode, dry_run: bool) -> String {
        let mut ctes = Vec::new();
        let mut results = Vec::new();
        for (pi, t) in self.tables.iter().enumerate() {
            let from = self.qname(pi);
            // `@pii delete` in an anonymization deletes subject and child rows; a parent
            // row stays referenced by the person's kept rows, so it is masked instead
            let delete = t.has_cte() && (mode == Mode::Delete || (t.delete_tag && t.reach != Reach::Parent));
            let isp = if t.has_cte() { self.is_person(pi, "t") } else { "false".into() };
            let others = self.others_filter(pi, "t");
            let name = format!("u_{pi}");
            if delete {
                let body = if dry_run {
                    format!("SELECT true AS p FROM {from} t WHERE {isp}")
                } else {
                    format!("DELETE FROM {from} t WHERE {isp} RETURNING true AS p")
                };
                ctes.push(format!("{name} AS MATERIALIZED ({body})"));
                results.push(format!(
                    "SELECT {pi}, count(*) FILTER (WHERE p), count(*) FILTER (WHERE NOT p), true FROM {name}"
                ));
                // other people's rows that mention the person
                if let Some(o) = &others {
                    let sets: Vec<(String, String)> = t
                        .slots
                        .iter()
                        .map(|&s| &self.slots[s])
                        .filter(|s| s.touches_others())
                        .map(|s| (s.column.clone(), new_value(s, "false")))
                        .collect();
                    let oname = format!("o_{pi}");
                    ctes.push(format!(
                        "{oname} AS MATERIALIZED ({})",
                        self.change_body(&from, &sets, &format!("NOT {isp} AND {o}"), "false", dry_run)
                    ));
                    results.push(format!("SELECT {pi}, 0::bigint, count(*), false FROM {oname}"));
                }
                continue;
            }
            if t.slots.is_empty() {
                continue;
            }
            let sets: Vec<(String, String)> = t
                .slots
                .iter()
                .map(|&s| &self.slots[s])
                .map(|s| {
                    let v = if !t.has_cte() {
                        new_value(s, "false")
                    } else if s.touches_others() {
                        new_value(s, &isp)
                    } else {
                        format!("CASE WHEN {isp} THEN {} ELSE t.{} END", new_value(s, "true"), ident(&s.column))
                    };
                    (s.column.clone(), v)
                })
                .collect();
            let filter = match (t.has_cte(), &others) {
                // a table keyed by ctid: a row updated concurrently gets a new ctid, so
                // the filter must hold on the row itself (re-checked on its new version)
                (true, Some(o)) if t.key.is_empty() => format!("({isp} OR {o})"),
                // the people's rows and the others' rows that mention them, as one set of
                // keys: each half can use its own index (an OR of both could not)
                (true, Some(_)) => format!(
                    "({} IN (SELECT {} FROM {} m UNION SELECT {} FROM {from} x WHERE {}))",
                    self.key_expr(pi, "t"),
                    self.cte_key_expr(pi, "m").trim_start_matches('(').trim_end_matches(')'),
                    Self::cte_name(pi),
                    self.key_expr(pi, "x").trim_start_matches('(').trim_end_matches(')'),
                    self.others_filter(pi, "x").unwrap_or_default()
                ),
                (true, None) => isp.clone(),
                (false, Some(o)) => o.clone(),
                (false, None) => continue,
            };
            ctes.push(format!("{name} AS MATERIALIZED ({})", self.change_body(&from, &sets, &filter, &isp, dry_run)));
            results.push(format!(
                "SELECT {pi}, count(*) FILTER (WHERE p), count(*) FILTER (WHERE NOT p), false FROM {name}"
            ));
        }
        if results.is_empty() {
            return "SELECT 0, 0::bigint, 0::bigint, false WHERE false".into();
        }
        let matched = self.matched_ctes(Grouping::All);
        let mut all = Vec::new();
        if !matched.is_empty() {
            all.push(matched);
        }
        all.extend(ctes);
        format!("WITH RECURSIVE {}\n{}", all.join(",\n"), results.join("\nUNION ALL "))
    }

    fn change_body(&self, from: &str, sets: &[(String, String)], filter: &str, person: &str, dry_run: bool) -> String {
        if dry_run {
            let vals: Vec<String> = sets.iter().map(|(_, v)| v.clone()).collect();
            format!("SELECT {person} AS p, {} FROM {from} t WHERE {filter}", vals.join(", "))
        } else {
            let assigns: Vec<String> = sets.iter().map(|(c, v)| format!("{} = {v}", ident(c))).collect();
            format!("UPDATE {from} t SET {} WHERE {filter} RETURNING {person} AS p", assigns.join(", "))
        }
    }
}

/// The new value of a slot's column for row `t` (`person` is the SQL
/// boolean saying whether the row is one of the people's).
pub fn new_value(s: &Slot, person: &str) -> String {
    let col = format!("t.{}", ident(&s.column));
    let ty = &s.type_ident;
    match (&s.strategy, s.class) {
        (Strategy::Null, _) => format!("CASE WHEN forget._tick({}, {col} IS NOT NULL) THEN NULL ELSE {col} END", s.id),
        (Strategy::Month | Strategy::Year, _) => {
            let unit = if s.strategy == Strategy::Month { "month" } else { "year" };
            let v = format!("pg_catalog.date_trunc('{unit}', {col})::{ty}");
            format!("CASE WHEN forget._tick({id}, {v} IS DISTINCT FROM {col}) THEN {v} ELSE {col} END", id = s.id)
        }
        (Strategy::Ip { .. }, TypeClass::Inet) => format!("forget._mask_inet({col}::inet, {})::{ty}", s.id),
        (Strategy::Json(_), _) => format!("forget._mask_json({col}::text, {}, {person})::{ty}", s.id),
        _ => format!("forget._mask_text({col}::text, {}, {person})::{ty}", s.id),
    }
}

pub fn slot(id: usize, table: usize, c: &TaggedColumn, strategy: Strategy) -> Slot {
    Slot {
        id,
        table,
        column: c.name.clone(),
        strategy,
        class: c.class,
        type_ident: c.type_ident.clone(),
        unique: c.unique,
        roles: c.tag.roles.clone(),
    }
}

/// `alias.col` equal to one of the values (`$1`/`$3`: a text[] parameter) or to
/// `n.name`, compared in the column's own type with the type's own equality
/// operator (exact for text, case-insensitive for citext), never resolved
/// through search_path. Non-text columns compare as text, so a name that is not
/// a valid value of the type simply matches nothing.
pub fn value_match(alias: &str, c: &TaggedColumn, values: &str) -> String {
    let col = format!("{alias}.{}", ident(&c.name));
    match (c.class, values) {
        (TypeClass::Text, "$1" | "$3") => format!("{col} {} ANY({values}::{}[])", c.eq_op, c.cast_ident),
        (TypeClass::Text, one) => format!("{col} {} {one}::{}", c.eq_op, c.cast_ident),
        (_, "$1" | "$3") => format!("{col}::text OPERATOR(pg_catalog.=) ANY({values}::text[])"),
        (_, one) => format!("{col}::text OPERATOR(pg_catalog.=) {one}"),
    }
}

/// The `ILIKE` patterns that find every text mentioning one of the
/// identifiers: one per identifier, leaving out an identifier that contains
/// another one (`alice@example.com` when `alice` is there), whose pattern
/// would match nothing more. Fewer and more selective patterns: an e-mail's
/// common trigrams (`com`, `exa`) cost a pg_trgm index most of its work.
pub fn like_patterns(identifiers: &[String]) -> Vec<String> {
    identifiers
        .iter()
        .enumerate()
        .filter(|(i, id)| {
            !identifiers
                .iter()
                .enumerate()
                .any(|(j, o)| j != *i && !o.is_empty() && id.contains(o.as_str()) && (o != *id || j < *i))
        })
        .map(|(_, id)| like_pattern(id))
        .collect()
}

/// `%<identifier with % _ \ escaped>%`: a LIKE pattern that finds the identifier anywhere.
pub fn like_pattern(id: &str) -> String {
    let mut p = String::with_capacity(id.len() + 2);
    p.push('%');
    for ch in id.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::analyze;
    use crate::catalog::fixtures::*;

    #[test]
    fn portal_plan_has_subject_child_parent_tables_and_slots() {
        let cat = portal();
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let reach: Vec<Reach> = p.tables.iter().map(|t| t.reach).collect();
        assert_eq!(reach, vec![Reach::Subject, Reach::Child, Reach::Parent]);
        // users: username (subject), email ; events: ip, message ; addresses: street
        assert_eq!(p.slots.len(), 5);
        assert_eq!(p.slots[0].strategy, Strategy::Subject);
        // users carries its key and the FK column to addresses, plus the referenced id
        assert_eq!(p.tables[0].carried, vec!["id".to_string(), "address_id".to_string()]);
        assert_eq!(p.tables[1].carried, vec!["id".to_string(), "user_id".to_string()]);
    }

    #[test]
    fn matched_ctes_join_children_and_check_parents_are_alone() {
        let cat = portal();
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let sql = p.matched_ctes(Grouping::All);
        assert!(sql.contains(r#"m_0 AS (SELECT DISTINCT NULL::text AS "__pgf_who", t."id", t."address_id" FROM ONLY "app"."users" t WHERE (t."username" OPERATOR(pg_catalog.=) ANY($1::"pg_catalog"."text"[])))"#), "{sql}");
        assert!(sql.contains(r#"m_1 AS (SELECT m."__pgf_who", t."id", t."user_id" FROM ONLY "app"."events" t JOIN m_0 m ON (t."user_id") = (m."id"))"#), "{sql}");
        assert!(sql.contains(r#"FROM ONLY "app"."addresses" t JOIN m_0 m ON (t."id") = (m."address_id") WHERE (SELECT count(*) FROM ONLY "app"."users" x1"#), "{sql}");
        let per = p.matched_ctes(Grouping::PerName);
        assert!(per.contains(r#"FROM pg_catalog.unnest($1::text[]) AS n(name) JOIN ONLY "app"."users" t ON (t."username" OPERATOR(pg_catalog.=) n.name::"pg_catalog"."text")"#), "{per}");
    }

    #[test]
    fn self_references_recurse() {
        let mut cat = portal();
        cat.tables[1].columns.push(col("parent_id", "int4", "N", None));
        cat.foreign_keys.push(fk(2, "parent_id", 2));
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let sql = p.matched_ctes(Grouping::All);
        assert!(sql.contains(r#" UNION SELECT m."__pgf_who", t."id", t."user_id", t."parent_id" FROM ONLY "app"."events" t JOIN m_1 m ON ((t."parent_id") = (m."id"))"#), "{sql}");
    }

    #[test]
    fn main_statement_updates_each_table_once() {
        let cat = portal();
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let sql = p.main_sql(Mode::Anonymize, false);
        assert_eq!(sql.matches("UPDATE ").count(), 3, "{sql}");
        assert!(sql.starts_with("WITH RECURSIVE m_0 AS"));
        assert!(sql.contains(r#"UPDATE ONLY "app"."events" t SET "ip" = CASE WHEN"#), "{sql}");
        assert!(sql.contains("forget._mask_inet(t.\"ip\"::inet, 2)"), "{sql}");
        // scrub columns apply to other people's rows too
        assert!(
            sql.contains(r#"FROM ONLY "app"."events" x WHERE ((x."message"::text ILIKE ANY($2::text[]) AND forget._would_change(x."message"::text, 3)))"#),
            "{sql}"
        );
        // without the LIKE prefilter (many identifiers), every row goes to the scrubber
        let mut q = Plan::new(&cat, &a);
        q.like_prefilter = false;
        let sql = q.main_sql(Mode::Anonymize, false);
        assert!(!sql.contains("ILIKE") && !sql.contains("$2"), "{sql}");
        assert!(sql.contains(r#"x WHERE (forget._would_change(x."message"::text, 3))"#), "{sql}");
        let del = p.main_sql(Mode::Delete, false);
        assert_eq!(del.matches("DELETE FROM").count(), 3, "{del}");
        let dry = p.main_sql(Mode::Anonymize, true);
        assert!(!dry.contains("UPDATE ") && !dry.contains("DELETE "), "{dry}");
    }

    #[test]
    fn locks_take_the_people_rows_in_key_order_accounts_first() {
        let cat = portal();
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let order = p.lock_order();
        assert_eq!(order.first(), p.account_tables().first(), "accounts first: {order:?}");
        assert_eq!(order.len(), p.tables.iter().filter(|t| t.has_cte()).count());
        let users = p.account_tables()[0];
        let sql = p.lock_sql(users, Mode::Anonymize, true);
        let unique = p.tables[users].slots.iter().any(|&s| p.slots[s].unique);
        let strength = if unique { "UPDATE" } else { "NO KEY UPDATE" };
        assert!(sql.ends_with(&format!(r#"ORDER BY t."id" FOR {strength} OF t NOWAIT"#)), "{sql}");
        assert!(p.lock_sql(users, Mode::Delete, true).ends_with("FOR UPDATE OF t NOWAIT"));
        let events = (0..p.tables.len()).find(|&pi| p.schema_table(pi).1 == "events").unwrap();
        let sql = p.lock_sql(events, Mode::Anonymize, false);
        assert!(sql.ends_with(r#"ORDER BY t."id" FOR NO KEY UPDATE OF t"#), "{sql}");
        assert!(p.lock_sql(events, Mode::Delete, false).ends_with("FOR UPDATE OF t"));
    }

    #[test]
    fn delete_tag_deletes_in_anonymize_mode() {
        let mut cat = portal();
        cat.tables[1].comment = Some("@pii delete".into());
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let sql = p.main_sql(Mode::Anonymize, false);
        assert!(sql.contains(r#"DELETE FROM ONLY "app"."events" t WHERE"#), "{sql}");
    }

    #[test]
    fn unreached_tables_with_scrub_columns_are_scanned() {
        let mut cat = portal();
        cat.tables[3].columns.push(col("notes", "text", "S", Some("@pii scrub")));
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let last = p.tables.last().unwrap();
        assert_eq!(last.reach, Reach::None);
        let sql = p.main_sql(Mode::Anonymize, false);
        assert!(
            sql.contains(
                r#"UPDATE ONLY "app"."countries" t SET "notes" = forget._mask_text(t."notes"::text, 5, false)"#
            ),
            "{sql}"
        );
    }

    #[test]
    fn tables_without_a_primary_key_are_keyed_by_ctid() {
        let mut cat = portal();
        cat.tables[1].primary_key = None;
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        assert!(p
            .is_person(1, "t")
            .contains("(t.tableoid, t.ctid) IN (SELECT m.\"__pgf_toid\", m.\"__pgf_tid\" FROM m_1 m)"));
    }

    #[test]
    fn hostile_names_stay_quoted() {
        let mut cat = portal();
        cat.tables[0].schema = "a\"; DROP TABLE x; --".into();
        cat.tables[0].columns[1].name = "user\"name".into();
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let sql = p.main_sql(Mode::Anonymize, false);
        assert!(sql.contains(r#"ONLY "a""; DROP TABLE x; --"."users""#), "{sql}");
        assert!(sql.contains(r#"t."user""name""#), "{sql}");
    }

    #[test]
    fn export_reads_the_same_ctes_per_name_and_orders_rows() {
        let cat = portal();
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let sql = p.export_sql();
        assert!(sql.starts_with("WITH RECURSIVE m_0 AS (SELECT DISTINCT n.name"), "{sql}");
        assert!(sql.contains(r#"pg_catalog.to_jsonb(t.*) AS data FROM ONLY "app"."events" t JOIN (SELECT DISTINCT m."__pgf_who", m."id" FROM m_1 m) m ON (t."id") = (m."id")"#), "{sql}");
        assert!(sql.ends_with("ORDER BY names.ord, r.schema_name, r.table_name, r.rn"), "{sql}");
        assert_eq!(sql_literal("it's"), "'it''s'");
    }

    #[test]
    fn retry_plans_match_key_columns_too() {
        let mut cat = portal();
        cat.tables[0].columns.push(col("user_key", "text", "S", Some("@pii key")));
        let a = analyze(&cat);
        let mut p = Plan::new(&cat, &a);
        assert!(!p.matched_ctes(Grouping::All).contains("$3"));
        p.match_keys = true;
        let sql = p.matched_ctes(Grouping::All);
        assert!(sql.contains(r#"(t."username" OPERATOR(pg_catalog.=) ANY($1::"pg_catalog"."text"[]) OR t."user_key" OPERATOR(pg_catalog.=) ANY($3::"pg_catalog"."text"[]))"#), "{sql}");
        // per-name attribution never matches keys
        assert!(!p.matched_ctes(Grouping::PerName).contains("$3"));
        assert_eq!(p.account_tables(), vec![0]);
        assert!(p.existing_names_sql(0).contains(
            "EXISTS (SELECT 1 FROM ONLY \"app\".\"users\" t WHERE (t.\"username\" OPERATOR(pg_catalog.=) n.name"
        ));
    }

    #[test]
    fn like_patterns_leave_out_identifiers_that_contain_another() {
        let ids: Vec<String> =
            ["alice@example.com", "alice", "bob", "BOB", "bob", "carol_x"].iter().map(|s| s.to_string()).collect();
        // ILIKE '%alice%' already finds every text with alice@example.com in it
        assert_eq!(like_patterns(&ids), vec!["%alice%", "%bob%", "%BOB%", r"%carol\_x%"]);
        assert!(like_patterns(&[]).is_empty());
    }

    #[test]
    fn like_patterns_escape_metacharacters() {
        assert_eq!(like_pattern("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
        assert_eq!(like_pattern("alice"), "%alice%");
    }

    #[test]
    fn gather_lists_identifiers_unique_values_and_not_found() {
        let mut cat = portal();
        cat.tables[0].columns[1].unique = true;
        let a = analyze(&cat);
        let p = Plan::new(&cat, &a);
        let sql = p.gather_sql();
        assert!(sql.contains(r#"SELECT 'id'::text, NULL::int, t."username"::text FROM ONLY "app"."users" t"#), "{sql}");
        // users is the account table: no extra condition; events rows must name only the people
        assert!(
            !sql.contains(r#"FROM ONLY "app"."users" t WHERE (t."id") IN (SELECT m."id" FROM m_0 m) AND (t."#),
            "{sql}"
        );
        assert!(sql.contains(r#"SELECT 'id'::text, NULL::int, t."email"::text"#), "{sql}");
        assert!(sql.contains(r#"SELECT 'old'::text, 0, t."username"::text"#), "{sql}");
        assert!(sql.contains("SELECT 'nf'::text"), "{sql}");
    }
}
