//! Running queued jobs in batches, committing after each batch: from the
//! procedure `CALL forget.run_jobs()` (SPI in non-atomic mode, `SPI_commit`)
//! and from the background worker (plain transaction commands). A job is
//! claimed with `FOR UPDATE SKIP LOCKED`, so several runners take different
//! jobs; its progress (the last key done per table) is written in the job row
//! in the same transaction as the batch, so a crash loses at most the batch
//! in flight and a retry resumes after it.

use std::collections::HashMap;

use pgrx::prelude::*;
use pgrx::PgTryBuilder;
use serde::{Deserialize, Serialize};

use crate::api::{raise, OrRaise};
use crate::cache::arg;
use crate::context::{self, CallContext, SlotState};
use crate::cursor::HeldCursor;
use crate::error::ForgetError;
use crate::jobs::{self, as_owner, as_role, ReportRow};
use crate::mask::hmac::Pseudonymizer;
use crate::mask::text::Scrubber;
use crate::session::{FieldRef, SessionPlan};

/// How a runner ends one transaction and starts the next.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// inside `CALL forget.run_jobs()`: SPI connected non-atomic
    Procedure,
    /// the background worker: transaction commands of its own
    Worker,
}

impl Driver {
    /// Commits the current transaction and starts the next, with a snapshot for the queries that follow.
    pub fn commit(self) {
        // SAFETY: called only between statements, outside any subtransaction, with no
        // SPI connection of our own open beyond the procedure's non-atomic one.
        unsafe {
            match self {
                Driver::Procedure => {
                    pg_sys::SPI_commit();
                }
                Driver::Worker => {
                    // keep the job's cursors (SPI_commit does this for the procedure)
                    pg_sys::HoldPinnedPortals();
                    if pg_sys::ActiveSnapshotSet() {
                        pg_sys::PopActiveSnapshot();
                    }
                    pg_sys::CommitTransactionCommand();
                    pg_sys::StartTransactionCommand();
                }
            }
        }
        self.ensure_snapshot();
    }

    pub fn ensure_snapshot(self) {
        // SAFETY: reads and sets the backend's active snapshot.
        unsafe {
            if !pg_sys::ActiveSnapshotSet() {
                match self {
                    Driver::Procedure => pg_sys::EnsurePortalSnapshotExists(),
                    Driver::Worker => pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot()),
                }
            }
        }
    }
}

/// Runs `f` in a subtransaction; an error rolls the subtransaction back and
/// comes back as `Err(message)` (with its SQLSTATE), leaving the outer
/// transaction usable.
pub fn in_subtransaction<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    in_subtransaction_detailed(f).map_err(|e| format!("{}: {}", e.sqlstate, e.message))
}

/// An error caught at the end of a subtransaction.
pub struct SubError {
    pub sqlstate: String,
    pub message: String,
}

/// At most this many attempts of an erasure that meets locked rows.
const LOCK_TRIES: u32 = 20;
/// The first attempts lock with NOWAIT: while a row is busy, pg_forget holds
/// nothing and waits for nothing, so it is never part of a deadlock.
pub const NOWAIT_TRIES: u32 = 10;
/// Later attempts wait, with this deadlock_timeout (milliseconds), so that in a
/// deadlock with the application it is pg_forget that notices first and gives way.
const LOCK_DEADLOCK_TIMEOUT_MS: i32 = 50;

/// Runs `f(attempt)` in a subtransaction, again (after a rollback of that
/// subtransaction, which releases its row locks, and a short randomized pause)
/// when it fails on a lock: a deadlock (40P01) or a busy row under NOWAIT
/// (55P03). Each attempt builds its own call context (counters included).
pub fn retrying_locks<R>(mut f: impl FnMut(u32) -> R) -> Result<R, SubError> {
    let mut attempt = 0;
    loop {
        let r = in_subtransaction_detailed(|| with_deadlock_timeout(LOCK_DEADLOCK_TIMEOUT_MS, || f(attempt)));
        match r {
            Err(e) if (e.sqlstate == "40P01" || e.sqlstate == "55P03") && attempt + 1 < LOCK_TRIES => {
                let base_us = (5_000u64 << attempt.min(7)).min(500_000);
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let jitter = 0.5 + f64::from(nanos % 1000) / 1000.0;
                // SAFETY: sleeping and checking for interrupts (cancel, terminate) between attempts
                unsafe {
                    pg_sys::pg_usleep((base_us as f64 * jitter) as std::ffi::c_long);
                    pg_sys::check_for_interrupts!();
                }
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// Runs `f` with `deadlock_timeout` lowered to `ms` (never raised), restored after.
fn with_deadlock_timeout<R>(ms: i32, f: impl FnOnce() -> R) -> R {
    // SAFETY: the GUC nest-level pattern of fmgr_security_definer; on error the
    // (sub)transaction abort restores the setting
    unsafe {
        let ms = ms.min(pg_sys::DeadlockTimeout);
        let value = std::ffi::CString::new(format!("{ms}ms")).expect("no NUL");
        let nest = pg_sys::NewGUCNestLevel();
        jobs::set_in_nest_level(c"deadlock_timeout", &value, pg_sys::GucContext::PGC_SUSET);
        let r = f();
        pg_sys::AtEOXact_GUC(true, nest);
        r
    }
}

fn in_subtransaction_detailed<R>(f: impl FnOnce() -> R) -> Result<R, SubError> {
    // SAFETY: the standard PL/pgSQL pattern: remember memory context and resource
    // owner, start an internal subtransaction, and restore both after it ends.
    unsafe {
        let cx = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(cx);
        let f = std::panic::AssertUnwindSafe(f);
        PgTryBuilder::new(move || {
            let r = f();
            pg_sys::ReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(cx);
            pg_sys::CurrentResourceOwner = owner;
            Ok(r)
        })
        .catch_others(|e| {
            pg_sys::MemoryContextSwitchTo(cx);
            let msg = match &e {
                pg_sys::panic::CaughtError::PostgresError(r) | pg_sys::panic::CaughtError::ErrorReport(r) => SubError {
                    sqlstate: crate::api::sqlstate_text(r.sql_error_code()),
                    message: r.message().to_string(),
                },
                pg_sys::panic::CaughtError::RustPanic { ereport, .. } => {
                    SubError { sqlstate: "XX000".into(), message: format!("internal error: {}", ereport.message()) }
                }
            };
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(cx);
            pg_sys::CurrentResourceOwner = owner;
            Err(msg)
        })
        .execute()
    }
}

/// What a session job keeps in `forget.job.params` (no personal data).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct SessionParams {
    pub start: String,
    pub end: String,
    pub fields: Vec<(String, String, String)>,
    /// the TimeZone of the session that queued the job: the window means the same to every runner
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Where a job is, per table (`schema.table`): the last key done, and whether the table is finished.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Progress {
    #[serde(default)]
    pub tables: HashMap<String, TableProgress>,
    /// written by 0.1.0 and 0.2.0, which counted the rows once per job; read and ignored
    #[serde(default)]
    pub counted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TableProgress {
    pub last: Option<Vec<String>>,
    pub done: bool,
}

struct Claimed {
    id: i64,
    kind: String,
    params: String,
    progress: String,
    rows_done: i64,
    role_name: String,
}

fn claim() -> Option<Claimed> {
    let runner = jobs::caller_role();
    as_owner(|| {
        Spi::connect_mut(|c| {
            let tab = c.update(
                "UPDATE forget.job j
                    SET status = 'running', started_at = coalesce(j.started_at, pg_catalog.clock_timestamp()),
                        runner_pid = pg_catalog.pg_backend_pid(), claimed_at = pg_catalog.clock_timestamp(),
                        attempts = j.attempts + 1, error = NULL
                  WHERE j.id = (SELECT q.id FROM forget.job q
                                 WHERE q.status = 'queued' AND q.due_at <= pg_catalog.clock_timestamp()
                                   -- a member runs its own jobs; a superuser (and the worker) runs them all
                                   AND (q.role_name = $1 OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = $1))
                                 ORDER BY q.due_at, q.id LIMIT 1 FOR UPDATE SKIP LOCKED)
              RETURNING j.id, j.kind, j.params::text, j.progress::text, j.rows_done, j.role_name",
                None,
                &[runner.clone().into()],
            )?;
            let mut out = None;
            for row in tab {
                out = Some(Claimed {
                    id: row.get(1)?.unwrap_or(0),
                    kind: row.get(2)?.unwrap_or_default(),
                    params: row.get(3)?.unwrap_or_default(),
                    progress: row.get(4)?.unwrap_or_default(),
                    rows_done: row.get(5)?.unwrap_or(0),
                    role_name: row.get(6)?.unwrap_or_default(),
                });
            }
            Ok::<_, pgrx::spi::SpiError>(out)
        })
        .or_raise()
    })
}

/// Runs due jobs until none is left or `max_jobs` have run. Returns how many ran.
pub fn run_due_jobs(driver: Driver, max_jobs: Option<i32>) -> i32 {
    let mut ran = 0;
    loop {
        if max_jobs.is_some_and(|m| ran >= m) {
            break;
        }
        driver.ensure_snapshot();
        let Some(job) = claim() else { break };
        driver.commit();
        ran += 1;
        run_one(driver, job);
    }
    ran
}

fn fail(driver: Driver, id: i64, msg: &str, scrub: &Scrubber) {
    let msg = scrub.scrub(msg, "anonymous").unwrap_or_else(|| msg.to_owned());
    as_owner(|| {
        Spi::run_with_args(
            "UPDATE forget.job SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), error = $2, runner_pid = NULL WHERE id = $1",
            &[id.into(), msg.into()],
        )
        .or_raise()
    });
    let role = jobs::caller_role();
    as_owner(|| {
        Spi::run_with_args(
            "INSERT INTO forget.audit_log (action, job_id, role_name) VALUES ('failed', $1, $2)",
            &[id.into(), role.into()],
        )
        .or_raise()
    });
    driver.commit();
}

/// The role a job runs as: the one that queued it (for an automatic job, the
/// owner of the accounts table), if it may still erase. A job never runs with
/// the privileges of whoever happens to run it (the worker is a superuser).
fn job_role(job: &Claimed) -> Result<pg_sys::Oid, String> {
    Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = $1
            AND (r.rolsuper OR pg_catalog.pg_has_role(r.oid, 'forget_admin', 'MEMBER'))",
        &[job.role_name.clone().into()],
    )
    .or_raise()
    .ok_or_else(|| {
        "the role that queued this job no longer exists or is no longer a member of forget_admin".to_string()
    })
}

fn run_one(driver: Driver, job: Claimed) {
    let subjects = job_subjects(job.id);
    let r = job_role(&job).and_then(|role| match job.kind.as_str() {
        "session" => run_session(driver, &job, &subjects, role),
        "auto" => run_auto(driver, &job, &subjects, role),
        k => Err(format!("jobs of kind {k} cannot be run by this version of pg_forget")),
    });
    if let Err(m) = r {
        // the error text loses the job's identifiers (built only now: thousands take a while)
        let ids: Vec<String> = subjects.iter().map(|(_, v)| v.clone()).collect();
        let scrub = Scrubber::try_new(&ids).unwrap_or_else(|_| Scrubber::new::<&str>(&[]));
        fail(driver, job.id, &m, &scrub);
    }
}

fn job_subjects(id: i64) -> Vec<(String, String)> {
    as_owner(|| {
        Spi::connect(|c| {
            // one array per kind: tens of thousands of rows read one by one, or
            // sorted by the database's collation, take a while
            let tab = c.select(
                "SELECT kind, pg_catalog.array_agg(value) FROM forget.job_subject WHERE job_id = $1 GROUP BY kind",
                None,
                &[id.into()],
            )?;
            let mut out = Vec::new();
            for row in tab {
                let kind = row.get::<String>(1)?.unwrap_or_default();
                let values = row.get::<Vec<String>>(2)?.unwrap_or_default();
                out.extend(values.into_iter().map(|v| (kind.clone(), v)));
            }
            out.sort_unstable();
            Ok::<_, pgrx::spi::SpiError>(out)
        })
        .or_raise()
    })
}

fn save_progress(id: i64, progress: &Progress, rows_done: i64, rows_matched: Option<i64>) {
    let p = serde_json::to_string(progress).unwrap_or_else(|_| "{}".into());
    as_owner(|| {
        Spi::run_with_args(
            "UPDATE forget.job SET progress = $2::jsonb, rows_done = $3, rows_matched = coalesce($4, rows_matched) WHERE id = $1",
            &[id.into(), p.into(), rows_done.into(), rows_matched.into()],
        )
        .or_raise()
    })
}

/// A session job: every table with a time column, batch after batch.
fn run_session(driver: Driver, job: &Claimed, subjects: &[(String, String)], role: pg_sys::Oid) -> Result<(), String> {
    let params: SessionParams = serde_json::from_str(&job.params).map_err(|e| format!("job parameters: {e}"))?;
    let mut progress: Progress = serde_json::from_str(&job.progress).unwrap_or_default();
    let users: Vec<String> = subjects.iter().filter(|(k, _)| k == "user").map(|(_, v)| v.clone()).collect();
    let ips: Vec<String> = subjects.iter().filter(|(k, _)| k == "ip").map(|(_, v)| v.clone()).collect();
    let batch = crate::guc::BATCH_SIZE.get().max(1) as i64;
    let mut rows_done = job.rows_done;

    // plan (catalog read once per job run); the same work in every batch
    let planned = in_subtransaction(|| {
        let state = crate::api::forget::checked_catalog();
        let (cat, a) = (&state.cat, &state.analysis);
        let fields: Vec<FieldRef> = params
            .fields
            .iter()
            .map(|(s, t, c)| FieldRef { schema: s.clone(), table: t.clone(), column: c.clone() })
            .collect();
        SessionPlan::new(cat, a, &fields).map_err(|e| e.to_string())
    })?;
    let plan = planned?;
    let key = crate::key::with_key(|k| k.to_vec());
    let ctx = CallContext {
        retry: false,
        hmac: Pseudonymizer::new(&key),
        prefixes: crate::guc::ip_prefixes(),
        // an additional field tagged scrub loses the job's user ids (built only then:
        // thousands of ids take a while)
        scrubber: if plan.slots.iter().any(|s| s.strategy == crate::tags::Strategy::Scrub) {
            Scrubber::try_new(&users).unwrap_or_else(|_| Scrubber::new::<&str>(&[]))
        } else {
            Scrubber::new::<&str>(&[])
        },
        identifiers: users.clone(),
        identifier_set: Default::default(),
        slots: plan
            .slots
            .iter()
            .map(|s| SlotState { strategy: s.strategy.clone(), unique: s.unique, unique_map: None, changed: 0 })
            .collect(),
    };
    // the ids and networks as arrays, made once per run (tens of thousands of ids
    // take a while to convert) in a memory context of the run's own
    let run_memory = OwnMemory::new(c"pg_forget job run", true);
    let (users_arg, ips_arg) = run_memory.with(|| (arg(users.clone()), arg(ips.clone())));
    let (result, ctx) = context::with_context(ctx, || -> Result<bool, String> {
        // the rows each table has left: one cursor per table, opened (and counted)
        // here, kept across the batches' commits, read batch by batch
        let names: Vec<String> = plan.tables.iter().map(|t| format!("{}.{}", t.schema, t.name)).collect();
        let mut cursors: Vec<Option<HeldCursor>> = Vec::new();
        // a table expected to fit in half a batch is masked in one statement; when
        // one holds more rows than a batch after all, it is rolled back (the
        // whole opening, with it) and every table is read through a cursor
        let before = context::counters();
        let mut opened = Err(String::new());
        for allow_single in [true, false] {
            context::reset_batch_rows();
            opened = in_subtransaction(|| {
                as_role(role, || {
                    pin_timezone(&params);
                    batch_settings(Lookup::Scan);
                    let window = time_window(&params);
                    let mut left = 0i64;
                    let mut open = Vec::new();
                    let mut single = Vec::new();
                    let cursor_types = [
                        pg_sys::TIMESTAMPTZOID,
                        pg_sys::TIMESTAMPTZOID,
                        pg_sys::TEXTARRAYOID,
                        pg_sys::TEXTARRAYOID,
                        pg_sys::TEXTARRAYOID,
                    ];
                    for (i, name) in names.iter().enumerate() {
                        let tp = progress.tables.get(name).cloned().unwrap_or_default();
                        if tp.done {
                            open.push(None);
                            continue;
                        }
                        // the same arguments for the cursor and the one statement (plus the batch size)
                        let args = vec![window.0, window.1, users_arg, ips_arg, arg(tp.last.clone())];
                        let c = HeldCursor::open(
                            &format!("pg_forget_job_{}_{i}", job.id),
                            &plan.cursor_sql(i),
                            &cursor_types,
                            args.clone(),
                        );
                        if allow_single && plan.single_ok(i) && c.estimate() <= (batch / 2) as f64 {
                            c.close();
                            context::reset_batch_rows();
                            let out = crate::cursor::execute_with_args(
                                &plan.single_sql(i),
                                &[cursor_types.as_slice(), &[pg_sys::INT8OID]].concat(),
                                &[args.as_slice(), &[arg(batch)]].concat(),
                                |row| row.get::<i64>(1).unwrap_or(0),
                            );
                            single.push((name.clone(), out.into_iter().next().unwrap_or(0)));
                            open.push(None);
                            continue;
                        }
                        // the count comes after the columns read
                        let ncols = plan.read_columns(i) as i32 + 1;
                        left += c.fetch(1, |r| r.get::<i64>(ncols).unwrap_or(0)).first().copied().unwrap_or(0);
                        open.push(Some(c));
                    }
                    (open, left, single)
                })
            });
            if opened.is_ok() || !allow_single || context::batch_rows() <= batch {
                break;
            }
            context::set_counters(&before);
        }
        let (open, left, single) = match opened {
            Ok(v) => v,
            Err(e) => return Err(e),
        };
        let masked_alone: i64 = single.iter().map(|(_, n)| n).sum();
        for (name, updated) in single {
            rows_done += updated;
            progress.tables.entry(name).or_default().done = true;
        }
        cursors.extend(open);
        // the first batch goes in this transaction; the cursors' rows are kept from its commit on
        save_progress(job.id, &progress, rows_done, Some(rows_done + left));
        if masked_alone > 0 && cursors.iter().any(Option::is_some) {
            // the tables masked in one statement each commit before the batches
            // of the others: no transaction holds more than their rows' locks
            driver.commit();
        }
        let close_all = |cursors: &mut Vec<Option<HeldCursor>>| {
            for c in cursors.iter_mut() {
                if let Some(c) = c.take() {
                    c.close();
                }
            }
        };
        let mut types =
            vec![pg_sys::TIMESTAMPTZOID, pg_sys::TIMESTAMPTZOID, pg_sys::TEXTARRAYOID, pg_sys::TEXTARRAYOID];
        for i in 0..plan.tables.len() {
            let Some(cursor) = cursors[i].take() else { continue };
            let ncols = plan.read_columns(i);
            let (by_tid, by_key) = (plan.batch_sql(i, true), plan.batch_sql(i, false));
            loop {
                if crate::worker::stopping(driver) {
                    cursor.close();
                    close_all(&mut cursors);
                    return Ok(false);
                }
                // the batch's keys and arguments live in a memory context of their own
                let batch_memory = OwnMemory::new(c"pg_forget batch", false);
                let r = batch_memory.with(|| {
                    in_subtransaction(|| {
                        as_role(role, || {
                            pin_timezone(&params);
                            let window = time_window(&params);
                            let keys = cursor.fetch_arrays(batch, ncols);
                            if keys.rows == 0 {
                                return (0usize, 0i64, None);
                            }
                            types.truncate(4);
                            types.extend(keys.arrays.iter().map(|(t, _)| *t));
                            let mut args = vec![window.0, window.1, users_arg, ips_arg];
                            args.extend(keys.arrays.iter().map(|(_, d)| Some(*d)));
                            // each row fetched at its place, never a scan of the whole table
                            batch_settings(Lookup::Tid);
                            let out = crate::cursor::execute_with_args(&by_tid, &types, &args, |row| {
                                (row.get::<i64>(1).unwrap_or(0), row.get::<Vec<String>>(2))
                            });
                            let (mut updated, last) = out.into_iter().next().unwrap_or((0, None));
                            if (updated as usize) < keys.rows {
                                // rows that moved since the cursor read them (or no longer match): by
                                // key, except the versions this batch wrote (their xmin is its own)
                                batch_settings(Lookup::Key);
                                // SAFETY: reads the current (sub)transaction's id, if it has one
                                let own = unsafe { pg_sys::GetCurrentTransactionIdIfAny() };
                                types.push(pg_sys::TEXTOID);
                                args.push(arg(own.into_inner().to_string()));
                                let out = crate::cursor::execute_with_args(&by_key, &types, &args, |row| {
                                    row.get::<i64>(1).unwrap_or(0)
                                });
                                updated += out.into_iter().next().unwrap_or(0);
                            }
                            (keys.rows, updated, last)
                        })
                    })
                });
                // nothing allocated in the batch's context is used after this
                drop(batch_memory);
                let (read, updated, new_last) = match r {
                    Ok(v) => v,
                    Err(e) => {
                        cursor.close();
                        close_all(&mut cursors);
                        return Err(e);
                    }
                };
                rows_done += updated;
                let tp = progress.tables.entry(names[i].clone()).or_default();
                if let Some(l) = new_last {
                    tp.last = Some(l);
                }
                if (read as i64) < batch {
                    tp.done = true;
                }
                let done = tp.done;
                save_progress(job.id, &progress, rows_done, None);
                if done && cursors[i + 1..].iter().all(Option::is_none) {
                    // the last batch commits with the job's report
                    cursor.close();
                    break;
                }
                driver.commit();
                if done {
                    cursor.close();
                    break;
                }
            }
        }
        close_all(&mut cursors);
        Ok(true)
    });
    if !result? {
        // asked to stop: queue the job again; it resumes from its progress
        as_owner(|| {
            Spi::run_with_args(
                "UPDATE forget.job SET status = 'queued', runner_pid = NULL WHERE id = $1",
                &[job.id.into()],
            )
            .or_raise()
        });
        driver.commit();
        return Ok(());
    }
    // done: report, forget the identifiers, audit
    let mut rows = Vec::new();
    for t in &plan.tables {
        for &s in &t.slots {
            rows.push(ReportRow {
                schema_name: Some(t.schema.clone()),
                table_name: Some(t.name.clone()),
                column_name: Some(plan.slots[s].column.clone()),
                action: "masked",
                row_count: ctx.slots[s].changed as i64,
                subject_pseudonym: None,
                note: (ctx.slots[s].changed > 0).then(|| crate::api::forget::VACUUM_NOTE.to_string()),
            });
        }
    }
    as_owner(|| {
        Spi::run_with_args("DELETE FROM forget.job_report_row WHERE job_id = $1", &[job.id.into()]).or_raise();
        Spi::run_with_args("DELETE FROM forget.job_subject WHERE job_id = $1", &[job.id.into()]).or_raise();
        Spi::run_with_args(
            "UPDATE forget.job SET status = 'done', finished_at = pg_catalog.clock_timestamp(), runner_pid = NULL,
                    rows_done = $2, rows_matched = greatest(rows_matched, $2) WHERE id = $1",
            &[job.id.into(), rows_done.into()],
        )
        .or_raise();
    });
    jobs::write_report(job.id, &rows);
    let hmac = Pseudonymizer::new(&key);
    let pseudonyms: Vec<String> = subjects.iter().map(|(_, v)| hmac.pseudonym(v)).collect();
    jobs::audit("completed", Some(job.id), &jobs::caller_role(), &pseudonyms);
    driver.commit();
    Ok(())
}

/// An automatic anonymization after a delete: everything that remains of the
/// deleted people, in one transaction (like `anonymize_users`). A name that
/// exists again in an account table (deleted and re-created before the delay)
/// is left alone: its rows are the new account's now.
fn run_auto(driver: Driver, job: &Claimed, subjects: &[(String, String)], role: pg_sys::Oid) -> Result<(), String> {
    let names: Vec<String> = subjects.iter().filter(|(k, _)| k == "user").map(|(_, v)| v.clone()).collect();
    let keys: Vec<String> = subjects.iter().filter(|(k, _)| k == "key").map(|(_, v)| v.clone()).collect();
    in_subtransaction(|| {
        as_role(role, || {
            let state = crate::api::forget::checked_catalog();
            let plan = crate::plan::Plan::new(&state.cat, &state.analysis);
            let mut back: Vec<String> = Vec::new();
            for pi in plan.account_tables() {
                let found = Spi::connect(|c| {
                    let tab = c.select(&plan.existing_names_sql(pi), None, &[names.clone().into()])?;
                    let mut v = Vec::new();
                    for row in tab {
                        if let Some(n) = row.get::<String>(1)? {
                            v.push(n);
                        }
                    }
                    Ok::<_, pgrx::spi::SpiError>(v)
                })
                .or_raise();
                back.extend(found);
            }
            let recreated: std::collections::HashSet<&String> = back.iter().collect();
            let remaining: Vec<String> = names.iter().filter(|n| !recreated.contains(n)).cloned().collect();
            let req = crate::api::forget::EraseRequest {
                names: remaining,
                keys: if back.is_empty() { keys.clone() } else { Vec::new() },
                mode: crate::plan::Mode::Anonymize,
                dry_run: false,
                kind: "auto",
                person: None,
                params: (!recreated.is_empty())
                    .then(|| serde_json::json!({ "recreated": recreated.len() }).to_string()),
            };
            crate::api::forget::erase_request(&req, Some(job.id));
            as_owner(|| {
                Spi::run_with_args("DELETE FROM forget.job_subject WHERE job_id = $1", &[job.id.into()]).or_raise();
                Spi::run_with_args("UPDATE forget.job SET runner_pid = NULL WHERE id = $1", &[job.id.into()])
                    .or_raise();
            });
        })
    })?;
    driver.commit();
    Ok(())
}

/// A memory context of pg_forget's own, deleted when dropped (also when an
/// error unwinds): a job run's, for what it keeps across its commits (a child
/// of TopMemoryContext), or a batch's (a child of the current context).
struct OwnMemory(pg_sys::MemoryContext);

impl OwnMemory {
    fn new(name: &'static std::ffi::CStr, across_commits: bool) -> OwnMemory {
        // SAFETY: a new child context, deleted once, in Drop
        OwnMemory(unsafe {
            pg_sys::AllocSetContextCreateInternal(
                if across_commits { pg_sys::TopMemoryContext } else { pg_sys::CurrentMemoryContext },
                name.as_ptr(),
                pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
            )
        })
    }

    /// Runs `f` with this context current; the previous one is current again
    /// after it, also when an error unwinds.
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Back(pg_sys::MemoryContext);
        impl Drop for Back {
            fn drop(&mut self) {
                // SAFETY: the context that was current before
                unsafe { pg_sys::MemoryContextSwitchTo(self.0) };
            }
        }
        // SAFETY: switches to a live context of ours
        let _back = Back(unsafe { pg_sys::MemoryContextSwitchTo(self.0) });
        f()
    }
}

impl Drop for OwnMemory {
    fn drop(&mut self) {
        // SAFETY: the context is ours, not current (`with` switched back), and
        // nothing allocated in it is used after this
        unsafe { pg_sys::MemoryContextDelete(self.0) };
    }
}

/// How a job's statement finds its rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// the cursor's query: as the planner likes
    Scan,
    /// a batch: its rows at their tids (one TID scan, no index)
    Tid,
    /// a batch's rows that moved: each by its key, through an index
    Key,
}

/// Planner settings until the end of the role switch around the call
/// ([`as_role`]): no JIT compilation, which costs more than the expressions
/// of a job's statements gain from it; for a batch, no hash or merge joins,
/// so that it finds its rows one by one (at their tid, or by key through an
/// index) instead of scanning the table.
fn batch_settings(lookup: Lookup) {
    set_in_role_switch(c"jit", c"off");
    if lookup == Lookup::Scan {
        return;
    }
    set_in_role_switch(c"enable_hashjoin", c"off");
    set_in_role_switch(c"enable_mergejoin", c"off");
    let scans = if lookup == Lookup::Tid { c"off" } else { c"on" };
    set_in_role_switch(c"enable_indexscan", scans);
    set_in_role_switch(c"enable_bitmapscan", scans);
}

/// Sets a setting until the end of the role switch around the call (the GUC
/// nest level [`as_role`] opens), not of the transaction: the job's own
/// bookkeeping statements that follow run with the session's settings.
fn set_in_role_switch(name: &std::ffi::CStr, value: &std::ffi::CStr) {
    jobs::set_in_nest_level(name, value, pg_sys::GucContext::PGC_USERSET);
}

/// The job's window as timestamptz values, read in the queueing session's
/// TimeZone (call [`pin_timezone`] first). Passed to the statements as
/// values, not text: a text cast to timestamptz depends on the TimeZone, so
/// PostgreSQL would read the text again for every row.
fn time_window(params: &SessionParams) -> (Option<pg_sys::Datum>, Option<pg_sys::Datum>) {
    let read = |t: &str| {
        Spi::get_one_with_args::<pgrx::datum::TimestampWithTimeZone>(
            "SELECT $1::pg_catalog.timestamptz",
            &[t.to_string().into()],
        )
        .or_raise()
        .and_then(|v| v.into_datum())
    };
    (read(&params.start), read(&params.end))
}

/// The queueing session's TimeZone, until the end of the role switch around
/// the call (a batch).
fn pin_timezone(params: &SessionParams) {
    if let Some(tz) = &params.timezone {
        let tz = std::ffi::CString::new(tz.as_str())
            .unwrap_or_else(|_| raise(ForgetError::Internal("a time zone name with a NUL byte".into())));
        set_in_role_switch(c"TimeZone", &tz);
    }
}

/// The procedure's entry: checks the call context and privileges, connects
/// SPI non-atomic, runs due jobs.
///
/// # Safety
/// Called by PostgreSQL's fmgr with a valid `fcinfo` for `CALL forget.run_jobs(int)`.
pub unsafe fn run_jobs_procedure(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let ctx = (*fcinfo).context;
    let nonatomic = !ctx.is_null()
        && (*ctx).type_ == pg_sys::NodeTag::T_CallContext
        && !(*(ctx as *mut pg_sys::CallContext)).atomic;
    if !nonatomic {
        raise(ForgetError::TransactionControl(
            "forget.run_jobs() commits after each batch: run it with CALL outside a transaction block".into(),
        ));
    }
    let nargs = (*fcinfo).nargs as usize;
    let args = (*fcinfo).args.as_slice(nargs);
    let max_jobs = match args.first() {
        Some(a) if !a.isnull => {
            let v = a.value.value() as i32;
            if v < 1 {
                raise(ForgetError::InvalidArgument(format!("max_jobs must be at least 1, not {v}")));
            }
            Some(v)
        }
        _ => None,
    };
    if pg_sys::SPI_connect_ext(pg_sys::SPI_OPT_NONATOMIC as i32) != pg_sys::SPI_OK_CONNECT as i32 {
        raise(ForgetError::Internal("SPI_connect_ext failed".into()));
    }
    run_due_jobs(Driver::Procedure, max_jobs);
    pg_sys::SPI_finish();
    pg_sys::Datum::from(0)
}
