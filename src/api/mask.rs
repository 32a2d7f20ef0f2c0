//! The masking building blocks as SQL functions: `forget.mask_ip`,
//! `forget.mask_email`, `forget.pseudonym`, `forget.redact_json`,
//! `forget.scrub_text`, `forget.mask_date`.

use pgrx::datum::{Date, Timestamp};
use pgrx::prelude::*;

use super::raise;
use crate::error::ForgetError;
use crate::mask::{self, ip, json, text::Scrubber, Truncate};

fn prefix(v: Option<i32>, max: i32, default: u8, what: &str) -> u8 {
    match v {
        None => default,
        Some(p) if (0..=max).contains(&p) => p as u8,
        Some(p) => raise(ForgetError::InvalidArgument(format!("{what} must be between 0 and {max}, not {p}"))),
    }
}

/// V1 function info for `mask_ip_wrapper`.
#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo_mask_ip_wrapper() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// `forget.mask_ip(ip inet, v4_prefix int DEFAULT NULL, v6_prefix int DEFAULT NULL) RETURNS inet`
/// (defined in `sql/finalize.sql`): the network an address belongs to. IPv4
/// keeps `v4_prefix` bits (default `forget.ip_prefix_v4`, 24), IPv6 keeps
/// `v6_prefix` (default `forget.ip_prefix_v6`, 48). `10.1.2.3` gives
/// `10.1.2.0/24`. It reads and writes PostgreSQL's `inet` bytes directly (no
/// text conversion), so it costs what `network(set_masklen(ip, 24))` costs.
///
/// # Safety
/// Called by PostgreSQL's fmgr with the arguments of that definition.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn mask_ip_wrapper(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let nargs = (*fcinfo).nargs as usize;
    let args = (*fcinfo).args.as_slice(nargs);
    let int_arg = |i: usize| -> Option<i32> { args.get(i).filter(|a| !a.isnull).map(|a| a.value.value() as i32) };
    let (d4, d6) = crate::guc::ip_prefixes();
    let v4 = prefix(int_arg(1), 32, d4, "v4_prefix");
    let v6 = prefix(int_arg(2), 128, d6, "v6_prefix");
    let Some(ip) = args.first().filter(|a| !a.isnull) else {
        (*fcinfo).isnull = true;
        return pg_sys::Datum::from(0);
    };
    mask_inet_datum(ip.value, v4, v6).0
}

/// An `inet`/`cidr` datum masked to its network (`v4` or `v6` bits kept),
/// read and written as PostgreSQL's bytes, and whether it changed.
///
/// # Safety
/// `d` is a non-null inet or cidr datum.
pub(crate) unsafe fn mask_inet_datum(d: pg_sys::Datum, v4: u8, v6: u8) -> (pg_sys::Datum, bool) {
    // inet: a varlena holding { family, bits, ipaddr[4 or 16] }, read in place
    // when it is neither compressed nor out of line (always, in practice)
    let v = d.cast_mut_ptr::<pg_sys::varlena>();
    let v = if in_place(v) { v } else { pg_sys::pg_detoast_datum_packed(v) };
    let len = pgrx::varlena::varsize_any_exhdr(v);
    let data = std::slice::from_raw_parts(pgrx::varlena::vardata_any(v) as *const u8, len);
    const PGSQL_AF_INET6: u8 = 3; // AF_INET + 1
    let masked = (len >= 2).then(|| ip::mask_raw(data[0] == PGSQL_AF_INET6, data[1], &data[2..], v4, v6)).flatten();
    let Some((bits, addr)) = masked else {
        raise(ForgetError::Internal(format!("an inet value of {len} bytes could not be read")))
    };
    let changed = bits != data[1] || addr[..len - 2] != data[2..];
    let out = palloc_unguarded(pg_sys::VARHDRSZ + len) as *mut pg_sys::varlena;
    pgrx::varlena::set_varsize_4b(out, (pg_sys::VARHDRSZ + len) as i32);
    let body = (out as *mut u8).add(pg_sys::VARHDRSZ);
    *body = data[0];
    *body.add(1) = bits;
    std::ptr::copy_nonoverlapping(addr.as_ptr(), body.add(2), len - 2);
    (pg_sys::Datum::from(out), changed)
}

extern "C" {
    /// PostgreSQL's `palloc_extended`, called without pgrx's guard (a
    /// `sigsetjmp` per call, which costs a masking function called once per
    /// row a third of its time). With `MCXT_ALLOC_NO_OOM` and a size this
    /// small it never raises an error (no `longjmp` over Rust frames): out of
    /// memory, it returns NULL, and the caller raises the error itself.
    #[link_name = "palloc_extended"]
    fn palloc_extended_unguarded(size: usize, flags: std::ffi::c_int) -> *mut std::ffi::c_void;
}

/// `size` bytes in the current memory context, without pgrx's guard.
///
/// # Safety
/// Inside a backend, with a current memory context; `size` at most a few
/// hundred bytes.
unsafe fn palloc_unguarded(size: usize) -> *mut std::ffi::c_void {
    let p = palloc_extended_unguarded(size, pg_sys::MCXT_ALLOC_NO_OOM as std::ffi::c_int);
    if p.is_null() {
        raise(ForgetError::Internal(format!("out of memory: {size} bytes for a masked address")));
    }
    p
}

/// A varlena that can be read where it is: a short (1-byte header) or plain
/// 4-byte header, neither compressed nor a pointer out of line.
///
/// # Safety
/// `v` points to a varlena.
unsafe fn in_place(v: *const pg_sys::varlena) -> bool {
    if cfg!(target_endian = "little") {
        let first = *(v as *const u8);
        (first & 0x01 == 0x01 && first != 0x01) || first & 0x03 == 0x00
    } else {
        false
    }
}

/// `anon-<hash8>@anonymized.invalid`, the same for the same address. Needs the key (forget_admin).
#[pg_extern(stable, strict, parallel_restricted)]
fn mask_email(email: &str) -> String {
    crate::key::with_pseudonymizer(|h| h.mask_email(email, 8))
}

/// The keyed HMAC-SHA-256 pseudonym of a value, 64 hex digits. Needs the key (forget_admin).
#[pg_extern(stable, strict, parallel_restricted)]
fn pseudonym(value: &str) -> String {
    crate::key::with_pseudonymizer(|h| h.pseudonym(value))
}

/// `doc` with every member named one of `keys`, at any depth, replaced by `replacement`.
/// Works on the document's text (see `redact_json` in the extension script).
#[pg_extern(immutable, strict, parallel_safe)]
fn _redact_json_text(doc: &str, keys: Vec<Option<String>>, replacement: &str) -> String {
    let keys: Vec<&str> = keys.iter().map(|k| k.as_deref().unwrap_or_else(|| raise(null_element("keys")))).collect();
    match json::redact_members(doc, &keys, replacement) {
        Ok(Some(s)) => s,
        Ok(None) => doc.to_owned(),
        Err(e) => raise(ForgetError::InvalidArgument(e.to_string())),
    }
}

/// `txt` with each whole-word occurrence of the identifiers (longest first,
/// ASCII case-insensitive) replaced by `replacement`.
#[pg_extern(immutable, strict, parallel_safe)]
fn scrub_text(txt: &str, identifiers: Vec<Option<String>>, replacement: default!(&str, "'anonymous'")) -> String {
    let ids: Vec<&str> =
        identifiers.iter().map(|k| k.as_deref().unwrap_or_else(|| raise(null_element("identifiers")))).collect();
    Scrubber::new(&ids).scrub(txt, replacement).unwrap_or_else(|| txt.to_owned())
}

fn null_element(arg: &str) -> ForgetError {
    ForgetError::NullArgument(format!("{arg} must not contain NULL elements"))
}

fn unit(u: &str) -> Truncate {
    match u.to_ascii_lowercase().as_str() {
        "month" => Truncate::Month,
        "year" => Truncate::Year,
        _ => raise(ForgetError::InvalidArgument("unit must be 'month' or 'year'".into())),
    }
}

/// A date truncated to its month or year (`unit` is 'month' or 'year').
#[pg_extern(immutable, strict, parallel_safe, name = "mask_date")]
fn mask_date_date(value: Date, unit_name: &str) -> Date {
    let t = unit(unit_name);
    if !value.is_finite() {
        return value;
    }
    let (y, m, d) = mask::truncate_ymd(value.year(), value.month(), value.day(), t);
    Date::new(y, m, d).unwrap_or_else(|e| raise(ForgetError::Internal(format!("date: {e}"))))
}

/// A timestamp truncated to the start of its month or year.
#[pg_extern(immutable, strict, parallel_safe, name = "mask_date")]
fn mask_date_timestamp(value: Timestamp, unit_name: &str) -> Timestamp {
    let t = unit(unit_name);
    if !value.is_finite() {
        return value;
    }
    let (y, m, d) = mask::truncate_ymd(value.year(), value.month(), value.day(), t);
    Timestamp::new(y, m, d, 0, 0, 0.0).unwrap_or_else(|e| raise(ForgetError::Internal(format!("timestamp: {e}"))))
}

/// V1 function info for `forget_redact_json`.
#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo_forget_redact_json() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// `forget.redact_json(doc jsonb, keys text[], replacement text DEFAULT 'anonymous') RETURNS jsonb`
/// (STRICT, defined in `sql/finalize.sql`): `doc` with the value of every member
/// named one of `keys`, at any depth, replaced whole by `replacement`. Works on
/// the binary jsonb (PostgreSQL's iterator, as `jsonb_set` does), in one pass
/// for all keys.
///
/// # Safety
/// Called by PostgreSQL's fmgr with three non-NULL arguments of those types.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn forget_redact_json(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let args = (*fcinfo).args.as_slice(3);
    // keys and replacement are the same in every call of a query: read once, then
    // recognized by their bytes
    let raw = |d: pg_sys::Datum| {
        let v = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
        std::slice::from_raw_parts(pgrx::varlena::vardata_any(v) as *const u8, pgrx::varlena::varsize_any_exhdr(v))
    };
    let (keys_raw, rep_raw) = (raw(args[1].value), raw(args[2].value));
    let fresh =
        REDACT_ARGS.with(|c| c.borrow().as_ref().is_some_and(|a| a.keys_raw == keys_raw && a.rep_raw == rep_raw));
    if !fresh {
        let keys: Vec<Option<String>> = pgrx::FromDatum::from_datum(args[1].value, false).unwrap_or_default();
        let keys: Vec<Vec<u8>> =
            keys.into_iter().map(|k| k.unwrap_or_else(|| raise(null_element("keys"))).into_bytes()).collect();
        let replacement: String = pgrx::FromDatum::from_datum(args[2].value, false).unwrap_or_default();
        REDACT_ARGS.with(|c| {
            *c.borrow_mut() =
                Some(RedactArgs { keys_raw: keys_raw.to_vec(), rep_raw: rep_raw.to_vec(), keys, replacement })
        });
    }
    REDACT_ARGS.with(|c| {
        let a = c.borrow();
        let a = a.as_ref().unwrap_or_else(|| unreachable!("set above"));
        redact_jsonb(args[0].value, &a.keys, &a.replacement)
    })
}

/// The parsed keys and replacement of the last `redact_json` call.
struct RedactArgs {
    keys_raw: Vec<u8>,
    rep_raw: Vec<u8>,
    keys: Vec<Vec<u8>>,
    replacement: String,
}

thread_local! {
    static REDACT_ARGS: std::cell::RefCell<Option<RedactArgs>> = const { std::cell::RefCell::new(None) };
}

/// `doc` (a jsonb datum) with the members named one of `keys` replaced.
///
/// # Safety
/// `d` is a non-null jsonb datum.
unsafe fn redact_jsonb(d: pg_sys::Datum, keys: &[Vec<u8>], replacement: &str) -> pg_sys::Datum {
    let doc = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::Jsonb;
    // a scalar document has no members
    if (*doc).root.header & pg_sys::JB_FSCALAR != 0 || keys.is_empty() {
        return pg_sys::Datum::from(doc);
    }
    // read only: JsonbValueToJsonb copies the bytes into the new document
    let rep = replacement.as_ptr() as *mut std::ffi::c_char;
    let mut it = pg_sys::JsonbIteratorInit(&mut (*doc).root);
    let mut state: *mut pg_sys::JsonbParseState = std::ptr::null_mut();
    let mut v: pg_sys::JsonbValue = std::mem::zeroed();
    let mut res: *mut pg_sys::JsonbValue = std::ptr::null_mut();
    use pg_sys::JsonbIteratorToken::*;
    loop {
        let r = pg_sys::JsonbIteratorNext(&mut it, &mut v, false);
        if r == WJB_DONE {
            break;
        }
        if r == WJB_KEY {
            let s = v.val.string;
            let name = std::slice::from_raw_parts(s.val as *const u8, s.len as usize);
            let hit = keys.iter().any(|k| k.as_slice() == name);
            pg_sys::pushJsonbValue(&mut state, WJB_KEY, &mut v);
            if hit {
                // the member's value, whole (a nested object or array is skipped)
                pg_sys::JsonbIteratorNext(&mut it, &mut v, true);
                let mut repl: pg_sys::JsonbValue = std::mem::zeroed();
                repl.type_ = pg_sys::jbvType::jbvString;
                repl.val.string.len = replacement.len() as i32;
                repl.val.string.val = rep;
                res = pg_sys::pushJsonbValue(&mut state, WJB_VALUE, &mut repl);
            }
            continue;
        }
        let with_value = r == WJB_VALUE || r == WJB_ELEM;
        res = pg_sys::pushJsonbValue(&mut state, r, if with_value { &mut v } else { std::ptr::null_mut() });
    }
    pg_sys::Datum::from(pg_sys::JsonbValueToJsonb(res))
}
