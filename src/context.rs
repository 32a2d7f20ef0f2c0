//! The masking context of one call: the key, the people's identifiers (a
//! scrubber built once), distinct replacements for unique columns, and a
//! counter of changed values per masked column ("slot"). It lives in a
//! backend-local cell for the duration of the one statement that masks every
//! table; the internal SQL helpers `forget._mask_text` & co. read it, so the
//! statement passes only a slot number per column, never personal data.

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::prelude::*;

use crate::api::raise;
use crate::error::ForgetError;
use crate::mask::hmac::{Pseudonymizer, REPLACEMENT};
use crate::mask::{ip, json, looks_masked, text::Scrubber, MaskedForm};
use crate::tags::Strategy;

pub struct SlotState {
    pub strategy: Strategy,
    /// the column has a unique index: constant replacements get a hash suffix
    pub unique: bool,
    /// old value -> replacement, for unique columns
    pub unique_map: Option<HashMap<String, String>>,
    pub changed: u64,
}

pub struct CallContext {
    /// a retry: values that look hashed already are not hashed again
    pub retry: bool,
    pub hmac: Pseudonymizer,
    pub prefixes: (u8, u8),
    pub scrubber: Scrubber,
    pub identifiers: Vec<String>,
    /// `identifiers` as a set, built the first time other people's JSON is read
    pub identifier_set: std::cell::OnceCell<std::collections::HashSet<String>>,
    pub slots: Vec<SlotState>,
}

thread_local! {
    static CURRENT: RefCell<Option<CallContext>> = const { RefCell::new(None) };
}

/// Removes the installed context when dropped, also when an error unwinds.
struct Uninstall;
impl Drop for Uninstall {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

/// Runs `f` with `ctx` installed, and returns the context (with its counters) afterwards.
pub fn with_context<R>(ctx: CallContext, f: impl FnOnce() -> R) -> (R, CallContext) {
    CURRENT.with(|c| *c.borrow_mut() = Some(ctx));
    let guard = Uninstall;
    let r = f();
    let ctx = CURRENT.with(|c| c.borrow_mut().take()).expect("context still installed");
    drop(guard);
    (r, ctx)
}

/// The changed-value counters of the installed context, by slot.
pub fn counters() -> Vec<u64> {
    CURRENT.with(|c| c.borrow().as_ref().map(|ctx| ctx.slots.iter().map(|s| s.changed).collect()).unwrap_or_default())
}

/// Sets the changed-value counters of the installed context back to `values`
/// (what [`counters`] returned before a statement that was rolled back).
pub fn set_counters(values: &[u64]) {
    CURRENT.with(|c| {
        if let Some(ctx) = c.borrow_mut().as_mut() {
            for (s, v) in ctx.slots.iter_mut().zip(values) {
                s.changed = *v;
            }
        }
    })
}

thread_local! {
    /// rows `forget._within_batch` was asked about since [`reset_batch_rows`]
    static BATCH_ROWS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// Starts the count of rows `forget._within_batch` lets through at zero.
pub fn reset_batch_rows() {
    BATCH_ROWS.with(|b| b.set(0));
}

/// The rows `forget._within_batch` was asked about since [`reset_batch_rows`]
/// (one more than it let through when it ended the statement).
pub fn batch_rows() -> i64 {
    BATCH_ROWS.with(|b| b.get())
}

/// Internal: true the first `lim` times a statement asks (once per row, or
/// twice for a row PostgreSQL checks again after a concurrent update), then
/// an error that ends the statement. The last condition of a job's UPDATE that
/// masks a table in one statement (its high cost puts it after every other
/// condition), so that the statement masks at most one batch: when the table
/// has more rows than that, the statement is rolled back and the table is
/// read through a cursor instead. Only inside pg_forget's own calls.
#[pg_extern(volatile, parallel_unsafe, cost = 10000)]
fn _within_batch(lim: i64) -> bool {
    if CURRENT.with(|c| c.borrow().is_none()) {
        raise(ForgetError::WrongState("pg_forget's internal masking functions run only inside its own calls".into()))
    }
    let n = BATCH_ROWS.with(|b| {
        b.set(b.get() + 1);
        b.get()
    });
    if n > lim {
        raise(ForgetError::Internal(format!("more rows than one batch of {lim}")))
    }
    true
}

fn with_slot<R>(slot: i32, f: impl FnOnce(&mut SlotState, &CallContext) -> R) -> R {
    CURRENT.with(|c| {
        let mut guard = c.borrow_mut();
        let Some(ctx) = guard.as_mut() else {
            raise(ForgetError::WrongState(
                "pg_forget's internal masking functions run only inside its own calls".into(),
            ))
        };
        let idx = usize::try_from(slot).ok().filter(|&i| i < ctx.slots.len());
        let Some(idx) = idx else { raise(ForgetError::Internal(format!("unknown slot {slot}"))) };
        // split borrow: take the slot out, call, put it back
        let mut s = std::mem::replace(
            &mut ctx.slots[idx],
            SlotState { strategy: Strategy::Null, unique: false, unique_map: None, changed: 0 },
        );
        let r = f(&mut s, ctx);
        ctx.slots[idx] = s;
        r
    })
}

impl CallContext {
    fn mask_text(&self, s: &SlotState, v: &str, person: bool) -> String {
        // what is already masked stays as it is (a retry must not mask twice)
        let form = match &s.strategy {
            Strategy::Subject | Strategy::Redact(None) => Some(MaskedForm::Constant(REPLACEMENT)),
            Strategy::Redact(Some(t)) => Some(MaskedForm::Constant(t.as_str())),
            Strategy::Email => Some(MaskedForm::Email),
            // a 64-hex value may be a real token: only a retry takes it as done
            Strategy::Hash if self.retry => Some(MaskedForm::Hash),
            _ => None,
        };
        if form.is_some_and(|f| looks_masked(f, v)) {
            return v.to_owned();
        }
        // a unique column needs a distinct value per person: the precomputed one, or a hash suffix
        let mapped = |fallback: String| match &s.unique_map {
            Some(m) => m.get(v).cloned().unwrap_or(fallback),
            None if s.unique && !matches!(s.strategy, Strategy::Email) => {
                format!("{fallback}-{}", self.hmac.hash_prefix(v, 8))
            }
            None => fallback,
        };
        match &s.strategy {
            Strategy::Subject => mapped(REPLACEMENT.to_string()),
            Strategy::Redact(t) => mapped(t.clone().unwrap_or_else(|| REPLACEMENT.to_string())),
            Strategy::Email => mapped(self.hmac.mask_email(v, 8)),
            Strategy::Hash => self.hmac.pseudonym(v),
            Strategy::Scrub => self.scrubber.scrub(v, REPLACEMENT).unwrap_or_else(|| v.to_owned()),
            Strategy::Ip { v4, v6 } => {
                ip::mask_ip_text(v, v4.unwrap_or(self.prefixes.0), v6.unwrap_or(self.prefixes.1))
                    .unwrap_or_else(|| REPLACEMENT.to_string())
            }
            Strategy::Json(_) => self.mask_json(s, v, person),
            Strategy::Null | Strategy::Month | Strategy::Year => v.to_owned(),
        }
    }

    fn mask_json(&self, s: &SlotState, v: &str, person: bool) -> String {
        let Strategy::Json(keys) = &s.strategy else { return v.to_owned() };
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let r = if person {
            json::redact_members(v, &keys, REPLACEMENT)
        } else {
            let ids = self.identifier_set.get_or_init(|| self.identifiers.iter().cloned().collect());
            json::redact_member_values_where(v, &keys, &|x| ids.contains(x), REPLACEMENT)
        };
        match r {
            Ok(Some(new)) => new,
            Ok(None) => v.to_owned(),
            Err(e) => raise(ForgetError::InvalidArgument(format!("a JSON value could not be read: {e}"))),
        }
    }
}

/// Internal: the masked value of a text column (slot of the current call).
#[pg_extern(volatile, parallel_unsafe)]
fn _mask_text(val: Option<&str>, slot: i32, person: bool) -> Option<String> {
    let v = val?;
    Some(with_slot(slot, |s, ctx| {
        let new = ctx.mask_text(s, v, person);
        if new != v {
            s.changed += 1;
        }
        new
    }))
}

/// Internal: the masked value of a JSON column, as text.
#[pg_extern(volatile, parallel_unsafe)]
fn _mask_json(val: Option<&str>, slot: i32, person: bool) -> Option<String> {
    let v = val?;
    Some(with_slot(slot, |s, ctx| {
        let new = ctx.mask_json(s, v, person);
        if new != v {
            s.changed += 1;
        }
        new
    }))
}

/// V1 function info for `_mask_inet_wrapper`.
#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo__mask_inet_wrapper() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// Internal: `forget._mask_inet(val inet, slot int) RETURNS inet` (defined in
/// `sql/finalize.sql`), the masked value of an inet/cidr column, on inet's
/// bytes (no text conversion: it runs once per masked row).
///
/// # Safety
/// Called by PostgreSQL's fmgr with the arguments of that definition.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn _mask_inet_wrapper(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let args = (*fcinfo).args.as_slice((*fcinfo).nargs as usize);
    let (Some(val), Some(slot)) = (args.first().filter(|a| !a.isnull), args.get(1).filter(|a| !a.isnull)) else {
        (*fcinfo).isnull = true;
        return pg_sys::Datum::from(0);
    };
    with_slot(slot.value.value() as i32, |s, ctx| {
        let (v4, v6) = match &s.strategy {
            Strategy::Ip { v4, v6 } => (v4.unwrap_or(ctx.prefixes.0), v6.unwrap_or(ctx.prefixes.1)),
            _ => ctx.prefixes,
        };
        let (out, changed) = crate::api::mask::mask_inet_datum(val.value, v4, v6);
        if changed {
            s.changed += 1;
        }
        out
    })
}

/// Internal: would this other person's scrub or JSON value change?
#[pg_extern(volatile, parallel_unsafe)]
fn _would_change(val: Option<&str>, slot: i32) -> bool {
    let Some(v) = val else { return false };
    with_slot(slot, |s, ctx| ctx.mask_text(s, v, false) != v)
}

/// Internal: counts a change of a column masked by an SQL expression; always true.
#[pg_extern(volatile, parallel_unsafe)]
fn _tick(slot: i32, changed: bool) -> bool {
    with_slot(slot, |s, _| {
        if changed {
            s.changed += 1;
        }
    });
    true
}
