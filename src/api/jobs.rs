//! `forget.create_anonymization_job`, the procedure `forget.run_jobs`, and the
//! internal helper that matches IPs stored as text.

use pgrx::prelude::*;

use super::{raise, OrRaise};
use crate::error::ForgetError;
use crate::jobs::{self, as_owner};
use crate::mask::hmac::Pseudonymizer;
use crate::runner::SessionParams;
use crate::session::{resolve_fields, SessionPlan};

fn texts(v: Option<Vec<Option<String>>>, arg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, x) in v.unwrap_or_default().into_iter().enumerate() {
        let Some(x) = x else {
            raise(ForgetError::NullArgument(format!("{arg} must not contain NULL (element {})", i + 1)))
        };
        if x.is_empty() {
            raise(ForgetError::InvalidArgument(format!("{arg} must not contain an empty string (element {})", i + 1)));
        }
        if seen.insert(x.clone()) {
            out.push(x);
        }
    }
    out
}

/// Queues a job that anonymizes, in every table with a `time` column, the rows
/// whose time is in [start_ts, end_ts] and whose subject is in `user_ids` OR
/// whose IP is in `ips`; returns the job id at once. Called by the SQL function
/// `forget.create_anonymization_job` (which passes the `inet[]` as text).
#[pg_extern(volatile, parallel_unsafe)]
fn _create_anonymization_job(
    start_ts: Option<pgrx::datum::TimestampWithTimeZone>,
    end_ts: Option<pgrx::datum::TimestampWithTimeZone>,
    user_ids: Option<Vec<Option<String>>>,
    ips: Option<Vec<Option<String>>>,
    additional_fields: Option<Vec<Option<String>>>,
) -> i64 {
    let users = texts(user_ids, "user_ids");
    let mut nets = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, ip) in ips.unwrap_or_default().into_iter().enumerate() {
        let Some(ip) = ip else {
            raise(ForgetError::NullArgument(format!("ips must not contain NULL (element {})", i + 1)))
        };
        if seen.insert(ip.clone()) {
            nets.push(ip);
        }
    }
    if users.is_empty() && nets.is_empty() {
        raise(ForgetError::InvalidArgument("at least one of user_ids and ips must be non-empty".into()));
    }
    let fields = texts(additional_fields, "additional_fields");
    // the window, as ISO 8601 text (independent of DateStyle); NULL start is the earliest, NULL end is now
    let (start, end, ordered) = Spi::get_three_with_args::<String, String, bool>(
        "SELECT to_json(s)#>>'{}', to_json(e)#>>'{}', s <= e
           FROM (SELECT coalesce($1, '-infinity'::timestamptz) AS s, coalesce($2, pg_catalog.now()) AS e) w",
        &[start_ts.into(), end_ts.into()],
    )
    .or_raise();
    if ordered != Some(true) {
        raise(ForgetError::InvalidArgument("start_ts must not be after end_ts".into()));
    }
    let state = super::forget::checked_catalog();
    let (cat, a) = (&state.cat, &state.analysis);
    let resolved = resolve_fields(cat, a, &fields).or_raise();
    let plan = SessionPlan::new(cat, a, &resolved).or_raise();
    if plan.tables.is_empty() {
        raise(ForgetError::InvalidArgument(
            "no table has both a @pii time column and a @pii subject or ip column: the job would match nothing".into(),
        ));
    }
    let timezone = Spi::get_one::<String>("SELECT pg_catalog.current_setting('TimeZone')").or_raise();
    let params = SessionParams {
        start: start.unwrap_or_default(),
        end: end.unwrap_or_default(),
        fields: resolved.iter().map(|f| (f.schema.clone(), f.table.clone(), f.column.clone())).collect(),
        timezone,
    };
    let role = jobs::caller_role();
    let params_json = serde_json::to_string(&params).unwrap_or_else(|_| "{}".into());
    let id = as_owner(|| {
        let id = Spi::get_one_with_args::<i64>(
            "INSERT INTO forget.job (kind, status, role_name, params) VALUES ('session', 'queued', $1, $2::jsonb) RETURNING id",
            &[role.clone().into(), params_json.into()],
        )
        .or_raise()
        .expect("INSERT RETURNING gives a row");
        Spi::run_with_args(
            "INSERT INTO forget.job_subject (job_id, kind, value)
             SELECT $1, 'user', u FROM pg_catalog.unnest($2::text[]) AS u
             UNION ALL SELECT $1, 'ip', i FROM pg_catalog.unnest($3::text[]) AS i",
            &[id.into(), users.clone().into(), nets.clone().into()],
        )
        .or_raise();
        id
    });
    let key = crate::key::with_key(|k| k.to_vec());
    let h = Pseudonymizer::new(&key);
    let pseudonyms: Vec<String> = users.iter().chain(nets.iter()).map(|v| h.pseudonym(v)).collect();
    jobs::audit("queued", Some(id), &role, &pseudonyms);
    crate::worker::wake();
    id
}

/// Internal: is the text an address inside one of the networks? Garbage is not.
#[pg_extern(immutable, parallel_safe)]
fn _text_ip_in(value: Option<&str>, nets: Option<Vec<Option<String>>>) -> bool {
    let (Some(v), Some(nets)) = (value, nets) else { return false };
    let Some(addr) = parse_ip(v.trim()) else { return false };
    nets.iter().flatten().filter_map(|n| parse_net(n)).any(|n| n.contains(&addr))
}

fn parse_ip(s: &str) -> Option<std::net::IpAddr> {
    s.parse::<std::net::IpAddr>().ok().or_else(|| s.parse::<ipnet::IpNet>().ok().map(|n| n.addr()))
}

fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>().ok().or_else(|| s.parse::<std::net::IpAddr>().ok().map(Into::into))
}

/// V1 function info for `forget_run_jobs` (the procedure has no pgrx macro).
#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo_forget_run_jobs() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// `CALL forget.run_jobs(max_jobs int DEFAULT NULL)`.
///
/// # Safety
/// Called by PostgreSQL's fmgr for the procedure defined in `sql/finalize.sql`.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn forget_run_jobs(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    crate::runner::run_jobs_procedure(fcinfo)
}
