//! The background worker (SPEC section 6), started only where the library is
//! in `shared_preload_libraries`. A launcher (connected to no database) wakes
//! every `forget.worker_naptime`, or at once when a job is queued and its
//! transaction commits, and starts for each database a short-lived worker
//! that connects to it, runs the due jobs if pg_forget is installed there, and
//! exits. A database whose worker is still busy is skipped. SIGTERM stops the
//! launcher at once and a database worker after its current batch (the job is
//! queued again and resumes from its progress). `forget.worker = off` pauses it.

use std::collections::HashMap;
use std::time::Duration;

use pgrx::bgworkers::*;
use pgrx::prelude::*;

use crate::runner::{self, Driver};

const LAUNCHER_TYPE: &str = "pg_forget launcher";

/// Registers the launcher; called from `_PG_init` while preloading.
pub fn register() {
    BackgroundWorkerBuilder::new(LAUNCHER_TYPE)
        .set_type(LAUNCHER_TYPE)
        .set_library("pg_forget")
        .set_function("pg_forget_launcher_main")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

/// The databases that accept connections (a heap scan of the shared catalog:
/// the launcher is connected to no database).
fn databases() -> Vec<pg_sys::Oid> {
    let mut out = Vec::new();
    // SAFETY: the autovacuum launcher's pattern: a catalog scan in a transaction of its own.
    unsafe {
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        let rel = pg_sys::table_open(pg_sys::DatabaseRelationId, pg_sys::AccessShareLock as i32);
        let scan = pg_sys::table_beginscan_catalog(rel, 0, std::ptr::null_mut());
        loop {
            let tup = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tup.is_null() {
                break;
            }
            let db = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_database>(tup);
            if (*db).datallowconn && !(*db).datistemplate {
                out.push((*db).oid);
            }
        }
        pg_sys::table_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as i32);
        pg_sys::PopActiveSnapshot();
        pg_sys::CommitTransactionCommand();
    }
    out
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn pg_forget_launcher_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi(None, None);
    let mut running: HashMap<u32, DynamicBackgroundWorker> = HashMap::new();
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reads the configuration file, as every process does on SIGHUP
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        if crate::guc::WORKER.get() {
            running.retain(|_, w| w.pid().is_ok() || matches!(w.pid(), Err(BackgroundWorkerStatus::NotYetStarted)));
            for db in databases() {
                if running.contains_key(&db.to_u32()) {
                    continue;
                }
                let w = BackgroundWorkerBuilder::new("pg_forget worker")
                    .set_type("pg_forget worker")
                    .set_library("pg_forget")
                    .set_function("pg_forget_db_worker_main")
                    .enable_spi_access()
                    .set_argument(Some(pg_sys::Datum::from(db.to_u32())))
                    // SAFETY: reading this process's pid
                    .set_notify_pid(unsafe { pg_sys::MyProcPid })
                    .load_dynamic();
                if let Ok(w) = w {
                    running.insert(db.to_u32(), w);
                }
            }
        }
        let nap = Duration::from_secs(crate::guc::WORKER_NAPTIME.get().max(1) as u64);
        if !BackgroundWorker::wait_latch(Some(nap)) {
            break;
        }
    }
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn pg_forget_db_worker_main(arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = pg_sys::Oid::from(arg.value() as u32);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(db), None);
    // SAFETY: a transaction of the worker's own, with a snapshot for its queries
    unsafe {
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let installed =
        Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_forget')")
            .ok()
            .flatten()
            .unwrap_or(false);
    if installed && crate::guc::WORKER.get() {
        runner::run_due_jobs(Driver::Worker, None);
    }
    unsafe {
        if pg_sys::ActiveSnapshotSet() {
            pg_sys::PopActiveSnapshot();
        }
        pg_sys::CommitTransactionCommand();
    }
}

/// Should a worker stop after this batch?
pub fn stopping(driver: Driver) -> bool {
    driver == Driver::Worker && BackgroundWorker::sigterm_received()
}

/// Wakes the launcher when the current transaction commits (a job was queued).
pub fn wake() {
    let pid = Spi::get_one_with_args::<i32>(
        "SELECT pid FROM pg_catalog.pg_stat_activity WHERE backend_type = $1 LIMIT 1",
        &[LAUNCHER_TYPE.into()],
    )
    .ok()
    .flatten();
    let Some(pid) = pid else { return };
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
        // SAFETY: looks up a live backend's PGPROC and sets its latch, as pg_signal_backend-less wakeups do
        unsafe {
            let proc_ = pg_sys::BackendPidGetProc(pid);
            if !proc_.is_null() {
                pg_sys::SetLatch(&mut (*proc_).procLatch);
            }
        }
    });
}
