//! Rows that outlive a job's commits. A job reads the rows it will mask once
//! per run, through a cursor, and masks them batch after batch, committing
//! after each. The cursor is pinned, so each commit keeps it (PostgreSQL
//! holds pinned portals, as PL/pgSQL does for a `FOR` loop with `COMMIT`): at
//! the first commit the query runs to its end and its rows are kept, in
//! memory up to `work_mem` and on disk beyond. One scan per job run, however
//! many batches.
//!
//! A cursor is closed when its run is done with it, also when the run fails
//! (see [`HeldCursor`]'s `Drop`).

use std::ffi::CString;

use pgrx::prelude::*;

use crate::api::{raise, OrRaise};
use crate::cache::Row;
use crate::error::ForgetError;

pub struct HeldCursor {
    name: CString,
}

/// A batch of keys read from a cursor: one array per column, in the memory
/// context that was current when it was read.
pub struct KeyArrays {
    /// rows read
    pub rows: usize,
    /// (array type, array) per column
    pub arrays: Vec<(pg_sys::Oid, pg_sys::Datum)>,
}

/// The portal named `name`, or null.
///
/// # Safety
/// Inside a transaction.
unsafe fn find(name: &CString) -> pg_sys::Portal {
    pg_sys::GetPortalByName(name.as_ptr())
}

impl HeldCursor {
    /// Opens `sql` (read-only; its parameters of `types`, values `args`) as
    /// the pinned cursor `name`, closing a cursor of that name left behind.
    /// The query is planned for these values, as a one-off statement is.
    pub fn open(name: &str, sql: &str, types: &[pg_sys::Oid], args: Vec<Option<pg_sys::Datum>>) -> HeldCursor {
        assert_eq!(types.len(), args.len(), "pg_forget: argument count of a cursor");
        let c_name = CString::new(name).unwrap_or_else(|_| raise(ForgetError::Internal("cursor name".into())));
        let c_sql = CString::new(sql)
            .unwrap_or_else(|_| raise(ForgetError::Internal("statement text contains a NUL byte".into())));
        let cursor = HeldCursor { name: c_name };
        cursor.close_leftover();
        let mut types = types.to_vec();
        let mut values: Vec<pg_sys::Datum> = args.iter().map(|a| a.unwrap_or(pg_sys::Datum::from(0))).collect();
        let nulls: Vec<std::ffi::c_char> = args.iter().map(|a| if a.is_some() { b' ' } else { b'n' } as _).collect();
        Spi::connect(|_| {
            // SAFETY: inside an SPI connection; types, values and nulls have one
            // entry per parameter; the plan is copied into the portal
            unsafe {
                let plan = pg_sys::SPI_prepare_cursor(c_sql.as_ptr(), types.len() as i32, types.as_mut_ptr(), 0);
                if plan.is_null() {
                    let code = std::ptr::addr_of!(pg_sys::SPI_result).read();
                    raise(ForgetError::Internal(format!("SPI_prepare_cursor failed: {code}")));
                }
                let portal =
                    pg_sys::SPI_cursor_open(cursor.name.as_ptr(), plan, values.as_mut_ptr(), nulls.as_ptr(), false);
                if portal.is_null() {
                    raise(ForgetError::Internal("SPI_cursor_open failed".into()));
                }
                pg_sys::PinPortal(portal);
                pg_sys::SPI_freeplan(plan);
            }
            Ok::<_, pgrx::spi::SpiError>(())
        })
        .or_raise();
        cursor
    }

    fn portal(&self) -> pg_sys::Portal {
        // SAFETY: called inside a transaction
        let p = unsafe { find(&self.name) };
        if p.is_null() {
            raise(ForgetError::Internal("the job's cursor is gone".into()));
        }
        p
    }

    /// The planner's estimate of the rows the cursor returns (before any is read).
    pub fn estimate(&self) -> f64 {
        let portal = self.portal();
        // SAFETY: the portal's statements are the PlannedStmts of its query, kept with it
        unsafe {
            let stmts = (*portal).stmts;
            if stmts.is_null() || (*stmts).length < 1 {
                return f64::INFINITY;
            }
            let first = (*(*stmts).elements).ptr_value as *mut pg_sys::PlannedStmt;
            if first.is_null() || (*first).type_ != pg_sys::NodeTag::T_PlannedStmt || (*first).planTree.is_null() {
                return f64::INFINITY;
            }
            (*(*first).planTree).plan_rows
        }
    }

    /// Reads the next `n` rows and maps each through `each`.
    pub fn fetch<R>(&self, n: i64, mut each: impl FnMut(&Row) -> R) -> Vec<R> {
        let portal = self.portal();
        Spi::connect(|_| {
            // SAFETY: inside an SPI connection; the tuple table is read before it closes
            unsafe {
                pg_sys::SPI_cursor_fetch(portal, true, n as std::ffi::c_long);
                Ok::<_, pgrx::spi::SpiError>(Row::each_of_tuptable(&mut each))
            }
        })
        .or_raise()
    }

    /// Reads the next `n` rows and returns their first `ncols` columns as one
    /// array per column (allocated in the caller's memory context).
    pub fn fetch_arrays(&self, n: i64, ncols: usize) -> KeyArrays {
        let portal = self.portal();
        // SAFETY: reads the current memory context
        let outer = unsafe { pg_sys::CurrentMemoryContext };
        Spi::connect(|_| {
            // SAFETY: inside an SPI connection; every datum is read from the tuple
            // table before it closes, and construct_md_array copies them into `outer`
            unsafe {
                pg_sys::SPI_cursor_fetch(portal, true, n as std::ffi::c_long);
                let tt = pg_sys::SPI_tuptable;
                let rows = if tt.is_null() { 0 } else { pg_sys::SPI_processed as usize };
                let mut arrays = Vec::with_capacity(ncols);
                if rows == 0 {
                    return Ok::<_, pgrx::spi::SpiError>(KeyArrays { rows, arrays });
                }
                let desc = (*tt).tupdesc;
                for col in 1..=ncols as i32 {
                    let elem = pg_sys::SPI_gettypeid(desc, col);
                    let array_type = pg_sys::get_array_type(elem);
                    if array_type == pg_sys::InvalidOid {
                        raise(ForgetError::NotSupported(format!("no array type for key type {elem:?}")));
                    }
                    let mut values = Vec::with_capacity(rows);
                    let mut nulls = Vec::with_capacity(rows);
                    for i in 0..rows {
                        let mut isnull = false;
                        values.push(pg_sys::SPI_getbinval(*(*tt).vals.add(i), desc, col, &mut isnull));
                        nulls.push(isnull);
                    }
                    let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
                    pg_sys::get_typlenbyvalalign(elem, &mut len, &mut byval, &mut align);
                    let mut dims = [rows as i32];
                    let mut lbs = [1i32];
                    let old = pg_sys::MemoryContextSwitchTo(outer);
                    let a = pg_sys::construct_md_array(
                        values.as_mut_ptr(),
                        nulls.as_mut_ptr(),
                        1,
                        dims.as_mut_ptr(),
                        lbs.as_mut_ptr(),
                        elem,
                        len as i32,
                        byval,
                        align,
                    );
                    pg_sys::MemoryContextSwitchTo(old);
                    arrays.push((array_type, pg_sys::Datum::from(a)));
                }
                Ok(KeyArrays { rows, arrays })
            }
        })
        .or_raise()
    }

    /// Closes the cursor.
    pub fn close(self) {}

    fn close_leftover(&self) {
        // SAFETY: unpins and drops a portal of ours that is not running
        unsafe {
            let p = find(&self.name);
            if p.is_null() || (*p).status == pg_sys::PortalStatus::PORTAL_ACTIVE {
                return;
            }
            if (*p).portalPinned {
                pg_sys::UnpinPortal(p);
            }
            pg_sys::SPI_cursor_close(p);
        }
    }
}

impl Drop for HeldCursor {
    /// Closes the cursor; while an error unwinds, only unpins it (the
    /// transaction is failing: it is dropped with it, or, kept from an
    /// earlier commit, by the next run of the job or the session's end, or
    /// `CLOSE ALL` / `DISCARD ALL`, which refuse a pinned portal).
    fn drop(&mut self) {
        if std::thread::panicking() {
            // SAFETY: a hash lookup and a flag; neither raises
            unsafe {
                let p = find(&self.name);
                if !p.is_null() && (*p).portalPinned {
                    pg_sys::UnpinPortal(p);
                }
            }
        } else {
            self.close_leftover();
        }
    }
}

/// Runs `sql` once, planned for these values (arrays of keys included, so the
/// planner knows how many rows a batch has), and maps each result row through
/// `each`.
pub fn execute_with_args<R>(
    sql: &str,
    types: &[pg_sys::Oid],
    args: &[Option<pg_sys::Datum>],
    mut each: impl FnMut(&Row) -> R,
) -> Vec<R> {
    let c_sql =
        CString::new(sql).unwrap_or_else(|_| raise(ForgetError::Internal("statement text contains a NUL byte".into())));
    let mut types = types.to_vec();
    let mut values: Vec<pg_sys::Datum> = args.iter().map(|a| a.unwrap_or(pg_sys::Datum::from(0))).collect();
    let nulls: Vec<std::ffi::c_char> = args.iter().map(|a| if a.is_some() { b' ' } else { b'n' } as _).collect();
    Spi::connect(|_| {
        // SAFETY: inside an SPI connection; one type, value and null flag per
        // parameter; the tuple table is read before the connection closes
        unsafe {
            let rc = pg_sys::SPI_execute_with_args(
                c_sql.as_ptr(),
                types.len() as i32,
                types.as_mut_ptr(),
                values.as_mut_ptr(),
                nulls.as_ptr(),
                false,
                0,
            );
            if rc < 0 {
                raise(ForgetError::Internal(format!("SPI_execute_with_args returned {rc}")));
            }
            Ok::<_, pgrx::spi::SpiError>(Row::each_of_tuptable(&mut each))
        }
    })
    .or_raise()
}
