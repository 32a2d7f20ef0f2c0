//! pg_forget: the right to be forgotten, inside PostgreSQL.
//!
//! Pure modules (no pgrx; `cargo test --lib` runs them without PostgreSQL):
//! `tags` (the `@pii` grammar), `catalog` (catalog structs and tag analysis),
//! `graph` (foreign-key reach), `suggest`, `mask` (value maskers), `sql`
//! (identifier quoting), `error`. The SQL-facing layer: `api`, `guc`, `key`.
use pgrx::prelude::*;

pub mod catalog;
pub mod error;
pub mod graph;
pub mod mask;
pub mod plan;
pub mod session;
pub mod sql;
pub mod suggest;
pub mod tags;
pub mod unique;

pub mod api;
pub mod cache;
pub mod context;
pub mod cursor;
pub mod guc;
pub mod jobs;
pub mod key;
pub mod runner;
pub mod worker;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::init();
    // SAFETY: reading a flag PostgreSQL sets while it loads shared_preload_libraries
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        worker::register();
    }
}

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
