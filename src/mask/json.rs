//! `@pii json:K1,K2,…`: redacting members of JSON documents at any depth.
//!
//! PostgreSQL accepts `json`/`jsonb` documents nested far deeper than a
//! recursive parser (or a recursive drop of a parsed tree) can survive, so
//! this module never builds a tree: a single-pass scanner with an explicit
//! stack validates the JSON text and copies it through, replacing only the
//! values of the members being redacted. The layout of everything else
//! (whitespace, number spelling, escapes, key order) is kept byte for byte.

/// The document is not valid JSON (RFC 8259).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JsonError {
    /// The first offending byte offset (the document's length when it ends too early).
    #[error("invalid JSON at byte {0}")]
    Invalid(usize),
}

/// Replaces, at any depth, the whole value (scalar, object or array) of
/// every member whose key is in `keys` (exact, after unescaping the key) by
/// the JSON string `replacement`.
///
/// A value that already is the string `replacement` is left alone, so that a
/// second pass changes nothing. Returns `Ok(None)` when nothing was replaced
/// (the caller can skip the write) and `Ok(Some(new_text))` otherwise.
///
/// # Errors
///
/// [`JsonError::Invalid`] when `doc` is not valid JSON.
pub fn redact_members(doc: &str, keys: &[&str], replacement: &str) -> Result<Option<String>, JsonError> {
    Scanner::new(doc, keys, Rule::AnyValue, replacement).run()
}

/// Redaction in other people's documents: replaces, at any depth, the value
/// of every member whose key is in `keys` and whose value is a JSON string
/// equal (after unescaping) to one of `identifiers`. Nothing else changes.
///
/// Returns `Ok(None)` when nothing was replaced, `Ok(Some(new_text))` otherwise.
///
/// # Errors
///
/// [`JsonError::Invalid`] when `doc` is not valid JSON.
pub fn redact_member_values(
    doc: &str,
    keys: &[&str],
    identifiers: &[&str],
    replacement: &str,
) -> Result<Option<String>, JsonError> {
    redact_member_values_where(doc, keys, &|v| identifiers.contains(&v), replacement)
}

/// [`redact_member_values`] with the identifiers given as a test (a set
/// lookup, when there are thousands of them).
///
/// # Errors
///
/// [`JsonError::Invalid`] when `doc` is not valid JSON.
pub fn redact_member_values_where(
    doc: &str,
    keys: &[&str],
    is_identifier: &dyn Fn(&str) -> bool,
    replacement: &str,
) -> Result<Option<String>, JsonError> {
    Scanner::new(doc, keys, Rule::StringIn(is_identifier), replacement).run()
}

/// Appends `s` to `out` as a JSON string literal, escaped the way PostgreSQL
/// prints it (`"`, `\`, and control characters; everything else verbatim).
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c < ' ' => "",
            _ => continue,
        };
        out.push_str(&s[plain_from..i]);
        if escape.is_empty() {
            push_unicode_escape(out, c);
        } else {
            out.push_str(escape);
        }
        plain_from = i + c.len_utf8();
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

/// Appends the `\u00XX` escape of a control character.
fn push_unicode_escape(out: &mut String, c: char) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    let code = u32::from(c);
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX_DIGITS[((code >> shift) & 0xf) as usize]));
    }
}

/// Which values of a member with a matching key are replaced.
#[derive(Clone, Copy)]
enum Rule<'a> {
    /// Any value: scalar, object or array.
    AnyValue,
    /// Only a string that passes this test (one of the identifiers).
    StringIn(&'a dyn Fn(&str) -> bool),
}

/// An open container on the scanner's stack.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Container {
    Object,
    Array,
}

/// What the scanner expects next (whitespace aside).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// A value (top level, after `:`, after `,` in an array).
    Value,
    /// A value or `]` (just after `[`).
    ValueOrClose,
    /// A key or `}` (just after `{`).
    KeyOrClose,
    /// A key (after `,` in an object).
    Key,
    /// The `:` after a key.
    Colon,
    /// `,` or the closing bracket of the open container, or the end of the document.
    AfterValue,
}

/// A value being replaced, while the scanner walks through it.
#[derive(Clone, Copy)]
struct Pending {
    /// Byte offset where the value starts.
    start: usize,
    /// Stack depth outside the value; the value ends when the stack is back to it.
    depth: usize,
}

/// Single-pass validating scanner that copies the document through, with
/// replacements spliced in.
struct Scanner<'a> {
    doc: &'a str,
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Container>,
    keys: &'a [&'a str],
    rule: Rule<'a>,
    replacement: &'a str,
    /// The rewritten document, created at the first replacement.
    out: Option<String>,
    /// `doc[..copied]` has been dealt with (copied to `out` or replaced).
    copied: usize,
    pending: Option<Pending>,
    /// The key just read is one of `keys` (and no replacement is pending).
    key_matched: bool,
    /// Buffer for unescaping strings that contain escapes.
    scratch: String,
}

impl<'a> Scanner<'a> {
    fn new(doc: &'a str, keys: &'a [&'a str], rule: Rule<'a>, replacement: &'a str) -> Self {
        Scanner {
            doc,
            bytes: doc.as_bytes(),
            pos: 0,
            stack: Vec::new(),
            keys,
            rule,
            replacement,
            out: None,
            copied: 0,
            pending: None,
            key_matched: false,
            scratch: String::new(),
        }
    }

    /// Scans the whole document; the result is the rewritten text if anything was replaced.
    fn run(mut self) -> Result<Option<String>, JsonError> {
        let mut expect = Expect::Value;
        loop {
            self.skip_whitespace();
            let Some(&b) = self.bytes.get(self.pos) else {
                return if expect == Expect::AfterValue && self.stack.is_empty() {
                    Ok(self.finish())
                } else {
                    Err(self.error())
                };
            };
            expect = match expect {
                Expect::ValueOrClose if b == b']' => self.close(Container::Array)?,
                Expect::Value | Expect::ValueOrClose => self.value(b)?,
                Expect::KeyOrClose if b == b'}' => self.close(Container::Object)?,
                Expect::KeyOrClose | Expect::Key => self.key(b)?,
                Expect::Colon => self.colon(b)?,
                Expect::AfterValue => self.after_value(b)?,
            };
        }
    }

    fn error(&self) -> JsonError {
        JsonError::Invalid(self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A value starting with byte `b`.
    fn value(&mut self, b: u8) -> Result<Expect, JsonError> {
        let start = self.pos;
        let target = std::mem::take(&mut self.key_matched);
        match b {
            b'{' | b'[' => {
                if target && matches!(self.rule, Rule::AnyValue) {
                    self.pending = Some(Pending { start, depth: self.stack.len() });
                }
                self.pos += 1;
                Ok(if b == b'{' {
                    self.stack.push(Container::Object);
                    Expect::KeyOrClose
                } else {
                    self.stack.push(Container::Array);
                    Expect::ValueOrClose
                })
            }
            b'"' => {
                let escaped = self.string()?;
                if target && self.replaces_string(start, escaped) {
                    self.replace(start);
                }
                Ok(self.value_done())
            }
            _ => {
                self.scalar(b)?;
                if target && matches!(self.rule, Rule::AnyValue) {
                    self.replace(start);
                }
                Ok(self.value_done())
            }
        }
    }

    /// A member key starting with byte `b`.
    fn key(&mut self, b: u8) -> Result<Expect, JsonError> {
        if b != b'"' {
            return Err(self.error());
        }
        let start = self.pos;
        let escaped = self.string()?;
        self.key_matched = self.pending.is_none() && self.string_in(start, escaped, self.keys);
        Ok(Expect::Colon)
    }

    fn colon(&mut self, b: u8) -> Result<Expect, JsonError> {
        if b != b':' {
            return Err(self.error());
        }
        self.pos += 1;
        Ok(Expect::Value)
    }

    /// After a value inside a container (or at the top level, where only the end may follow).
    fn after_value(&mut self, b: u8) -> Result<Expect, JsonError> {
        match (self.stack.last(), b) {
            (Some(Container::Object), b',') => {
                self.pos += 1;
                Ok(Expect::Key)
            }
            (Some(Container::Array), b',') => {
                self.pos += 1;
                Ok(Expect::Value)
            }
            (Some(Container::Object), b'}') => self.close(Container::Object),
            (Some(Container::Array), b']') => self.close(Container::Array),
            _ => Err(self.error()),
        }
    }

    /// Closes the innermost container, which must be a `kind`.
    fn close(&mut self, kind: Container) -> Result<Expect, JsonError> {
        if self.stack.last() != Some(&kind) {
            return Err(self.error());
        }
        self.stack.pop();
        self.pos += 1;
        Ok(self.value_done())
    }

    /// A value just ended at `self.pos`: finishes a pending replacement it completes.
    fn value_done(&mut self) -> Expect {
        if let Some(p) = self.pending {
            if p.depth == self.stack.len() {
                self.pending = None;
                self.replace(p.start);
            }
        }
        Expect::AfterValue
    }

    /// Replaces `doc[start..self.pos]` by the replacement string.
    fn replace(&mut self, start: usize) {
        let out = self.out.get_or_insert_with(|| String::with_capacity(self.doc.len()));
        out.push_str(&self.doc[self.copied..start]);
        push_json_string(out, self.replacement);
        self.copied = self.pos;
    }

    fn finish(self) -> Option<String> {
        let mut out = self.out?;
        out.push_str(&self.doc[self.copied..]);
        Some(out)
    }

    /// Whether the string literal `doc[start..self.pos]` of a matching member gets replaced.
    fn replaces_string(&mut self, start: usize, escaped: bool) -> bool {
        let (rule, replacement) = (self.rule, self.replacement);
        let value = self.unescaped(start, escaped);
        value != replacement
            && match rule {
                Rule::AnyValue => true,
                Rule::StringIn(is_identifier) => is_identifier(value),
            }
    }

    /// Whether the string literal `doc[start..self.pos]`, unescaped, is one of `candidates`.
    fn string_in(&mut self, start: usize, escaped: bool, candidates: &[&str]) -> bool {
        let value = self.unescaped(start, escaped);
        candidates.contains(&value)
    }

    /// The value of the string literal `doc[start..self.pos]`.
    fn unescaped(&mut self, start: usize, escaped: bool) -> &str {
        let raw = &self.doc[start + 1..self.pos - 1];
        if !escaped {
            return raw;
        }
        self.scratch.clear();
        unescape_into(raw, &mut self.scratch);
        &self.scratch
    }

    /// Scans a string literal starting at the `"` under `self.pos`; returns
    /// whether it contains escapes. Leaves `self.pos` after the closing quote.
    fn string(&mut self) -> Result<bool, JsonError> {
        self.pos += 1;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err(self.error()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(b) if b < 0x20 => return Err(self.error()),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Validates the escape sequence at `self.pos` (a `\`) and moves past it.
    fn escape(&mut self) -> Result<(), JsonError> {
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => self.unicode_escape(),
            _ => Err(self.error()),
        }
    }

    /// Validates `uXXXX` (and a following low surrogate after a high one).
    fn unicode_escape(&mut self) -> Result<(), JsonError> {
        let at = self.pos - 1;
        let unit = self.hex4(self.pos + 1).ok_or(JsonError::Invalid(at))?;
        self.pos += 5;
        match unit {
            0xD800..=0xDBFF => {
                let low =
                    (self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u")).then(|| self.hex4(self.pos + 2)).flatten();
                match low {
                    Some(0xDC00..=0xDFFF) => {
                        self.pos += 6;
                        Ok(())
                    }
                    _ => Err(JsonError::Invalid(at)),
                }
            }
            0xDC00..=0xDFFF => Err(JsonError::Invalid(at)),
            _ => Ok(()),
        }
    }

    /// The four hex digits at `at`, if there are four.
    fn hex4(&self, at: usize) -> Option<u16> {
        let digits = self.bytes.get(at..at + 4)?;
        digits.iter().try_fold(0u16, |acc, &d| Some(acc << 4 | u16::try_from(char::from(d).to_digit(16)?).ok()?))
    }

    /// `true`, `false`, `null` or a number starting with byte `b`.
    fn scalar(&mut self, b: u8) -> Result<(), JsonError> {
        match b {
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.error()),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.required_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), JsonError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error());
        }
        self.digits();
        Ok(())
    }
}

/// Unescapes the body of a string literal already validated by [`Scanner::string`].
fn unescape_into(raw: &str, out: &mut String) {
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let (c, len) = decode_escape(&rest.as_bytes()[i + 1..]);
        out.push(c);
        rest = &rest[i + 1 + len..];
    }
    out.push_str(rest);
}

/// Decodes the escape after a `\`; returns the character and the bytes consumed.
/// Invalid sequences (never passed by the scanner) decode to U+FFFD.
fn decode_escape(b: &[u8]) -> (char, usize) {
    let hex = |at: usize| -> Option<u32> {
        let s = std::str::from_utf8(b.get(at..at + 4)?).ok()?;
        u32::from_str_radix(s, 16).ok()
    };
    match b.first() {
        Some(b'b') => ('\u{8}', 1),
        Some(b'f') => ('\u{c}', 1),
        Some(b'n') => ('\n', 1),
        Some(b'r') => ('\r', 1),
        Some(b't') => ('\t', 1),
        Some(b'u') => match hex(1) {
            Some(high @ 0xD800..=0xDBFF) => match (b.get(5..7), hex(7)) {
                (Some(b"\\u"), Some(low @ 0xDC00..=0xDFFF)) => {
                    let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    (char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER), 11)
                }
                _ => (char::REPLACEMENT_CHARACTER, 5),
            },
            Some(unit) => (char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER), 5),
            None => (char::REPLACEMENT_CHARACTER, 1),
        },
        Some(&c) if c.is_ascii() => (char::from(c), 1),
        _ => (char::REPLACEMENT_CHARACTER, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};
    use std::fmt::Write as _;

    const R: &str = "anonymous";

    fn redact(doc: &str, keys: &[&str]) -> Option<String> {
        redact_members(doc, keys, R).unwrap()
    }

    fn redact_values(doc: &str, keys: &[&str], ids: &[&str]) -> Option<String> {
        redact_member_values(doc, keys, ids, R).unwrap()
    }

    #[test]
    fn top_level_member() {
        assert_eq!(
            redact(r#"{"name": "alice", "age": 30}"#, &["name"]).as_deref(),
            Some(r#"{"name": "anonymous", "age": 30}"#)
        );
    }

    #[test]
    fn every_kind_of_value_is_replaced_whole() {
        let doc =
            r#"{"a": 1.5e3, "b": true, "c": null, "d": {"x": [1, {"y": 2}]}, "e": [[], {}], "f": false, "g": -0}"#;
        let out = redact(doc, &["a", "b", "c", "d", "e", "f", "g"]).unwrap();
        assert_eq!(
            out,
            r#"{"a": "anonymous", "b": "anonymous", "c": "anonymous", "d": "anonymous", "e": "anonymous", "f": "anonymous", "g": "anonymous"}"#
        );
    }

    #[test]
    fn nested_objects_and_arrays() {
        let doc = r#"{"users": [{"name": "alice", "tags": ["a"]}, {"name": "bob", "meta": {"name": {"first": "b"}}}], "name": "top"}"#;
        let out = redact(doc, &["name"]).unwrap();
        assert_eq!(
            out,
            r#"{"users": [{"name": "anonymous", "tags": ["a"]}, {"name": "anonymous", "meta": {"name": "anonymous"}}], "name": "anonymous"}"#
        );
    }

    #[test]
    fn layout_is_kept() {
        let doc = "{ \"a\" :\n\t[ 1 ,2 ] , \"b\":{\"c\" : 1.0E+2}\r\n}  ";
        assert_eq!(redact(doc, &["c"]).unwrap(), "{ \"a\" :\n\t[ 1 ,2 ] , \"b\":{\"c\" : \"anonymous\"}\r\n}  ");
        assert_eq!(redact(doc, &["zzz"]), None);
    }

    #[test]
    fn escaped_key_matches_after_unescaping() {
        assert_eq!(redact(r#"{"na\u006de": "alice"}"#, &["name"]).as_deref(), Some(r#"{"na\u006de": "anonymous"}"#));
        assert_eq!(redact(r#"{"a\"b": 1}"#, &["a\"b"]).as_deref(), Some(r#"{"a\"b": "anonymous"}"#));
        assert_eq!(redact(r#"{"a\\b": 1}"#, &["a\\b"]).as_deref(), Some(r#"{"a\\b": "anonymous"}"#));
        assert_eq!(redact(r#"{"\ud83d\ude00": 1}"#, &["😀"]).as_deref(), Some(r#"{"\ud83d\ude00": "anonymous"}"#));
        // The raw text of the key does not match: only its unescaped value does.
        assert_eq!(redact(r#"{"na\u006de": "alice"}"#, &["na\\u006de"]), None);
    }

    #[test]
    fn keys_that_are_values_elsewhere_are_not_members() {
        let doc = r#"{"field": "name", "list": ["name", {"k": "name"}], "name2": 1}"#;
        assert_eq!(redact(doc, &["name"]), None);
    }

    #[test]
    fn keys_are_case_sensitive() {
        assert_eq!(redact(r#"{"Name": 1}"#, &["name"]), None);
    }

    #[test]
    fn strings_with_braces_and_quotes() {
        let doc = r#"{"note": "}{][\",:", "name": "a \"quoted\" {name}", "x": "\"name\": 1"}"#;
        assert_eq!(redact(doc, &["name"]).unwrap(), r#"{"note": "}{][\",:", "name": "anonymous", "x": "\"name\": 1"}"#);
    }

    #[test]
    fn unicode_is_copied_through() {
        let doc = r#"{"städte": ["Zürich", "東京"], "名前": "アリス", "emoji": "😀"}"#;
        assert_eq!(
            redact(doc, &["名前"]).unwrap(),
            r#"{"städte": ["Zürich", "東京"], "名前": "anonymous", "emoji": "😀"}"#
        );
    }

    #[test]
    fn replacement_is_escaped() {
        let out = redact_members(r#"{"a": 1}"#, &["a"], "x\"y\\z\n\u{1}é").unwrap().unwrap();
        assert_eq!(out, r#"{"a": "x\"y\\z\n\u0001é"}"#);
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["a"], "x\"y\\z\n\u{1}é");
    }

    #[test]
    fn already_redacted_is_unchanged() {
        assert_eq!(redact(r#"{"a": "anonymous", "b": {"a": "anonymous"}}"#, &["a"]), None);
        // Spelled with an escape it is still the same string.
        assert_eq!(redact(r#"{"a": "anonymou\u0073"}"#, &["a"]), None);
        let once = redact(r#"{"a": {"b": 1}}"#, &["a", "b"]).unwrap();
        assert_eq!(redact(&once, &["a", "b"]), None);
    }

    #[test]
    fn scalar_and_empty_documents() {
        for doc in ["1", "\"name\"", "null", "[]", "{}", " [ ] ", "[1, \"a\", null]"] {
            assert_eq!(redact_members(doc, &["name"], R), Ok(None), "{doc}");
        }
    }

    #[test]
    fn no_keys_changes_nothing() {
        assert_eq!(redact(r#"{"a": 1}"#, &[]), None);
    }

    #[test]
    fn duplicate_keys_in_json_are_all_replaced() {
        assert_eq!(redact(r#"{"a": 1, "a": 2}"#, &["a"]).as_deref(), Some(r#"{"a": "anonymous", "a": "anonymous"}"#));
    }

    #[test]
    fn member_values_only_matching_strings() {
        let doc = r#"{"author": "alice", "editor": "bob", "reviewers": [{"author": "alice"}, {"author": "carol"}], "text": "alice"}"#;
        assert_eq!(
            redact_values(doc, &["author", "editor"], &["alice"]).unwrap(),
            r#"{"author": "anonymous", "editor": "bob", "reviewers": [{"author": "anonymous"}, {"author": "carol"}], "text": "alice"}"#
        );
    }

    #[test]
    fn member_values_ignore_non_strings_and_look_inside_them() {
        let doc = r#"{"author": {"author": "alice"}, "x": ["alice"], "author2": "alice", "n": 1}"#;
        assert_eq!(
            redact_values(doc, &["author", "n"], &["alice", "1"]).unwrap(),
            r#"{"author": {"author": "anonymous"}, "x": ["alice"], "author2": "alice", "n": 1}"#
        );
    }

    #[test]
    fn member_values_compare_unescaped_and_exact() {
        assert_eq!(
            redact_values(r#"{"u": "al\u0069ce"}"#, &["u"], &["alice"]).as_deref(),
            Some(r#"{"u": "anonymous"}"#)
        );
        assert_eq!(redact_values(r#"{"u": "Alice"}"#, &["u"], &["alice"]), None);
        assert_eq!(redact_values(r#"{"u": "alice "}"#, &["u"], &["alice"]), None);
        assert_eq!(redact_values(r#"{"u": "alice"}"#, &["u"], &[]), None);
    }

    #[test]
    fn member_values_identifier_equal_to_replacement_changes_nothing() {
        assert_eq!(redact_values(r#"{"u": "anonymous"}"#, &["u"], &["anonymous"]), None);
    }

    fn deep_array(depth: usize) -> String {
        let mut s = "[".repeat(depth);
        s.push_str("\"x\"");
        s.push_str(&"]".repeat(depth));
        s
    }

    fn deep_object(depth: usize, key: &str, leaf: &str) -> String {
        let mut s = String::with_capacity(depth * (key.len() + 6) + leaf.len());
        for _ in 0..depth {
            s.push_str("{\"");
            s.push_str(key);
            s.push_str("\": ");
        }
        s.push_str(leaf);
        s.push_str(&"}".repeat(depth));
        s
    }

    const DEEP: usize = 100_000;

    #[test]
    fn deep_array_nest_does_not_overflow() {
        let doc = deep_array(DEEP);
        assert_eq!(redact(&doc, &["name"]), None);
        let member = format!("{{\"name\": {doc}, \"keep\": {doc}}}");
        let expected = format!("{{\"name\": \"anonymous\", \"keep\": {doc}}}");
        assert_eq!(redact(&member, &["name"]), Some(expected));
    }

    #[test]
    fn deep_object_nest_does_not_overflow() {
        let doc = deep_object(DEEP, "k", "{\"name\": \"alice\"}");
        let out = redact(&doc, &["name"]).unwrap();
        assert_eq!(out, deep_object(DEEP, "k", "{\"name\": \"anonymous\"}"));
        // Redacting the outermost key replaces the whole nest at once.
        assert_eq!(redact(&doc, &["k"]).as_deref(), Some("{\"k\": \"anonymous\"}"));
        let values = redact_values(&doc, &["name"], &["alice"]).unwrap();
        assert_eq!(values, deep_object(DEEP, "k", "{\"name\": \"anonymous\"}"));
    }

    #[test]
    fn deep_invalid_documents_are_errors() {
        let open = "[".repeat(DEEP);
        assert_eq!(redact_members(&open, &["a"], R), Err(JsonError::Invalid(DEEP)));
        let mismatched = format!("{}{}", "[".repeat(DEEP), "}".repeat(DEEP));
        assert_eq!(redact_members(&mismatched, &["a"], R), Err(JsonError::Invalid(DEEP)));
    }

    #[test]
    fn invalid_documents_are_errors_with_position() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("   ", 3),
            ("{", 1),
            ("{\"a\"}", 4),
            ("{\"a\":}", 5),
            ("{\"a\":1,}", 7),
            ("[1,]", 3),
            ("[1 2]", 3),
            ("{a:1}", 1),
            ("{'a':1}", 1),
            ("[01]", 2),
            ("[1.]", 3),
            ("[.5]", 1),
            ("[1e]", 3),
            ("[-]", 2),
            ("[+1]", 1),
            ("[tru]", 1),
            ("[nulll]", 5),
            ("\"abc", 4),
            ("\"a\nb\"", 2),
            ("\"\\x\"", 2),
            ("\"\\u12\"", 1),
            ("\"\\ud800\"", 1),
            ("\"\\udc00\"", 1),
            ("\"\\ud800\\u0041\"", 1),
            ("[1]]", 3),
            ("[1] x", 4),
            ("{\"a\":1]", 6),
            ("[1}", 2),
            ("{\"a\" 1}", 5),
            ("[NaN]", 1),
            ("[Infinity]", 1),
            ("\u{feff}[]", 0),
            ("[1,\u{a0}2]", 3),
        ];
        for &(doc, at) in cases {
            assert_eq!(redact_members(doc, &["a"], R), Err(JsonError::Invalid(at)), "{doc:?}");
            assert!(serde_json::from_str::<Value>(doc).is_err(), "serde accepts {doc:?}");
        }
    }

    #[test]
    fn error_message() {
        assert_eq!(JsonError::Invalid(7).to_string(), "invalid JSON at byte 7");
    }

    #[test]
    fn huge_numbers_are_valid() {
        let doc = format!("{{\"a\": 1e999999, \"b\": {}}}", "9".repeat(1000));
        assert_eq!(redact(&doc, &["a"]), Some(format!("{{\"a\": \"anonymous\", \"b\": {}}}", "9".repeat(1000))));
    }

    #[test]
    fn push_json_string_escapes_like_postgres() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c/\u{8}\u{c}\n\r\t\u{1f}\u{7f}é😀");
        assert_eq!(out, "\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u001f\u{7f}é😀\"");
    }

    #[test]
    fn unescape_handles_every_escape() {
        let mut out = String::new();
        unescape_into(r#"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00z"#, &mut out);
        assert_eq!(out, "a\"\\/\u{8}\u{c}\n\r\t\u{e9}😀z");
    }

    // ---- properties ----

    /// A reference implementation on serde_json trees (fine for shallow documents).
    fn reference(v: &mut Value, keys: &[&str], ids: Option<&[&str]>) -> bool {
        let mut changed = false;
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    let hit = keys.contains(&k.as_str())
                        && child.as_str() != Some(R)
                        && match ids {
                            None => true,
                            Some(ids) => child.as_str().is_some_and(|s| ids.contains(&s)),
                        };
                    if hit {
                        *child = Value::String(R.to_owned());
                        changed = true;
                    } else {
                        changed |= reference(child, keys, ids);
                    }
                }
            }
            Value::Array(items) => {
                for child in items {
                    changed |= reference(child, keys, ids);
                }
            }
            _ => {}
        }
        changed
    }

    /// No member named one of `keys` holds anything but the replacement.
    fn fully_redacted(v: &Value, keys: &[&str]) -> bool {
        match v {
            Value::Object(map) => {
                map.iter().all(
                    |(k, child)| {
                        if keys.contains(&k.as_str()) {
                            child == R
                        } else {
                            fully_redacted(child, keys)
                        }
                    },
                )
            }
            Value::Array(items) => items.iter().all(|c| fully_redacted(c, keys)),
            _ => true,
        }
    }

    const KEYS: &[&str] = &["name", "e\"m", "ü", "k"];

    fn key_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec!["name", "e\"m", "ü", "k", "other", "Name", "anonymous", ""])
                .prop_map(String::from),
            "\\PC{0,4}",
        ]
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            prop::sample::select(vec!["alice", "bob", "anonymous", "{\"name\": 1}", "ü\"\\\n"]).prop_map(Value::from),
            "\\PC{0,6}".prop_map(Value::from),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key_strategy(), inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// A shallow document printed compactly or pretty, or with ASCII escapes for every non-ASCII char.
    fn printed() -> impl Strategy<Value = String> {
        (json_value(), 0..3u8).prop_map(|(v, style)| match style {
            0 => serde_json::to_string(&v).unwrap(),
            1 => serde_json::to_string_pretty(&v).unwrap(),
            _ => ascii_escaped(&serde_json::to_string(&v).unwrap()),
        })
    }

    /// Rewrites every non-ASCII char as `\uXXXX` escapes (only valid inside strings, where serde puts them).
    fn ascii_escaped(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(out, "\\u{u:04x}").unwrap();
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(doc in "\\PC{0,64}", key in "\\PC{0,3}") {
            let _ = redact_members(&doc, &[&key], R);
            let _ = redact_member_values(&doc, &[&key], &[&key], R);
        }

        #[test]
        fn accepts_exactly_what_serde_accepts(tokens in prop::collection::vec(prop::sample::select(vec![
            "{", "}", "[", "]", ":", ",", "\"a\"", "\"\\n\"", "\"\\q\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"",
            "1", "-", "0", "e", ".", "+", "true", "nul", "null", " ", "\"", "\\", "\n", "é",
        ]), 0..24)) {
            let doc: String = tokens.concat();
            let ours = redact_members(&doc, &["a"], R).is_ok();
            let serde = serde_json::from_str::<Value>(&doc).is_ok();
            prop_assert_eq!(ours, serde, "{:?}", doc);
        }

        #[test]
        fn truncated_documents_never_panic(text in printed(), cut in any::<prop::sample::Index>()) {
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) { at -= 1; }
            let _ = redact_members(&text[..at], KEYS, R);
            let _ = redact_member_values(&text[..at], KEYS, &["alice"], R);
        }

        #[test]
        fn redact_members_agrees_with_reference(text in printed()) {
            let result = redact_members(&text, KEYS, R);
            prop_assert!(result.is_ok());
            // Reparse rather than clone: serde_json's float parsing does not always round-trip.
            let mut expected: Value = serde_json::from_str(&text).unwrap();
            let changed = reference(&mut expected, KEYS, None);
            match result.unwrap() {
                None => prop_assert!(!changed),
                Some(out) => {
                    prop_assert!(changed);
                    let parsed: Value = serde_json::from_str(&out).expect("output is valid JSON");
                    prop_assert!(fully_redacted(&parsed, KEYS));
                    prop_assert_eq!(parsed, expected);
                }
            }
        }

        #[test]
        fn redact_member_values_agrees_with_reference(text in printed()) {
            let ids = ["alice", "ü\"\\\n", "anonymous"];
            let result = redact_member_values(&text, KEYS, &ids, R);
            prop_assert!(result.is_ok());
            // Reparse rather than clone: serde_json's float parsing does not always round-trip.
            let mut expected: Value = serde_json::from_str(&text).unwrap();
            let changed = reference(&mut expected, KEYS, Some(&ids));
            match result.unwrap() {
                None => prop_assert!(!changed),
                Some(out) => {
                    prop_assert!(changed);
                    let parsed: Value = serde_json::from_str(&out).expect("output is valid JSON");
                    prop_assert_eq!(parsed, expected);
                }
            }
        }

        #[test]
        fn redaction_is_idempotent(text in printed()) {
            if let Some(once) = redact_members(&text, KEYS, R).unwrap() {
                prop_assert_eq!(redact_members(&once, KEYS, R), Ok(None));
            }
        }

        #[test]
        fn any_replacement_text_gives_valid_json(replacement in "\\PC{0,8}|[\\x00-\\x1f\"\\\\]{0,4}") {
            let doc = json!({"name": {"a": [1, 2]}, "x": "name"}).to_string();
            let out = redact_members(&doc, &["name"], &replacement).unwrap();
            let parsed: Value = serde_json::from_str(&out.unwrap_or(doc)).unwrap();
            prop_assert_eq!(&parsed["name"], &Value::String(replacement.clone()));
        }
    }
}
