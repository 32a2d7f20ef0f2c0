//! Masking strategies as pure functions, free of any PostgreSQL dependency.
//!
//! The SQL-facing code converts PostgreSQL values to plain Rust values, calls
//! these functions and converts back, so everything here is testable with a
//! plain `cargo test`.

pub mod hmac;
pub mod ip;
pub mod json;
pub mod text;

/// The precision a date or timestamp is truncated to (`@pii month` / `@pii year`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncate {
    /// Keep year and month; the day becomes 1.
    Month,
    /// Keep the year; month and day become 1.
    Year,
}

/// Truncates a civil date `(year, month, day)` to its month or year.
///
/// `Month` gives `(y, m, 1)`, `Year` gives `(y, 1, 1)`. The time of day of a
/// timestamp is the caller's to reset to midnight.
pub fn truncate_ymd(y: i32, m: u8, _d: u8, t: Truncate) -> (i32, u8, u8) {
    match t {
        Truncate::Month => (y, m, 1),
        Truncate::Year => (y, 1, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_keeps_year_and_month() {
        assert_eq!(truncate_ymd(2024, 2, 29, Truncate::Month), (2024, 2, 1));
        assert_eq!(truncate_ymd(1999, 12, 31, Truncate::Month), (1999, 12, 1));
        assert_eq!(truncate_ymd(2000, 1, 1, Truncate::Month), (2000, 1, 1));
    }

    #[test]
    fn year_keeps_only_year() {
        assert_eq!(truncate_ymd(2024, 7, 15, Truncate::Year), (2024, 1, 1));
        assert_eq!(truncate_ymd(2000, 1, 1, Truncate::Year), (2000, 1, 1));
    }

    #[test]
    fn extreme_years_are_kept() {
        // PostgreSQL dates go from 4713 BC (year -4712 astronomically) to 5874897 AD.
        assert_eq!(truncate_ymd(-4712, 11, 24, Truncate::Month), (-4712, 11, 1));
        assert_eq!(truncate_ymd(5_874_897, 12, 31, Truncate::Year), (5_874_897, 1, 1));
    }

    #[test]
    fn truncation_is_idempotent() {
        for t in [Truncate::Month, Truncate::Year] {
            let (y, m, d) = truncate_ymd(2023, 5, 17, t);
            assert_eq!(truncate_ymd(y, m, d, t), (y, m, d));
        }
    }
}

/// Does `v` already look like what a masking strategy writes? Then masking it
/// again must leave it alone (a retry finishes a partial anonymization without
/// re-hashing what is done). `replacement` is the constant a subject or
/// `redact` column gets (`anonymous`, or the `redact:TEXT` text).
pub fn looks_masked(kind: MaskedForm<'_>, v: &str) -> bool {
    fn hex_tail(s: &str, min: usize) -> bool {
        s.len() >= min && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
    match kind {
        MaskedForm::Constant(r) => {
            v == r || v.strip_prefix(r).and_then(|t| t.strip_prefix('-')).is_some_and(|t| hex_tail(t, 8))
        }
        MaskedForm::Email => {
            v.strip_prefix("anon-").and_then(|t| t.strip_suffix("@anonymized.invalid")).is_some_and(|t| hex_tail(t, 8))
        }
        MaskedForm::Hash => v.len() == 64 && hex_tail(v, 64),
    }
}

/// The forms `looks_masked` recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskedForm<'a> {
    Constant(&'a str),
    Email,
    Hash,
}

#[cfg(test)]
mod masked_tests {
    use super::*;

    #[test]
    fn recognizes_what_the_strategies_write() {
        assert!(looks_masked(MaskedForm::Constant("anonymous"), "anonymous"));
        assert!(looks_masked(MaskedForm::Constant("anonymous"), "anonymous-3b420bd9"));
        assert!(looks_masked(MaskedForm::Constant("anonymous"), "anonymous-3b420bd9fa05"));
        assert!(!looks_masked(MaskedForm::Constant("anonymous"), "anonymous-bob"));
        assert!(!looks_masked(MaskedForm::Constant("anonymous"), "alice"));
        assert!(looks_masked(MaskedForm::Constant("(removed)"), "(removed)"));
        assert!(looks_masked(MaskedForm::Email, "anon-0cf19c8f@anonymized.invalid"));
        assert!(!looks_masked(MaskedForm::Email, "anon-bob@anonymized.invalid"));
        assert!(!looks_masked(MaskedForm::Email, "alice@example.com"));
        assert!(looks_masked(MaskedForm::Hash, &"ab".repeat(32)));
        assert!(!looks_masked(MaskedForm::Hash, "K-1001"));
    }
}
