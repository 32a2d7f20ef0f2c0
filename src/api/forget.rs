//! `forget.anonymize_users`, `forget.delete_users`, `forget.locate_users`:
//! validate, read the catalog once, plan, gather, then one statement that
//! changes every table; record the job, its report and the audit log.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use pgrx::prelude::*;

use super::{raise, OrRaise};
use crate::cache::{arg, CatalogState};
use crate::context::{self, CallContext, SlotState};
use crate::error::ForgetError;
use crate::jobs::{self, ReportRow};
use crate::mask::hmac::{Pseudonymizer, REPLACEMENT};
use crate::mask::text::Scrubber;
use crate::plan::{like_patterns, Mode, Plan};
use crate::sql::ident;
use crate::tags::{Role, Strategy};

/// Checks the names argument: not NULL, no NULL element, no empty string.
/// Returns the distinct names in their first order.
pub fn validate_names(usernames: Option<Vec<Option<String>>>, arg: &str) -> Vec<String> {
    let Some(names) = usernames else { raise(ForgetError::NullArgument(format!("{arg} must not be NULL"))) };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    for (i, n) in names.into_iter().enumerate() {
        let Some(n) = n else {
            raise(ForgetError::NullArgument(format!("{arg} must not contain NULL (element {})", i + 1)))
        };
        if n.is_empty() {
            raise(ForgetError::InvalidArgument(format!("{arg} must not contain an empty string (element {})", i + 1)));
        }
        if seen.insert(n.clone()) {
            out.push(n);
        }
    }
    out
}

/// The catalog and its tags; fails with 42601 when any tag is malformed.
/// Read once per change of the schema (see `cache.rs`).
pub fn checked_catalog() -> Rc<CatalogState> {
    let state = crate::cache::catalog_state();
    if let Some(p) = state.analysis.problems.first() {
        raise(ForgetError::BadTag {
            target: p.target(),
            problem: p.problem.clone(),
            count: state.analysis.problems.len(),
        });
    }
    state
}

fn key() -> Vec<u8> {
    crate::key::with_key(|k| k.to_vec())
}

/// What the gather statement found.
#[derive(Default)]
struct Gathered {
    identifiers: Vec<String>,
    olds: HashMap<usize, Vec<String>>,
    not_found: Vec<String>,
    counts: HashMap<usize, i64>,
}

/// The parameter types of the statements a plan renders: names, LIKE patterns, keys.
const TEXT_ARRAYS: [pg_sys::Oid; 3] = [pg_sys::TEXTARRAYOID; 3];

/// The statements a plan renders are planned once per session (generic plans:
/// they match people by equality on indexed columns, whatever the names), except
/// those that narrow other people's rows with `ILIKE ANY($2)`, whose plan depends
/// on the patterns (a pg_trgm index).
fn statement(sql: &str, nargs: usize) -> std::rc::Rc<crate::cache::Statement> {
    crate::cache::prepared(sql, &TEXT_ARRAYS[..nargs], !sql.contains("ILIKE ANY($2"))
}

fn gather(plan: &Plan, names: &[String], keys: &[String]) -> Gathered {
    let stmt = statement(&plan.gather_sql(), 3);
    let args = vec![arg(names.to_vec()), arg(Vec::<String>::new()), arg(keys.to_vec())];
    let rows = stmt.run(args, |row| (row.get::<String>(1), row.get::<i32>(2), row.get::<String>(3)));
    let mut g = Gathered::default();
    for (kind, n, v) in rows {
        let Some(v) = v else { continue };
        match kind.unwrap_or_default().as_str() {
            "id" => g.identifiers.push(v),
            "old" => g.olds.entry(n.unwrap_or(-1) as usize).or_default().push(v),
            "nf" => g.not_found.push(v),
            "cnt" => {
                g.counts.insert(n.unwrap_or(-1) as usize, v.parse().unwrap_or(0));
            }
            _ => {}
        }
    }
    g
}

/// Distinct replacements for the unique masked columns (see `unique.rs`).
fn unique_maps(
    plan: &Plan,
    g: &Gathered,
    hmac: &Pseudonymizer,
    person: Option<&str>,
) -> HashMap<usize, HashMap<String, String>> {
    let mut maps = HashMap::new();
    for (&slot_id, olds) in &g.olds {
        let slot = &plan.slots[slot_id];
        let q = format!(
            "SELECT DISTINCT t.{col}::text FROM {tab} t WHERE t.{col}::text OPERATOR(pg_catalog.=) ANY($1::text[])",
            col = ident(&slot.column),
            tab = cat_from(plan, slot.table),
        );
        let strategy = slot.strategy.clone();
        let make = |old: &str, digits: usize| match &strategy {
            Strategy::Email => hmac.mask_email(old, digits),
            Strategy::Redact(Some(t)) => format!("{t}-{}", hmac.hash_prefix(old, digits)),
            // a retry gives the person the pseudonym of their original name, whatever the row holds now
            Strategy::Subject => format!("{REPLACEMENT}-{}", hmac.hash_prefix(person.unwrap_or(old), digits)),
            _ => format!("{REPLACEMENT}-{}", hmac.hash_prefix(old, digits)),
        };
        let stmt = statement(&q, 1);
        let taken = |cands: &[String]| -> Result<HashSet<String>, ForgetError> {
            Ok(stmt.run(vec![arg(cands.to_vec())], |row| row.get::<String>(1)).into_iter().flatten().collect())
        };
        let m = crate::unique::assign(olds, make, taken).or_raise();
        maps.insert(slot_id, m);
    }
    maps
}

fn cat_from(plan: &Plan, pi: usize) -> String {
    plan.cat.tables[plan.tables[pi].table].from_sql()
}

/// Per plan table: (rows of the people, other people's rows, deleted?)
type TableResult = HashMap<usize, (i64, i64, bool)>;

/// Above this many identifiers, other people's rows are found by the scrubber alone.
const MAX_LIKE_PATTERNS: usize = 64;

fn run_main(
    plan: &Plan,
    mode: Mode,
    dry_run: bool,
    names: &[String],
    patterns: &Option<Vec<String>>,
    keys: &[String],
) -> TableResult {
    let stmt = statement(&plan.main_sql(mode, dry_run), 3);
    let patterns = patterns.clone().unwrap_or_default();
    let args = vec![arg(names.to_vec()), arg(patterns), arg(keys.to_vec())];
    let rows = stmt.run(args, |row| {
        (
            row.get::<i32>(1).unwrap_or(-1),
            row.get::<i64>(2).unwrap_or(0),
            row.get::<i64>(3).unwrap_or(0),
            row.get::<bool>(4).unwrap_or(false),
        )
    });
    let mut out = HashMap::new();
    for (pi, p, o, d) in rows {
        let e = out.entry(pi as usize).or_insert((0, 0, d));
        e.0 += p;
        e.1 += o;
        e.2 |= d;
    }
    out
}

pub const VACUUM_NOTE: &str =
    "erased values remain in old row versions until VACUUM and in pg_statistic samples until ANALYZE of this table";

/// One erasure: who, how, and what to record.
pub struct EraseRequest {
    pub names: Vec<String>,
    /// original user keys to match `key` columns on (retry_anonymization)
    pub keys: Vec<String>,
    pub mode: Mode,
    pub dry_run: bool,
    /// `anonymize`, `delete`, `retry` or `auto`
    pub kind: &'static str,
    /// the name whose pseudonym gives `anonymous-<hash8>` (a retry's original name)
    pub person: Option<String>,
    /// job parameters to record (no personal data)
    pub params: Option<String>,
}

/// Anonymize (or delete) everything of these people, in the caller's transaction.
pub fn erase(usernames: Option<Vec<Option<String>>>, dry_run: Option<bool>, mode: Mode) -> i64 {
    let names = validate_names(usernames, "usernames");
    let Some(dry_run) = dry_run else { raise(ForgetError::NullArgument("dry_run must not be NULL".into())) };
    let kind = if mode == Mode::Delete { "delete" } else { "anonymize" };
    erase_request(&EraseRequest { names, keys: Vec::new(), mode, dry_run, kind, person: None, params: None }, None)
}

/// Runs an erasure in the current transaction, recording it in job `job` (or a new one).
pub fn erase_request(req: &EraseRequest, job: Option<i64>) -> i64 {
    let names = &req.names;
    let (mode, dry_run) = (req.mode, req.dry_run);
    let state = checked_catalog();
    let key = key();
    let hmac = Pseudonymizer::new(&key);
    let mut plan = Plan::new(&state.cat, &state.analysis);
    plan.match_keys = !req.keys.is_empty();
    let role = jobs::caller_role();
    let job = job.unwrap_or_else(|| jobs::start_job(req.kind, dry_run, &role));
    if let Some(p) = &req.params {
        jobs::set_params(job, p);
    }
    let audited: Vec<String> = match &req.person {
        Some(p) => vec![hmac.pseudonym(p)],
        None => names.iter().map(|n| hmac.pseudonym(n)).collect(),
    };
    jobs::audit("started", Some(job), &role, &audited);

    // One attempt: lock the people's rows (not for a dry run), then read what
    // the change needs (identifiers, unique replacements, counts) from a
    // snapshot taken after the locks, then the one statement.
    let attempt = |plan: &mut Plan, attempt: u32| -> (Gathered, TableResult, CallContext) {
        if !dry_run {
            // Lock order: the people's rows, table by table (accounts first, then
            // the rest in plan order), each in key order. NOWAIT first: while a row
            // is busy pg_forget holds nothing and waits for nothing, then retries;
            // later attempts wait, and give way in a deadlock.
            for pi in plan.lock_order() {
                let sql = plan.lock_sql(pi, mode, attempt < crate::runner::NOWAIT_TRIES);
                let args = vec![arg(names.to_vec()), arg(Vec::<String>::new()), arg(req.keys.to_vec())];
                statement(&sql, 3).run(args, |_| ());
            }
        }
        let g = gather(plan, names, &req.keys);
        let maps = unique_maps(plan, &g, &hmac, req.person.as_deref());
        let mut identifiers: Vec<String> = names.clone();
        identifiers.extend(req.keys.iter().cloned());
        identifiers.extend(g.identifiers.iter().cloned());
        let mut seen = HashSet::new();
        identifiers.retain(|i| !i.is_empty() && seen.insert(i.clone()));
        let scrubber = Scrubber::try_new(&identifiers)
            .unwrap_or_else(|e| raise(ForgetError::InvalidArgument(format!("too many identifiers to scrub: {e}"))));
        // LIKE patterns let an index (pg_trgm) find the rows that mention someone; with
        // many identifiers one pass of the scrubber per row is cheaper than the patterns
        let patterns: Option<Vec<String>> =
            (identifiers.len() <= MAX_LIKE_PATTERNS).then(|| like_patterns(&identifiers));
        plan.like_prefilter = patterns.is_some();
        let ctx_identifiers = identifiers.clone();
        let ctx = CallContext {
            retry: req.kind == "retry",
            hmac: Pseudonymizer::new(&key),
            prefixes: crate::guc::ip_prefixes(),
            scrubber,
            identifiers,
            identifier_set: Default::default(),
            slots: plan
                .slots
                .iter()
                .map(|s| SlotState {
                    strategy: s.strategy.clone(),
                    unique: s.unique,
                    unique_map: maps.get(&s.id).cloned(),
                    changed: 0,
                })
                .collect(),
        };
        let plan: &Plan = plan;
        let (results, ctx) = context::with_context(ctx, || {
            sanitized(&ctx_identifiers, || run_main(plan, mode, dry_run, names, &patterns, &req.keys))
        });
        (g, results, ctx)
    };
    // rows this statement deletes from account tables must not queue automatic anonymization
    let erasing = Erasing::start();
    let (g, results, ctx) = if dry_run {
        attempt(&mut plan, 0)
    } else {
        let mut names_only = names.clone();
        names_only.extend(req.keys.iter().cloned());
        sanitized(&names_only, || {
            crate::runner::retrying_locks(|n| attempt(&mut plan, n)).unwrap_or_else(|e| {
                pgrx::pg_sys::panic::ErrorReport::new(super::errcode(&e.sqlstate), e.message, "pg_forget")
                    .report(pgrx::PgLogLevel::ERROR);
                unreachable!("ERROR does not return")
            })
        })
    };
    drop(erasing);

    // the report: per masked column, per deleting table, and the names not found
    let mut rows = Vec::new();
    let mut key_changed = false;
    for (pi, t) in plan.tables.iter().enumerate() {
        let (schema, table) = plan.schema_table(pi);
        let res = results.get(&pi).copied();
        let deleted = res.is_some_and(|r| r.2) && t.has_cte();
        if deleted {
            let n = res.map(|r| r.0).unwrap_or(0);
            rows.push(ReportRow {
                schema_name: Some(schema.into()),
                table_name: Some(table.into()),
                column_name: None,
                action: if dry_run { "would_delete" } else { "deleted" },
                row_count: n,
                subject_pseudonym: None,
                note: (!dry_run && n > 0).then(|| VACUUM_NOTE.into()),
            });
        }
        for &s in &t.slots {
            let slot = &plan.slots[s];
            if deleted && !slot.touches_others() {
                continue;
            }
            let n = ctx.slots[s].changed as i64;
            if slot.roles.contains(&Role::Key) && n > 0 {
                key_changed = true;
            }
            rows.push(ReportRow {
                schema_name: Some(schema.into()),
                table_name: Some(table.into()),
                column_name: Some(slot.column.clone()),
                action: if dry_run { "would_mask" } else { "masked" },
                row_count: n,
                subject_pseudonym: None,
                note: (!dry_run && n > 0).then(|| VACUUM_NOTE.into()),
            });
        }
    }
    if req.person.is_none() {
        for nf in &g.not_found {
            rows.push(ReportRow {
                schema_name: None,
                table_name: None,
                column_name: None,
                action: "not_found",
                row_count: 0,
                subject_pseudonym: Some(hmac.pseudonym(nf)),
                note: None,
            });
        }
    }
    jobs::write_report(job, &rows);
    let matched: i64 = (0..plan.tables.len()).map(|pi| g.counts.get(&pi).copied().unwrap_or(0)).sum();
    let done: i64 = results.values().map(|r| r.0 + r.1).sum();
    let others: i64 = results.values().map(|r| r.1).sum();
    jobs::finish_job(job, matched + others, if dry_run { 0 } else { done });
    let found: Vec<String> = match &req.person {
        Some(_) => audited.clone(),
        None => {
            let missing: HashSet<&String> = g.not_found.iter().collect();
            names.iter().filter(|n| !missing.contains(n)).map(|n| hmac.pseudonym(n)).collect()
        }
    };
    if !dry_run {
        if key_changed {
            jobs::audit("key_changed", Some(job), &role, &found);
        }
        if mode == Mode::Delete {
            jobs::audit("deleted", Some(job), &role, &found);
        }
    }
    jobs::audit("completed", Some(job), &role, &audited);
    job
}

/// Completes an anonymization that failed or was cut off: finds the person by
/// any of the three (the current name may already be the pseudonym), skips
/// what is already anonymized, finishes the rest in the caller's transaction,
/// and returns the new job id.
#[pg_extern(volatile, parallel_unsafe)]
fn retry_anonymization(
    current_username: Option<String>,
    original_username: Option<String>,
    original_user_key: Option<String>,
) -> i64 {
    for (v, arg) in [
        (&current_username, "current_username"),
        (&original_username, "original_username"),
        (&original_user_key, "original_user_key"),
    ] {
        if v.as_deref() == Some("") {
            raise(ForgetError::InvalidArgument(format!("{arg} must not be an empty string")));
        }
    }
    if current_username.as_deref() == Some(REPLACEMENT) {
        raise(ForgetError::InvalidArgument(format!(
            "current_username '{REPLACEMENT}' is shared by everyone anonymized; give the original name or key"
        )));
    }
    if current_username.is_none() && original_username.is_none() && original_user_key.is_none() {
        raise(ForgetError::NullArgument(
            "at least one of current_username, original_username and original_user_key must be given".into(),
        ));
    }
    let mut names: Vec<String> = Vec::new();
    for n in [&original_username, &current_username].into_iter().flatten() {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let keys: Vec<String> = original_user_key.iter().cloned().collect();
    let person = original_username.clone().or_else(|| current_username.clone()).or_else(|| original_user_key.clone());
    // the earlier jobs, found through the audit rows that opened them (the
    // index on pseudonyms leaves the 'completed' rows out)
    let hmac = Pseudonymizer::new(&key());
    let pseudonyms: Vec<String> = names.iter().chain(keys.iter()).map(|v| hmac.pseudonym(v)).collect();
    let earlier: Vec<i64> = jobs::as_owner(|| {
        Spi::get_one_with_args::<Vec<i64>>(
            "SELECT coalesce(pg_catalog.array_agg(DISTINCT job_id ORDER BY job_id), '{}') FROM forget.audit_log
              WHERE subject_pseudonym = ANY($1) AND job_id IS NOT NULL AND action <> 'completed'",
            &[pseudonyms.into()],
        )
        .or_raise()
        .unwrap_or_default()
    });
    let params = serde_json::json!({ "retry_of": earlier }).to_string();
    let req = EraseRequest {
        names,
        keys,
        mode: Mode::Anonymize,
        dry_run: false,
        kind: "retry",
        person: person.clone(),
        params: Some(params),
    };
    let job = erase_request(&req, None);
    let p = hmac.pseudonym(person.as_deref().unwrap_or_default());
    jobs::audit("retried", Some(job), &jobs::caller_role(), &[p]);
    job
}

/// Anonymizes everything that belongs to these people, in every tagged table, in
/// the caller's transaction, and returns the job id.
#[pg_extern(volatile, parallel_unsafe)]
fn anonymize_users(usernames: Option<Vec<Option<String>>>, dry_run: default!(Option<bool>, false)) -> i64 {
    erase(usernames, dry_run, Mode::Anonymize)
}

/// Deletes everything that belongs to these people (same reach as anonymize_users).
#[pg_extern(volatile, parallel_unsafe)]
fn delete_users(usernames: Option<Vec<Option<String>>>, dry_run: default!(Option<bool>, false)) -> i64 {
    erase(usernames, dry_run, Mode::Delete)
}

/// Where each person's data lives: one row per (user, table, column) with the
/// number of the person's rows. Changes nothing.
#[pg_extern(stable, parallel_unsafe)]
fn locate_users(
    usernames: Option<Vec<Option<String>>>,
) -> TableIterator<
    'static,
    (
        name!(username, String),
        name!(schema_name, String),
        name!(table_name, String),
        name!(column_name, Option<String>),
        name!(row_count, i64),
    ),
> {
    let names = validate_names(usernames, "usernames");
    let state = checked_catalog();
    let plan = Plan::new(&state.cat, &state.analysis);
    let stmt = statement(&plan.locate_sql(), 1);
    let counts: Vec<(String, usize, i64)> = stmt
        .run_read_only(vec![arg(names.clone())], |row| {
            (row.get::<String>(1), row.get::<i32>(2).unwrap_or(-1) as usize, row.get::<i64>(3).unwrap_or(0))
        })
        .into_iter()
        .filter_map(|(who, pi, n)| who.map(|w| (w, pi, n)))
        .collect();
    let order: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut rows = Vec::new();
    for (who, pi, n) in counts {
        if n == 0 {
            continue;
        }
        let (schema, table) = plan.schema_table(pi);
        let cols = plan.tagged_columns(pi);
        if cols.is_empty() {
            rows.push((
                order.get(who.as_str()).copied(),
                pi,
                who.clone(),
                schema.to_owned(),
                table.to_owned(),
                None,
                n,
            ));
        }
        for c in cols {
            rows.push((
                order.get(who.as_str()).copied(),
                pi,
                who.clone(),
                schema.to_owned(),
                table.to_owned(),
                Some(c.name.clone()),
                n,
            ));
        }
    }
    rows.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    TableIterator::new(rows.into_iter().map(|r| (r.2, r.3, r.4, r.5, r.6)))
}

thread_local! {
    static ERASING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the backend as running pg_forget's own deletes until dropped (also on error).
struct Erasing;
impl Erasing {
    fn start() -> Erasing {
        ERASING.with(|e| e.set(true));
        Erasing
    }
}
impl Drop for Erasing {
    fn drop(&mut self) {
        ERASING.with(|e| e.set(false));
    }
}

/// Internal, for the accounts-table trigger: should a delete queue automatic
/// anonymization? Not when pg_forget itself deletes, nor with
/// `forget.auto_anonymize` off. (A function of the library, so the setting is
/// the real, superuser-only one, never a placeholder anyone could set.)
#[pg_extern(volatile, parallel_safe)]
fn _auto_queue_wanted() -> bool {
    !ERASING.with(|e| e.get()) && crate::guc::AUTO_ANONYMIZE.get()
}

/// Internal: `forget.anonymize_delay` in seconds.
#[pg_extern(volatile, parallel_safe)]
fn _auto_delay_seconds() -> i32 {
    crate::guc::ANONYMIZE_DELAY.get()
}

/// Runs the statement that changes the tables; an error coming out of it keeps
/// its SQLSTATE but loses its DETAIL (a constraint's "Key (username)=(alice)")
/// and has the people's identifiers scrubbed out of its message.
fn sanitized<R>(identifiers: &[String], f: impl FnOnce() -> R) -> R {
    let f = std::panic::AssertUnwindSafe(f);
    pgrx::PgTryBuilder::new(move || f())
        .catch_others(|e| {
            let (code, msg) = match &e {
                pgrx::pg_sys::panic::CaughtError::PostgresError(r)
                | pgrx::pg_sys::panic::CaughtError::ErrorReport(r) => (r.sql_error_code(), r.message().to_string()),
                pgrx::pg_sys::panic::CaughtError::RustPanic { .. } => e.rethrow(),
            };
            // built only when there is an error to clean (a big identifier set takes a while)
            let scrub = Scrubber::try_new(identifiers).unwrap_or_else(|_| Scrubber::new::<&str>(&[]));
            let msg = scrub.scrub(&msg, REPLACEMENT).unwrap_or(msg);
            pgrx::pg_sys::panic::ErrorReport::new(code, msg, "pg_forget")
                .set_hint("pg_forget left out the error's detail, which may hold personal data")
                .report(pgrx::PgLogLevel::ERROR);
            unreachable!("ERROR does not return")
        })
        .execute()
}

/// Validates the names, records `exported` in the audit log, and returns the
/// query that `forget.export_users` runs (see `Plan::export_sql`).
#[pg_extern(volatile, parallel_unsafe)]
fn _export_users_sql(usernames: Option<Vec<Option<String>>>) -> String {
    let names = validate_names(usernames, "usernames");
    let state = checked_catalog();
    let plan = Plan::new(&state.cat, &state.analysis);
    let key = key();
    let hmac = Pseudonymizer::new(&key);
    let pseudonyms: Vec<String> = names.iter().map(|n| hmac.pseudonym(n)).collect();
    jobs::audit("exported", None, &jobs::caller_role(), &pseudonyms);
    plan.export_sql()
}

/// Internal: tables tagged `@pii subjects` with their subject and key columns,
/// for the triggers that queue automatic anonymization after a delete.
#[pg_extern(stable, parallel_safe)]
fn _subject_tables() -> TableIterator<
    'static,
    (
        name!(schema_name, String),
        name!(table_name, String),
        name!(subject_columns, Vec<String>),
        name!(key_columns, Vec<String>),
    ),
> {
    let cat = super::catalog::load_catalog();
    let a = crate::catalog::analyze(&cat);
    let mut out = Vec::new();
    for tt in &a.tables {
        if !tt.table.subjects {
            continue;
        }
        let subjects: Vec<String> =
            tt.columns.iter().filter(|c| c.has_role(Role::Subject)).map(|c| c.name.clone()).collect();
        if subjects.is_empty() {
            continue;
        }
        let keys: Vec<String> = tt.columns.iter().filter(|c| c.has_role(Role::Key)).map(|c| c.name.clone()).collect();
        let t = &cat.tables[tt.index];
        out.push((t.schema.clone(), t.name.clone(), subjects, keys));
    }
    TableIterator::new(out)
}
