//! One error type for the whole extension. Every variant carries its SQLSTATE;
//! the SQL-facing layer turns it into a PostgreSQL error with that code, so a
//! bad argument is never reported as an internal error (XX000).
//!
//! Messages never contain personal data: they name tables, columns, tag words
//! and argument positions, never the values being erased.

use thiserror::Error;

/// SQLSTATE codes used by pg_forget (five characters, as PostgreSQL spells them).
pub mod sqlstate {
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
    pub const SYNTAX_ERROR: &str = "42601";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const NO_DATA_FOUND: &str = "P0002";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const INVALID_TRANSACTION_TERMINATION: &str = "2D000";
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
    pub const INTERNAL_ERROR: &str = "XX000";
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ForgetError {
    /// An argument has a value that is not allowed (empty name, prefix out of range...).
    #[error("{0}")]
    InvalidArgument(String),
    /// An argument (or an element of an array argument) is NULL where it may not be.
    #[error("{0}")]
    NullArgument(String),
    /// One or more `@pii` tags in the catalog are malformed.
    #[error("invalid @pii tag on {target}: {problem}")]
    BadTag {
        target: String,
        problem: String,
        /// how many problems in all (the first is in the message)
        count: usize,
    },
    /// The caller lacks a privilege.
    #[error("{0}")]
    PermissionDenied(String),
    #[error("table {0} does not exist")]
    UndefinedTable(String),
    #[error("{0}")]
    UndefinedColumn(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("{0}")]
    WrongState(String),
    /// A procedure that commits was called inside a transaction block.
    #[error("{0}")]
    TransactionControl(String),
    /// A bug: the message asks to report it.
    #[error("pg_forget internal error: {0} (please report this)")]
    Internal(String),
}

impl ForgetError {
    pub fn sqlstate(&self) -> &'static str {
        use sqlstate::*;
        match self {
            ForgetError::InvalidArgument(_) => INVALID_PARAMETER_VALUE,
            ForgetError::NullArgument(_) => NULL_VALUE_NOT_ALLOWED,
            ForgetError::BadTag { .. } => SYNTAX_ERROR,
            ForgetError::PermissionDenied(_) => INSUFFICIENT_PRIVILEGE,
            ForgetError::UndefinedTable(_) => UNDEFINED_TABLE,
            ForgetError::UndefinedColumn(_) => UNDEFINED_COLUMN,
            ForgetError::NotFound(_) => NO_DATA_FOUND,
            ForgetError::NotSupported(_) => FEATURE_NOT_SUPPORTED,
            ForgetError::WrongState(_) => OBJECT_NOT_IN_PREREQUISITE_STATE,
            ForgetError::TransactionControl(_) => INVALID_TRANSACTION_TERMINATION,
            ForgetError::Internal(_) => INTERNAL_ERROR,
        }
    }

    /// A hint for the user, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            ForgetError::BadTag { count, .. } => {
                Some(format!("{count} problem(s) in all; SELECT * FROM forget.check_tags() lists them"))
            }
            ForgetError::PermissionDenied(_) => Some("GRANT forget_admin TO the role that runs pg_forget".into()),
            _ => None,
        }
    }
}

pub type Result<T, E = ForgetError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_five_character_sqlstate_and_only_bugs_are_internal() {
        let all = [
            ForgetError::InvalidArgument("x".into()),
            ForgetError::NullArgument("x".into()),
            ForgetError::BadTag { target: "t".into(), problem: "p".into(), count: 1 },
            ForgetError::PermissionDenied("x".into()),
            ForgetError::UndefinedTable("t".into()),
            ForgetError::UndefinedColumn("x".into()),
            ForgetError::NotFound("x".into()),
            ForgetError::NotSupported("x".into()),
            ForgetError::WrongState("x".into()),
            ForgetError::TransactionControl("x".into()),
            ForgetError::Internal("x".into()),
        ];
        for e in &all {
            let s = e.sqlstate();
            assert_eq!(s.len(), 5, "{e:?}");
            assert!(s.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
            assert_eq!(s == "XX000", matches!(e, ForgetError::Internal(_)), "{e:?}");
        }
    }

    #[test]
    fn argument_errors_use_the_codes_of_the_spec() {
        assert_eq!(ForgetError::InvalidArgument("".into()).sqlstate(), "22023");
        assert_eq!(ForgetError::NullArgument("".into()).sqlstate(), "22004");
        assert_eq!(ForgetError::PermissionDenied("".into()).sqlstate(), "42501");
    }

    #[test]
    fn bad_tag_message_names_target_and_hint_counts() {
        let e =
            ForgetError::BadTag { target: "app.users.email".into(), problem: "unknown word \"foo\"".into(), count: 3 };
        assert_eq!(e.to_string(), "invalid @pii tag on app.users.email: unknown word \"foo\"");
        assert!(e.hint().unwrap().starts_with("3 problem(s)"));
    }
}
