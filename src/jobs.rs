//! Writes to the extension's own tables (jobs, report rows, audit log). They
//! are read-only for `forget_admin`: these writes run as the extension's owner
//! (like a SECURITY DEFINER function), only from pg_forget's own code paths.

use pgrx::prelude::*;

use crate::api::OrRaise;

/// Runs `f` as the extension owner, with `search_path` pinned to
/// `pg_catalog, pg_temp` (as a SECURITY DEFINER function with SET would), so
/// the caller's search_path cannot redirect what runs with the owner's rights.
/// The previous user and setting are restored afterwards; on error,
/// PostgreSQL's (sub)transaction abort restores both.
pub fn as_owner<R>(f: impl FnOnce() -> R) -> R {
    let owner: pg_sys::Oid =
        Spi::get_one::<pg_sys::Oid>("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'pg_forget'")
            .or_raise()
            .unwrap_or_else(|| {
                crate::api::raise(crate::error::ForgetError::WrongState("extension pg_forget is not installed".into()))
            });
    switch_role(owner, true, f)
}

/// Runs `f` as `role`, with the session's search_path (a job runs as the role
/// that queued it, the way that role's own session would run its statements:
/// the application's triggers find their tables). pg_forget's own SQL
/// qualifies the functions it calls.
pub fn as_role<R>(role: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    switch_role(role, false, f)
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
            pg_sys::set_config_option(
                c"search_path".as_ptr(),
                c"pg_catalog, pg_temp".as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
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
    Spi::get_one::<String>("SELECT CURRENT_USER::text").or_raise().unwrap_or_default()
}

/// A new job row in status `running`; returns its id.
pub fn start_job(kind: &str, dry_run: bool, role: &str) -> i64 {
    as_owner(|| {
        Spi::get_one_with_args::<i64>(
            "INSERT INTO forget.job (kind, status, dry_run, started_at, role_name, runner_pid, claimed_at)
             VALUES ($1, 'running', $2, pg_catalog.clock_timestamp(), $3, pg_catalog.pg_backend_pid(), pg_catalog.clock_timestamp())
             RETURNING id",
            &[kind.into(), dry_run.into(), role.into()],
        )
        .or_raise()
        .expect("INSERT RETURNING gives a row")
    })
}

pub fn set_params(id: i64, params: &str) {
    as_owner(|| {
        Spi::run_with_args(
            "UPDATE forget.job SET params = $2::jsonb WHERE id = $1",
            &[id.into(), params.to_string().into()],
        )
        .or_raise()
    })
}

pub fn finish_job(id: i64, matched: i64, done: i64) {
    as_owner(|| {
        Spi::run_with_args(
            "UPDATE forget.job SET status = 'done', finished_at = pg_catalog.clock_timestamp(),
                    rows_matched = $2, rows_done = $3, runner_pid = NULL WHERE id = $1",
            &[id.into(), matched.into(), done.into()],
        )
        .or_raise()
    })
}

/// One audit row per pseudonym.
pub fn audit(action: &str, job_id: Option<i64>, role: &str, pseudonyms: &[String]) {
    if pseudonyms.is_empty() {
        return;
    }
    as_owner(|| {
        Spi::run_with_args(
            "INSERT INTO forget.audit_log (action, job_id, role_name, subject_pseudonym)
             SELECT $1, $2, $3, p FROM pg_catalog.unnest($4::text[]) AS p",
            &[action.into(), job_id.into(), role.into(), pseudonyms.to_vec().into()],
        )
        .or_raise()
    })
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
    as_owner(|| {
        Spi::run_with_args(
            "INSERT INTO forget.job_report_row (job_id, ord, schema_name, table_name, column_name, action, row_count, subject_pseudonym, note)
             SELECT $1, r.ord, r.s, r.t, r.c, r.a, r.n, r.p, r.note
               FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::text[])
                    WITH ORDINALITY AS r(s, t, c, a, n, p, note, ord)",
            &[
                job_id.into(),
                schemas.into(),
                tables.into(),
                columns.into(),
                actions.into(),
                counts.into(),
                pseudonyms.into(),
                notes.into(),
            ],
        )
        .or_raise()
    })
}
