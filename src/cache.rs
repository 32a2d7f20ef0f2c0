//! Per-backend caches, so that a call does its catalog work once per change of
//! the schema, not once per call:
//! - the `@pii` catalog and its analysis (one catalog query, then pure Rust);
//! - prepared statements (`SPI_prepare` + `SPI_keepplan`) by SQL text; their
//!   plans are PostgreSQL's cached plans, which it re-plans itself after DDL on
//!   the tables they read;
//! - the extension owner's oid.
//!
//! Everything is dropped when PostgreSQL sends an invalidation that can change
//! what the catalog query returns: any relation's relcache entry (columns,
//! indexes, constraints and foreign keys, partitions, privileges, renames),
//! schemas, types and operators. A `COMMENT` changes no cache of PostgreSQL's,
//! so the extension's event trigger sends a relcache invalidation for the
//! commented table (`forget._relation_changed`). Invalidations arrive at
//! transaction start, at lock acquisition and at each command of the changing
//! transaction (and at its abort), so a call always sees the catalog of its
//! own snapshot or a newer one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::prelude::*;

use crate::api::{raise, OrRaise};
use crate::catalog::{self, Analysis, Catalog};
use crate::error::ForgetError;

/// The catalog and its tag analysis, as of one generation.
pub struct CatalogState {
    pub cat: Catalog,
    pub analysis: Analysis,
}

thread_local! {
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
    static CATALOG: RefCell<Option<(u64, Rc<CatalogState>)>> = const { RefCell::new(None) };
    static OWNER: Cell<Option<(u64, pg_sys::Oid, bool)>> = const { Cell::new(None) };
    static STATEMENTS: RefCell<HashMap<String, Rc<Statement>>> = RefCell::new(HashMap::new());
}

/// At most this many prepared statements are kept; beyond, the cache starts over.
const MAX_STATEMENTS: usize = 256;

unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    // only a counter moves here: no allocation, no error (callbacks run inside
    // invalidation processing, where neither is allowed)
    GENERATION.with(|g| g.set(g.get().wrapping_add(1)));
}

unsafe extern "C-unwind" fn on_syscache(_arg: pg_sys::Datum, _cacheid: std::ffi::c_int, _hash: u32) {
    GENERATION.with(|g| g.set(g.get().wrapping_add(1)));
}

/// Registers the invalidation callbacks (once per backend) and takes in the
/// invalidations already queued; returns the current generation.
fn generation() -> u64 {
    if !REGISTERED.with(|r| r.replace(true)) {
        // SAFETY: registering callbacks is allowed at any time in a backend;
        // the functions above have the signatures PostgreSQL calls.
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0));
            for id in [
                pg_sys::SysCacheIdentifier::NAMESPACEOID,
                pg_sys::SysCacheIdentifier::TYPEOID,
                pg_sys::SysCacheIdentifier::OPEROID,
                pg_sys::SysCacheIdentifier::EXTENSIONOID,
            ] {
                pg_sys::CacheRegisterSyscacheCallback(id as i32, Some(on_syscache), pg_sys::Datum::from(0));
            }
        }
        GENERATION.with(|g| g.set(g.get().wrapping_add(1)));
    }
    // SAFETY: processes pending shared invalidations, as any lock acquisition does
    unsafe { pg_sys::AcceptInvalidationMessages() };
    GENERATION.with(|g| g.get())
}

/// Drops the prepared statements when the generation moved on.
fn sweep(gen: u64) {
    thread_local! { static SWEPT: Cell<u64> = const { Cell::new(u64::MAX) }; }
    if SWEPT.with(|s| s.replace(gen)) != gen {
        STATEMENTS.with(|s| s.borrow_mut().clear());
    }
}

/// The catalog and its analysis: read again only after a change of the schema.
pub fn catalog_state() -> Rc<CatalogState> {
    let gen = generation();
    sweep(gen);
    if let Some(c) = CATALOG.with(|c| c.borrow().as_ref().filter(|(g, _)| *g == gen).map(|(_, s)| s.clone())) {
        return c;
    }
    // read under the latest snapshot: a change committed after the caller's
    // snapshot was taken, and whose invalidation was taken in above, is seen
    let stmt = prepared(crate::api::catalog::CATALOG_SQL, &[], true);
    let doc = stmt.run_latest(Vec::new(), |r| r.get::<pgrx::JsonB>(1)).into_iter().next().flatten();
    let cat = crate::api::catalog::parse_catalog(doc);
    let analysis = catalog::analyze(&cat);
    let state = Rc::new(CatalogState { cat, analysis });
    // the catalog query itself may have processed invalidations: keep the
    // result under the generation it started from, so a change seen meanwhile
    // makes the next call read again. The SQL of 0.1.0 (a library updated,
    // ALTER EXTENSION not yet run) sends no invalidation on COMMENT: no cache.
    if extension_info().1 {
        CATALOG.with(|c| *c.borrow_mut() = Some((gen, state.clone())));
    }
    state
}

/// The oid of the extension's owner.
pub fn extension_owner() -> pg_sys::Oid {
    extension_info().0
}

/// The extension's owner, and whether its SQL is recent enough (0.2.0 on) for
/// the catalog to be cached (its event trigger reports COMMENTs).
fn extension_info() -> (pg_sys::Oid, bool) {
    let gen = generation();
    if let Some((g, o, ok)) = OWNER.with(|o| o.get()) {
        if g == gen {
            return (o, ok);
        }
    }
    let (owner, version) = Spi::get_two::<pg_sys::Oid, String>(
        "SELECT extowner, extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_forget'",
    )
    .or_raise();
    let owner = owner.unwrap_or_else(|| raise(ForgetError::WrongState("extension pg_forget is not installed".into())));
    let ok = version.as_deref() != Some("0.1.0");
    OWNER.with(|o| o.set(Some((gen, owner, ok))));
    (owner, ok)
}

/// One of pg_forget's own statements, prepared once (`SPI_prepare_cursor` +
/// `SPI_keepplan`) and kept until the schema changes. A generic plan is
/// planned once and reused with any arguments; otherwise PostgreSQL decides
/// per execution (needed where the plan depends on the values, such as a
/// pg_trgm index for `ILIKE ANY($2)`).
pub struct Statement {
    plan: pg_sys::SPIPlanPtr,
    nargs: usize,
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: the plan was kept by SPI_keepplan and is freed once, here
        unsafe { pg_sys::SPI_freeplan(self.plan) };
    }
}

/// A row of a statement's result, read while the SPI connection is open.
pub struct Row {
    tuple: pg_sys::HeapTuple,
    desc: pg_sys::TupleDesc,
}

impl Row {
    /// Maps every row of `SPI_tuptable` through `each`.
    ///
    /// # Safety
    /// Right after an SPI call, inside its connection.
    pub(crate) unsafe fn each_of_tuptable<R>(each: &mut impl FnMut(&Row) -> R) -> Vec<R> {
        let tt = pg_sys::SPI_tuptable;
        let mut out = Vec::new();
        if !tt.is_null() {
            for i in 0..pg_sys::SPI_processed as usize {
                out.push(each(&Row { tuple: *(*tt).vals.add(i), desc: (*tt).tupdesc }));
            }
        }
        out
    }

    /// Column `col` (1-based), copied out of SPI's memory.
    pub fn get<T: pgrx::datum::FromDatum>(&self, col: i32) -> Option<T> {
        let mut isnull = false;
        // SAFETY: tuple and desc come from SPI_tuptable of the execution that is
        // being read; FromDatum copies varlena values into the current context
        unsafe {
            let d = pg_sys::SPI_getbinval(self.tuple, self.desc, col, &mut isnull);
            T::from_datum(d, isnull)
        }
    }
}

/// How a statement sees the database.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Snap {
    /// a statement that may write: a new command, a new snapshot in READ COMMITTED
    ReadWrite,
    /// a query of a STABLE function: the caller's snapshot
    ReadOnly,
    /// the latest committed state, as PostgreSQL reads its own catalogs
    Latest,
}

impl Statement {
    /// Runs the statement with `args` (one per parameter, in the types it was
    /// prepared with) and maps every result row through `each`.
    pub fn run<R>(&self, args: Vec<Option<pg_sys::Datum>>, each: impl FnMut(&Row) -> R) -> Vec<R> {
        self.exec(args, each, Snap::ReadWrite)
    }

    /// [`Statement::run`] for a query inside a STABLE function.
    pub fn run_read_only<R>(&self, args: Vec<Option<pg_sys::Datum>>, each: impl FnMut(&Row) -> R) -> Vec<R> {
        self.exec(args, each, Snap::ReadOnly)
    }

    /// [`Statement::run`] under the latest snapshot (for catalog reads, so a
    /// schema change committed before the call is always seen).
    fn run_latest<R>(&self, args: Vec<Option<pg_sys::Datum>>, each: impl FnMut(&Row) -> R) -> Vec<R> {
        self.exec(args, each, Snap::Latest)
    }

    fn exec<R>(&self, args: Vec<Option<pg_sys::Datum>>, mut each: impl FnMut(&Row) -> R, snap: Snap) -> Vec<R> {
        assert_eq!(args.len(), self.nargs, "pg_forget: argument count of a prepared statement");
        let mut values: Vec<pg_sys::Datum> = args.iter().map(|a| a.unwrap_or(pg_sys::Datum::from(0))).collect();
        let nulls: Vec<std::ffi::c_char> = args.iter().map(|a| if a.is_some() { b' ' } else { b'n' } as _).collect();
        Spi::connect(|_| {
            // SAFETY: inside an SPI connection; values/nulls have nargs entries;
            // the tuple table is read before the connection is closed
            unsafe {
                let rc = match snap {
                    Snap::Latest => pg_sys::SPI_execute_snapshot(
                        self.plan,
                        values.as_mut_ptr(),
                        nulls.as_ptr(),
                        pg_sys::GetLatestSnapshot(),
                        std::ptr::null_mut(),
                        false,
                        false,
                        0,
                    ),
                    _ => pg_sys::SPI_execute_plan(
                        self.plan,
                        values.as_mut_ptr(),
                        nulls.as_ptr(),
                        snap == Snap::ReadOnly,
                        0,
                    ),
                };
                if rc < 0 {
                    raise(ForgetError::Internal(format!("SPI_execute_plan returned {rc}")));
                }
                Ok::<_, pgrx::spi::SpiError>(Row::each_of_tuptable(&mut each))
            }
        })
        .or_raise()
    }
}

/// The statement for `sql` with parameter types `types`, prepared on first use
/// (see [`Statement`]).
pub fn prepared(sql: &str, types: &[pg_sys::Oid], generic: bool) -> Rc<Statement> {
    sweep(generation());
    if let Some(p) = STATEMENTS.with(|s| s.borrow().get(sql).cloned()) {
        return p;
    }
    let c_sql = std::ffi::CString::new(sql)
        .unwrap_or_else(|_| raise(ForgetError::Internal("statement text contains a NUL byte".into())));
    let mut types = types.to_vec();
    let options = if generic { pg_sys::CURSOR_OPT_GENERIC_PLAN as i32 } else { 0 };
    let plan = Spi::connect(|_| {
        // SAFETY: inside an SPI connection; the plan is moved out of the
        // connection's memory by SPI_keepplan before it closes
        unsafe {
            let plan = pg_sys::SPI_prepare_cursor(c_sql.as_ptr(), types.len() as i32, types.as_mut_ptr(), options);
            if plan.is_null() {
                let code = std::ptr::addr_of!(pg_sys::SPI_result).read();
                raise(ForgetError::Internal(format!("SPI_prepare failed: {code}")));
            }
            pg_sys::SPI_keepplan(plan);
            Ok::<_, pgrx::spi::SpiError>(plan)
        }
    })
    .or_raise();
    let stmt = Rc::new(Statement { plan, nargs: types.len() });
    STATEMENTS.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() >= MAX_STATEMENTS {
            s.clear();
        }
        s.insert(sql.to_string(), stmt.clone());
    });
    stmt
}

/// A value as a statement argument.
pub fn arg<T: pgrx::datum::IntoDatum>(v: T) -> Option<pg_sys::Datum> {
    v.into_datum()
}

/// Sends a relcache invalidation for a relation whose `@pii` comment changed
/// (called by the extension's event trigger): every backend then reads the
/// catalog again, this one at its next command, the others once this
/// transaction commits.
#[pg_extern(volatile, parallel_unsafe)]
fn _relation_changed(rel: pg_sys::Oid) {
    // SAFETY: queues an invalidation message; a dropped or unknown oid is harmless
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel) };
}
