//! Writes to the extension's own tables (jobs, report rows, audit log). They
//! are read-only for `forget_admin`: these writes run as the extension's owner
//! (like a SECURITY DEFINER function), only from pg_forget's own code paths.

use pgrx::prelude::*;

use crate::cache::arg;

/// Runs `f` as the extension owner, with `search_path` pinned to
/// `pg_catalog, pg_temp` (as a SECURITY DEFINER function with SET would), so
/// the caller's search_path cannot redirect what runs with the owner's rights.
/// The previous user and setting are restored afterwards; on error,
/// PostgreSQL's (sub)transaction abort restores both.
pub fn as_owner<R>(f: impl FnOnce() -> R) -> R {
    switch_role(crate::cache::extension_owner(), true, f)
}

/// Runs one of pg_forget's own statements, prepared once per session
/// (`cache.rs`), with arguments of the given types; returns the first column
/// of the first row, if any.
fn exec<T: pgrx::datum::FromDatum>(
    sql: &str,
    types: &[pg_sys::BuiltinOid],
    args: Vec<Option<pg_sys::Datum>>,
) -> Option<T> {
    let types: Vec<pg_sys::Oid> = types.iter().map(|t| t.value()).collect();
    let stmt = crate::cache::prepared(sql, &types, true);
    stmt.run(args, |r| r.get::<T>(1)).into_iter().next().flatten()
}

/// Runs `f` as `role`, with the session's search_path (a job runs as the role
/// that queued it, the way that role's own session would run its statements:
/// the application's triggers find their tables). pg_forget's own SQL
/// qualifies the functions it calls.
pub fn as_role<R>(role: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    switch_role(role, false, f)
}

/// Sets a setting until the current GUC nest level ends (`NewGUCNestLevel` ..
/// `AtEOXact_GUC`), as a function's `SET` clause does.
pub fn set_in_nest_level(name: &std::ffi::CStr, value: &std::ffi::CStr, context: pg_sys::GucContext::Type) {
    // SAFETY: inside a transaction and a GUC nest level; GUC_ACTION_SAVE values
    // are undone when that level ends
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            context,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
    }
}

fn switch_role<R>(role: pg_sys::Oid, pin_search_path: bool, f: impl FnOnce() -> R) -> R {
    let (mut uid, mut ctx) = (pg_sys::InvalidOid, 0i32);
    // SAFETY: the fmgr_security_definer pattern: switch user id and security
    // context, open a GUC nest level for the pinned search_path, undo both after.
    let nest = unsafe {
        pg_sys::GetUserIdAndSecContext(&mut uid, &mut ctx);
        pg_sys::SetUserIdAndSecContext(role, ctx | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32);
        let nest = pg_sys::NewGUCNestLevel();
        if pin_search_path {
            set_in_nest_level(c"search_path", c"pg_catalog, pg_temp", pg_sys::GucContext::PGC_USERSET);
        }
        nest
    };
    let r = f();
    unsafe {
        pg_sys::AtEOXact_GUC(true, nest);
        pg_sys::SetUserIdAndSecContext(uid, ctx);
    }
    r
}

/// The role that called (before any switch to the owner).
pub fn caller_role() -> String {
    // SAFETY: the current user id always names a role (noerr gives NULL otherwise)
    unsafe {
        let p = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), true);
        if p.is_null() {
            return String::new();
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// A new job row in status `running`; returns its id.
pub fn start_job(kind: &str, dry_run: bool, role: &str) -> i64 {
    use pg_sys::BuiltinOid::*;
    as_owner(|| {
        exec::<i64>(
            "INSERT INTO forget.job (kind, status, dry_run, started_at, role_name, runner_pid, claimed_at)
             VALUES ($1, 'running', $2, pg_catalog.clock_timestamp(), $3, pg_catalog.pg_backend_pid(), pg_catalog.clock_timestamp())
             RETURNING id",
            &[TEXTOID, BOOLOID, TEXTOID],
            vec![arg(kind), arg(dry_run), arg(role)],
        )
        .expect("INSERT RETURNING gives a row")
    })
}

pub fn set_params(id: i64, params: &str) {
    use pg_sys::BuiltinOid::*;
    as_owner(|| {
        exec::<i64>(
            "UPDATE forget.job SET params = $2::jsonb WHERE id = $1",
            &[INT8OID, TEXTOID],
            vec![arg(id), arg(params.to_string())],
        )
    });
}

pub fn finish_job(id: i64, matched: i64, done: i64) {
    use pg_sys::BuiltinOid::*;
    as_owner(|| {
        exec::<i64>(
            "UPDATE forget.job SET status = 'done', finished_at = pg_catalog.clock_timestamp(),
                    rows_matched = $2, rows_done = $3, runner_pid = NULL WHERE id = $1",
            &[INT8OID, INT8OID, INT8OID],
            vec![arg(id), arg(matched), arg(done)],
        )
    });
}

/// One audit row per pseudonym.
pub fn audit(action: &str, job_id: Option<i64>, role: &str, pseudonyms: &[String]) {
    if pseudonyms.is_empty() {
        return;
    }
    use pg_sys::BuiltinOid::*;
    // in order: thousands of random pseudonyms go into the index on them page after page
    let mut sorted = pseudonyms.to_vec();
    sorted.sort_unstable();
    as_owner(|| {
        exec::<i64>(
            "INSERT INTO forget.audit_log (action, job_id, role_name, subject_pseudonym)
             SELECT $1, $2, $3, p FROM pg_catalog.unnest($4::text[]) AS p",
            &[TEXTOID, INT8OID, TEXTOID, TEXTARRAYOID],
            vec![arg(action), arg(job_id), arg(role), arg(sorted)],
        )
    });
}

/// One row of a job report.
pub struct ReportRow {
    pub schema_name: Option<String>,
    pub table_name: Option<String>,
    pub column_name: Option<String>,
    pub action: &'static str,
    pub row_count: i64,
    pub subject_pseudonym: Option<String>,
    pub note: Option<String>,
}

pub fn write_report(job_id: i64, rows: &[ReportRow]) {
    if rows.is_empty() {
        return;
    }
    let col = |f: &dyn Fn(&ReportRow) -> Option<String>| rows.iter().map(f).collect::<Vec<Option<String>>>();
    let schemas = col(&|r| r.schema_name.clone());
    let tables = col(&|r| r.table_name.clone());
    let columns = col(&|r| r.column_name.clone());
    let actions: Vec<String> = rows.iter().map(|r| r.action.to_string()).collect();
    let counts: Vec<i64> = rows.iter().map(|r| r.row_count).collect();
    let pseudonyms = col(&|r| r.subject_pseudonym.clone());
    let notes = col(&|r| r.note.clone());
    use pg_sys::BuiltinOid::*;
    as_owner(|| {
        exec::<i64>(
            "INSERT INTO forget.job_report_row (job_id, ord, schema_name, table_name, column_name, action, row_count, subject_pseudonym, note)
             SELECT $1, r.ord, r.s, r.t, r.c, r.a, r.n, r.p, r.note
               FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::text[])
                    WITH ORDINALITY AS r(s, t, c, a, n, p, note, ord)",
            &[INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID],
            vec![arg(job_id), arg(schemas), arg(tables), arg(columns), arg(actions), arg(counts), arg(pseudonyms), arg(notes)],
        )
    });
}
