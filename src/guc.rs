//! Settings (SPEC section 8). All are `SUSET`: superusers may change them,
//! and the extension script grants `SET` on them to `forget_admin`.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(10_000);
pub static AUTO_ANONYMIZE: GucSetting<bool> = GucSetting::<bool>::new(true);
/// seconds
pub static ANONYMIZE_DELAY: GucSetting<i32> = GucSetting::<i32>::new(600);
pub static IP_PREFIX_V4: GucSetting<i32> = GucSetting::<i32>::new(24);
pub static IP_PREFIX_V6: GucSetting<i32> = GucSetting::<i32>::new(48);
pub static WORKER: GucSetting<bool> = GucSetting::<bool>::new(true);
/// seconds
pub static WORKER_NAPTIME: GucSetting<i32> = GucSetting::<i32>::new(10);

pub fn init() {
    GucRegistry::define_int_guc(
        c"forget.batch_size",
        c"Rows per batch (per table) in forget.run_jobs; each batch commits.",
        c"",
        &BATCH_SIZE,
        1,
        100_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"forget.auto_anonymize",
        c"Queue anonymization of a person deleted from a table tagged @pii subjects.",
        c"",
        &AUTO_ANONYMIZE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"forget.anonymize_delay",
        c"How long after a deletion the automatic anonymization is due.",
        c"",
        &ANONYMIZE_DELAY,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"forget.ip_prefix_v4",
        c"Prefix length of the IPv4 network kept by ip masking.",
        c"",
        &IP_PREFIX_V4,
        0,
        32,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"forget.ip_prefix_v6",
        c"Prefix length of the IPv6 network kept by ip masking.",
        c"",
        &IP_PREFIX_V6,
        0,
        128,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"forget.worker",
        c"The background worker runs due jobs (only where the library is preloaded).",
        c"",
        &WORKER,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"forget.worker_naptime",
        c"How often the background worker looks for due work when nobody wakes it.",
        c"",
        &WORKER_NAPTIME,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
}

/// The IPv4 and IPv6 prefixes currently set.
pub fn ip_prefixes() -> (u8, u8) {
    (IP_PREFIX_V4.get().clamp(0, 32) as u8, IP_PREFIX_V6.get().clamp(0, 128) as u8)
}
