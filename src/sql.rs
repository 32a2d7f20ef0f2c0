//! Rendering SQL text. Identifiers always go through [`ident`], which
//! double-quotes every name (so mixed case, keywords, spaces, quotes and
//! semicolons are all just names); values never appear in SQL text, they are
//! passed as `$n` parameters. Pure: no pgrx.

use std::fmt::Write;

/// A double-quoted SQL identifier: `"` doubled, always quoted.
/// Names from the catalog never contain NUL; one that did would be cut there by
/// PostgreSQL anyway, so NUL is dropped rather than panicking.
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        match ch {
            '"' => out.push_str("\"\""),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `"schema"."table"`
pub fn qualified(schema: &str, name: &str) -> String {
    let mut s = ident(schema);
    s.push('.');
    s.push_str(&ident(name));
    s
}

/// A string literal for a name from the catalog (quotes doubled; `E''` never needed
/// with standard_conforming_strings, which PostgreSQL has on by default since 9.1).
pub fn sql_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `"a", "b", "c"`
pub fn ident_list<S: AsRef<str>>(names: &[S]) -> String {
    let mut out = String::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&ident(n.as_ref()));
    }
    out
}

/// `SELECT "c1"::text, "c2"::text FROM "s"."t" LIMIT n`: a small sample of a
/// table's columns as text, for tag suggestions.
pub fn sample_query<S: AsRef<str>>(schema: &str, table: &str, columns: &[S], limit: u32) -> String {
    let mut q = String::from("SELECT ");
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            q.push_str(", ");
        }
        let _ = write!(q, "{}::text", ident(c.as_ref()));
    }
    let _ = write!(q, " FROM {} LIMIT {}", qualified(schema, table), limit);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted_and_quotes_doubled() {
        assert_eq!(ident("users"), "\"users\"");
        assert_eq!(ident("User Name"), "\"User Name\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("x\"; DROP TABLE t; --"), "\"x\"\"; DROP TABLE t; --\"");
        assert_eq!(ident("select"), "\"select\"");
        assert_eq!(ident("naïve_ünïcode"), "\"naïve_ünïcode\"");
        assert_eq!(ident("a\0b"), "\"ab\"");
        assert_eq!(ident(""), "\"\"");
    }

    #[test]
    fn qualified_names_and_lists() {
        assert_eq!(qualified("My Schema", "t\"1"), "\"My Schema\".\"t\"\"1\"");
        assert_eq!(ident_list(&["a", "B"]), "\"a\", \"B\"");
        assert_eq!(ident_list::<&str>(&[]), "");
    }

    #[test]
    fn sample_query_quotes_everything() {
        assert_eq!(
            sample_query("app", "Odd\"Table", &["e mail", "x"], 20),
            "SELECT \"e mail\"::text, \"x\"::text FROM \"app\".\"Odd\"\"Table\" LIMIT 20"
        );
    }

    proptest::proptest! {
        #[test]
        fn quoted_identifier_round_trips(name in "\\PC{0,70}") {
            let q = ident(&name);
            proptest::prop_assert!(q.starts_with('"') && q.ends_with('"') && q.len() >= 2);
            // unquote: strip outer quotes, undouble; must give the name back (without NULs)
            let inner = &q[1..q.len() - 1];
            proptest::prop_assert!(!inner.replace("\"\"", "").contains('"'));
            proptest::prop_assert_eq!(inner.replace("\"\"", "\""), name.replace('\0', ""));
        }
    }
}
