//! The masking building blocks as SQL functions: `forget.mask_ip`,
//! `forget.mask_email`, `forget.pseudonym`, `forget.redact_json`,
//! `forget.scrub_text`, `forget.mask_date`.

use pgrx::datum::{Date, Timestamp};
use pgrx::prelude::*;
use pgrx::Inet;

use super::raise;
use crate::error::ForgetError;
use crate::mask::{self, hmac, ip, json, text::Scrubber, Truncate};

fn prefix(v: Option<i32>, max: i32, default: u8, what: &str) -> u8 {
    match v {
        None => default,
        Some(p) if (0..=max).contains(&p) => p as u8,
        Some(p) => raise(ForgetError::InvalidArgument(format!("{what} must be between 0 and {max}, not {p}"))),
    }
}

/// The network an address belongs to: IPv4 keeps `v4_prefix` bits (default
/// `forget.ip_prefix_v4`, 24), IPv6 keeps `v6_prefix` (default
/// `forget.ip_prefix_v6`, 48). `10.1.2.3` gives `10.1.2.0/24`.
#[pg_extern(stable, parallel_safe)]
fn mask_ip(
    ip: Option<Inet>,
    v4_prefix: default!(Option<i32>, "NULL"),
    v6_prefix: default!(Option<i32>, "NULL"),
) -> Option<Inet> {
    let (d4, d6) = crate::guc::ip_prefixes();
    let v4 = prefix(v4_prefix, 32, d4, "v4_prefix");
    let v6 = prefix(v6_prefix, 128, d6, "v6_prefix");
    let ip = ip?;
    let net: ipnet::IpNet = match ip.0.parse::<ipnet::IpNet>() {
        Ok(n) => n,
        Err(_) => match ip.0.parse::<std::net::IpAddr>() {
            Ok(a) => a.into(),
            Err(_) => raise(ForgetError::Internal(format!("unparsable inet output {:?}", ip.0.len()))),
        },
    };
    Some(Inet(ip::mask_net(net, v4, v6).to_string()))
}

/// `anon-<hash8>@anonymized.invalid`, the same for the same address. Needs the key (forget_admin).
#[pg_extern(stable, strict, parallel_restricted)]
fn mask_email(email: &str) -> String {
    crate::key::with_key(|k| hmac::mask_email(k, email, 8))
}

/// The keyed HMAC-SHA-256 pseudonym of a value, 64 hex digits. Needs the key (forget_admin).
#[pg_extern(stable, strict, parallel_restricted)]
fn pseudonym(value: &str) -> String {
    crate::key::with_key(|k| hmac::pseudonym(k, value))
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
