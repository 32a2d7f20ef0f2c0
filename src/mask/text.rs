//! `@pii scrub`: removing people's identifiers from free text.
//!
//! A [`Scrubber`] is built once per statement from the identifiers of the
//! people being anonymized (user names, keys, e-mail addresses) and then run
//! over every value of the column, so matching is one Aho-Corasick pass over
//! the text whatever the number of identifiers. Identifiers are literals,
//! never patterns: `%`, `_` or `.*` mean themselves.

use aho_corasick::{AhoCorasick, BuildError, MatchKind};

/// Finds and replaces a fixed set of identifiers in text: whole words only,
/// ASCII case-insensitive, longest identifier first.
///
/// The automaton reports every (overlapping) occurrence; the scrubber then
/// keeps the occurrences that stand as whole words and, from left to right,
/// the longest one at each position. A leftmost-longest automaton alone would
/// not do: when its longest match is not a whole word (`bob smith` in
/// `bob smithy`) a shorter identifier at the same place (`bob`) must still
/// be found.
#[derive(Debug, Clone)]
pub struct Scrubber {
    /// `None` when there is no non-empty identifier.
    matcher: Option<AhoCorasick>,
}

impl Scrubber {
    /// Builds a scrubber for `identifiers`. Empty identifiers are ignored;
    /// with no non-empty identifier the scrubber matches nothing.
    ///
    /// # Panics
    ///
    /// If the automaton exceeds aho-corasick's size limits (billions of
    /// states); see [`Scrubber::try_new`].
    pub fn new<S: AsRef<str>>(identifiers: &[S]) -> Scrubber {
        Self::try_new(identifiers).unwrap_or_else(|e| panic!("cannot build the identifier matcher: {e}"))
    }

    /// Like [`Scrubber::new`], but reports an automaton too large to build as an error.
    ///
    /// # Errors
    ///
    /// The [`BuildError`] of aho-corasick when the identifiers are too many or too long.
    pub fn try_new<S: AsRef<str>>(identifiers: &[S]) -> Result<Scrubber, BuildError> {
        let patterns = distinct_patterns(identifiers);
        if patterns.is_empty() {
            return Ok(Scrubber { matcher: None });
        }
        let matcher =
            AhoCorasick::builder().match_kind(MatchKind::Standard).ascii_case_insensitive(true).build(&patterns)?;
        Ok(Scrubber { matcher: Some(matcher) })
    }

    /// Replaces each occurrence of an identifier in `text` with `replacement`.
    ///
    /// The longest identifier at a place wins (an e-mail goes whole, not just
    /// the name inside it), and only where the occurrence is not part of a
    /// longer word: when the identifier starts (ends) with an alphanumeric
    /// character or `_`, the character before (after) it must not be one.
    /// Matching is case-insensitive for ASCII letters. Returns `None` when the
    /// text does not change.
    pub fn scrub(&self, text: &str, replacement: &str) -> Option<String> {
        let spans = self.whole_word_matches(text);
        if spans.is_empty() {
            return None;
        }
        let out = splice(text, &spans, replacement);
        (out != text).then_some(out)
    }

    /// Whether the scrubber has no identifier to look for.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// The occurrences to replace, as non-overlapping `(start, end)` byte
    /// spans in ascending order: from left to right, the longest whole-word
    /// occurrence that does not overlap the previous one.
    fn whole_word_matches(&self, text: &str) -> Vec<(usize, usize)> {
        let Some(matcher) = &self.matcher else {
            return Vec::new();
        };
        let mut spans: Vec<(usize, usize)> = matcher
            .find_overlapping_iter(text)
            .map(|m| (m.start(), m.end()))
            .filter(|&(start, end)| is_whole_word(text, start, end))
            .collect();
        // By start, then longest first.
        spans.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut end = 0;
        spans.retain(|&(s, e)| {
            let keep = s >= end;
            if keep {
                end = e;
            }
            keep
        });
        spans
    }
}

/// The non-empty identifiers, without ASCII-case-insensitive duplicates.
fn distinct_patterns<S: AsRef<str>>(identifiers: &[S]) -> Vec<String> {
    let mut patterns: Vec<String> =
        identifiers.iter().map(AsRef::as_ref).filter(|s| !s.is_empty()).map(str::to_ascii_lowercase).collect();
    patterns.sort_unstable();
    patterns.dedup();
    patterns
}

/// `text` with each of the ascending, non-overlapping `spans` replaced by `replacement`.
fn splice(text: &str, spans: &[(usize, usize)], replacement: &str) -> String {
    let mut out = String::with_capacity(text.len() + spans.len() * replacement.len());
    let mut copied = 0;
    for &(start, end) in spans {
        out.push_str(&text[copied..start]);
        out.push_str(replacement);
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// A character that words are made of: alphanumeric (Unicode) or `_`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `text[start..end]` is not part of a longer word: a word character
/// at either end of it must not be followed (preceded) by another one.
fn is_whole_word(text: &str, start: usize, end: usize) -> bool {
    let matched = &text[start..end];
    let joins =
        |inner: Option<char>, outer: Option<char>| inner.is_some_and(is_word_char) && outer.is_some_and(is_word_char);
    !joins(matched.chars().next(), text[..start].chars().next_back())
        && !joins(matched.chars().next_back(), text[end..].chars().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const R: &str = "anonymous";

    fn scrub(ids: &[&str], text: &str) -> Option<String> {
        Scrubber::new(ids).scrub(text, R)
    }

    #[test]
    fn replaces_every_occurrence() {
        assert_eq!(scrub(&["bob"], "bob,bob bob").as_deref(), Some("anonymous,anonymous anonymous"));
        assert_eq!(scrub(&["alice", "bob"], "alice told bob").as_deref(), Some("anonymous told anonymous"));
    }

    #[test]
    fn email_goes_whole() {
        assert_eq!(
            scrub(&["alice", "alice@example.com"], "mail alice@example.com or ask alice.").as_deref(),
            Some("mail anonymous or ask anonymous.")
        );
        // Order of identifiers does not matter.
        assert_eq!(scrub(&["alice@example.com", "alice"], "alice@example.com").as_deref(), Some("anonymous"));
    }

    #[test]
    fn name_inside_an_unknown_address_is_still_scrubbed() {
        assert_eq!(scrub(&["alice"], "alice@other.org").as_deref(), Some("anonymous@other.org"));
    }

    #[test]
    fn whole_words_only() {
        assert_eq!(scrub(&["bob"], "bobby and jimbob and bob_2 and bob2 and bobé"), None);
        assert_eq!(scrub(&["bob"], "bob's bike").as_deref(), Some("anonymous's bike"));
        assert_eq!(scrub(&["bob"], "(bob)").as_deref(), Some("(anonymous)"));
        assert_eq!(scrub(&["bob"], "bob").as_deref(), Some("anonymous"));
        assert_eq!(scrub(&["bob"], "bob-smith").as_deref(), Some("anonymous-smith"));
    }

    #[test]
    fn longer_rejected_match_falls_back_to_shorter() {
        assert_eq!(
            scrub(&["bob", "bob smith"], "bob smithy and bob smith").as_deref(),
            Some("anonymous smithy and anonymous")
        );
    }

    #[test]
    fn overlapping_identifiers_leftmost_wins() {
        assert_eq!(scrub(&["a b", "b c"], "a b c").as_deref(), Some("anonymous c"));
    }

    #[test]
    fn case_insensitive_for_ascii() {
        assert_eq!(scrub(&["bob"], "BOB Bob bOb").as_deref(), Some("anonymous anonymous anonymous"));
        assert_eq!(scrub(&["ALICE@Example.COM"], "alice@example.com").as_deref(), Some("anonymous"));
        assert_eq!(scrub(&["Jürgen"], "jürgen").as_deref(), Some("anonymous"));
        // Non-ASCII letters are compared exactly.
        assert_eq!(scrub(&["jürgen"], "JÜRGEN"), None);
    }

    #[test]
    fn metacharacters_are_literal() {
        assert_eq!(
            scrub(&["a%b", "x_y", ".*"], "a%b axb x_y xzy .* ab").as_deref(),
            Some("anonymous axb anonymous xzy anonymous ab")
        );
        assert_eq!(scrub(&["j.doe"], "jxdoe"), None);
        assert_eq!(scrub(&["(a+)+$"], "x (a+)+$ y").as_deref(), Some("x anonymous y"));
        assert_eq!(scrub(&["\\d"], "1 \\d").as_deref(), Some("1 anonymous"));
    }

    #[test]
    fn boundaries_apply_only_at_word_character_ends() {
        // ".*" starts and ends with punctuation: no boundary needed.
        assert_eq!(scrub(&[".*"], "a.*b").as_deref(), Some("aanonymousb"));
        // "@bob" needs a boundary only after it.
        assert_eq!(scrub(&["@bob"], "x@bob y@bobby").as_deref(), Some("xanonymous y@bobby"));
        // "_" is a word character.
        assert_eq!(scrub(&["_"], "a_b _"), Some("a_b anonymous".to_owned()));
    }

    #[test]
    fn unicode_text_around_matches() {
        assert_eq!(
            scrub(&["bob"], "«bob» und Grüße an café-bob, ébob, bobé, 東京bob").as_deref(),
            Some("«anonymous» und Grüße an café-anonymous, ébob, bobé, 東京bob")
        );
        assert_eq!(scrub(&["bob"], "😀bob😀").as_deref(), Some("😀anonymous😀"));
        assert_eq!(scrub(&["ナオミ"], "こんにちは ナオミ さん").as_deref(), Some("こんにちは anonymous さん"));
    }

    #[test]
    fn unchanged_text_is_none() {
        assert_eq!(scrub(&["bob"], ""), None);
        assert_eq!(scrub(&["bob"], "nothing to see"), None);
        assert_eq!(scrub(&["anonymous"], "anonymous"), None);
    }

    #[test]
    fn empty_identifiers_match_nothing() {
        let s = Scrubber::new(&["", ""]);
        assert!(s.is_empty());
        assert_eq!(s.scrub("anything", R), None);
        let none: [&str; 0] = [];
        assert!(Scrubber::new(&none).is_empty());
        let some = Scrubber::new(&["", "bob"]);
        assert!(!some.is_empty());
        assert_eq!(some.scrub("bob", R).as_deref(), Some("anonymous"));
    }

    #[test]
    fn accepts_owned_strings_and_duplicates() {
        let ids = vec!["Bob".to_owned(), "bob".to_owned(), "BOB".to_owned()];
        assert_eq!(Scrubber::new(&ids).scrub("bob", "x").as_deref(), Some("x"));
    }

    #[test]
    fn replacement_may_be_anything() {
        let s = Scrubber::new(&["bob"]);
        assert_eq!(s.scrub("hi bob!", "").as_deref(), Some("hi !"));
        assert_eq!(s.scrub("hi bob!", "anonymous-1a2b3c4d").as_deref(), Some("hi anonymous-1a2b3c4d!"));
    }

    // ---- properties ----

    /// Naive reference: at each character, the longest whole-word identifier starting there.
    fn naive_scrub(ids: &[String], text: &str, replacement: &str) -> String {
        let lower = text.to_ascii_lowercase();
        let mut ids: Vec<String> = ids.iter().filter(|s| !s.is_empty()).map(|s| s.to_ascii_lowercase()).collect();
        ids.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = String::new();
        let mut i = 0;
        while i < text.len() {
            let hit = ids.iter().find(|id| lower[i..].starts_with(id.as_str()) && is_whole_word(text, i, i + id.len()));
            match hit {
                Some(id) => {
                    out.push_str(replacement);
                    i += id.len();
                }
                None => {
                    let c = text[i..].chars().next().unwrap();
                    out.push(c);
                    i += c.len_utf8();
                }
            }
        }
        out
    }

    /// Whether `id` occurs in `text` as a whole word (ASCII case-insensitively).
    fn contains_whole_word(text: &str, id: &str) -> bool {
        let (text_l, id_l) = (text.to_ascii_lowercase(), id.to_ascii_lowercase());
        !id.is_empty() && text_l.match_indices(id_l.as_str()).any(|(i, _)| is_whole_word(text, i, i + id.len()))
    }

    /// Identifiers and text share a small alphabet of letters, word and non-word characters.
    const ID: &str = "[abAB_%.@ é1\\-]{0,5}";
    const FILLER: &str = "[abAB_%.@ é1\\-]{0,3}";

    fn ids() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(ID, 0..5)
    }

    fn text_with(ids: Vec<String>) -> impl Strategy<Value = (Vec<String>, String)> {
        let pieces = prop::collection::vec(
            prop_oneof![
                FILLER.boxed(),
                prop::sample::select(if ids.is_empty() { vec![String::new()] } else { ids.clone() }).boxed(),
            ],
            0..8,
        );
        (Just(ids), pieces.prop_map(|p| p.concat()))
    }

    proptest! {
        #[test]
        fn never_panics(ids in prop::collection::vec(any::<String>(), 0..4), text in any::<String>(), r in "\\PC{0,4}") {
            let _ = Scrubber::new(&ids).scrub(&text, &r);
        }

        #[test]
        fn agrees_with_naive((ids, text) in ids().prop_flat_map(text_with)) {
            let expected = naive_scrub(&ids, &text, R);
            let got = Scrubber::new(&ids).scrub(&text, R);
            prop_assert_eq!(got.clone().unwrap_or_else(|| text.clone()), expected);
            if let Some(out) = got {
                prop_assert_ne!(out, text);
            }
        }

        #[test]
        fn no_identifier_survives_as_whole_word((ids, text) in ids().prop_flat_map(text_with)) {
            // The replacement is a non-word character that no identifier contains.
            let out = Scrubber::new(&ids).scrub(&text, "\u{2}").unwrap_or(text);
            for id in &ids {
                prop_assert!(!contains_whole_word(&out, id), "{:?} in {:?}", id, out);
            }
        }

        #[test]
        fn no_word_identifier_survives_anonymous(
            (ids, text) in prop::collection::vec("[abAé_1]{1,4}", 0..4).prop_flat_map(text_with)
        ) {
            let out = Scrubber::new(&ids).scrub(&text, R).unwrap_or(text);
            for id in &ids {
                prop_assert!(!contains_whole_word(&out, id), "{:?} in {:?}", id, out);
            }
        }

        #[test]
        fn text_without_identifiers_is_untouched(text in "[xyz ,.é]{0,20}", ids in prop::collection::vec("[ab]{1,4}", 0..4)) {
            prop_assert_eq!(Scrubber::new(&ids).scrub(&text, R), None);
        }
    }
}
