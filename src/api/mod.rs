//! The SQL-facing layer: thin `#[pg_extern]`s over the pure modules.
pub mod catalog;
pub mod forget;
pub mod jobs;
pub mod mask;

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

use crate::error::ForgetError;

/// The PostgreSQL error code for a five-character SQLSTATE.
pub fn errcode(sqlstate: &str) -> PgSqlErrorCode {
    let b = sqlstate.as_bytes();
    if b.len() != 5 {
        return PgSqlErrorCode::ERRCODE_INTERNAL_ERROR;
    }
    // PostgreSQL's MAKE_SQLSTATE: six bits per character, first character lowest
    let code = b.iter().enumerate().fold(0i32, |acc, (i, &c)| acc + ((((c as i32) - ('0' as i32)) & 0x3F) << (6 * i)));
    PgSqlErrorCode::from(code)
}

/// The five-character SQLSTATE of an error code (the inverse of [`errcode`]).
pub fn sqlstate_text(code: PgSqlErrorCode) -> String {
    let n = code as i32;
    (0..5).map(|i| (((n >> (6 * i)) & 0x3F) as u8 + b'0') as char).collect()
}

/// Raises `e` as a PostgreSQL ERROR with its SQLSTATE and hint. Does not return.
pub fn raise(e: ForgetError) -> ! {
    let mut report = ErrorReport::new(errcode(e.sqlstate()), e.to_string(), "pg_forget");
    if let Some(h) = e.hint() {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Unwraps a pure-layer result, raising its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, ForgetError> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise(e))
    }
}

impl<T> OrRaise<T> for Result<T, pgrx::spi::SpiError> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise(ForgetError::Internal(format!("SPI: {e}"))))
    }
}
