//! The `@pii` comment convention (SPEC section 2): parsing column and table
//! comments, checking that a tag fits its column, and choosing the strategy a
//! column is masked with.
//!
//! Pure Rust, no pgrx: the callers read the comments and types from the
//! catalog and hand them over as plain strings.
//!
//! Problems are built only from the comment's words, never from column data.

use serde::Serialize;
use std::fmt;

/// Most words one tag may have (all its tag lines together).
pub const MAX_WORDS: usize = 100;

/// Longest word a tag may have, in bytes.
pub const MAX_WORD_BYTES: usize = 1000;

/// How much of a too-long word is echoed back in its problem, in bytes.
const SHOWN_PREFIX_BYTES: usize = 40;

/// The words a column tag accepts, for problem messages.
const COLUMN_WORDS: &str =
    "subject, key, time, ip, ip:V4/V6, redact, redact:TEXT, null, hash, email, json:K1,K2, scrub, month, year";

/// The words a table tag accepts, for problem messages.
const TABLE_WORDS: &str = "delete, subjects";

/// The marker that starts a tag line.
const MARKER: &str = "@pii";

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// A role word of a column tag: what the column means for finding a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Role {
    /// Identifies the person; `anonymize_users` matches on it.
    Subject,
    /// The person's stable key; `retry_anonymization` matches on it.
    Key,
    /// The row's event time; never masked.
    Time,
    /// An IP address; jobs' `ips` match on it.
    Ip,
}

impl Role {
    /// The role's word, lowercase: `subject`, `key`, `time`, `ip`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Subject => "subject",
            Role::Key => "key",
            Role::Time => "time",
            Role::Ip => "ip",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a column's values are masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Strategy {
    /// `redact` (replaced by `anonymous`) or `redact:TEXT` (replaced by TEXT).
    Redact(Option<String>),
    /// `null`: set to NULL.
    Null,
    /// `hash`: keyed HMAC-SHA-256 pseudonym.
    Hash,
    /// `email`: `anon-<hash8>@anonymized.invalid`.
    Email,
    /// `json:K1,K2`: members with these names are redacted (keys in written
    /// order, duplicates removed, never empty).
    Json(Vec<String>),
    /// `scrub`: the person's identifiers are replaced inside free text.
    Scrub,
    /// `month`: truncated to the month.
    Month,
    /// `year`: truncated to the year.
    Year,
    /// `ip`, `ip:V4` or `ip:V4/V6`: masked to its network (`None` means the
    /// default prefix length: /24 for IPv4, /48 for IPv6).
    Ip { v4: Option<u8>, v6: Option<u8> },
    /// Never written by users: the default of a `subject` text column, the
    /// subject replacement.
    Subject,
}

impl Strategy {
    /// The strategy's keyword: `redact`, `null`, `hash`, `email`, `json`,
    /// `scrub`, `month`, `year`, `ip` or `subject`.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Redact(_) => "redact",
            Strategy::Null => "null",
            Strategy::Hash => "hash",
            Strategy::Email => "email",
            Strategy::Json(_) => "json",
            Strategy::Scrub => "scrub",
            Strategy::Month => "month",
            Strategy::Year => "year",
            Strategy::Ip { .. } => "ip",
            Strategy::Subject => "subject",
        }
    }
}

/// The canonical tag form: `redact`, `redact:TEXT`, `json:a,b`, `ip`,
/// `ip:16`, `ip:16/32`, `subject`... Parsing it gives the same strategy back
/// (for `Ip { v4: None, v6: Some(n) }`, which parsing never produces, the
/// IPv4 default is written out: `ip:24/n`).
impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Redact(Some(text)) => write!(f, "redact:{text}"),
            Strategy::Json(keys) => write!(f, "json:{}", keys.join(",")),
            Strategy::Ip { v4: None, v6: None } => f.write_str("ip"),
            Strategy::Ip { v4: Some(v4), v6: None } => write!(f, "ip:{v4}"),
            Strategy::Ip { v4, v6: Some(v6) } => {
                write!(f, "ip:{}/{v6}", v4.unwrap_or(DEFAULT_V4_PREFIX))
            }
            other => f.write_str(other.name()),
        }
    }
}

/// The IPv4 prefix length kept by `ip` when none is written.
const DEFAULT_V4_PREFIX: u8 = 24;

/// What kind of PostgreSQL type a column has, as far as tags care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TypeClass {
    /// A string type (`text`, `varchar`, `bpchar`, `name`, `citext`...).
    Text,
    /// `inet` or `cidr`.
    Inet,
    /// `json` or `jsonb`.
    Json,
    /// `date`.
    Date,
    /// `timestamp` or `timestamptz`.
    Timestamp,
    /// Anything else (numbers, `uuid`, `bytea`, `time`, arrays...).
    Other,
}

impl TypeClass {
    /// Classifies a base type from its `pg_type.typname` and
    /// `pg_type.typcategory` (for a domain, pass its base type's).
    pub fn from_pg(typname: &str, category: char) -> TypeClass {
        match typname {
            "inet" | "cidr" => TypeClass::Inet,
            "json" | "jsonb" => TypeClass::Json,
            "date" => TypeClass::Date,
            "timestamp" | "timestamptz" => TypeClass::Timestamp,
            "citext" => TypeClass::Text,
            _ if category == 'S' => TypeClass::Text,
            _ => TypeClass::Other,
        }
    }

    /// How problem sentences name a column of this class.
    fn describe(self) -> &'static str {
        match self {
            TypeClass::Text => "a text column",
            TypeClass::Inet => "an inet/cidr column",
            TypeClass::Json => "a json/jsonb column",
            TypeClass::Date => "a date column",
            TypeClass::Timestamp => "a timestamp column",
            TypeClass::Other => "a column of another type",
        }
    }
}

/// The parsed `@pii` lines of one column comment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ColumnTag {
    /// The role words, sorted, without duplicates.
    pub roles: Vec<Role>,
    /// The strategy written, if any (a bare `ip` counts as the strategy only
    /// when no other strategy is written).
    pub strategy: Option<Strategy>,
    /// The tag line(s) as written, each trimmed, joined with `\n`.
    pub text: String,
}

/// One problem with a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagProblem {
    /// The offending word as written (`""` when the problem is about the
    /// whole tag; a word longer than [`MAX_WORD_BYTES`] is shortened).
    pub word: String,
    /// What is wrong, as a sentence.
    pub problem: String,
}

impl TagProblem {
    fn new(word: impl Into<String>, problem: impl Into<String>) -> TagProblem {
        TagProblem { word: word.into(), problem: problem.into() }
    }
}

/// The parsed `@pii` lines of one table comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TableTag {
    /// `@pii delete`: the person's rows are deleted instead of masked.
    pub delete: bool,
    /// `@pii subjects`: the table of user accounts.
    pub subjects: bool,
}

// ---------------------------------------------------------------------------
// Tag lines and words
// ---------------------------------------------------------------------------

/// Word separators inside a tag line.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// What follows `@pii` when `line` is a tag line, `None` otherwise.
fn tag_line_body(line: &str) -> Option<&str> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let rest = line.trim_start_matches(is_blank).strip_prefix(MARKER)?;
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if is_blank(c) => Some(rest),
        Some(_) => None,
    }
}

/// The words of a tag line's body.
fn words_of(body: &str) -> impl Iterator<Item = &str> {
    body.split(is_blank).filter(|w| !w.is_empty())
}

/// The tag lines of a comment, merged.
struct TagLines<'a> {
    /// Each tag line, trimmed.
    lines: Vec<&'a str>,
    /// All their words, in order (at most `MAX_WORDS + 1`).
    words: Vec<&'a str>,
}

impl TagLines<'_> {
    fn too_many_words(&self) -> bool {
        self.words.len() > MAX_WORDS
    }

    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// Collects the tag lines of a comment; `None` when it has none.
fn tag_lines(comment: &str) -> Option<TagLines<'_>> {
    let mut found = TagLines { lines: Vec::new(), words: Vec::new() };
    for line in comment.split('\n') {
        let Some(body) = tag_line_body(line) else { continue };
        found.lines.push(line.trim_matches(|c| is_blank(c) || c == '\r'));
        let room = (MAX_WORDS + 1).saturating_sub(found.words.len());
        found.words.extend(words_of(body).take(room));
    }
    (!found.lines.is_empty()).then_some(found)
}

/// The problem for a tag with more than [`MAX_WORDS`] words.
fn too_many_words_problem() -> TagProblem {
    TagProblem::new("", format!("the tag is too long: more than {MAX_WORDS} words"))
}

/// The problem for a word longer than [`MAX_WORD_BYTES`], if it is one.
fn too_long_word_problem(word: &str) -> Option<TagProblem> {
    (word.len() > MAX_WORD_BYTES).then(|| {
        TagProblem::new(
            shorten(word),
            format!("the word is too long: {} bytes, at most {MAX_WORD_BYTES} are allowed", word.len()),
        )
    })
}

/// The first bytes of a long word (on a character boundary), marked with `…`.
fn shorten(word: &str) -> String {
    let mut end = SHOWN_PREFIX_BYTES.min(word.len());
    while !word.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &word[..end])
}

/// Splits `kw:arg` into its keyword and argument.
fn split_word(word: &str) -> (&str, Option<&str>) {
    match word.split_once(':') {
        Some((kw, arg)) => (kw, Some(arg)),
        None => (word, None),
    }
}

// ---------------------------------------------------------------------------
// Column words
// ---------------------------------------------------------------------------

/// One parsed word of a column tag.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ColumnWord {
    Role(Role),
    /// A bare `ip`: the `ip` role, and the strategy unless another is written.
    BareIp,
    /// A strategy; `ip:...` also gives the `ip` role.
    Strategy(Strategy),
}

/// Parses one word of a column tag; `Err` holds the problem sentence.
fn parse_column_word(word: &str) -> Result<ColumnWord, String> {
    let (kw, arg) = split_word(word);
    let lower = kw.to_ascii_lowercase();
    let no_arg = |value: ColumnWord| match arg {
        None => Ok(value),
        Some(_) => Err(format!("`{lower}` takes no argument; write it without a colon")),
    };
    match lower.as_str() {
        "subject" => no_arg(ColumnWord::Role(Role::Subject)),
        "key" => no_arg(ColumnWord::Role(Role::Key)),
        "time" => no_arg(ColumnWord::Role(Role::Time)),
        "ip" => match arg {
            None => Ok(ColumnWord::BareIp),
            Some(arg) => parse_ip_arg(arg).map(ColumnWord::Strategy),
        },
        "redact" => parse_redact_arg(arg).map(ColumnWord::Strategy),
        "json" => parse_json_arg(arg).map(ColumnWord::Strategy),
        "null" => no_arg(ColumnWord::Strategy(Strategy::Null)),
        "hash" => no_arg(ColumnWord::Strategy(Strategy::Hash)),
        "email" => no_arg(ColumnWord::Strategy(Strategy::Email)),
        "scrub" => no_arg(ColumnWord::Strategy(Strategy::Scrub)),
        "month" => no_arg(ColumnWord::Strategy(Strategy::Month)),
        "year" => no_arg(ColumnWord::Strategy(Strategy::Year)),
        "delete" | "subjects" => {
            Err(format!("`{lower}` belongs in a table comment, not a column comment; column words are {COLUMN_WORDS}"))
        }
        _ => Err(format!("unknown word `{kw}`; allowed words are {COLUMN_WORDS}")),
    }
}

/// `redact` or `redact:TEXT` (TEXT non-empty, verbatim).
fn parse_redact_arg(arg: Option<&str>) -> Result<Strategy, String> {
    match arg {
        None => Ok(Strategy::Redact(None)),
        Some("") => {
            Err("`redact:` needs a replacement text after the colon (or write `redact` for `anonymous`)".to_string())
        }
        Some(text) => Ok(Strategy::Redact(Some(text.to_string()))),
    }
}

/// `json:K1,K2`: at least one key, none empty; duplicates dropped.
fn parse_json_arg(arg: Option<&str>) -> Result<Strategy, String> {
    let arg = match arg {
        None | Some("") => return Err("`json` needs the member names to redact: `json:K1,K2`".to_string()),
        Some(arg) => arg,
    };
    let mut keys: Vec<String> = Vec::new();
    for key in arg.split(',') {
        if key.is_empty() {
            return Err("`json:` member names must not be empty (a doubled, leading or trailing comma)".to_string());
        }
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
    }
    Ok(Strategy::Json(keys))
}

/// `ip:V4` or `ip:V4/V6`.
fn parse_ip_arg(arg: &str) -> Result<Strategy, String> {
    let (v4, v6) = match arg.split_once('/') {
        Some((v4, v6)) => (v4, Some(v6)),
        None => (arg, None),
    };
    let v4 = parse_prefix(v4, 32, "IPv4")?;
    let v6 = v6.map(|v6| parse_prefix(v6, 128, "IPv6")).transpose()?;
    Ok(Strategy::Ip { v4: Some(v4), v6 })
}

/// One prefix length, `0..=max`.
fn parse_prefix(text: &str, max: u8, family: &str) -> Result<u8, String> {
    let usage = "write `ip:V4/V6` or `ip:V4` with prefix lengths (IPv4 0 to 32, IPv6 0 to 128)";
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the {family} prefix length `{text}` is not a number; {usage}"));
    }
    match text.parse::<u64>() {
        Ok(n) if n <= u64::from(max) => Ok(n as u8),
        _ => Err(format!("the {family} prefix length {text} is out of range 0 to {max}; {usage}")),
    }
}

// ---------------------------------------------------------------------------
// Column comments
// ---------------------------------------------------------------------------

/// The words of a column tag merged, with the problems found on the way.
#[derive(Default)]
struct Merged<'a> {
    roles: Vec<Role>,
    /// The first explicit strategy and the word it was written as.
    strategy: Option<(Strategy, &'a str)>,
    bare_ip: bool,
    /// The first `time` word as written.
    time_word: Option<&'a str>,
    problems: Vec<TagProblem>,
}

impl<'a> Merged<'a> {
    fn add(&mut self, word: &'a str) {
        if let Some(problem) = too_long_word_problem(word) {
            self.problems.push(problem);
            return;
        }
        match parse_column_word(word) {
            Err(problem) => self.problems.push(TagProblem::new(word, problem)),
            Ok(ColumnWord::Role(role)) => self.add_role(role, word),
            Ok(ColumnWord::BareIp) => {
                self.bare_ip = true;
                self.add_role(Role::Ip, word);
            }
            Ok(ColumnWord::Strategy(strategy)) => self.add_strategy(strategy, word),
        }
    }

    fn add_role(&mut self, role: Role, word: &'a str) {
        if role == Role::Time && self.time_word.is_none() {
            self.time_word = Some(word);
        }
        if !self.roles.contains(&role) {
            self.roles.push(role);
        }
    }

    fn add_strategy(&mut self, strategy: Strategy, word: &'a str) {
        if matches!(strategy, Strategy::Ip { .. }) {
            self.add_role(Role::Ip, word);
        }
        match &self.strategy {
            None => self.strategy = Some((strategy, word)),
            Some((first, _)) if *first == strategy => {}
            Some((_, first_word)) => self.problems.push(TagProblem::new(
                word,
                format!("two strategies on one column: `{first_word}` and `{word}`; keep only one"),
            )),
        }
    }

    /// `time` is never masked: it stands alone.
    fn check_time(&mut self) {
        let Some(time_word) = self.time_word else { return };
        let mut others: Vec<String> = self
            .roles
            .iter()
            .filter(|r| **r != Role::Time && !(**r == Role::Ip && self.strategy_is_ip()))
            .map(|r| format!("`{}`", r.as_str()))
            .collect();
        if let Some((_, word)) = &self.strategy {
            others.push(format!("`{word}`"));
        }
        if !others.is_empty() {
            self.problems.push(TagProblem::new(
                time_word,
                format!(
                    "`time` marks the row's event time, which is never masked, so it cannot be combined with {}",
                    others.join(", ")
                ),
            ));
        }
    }

    fn strategy_is_ip(&self) -> bool {
        matches!(self.strategy, Some((Strategy::Ip { .. }, _)))
    }

    fn finish(mut self, text: String) -> Result<ColumnTag, Vec<TagProblem>> {
        self.check_time();
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        self.roles.sort();
        let strategy = match self.strategy {
            Some((strategy, _)) => Some(strategy),
            None if self.bare_ip => Some(Strategy::Ip { v4: None, v6: None }),
            None => None,
        };
        Ok(ColumnTag { roles: self.roles, strategy, text })
    }
}

/// Parses the `@pii` lines of a column comment.
///
/// `Ok(None)` when no line is a tag line; `Err` with every problem, in the
/// order of the words, when any word is bad.
pub fn parse_column_comment(comment: &str) -> Result<Option<ColumnTag>, Vec<TagProblem>> {
    let Some(lines) = tag_lines(comment) else { return Ok(None) };
    if lines.too_many_words() {
        return Err(vec![too_many_words_problem()]);
    }
    let mut merged = Merged::default();
    for word in &lines.words {
        merged.add(word);
    }
    merged.finish(lines.text()).map(Some)
}

// ---------------------------------------------------------------------------
// Table comments
// ---------------------------------------------------------------------------

/// Parses the `@pii` lines of a table comment (`delete`, `subjects`).
///
/// Returns what was understood and every problem, in the order of the words.
pub fn parse_table_comment(comment: &str) -> (TableTag, Vec<TagProblem>) {
    let mut tag = TableTag::default();
    let Some(lines) = tag_lines(comment) else { return (tag, Vec::new()) };
    if lines.too_many_words() {
        return (tag, vec![too_many_words_problem()]);
    }
    if lines.words.is_empty() {
        let problem = format!("a table's `@pii` line needs a word: {TABLE_WORDS}");
        return (tag, vec![TagProblem::new("", problem)]);
    }
    let mut problems = Vec::new();
    for word in lines.words {
        if let Some(problem) = too_long_word_problem(word) {
            problems.push(problem);
            continue;
        }
        match parse_table_word(word) {
            Ok(TableWord::Delete) => tag.delete = true,
            Ok(TableWord::Subjects) => tag.subjects = true,
            Err(problem) => problems.push(TagProblem::new(word, problem)),
        }
    }
    (tag, problems)
}

/// One word of a table tag.
enum TableWord {
    Delete,
    Subjects,
}

/// Parses one word of a table tag; `Err` holds the problem sentence.
fn parse_table_word(word: &str) -> Result<TableWord, String> {
    let (kw, arg) = split_word(word);
    let lower = kw.to_ascii_lowercase();
    let parsed = match lower.as_str() {
        "delete" => TableWord::Delete,
        "subjects" => TableWord::Subjects,
        _ if parse_column_word(kw).is_ok() || lower == "json" => {
            return Err(format!(
                "`{lower}` belongs in a column comment, not a table comment; table words are {TABLE_WORDS}"
            ))
        }
        _ => return Err(format!("unknown word `{kw}`; allowed words are {TABLE_WORDS}")),
    };
    match arg {
        None => Ok(parsed),
        Some(_) => Err(format!("`{lower}` takes no argument; write it without a colon")),
    }
}

// ---------------------------------------------------------------------------
// Fit to the column, and the effective strategy
// ---------------------------------------------------------------------------

/// Whether a strategy fits a type class; `Err` says which columns it fits.
fn strategy_fits(strategy: &Strategy, ty: TypeClass) -> Result<(), &'static str> {
    use TypeClass::*;
    let (fits, needs) = match strategy {
        Strategy::Redact(_) | Strategy::Hash | Strategy::Email | Strategy::Scrub | Strategy::Subject => {
            (ty == Text, "text columns")
        }
        Strategy::Json(_) => (ty == Json, "json or jsonb columns"),
        Strategy::Month | Strategy::Year => (matches!(ty, Date | Timestamp), "date or timestamp columns"),
        Strategy::Ip { .. } => (matches!(ty, Inet | Text), "inet, cidr or text columns"),
        Strategy::Null => (true, "columns that allow NULL"),
    };
    if fits {
        Ok(())
    } else {
        Err(needs)
    }
}

/// The word the tag text wrote for `wanted`, or its canonical form.
fn written_word(tag: &ColumnTag, wanted: &ColumnWord, canonical: String) -> String {
    tag.text
        .split('\n')
        .filter_map(tag_line_body)
        .flat_map(words_of)
        .find(|word| parse_column_word(word).as_ref() == Ok(wanted))
        .map_or(canonical, str::to_string)
}

/// The word a strategy was written as.
fn strategy_word(tag: &ColumnTag, strategy: &Strategy) -> String {
    let canonical = strategy.to_string();
    match strategy {
        Strategy::Ip { v4: None, v6: None } => written_word(tag, &ColumnWord::BareIp, canonical),
        _ => written_word(tag, &ColumnWord::Strategy(strategy.clone()), canonical),
    }
}

/// The word a role was written as.
fn role_word(tag: &ColumnTag, role: Role) -> String {
    let wanted = match role {
        Role::Ip => ColumnWord::BareIp,
        _ => ColumnWord::Role(role),
    };
    written_word(tag, &wanted, role.as_str().to_string())
}

/// The problem with the written strategy, if any.
fn strategy_problem(tag: &ColumnTag, ty: TypeClass, not_null: bool) -> Option<TagProblem> {
    let strategy = tag.strategy.as_ref()?;
    let word = || strategy_word(tag, strategy);
    if let Err(needs) = strategy_fits(strategy, ty) {
        let problem = format!("`{}` fits {needs} only, and this is {}", strategy.name(), ty.describe());
        return Some(TagProblem::new(word(), problem));
    }
    (*strategy == Strategy::Null && not_null).then(|| {
        TagProblem::new(
            word(),
            "`null` cannot mask a NOT NULL column; choose another strategy or drop the NOT NULL constraint",
        )
    })
}

/// The problems with the roles.
fn role_problems(tag: &ColumnTag, ty: TypeClass) -> Vec<TagProblem> {
    let mut problems = Vec::new();
    let has = |role| tag.roles.contains(&role);
    let strategy_is_ip = matches!(tag.strategy, Some(Strategy::Ip { .. }));
    if has(Role::Ip) && !strategy_is_ip && strategy_fits(&Strategy::Ip { v4: None, v6: None }, ty).is_err() {
        problems.push(TagProblem::new(
            role_word(tag, Role::Ip),
            format!("`ip` fits inet, cidr or text columns only, and this is {}", ty.describe()),
        ));
    }
    if has(Role::Time) && !matches!(ty, TypeClass::Date | TypeClass::Timestamp) {
        problems.push(TagProblem::new(
            role_word(tag, Role::Time),
            format!("`time` fits date or timestamp columns only, and this is {}", ty.describe()),
        ));
    }
    if subject_lacks_strategy(tag, ty) {
        problems.push(TagProblem::new(
            role_word(tag, Role::Subject),
            format!(
                "without a strategy, `subject` is masked with the subject replacement, which fits text columns only, and this is {}; add a strategy that fits",
                ty.describe()
            ),
        ));
    }
    problems
}

/// A `subject` column with no strategy on a type the subject replacement
/// cannot fill.
fn subject_lacks_strategy(tag: &ColumnTag, ty: TypeClass) -> bool {
    tag.strategy.is_none() && tag.roles.contains(&Role::Subject) && ty != TypeClass::Text
}

/// The problem when the default strategy is `null` on a NOT NULL column.
fn default_null_problem(tag: &ColumnTag, ty: TypeClass, not_null: bool) -> Option<TagProblem> {
    let defaults_to_null = tag.strategy.is_none()
        && !subject_lacks_strategy(tag, ty)
        && effective_strategy(tag, ty) == Some(Strategy::Null);
    (defaults_to_null && not_null).then(|| {
        TagProblem::new(
            "",
            format!(
                "no default strategy fits a NOT NULL column like this one ({}): it would be set to NULL; add a strategy that fits",
                ty.describe()
            ),
        )
    })
}

/// Checks that a parsed tag fits its column: every problem, none when it fits.
pub fn check_fit(tag: &ColumnTag, ty: TypeClass, not_null: bool) -> Vec<TagProblem> {
    let mut problems: Vec<TagProblem> = strategy_problem(tag, ty, not_null).into_iter().collect();
    problems.extend(role_problems(tag, ty));
    problems.extend(default_null_problem(tag, ty, not_null));
    problems
}

/// The strategy the column is masked with (meaningful once [`check_fit`]
/// found no problem); `None` for a `time` column, which is never masked.
///
/// In order: the written strategy; `ip` role: `ip`; `subject` role on text:
/// the subject replacement; `key` role on text: `hash`; then by type: text
/// `redact`, inet `ip`, anything else `null`.
pub fn effective_strategy(tag: &ColumnTag, ty: TypeClass) -> Option<Strategy> {
    if let Some(strategy) = &tag.strategy {
        return Some(strategy.clone());
    }
    let has = |role| tag.roles.contains(&role);
    if tag.roles == [Role::Time] {
        return None;
    }
    let strategy = if has(Role::Ip) {
        Strategy::Ip { v4: None, v6: None }
    } else if has(Role::Subject) && ty == TypeClass::Text {
        Strategy::Subject
    } else if has(Role::Key) && ty == TypeClass::Text {
        Strategy::Hash
    } else {
        match ty {
            TypeClass::Text => Strategy::Redact(None),
            TypeClass::Inet => Strategy::Ip { v4: None, v6: None },
            _ => Strategy::Null,
        }
    };
    Some(strategy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, prop_oneof, proptest, Just, TestCaseError};
    use proptest::strategy::Strategy as Gen;

    // -- helpers -------------------------------------------------------------

    fn tag(comment: &str) -> ColumnTag {
        match parse_column_comment(comment) {
            Ok(Some(tag)) => tag,
            other => panic!("{comment:?} should parse to a tag, got {other:?}"),
        }
    }

    fn problems(comment: &str) -> Vec<TagProblem> {
        match parse_column_comment(comment) {
            Err(problems) => problems,
            other => panic!("{comment:?} should be rejected, got {other:?}"),
        }
    }

    /// The single problem of a bad comment.
    fn problem(comment: &str) -> TagProblem {
        let mut all = problems(comment);
        assert_eq!(all.len(), 1, "{comment:?}: {all:?}");
        all.remove(0)
    }

    fn strategy(comment: &str) -> Option<Strategy> {
        tag(comment).strategy
    }

    fn fit(comment: &str, ty: TypeClass, not_null: bool) -> Vec<TagProblem> {
        check_fit(&tag(comment), ty, not_null)
    }

    fn effective(comment: &str, ty: TypeClass) -> Option<Strategy> {
        effective_strategy(&tag(comment), ty)
    }

    fn ip(v4: Option<u8>, v6: Option<u8>) -> Strategy {
        Strategy::Ip { v4, v6 }
    }

    const ALL_CLASSES: [TypeClass; 6] =
        [TypeClass::Text, TypeClass::Inet, TypeClass::Json, TypeClass::Date, TypeClass::Timestamp, TypeClass::Other];

    // -- names ---------------------------------------------------------------

    #[test]
    fn role_names() {
        assert_eq!(Role::Subject.as_str(), "subject");
        assert_eq!(Role::Key.as_str(), "key");
        assert_eq!(Role::Time.as_str(), "time");
        assert_eq!(Role::Ip.as_str(), "ip");
        assert_eq!(Role::Key.to_string(), "key");
    }

    #[test]
    fn strategy_names() {
        let cases = [
            (Strategy::Redact(None), "redact"),
            (Strategy::Redact(Some("x".into())), "redact"),
            (Strategy::Null, "null"),
            (Strategy::Hash, "hash"),
            (Strategy::Email, "email"),
            (Strategy::Json(vec!["a".into()]), "json"),
            (Strategy::Scrub, "scrub"),
            (Strategy::Month, "month"),
            (Strategy::Year, "year"),
            (ip(Some(1), None), "ip"),
            (Strategy::Subject, "subject"),
        ];
        for (strategy, name) in cases {
            assert_eq!(strategy.name(), name);
        }
    }

    #[test]
    fn strategy_display() {
        assert_eq!(Strategy::Redact(None).to_string(), "redact");
        assert_eq!(Strategy::Redact(Some("gone:x".into())).to_string(), "redact:gone:x");
        assert_eq!(Strategy::Json(vec!["a".into(), "B".into()]).to_string(), "json:a,B");
        assert_eq!(ip(None, None).to_string(), "ip");
        assert_eq!(ip(Some(16), None).to_string(), "ip:16");
        assert_eq!(ip(Some(16), Some(32)).to_string(), "ip:16/32");
        assert_eq!(ip(None, Some(32)).to_string(), "ip:24/32");
        assert_eq!(Strategy::Subject.to_string(), "subject");
        assert_eq!(Strategy::Month.to_string(), "month");
    }

    #[test]
    fn display_round_trip() {
        let written = [
            Strategy::Redact(None),
            Strategy::Redact(Some("Gone:Away".into())),
            Strategy::Null,
            Strategy::Hash,
            Strategy::Email,
            Strategy::Json(vec!["b".into(), "A".into()]),
            Strategy::Scrub,
            Strategy::Month,
            Strategy::Year,
            ip(None, None),
            ip(Some(0), None),
            ip(Some(32), Some(128)),
            ip(Some(16), Some(0)),
        ];
        for strategy in written {
            let comment = format!("@pii {strategy}");
            assert_eq!(self::strategy(&comment), Some(strategy.clone()), "{comment}");
        }
    }

    #[test]
    fn type_classes() {
        let cases = [
            ("text", 'S', TypeClass::Text),
            ("varchar", 'S', TypeClass::Text),
            ("bpchar", 'S', TypeClass::Text),
            ("name", 'S', TypeClass::Text),
            ("citext", 'S', TypeClass::Text),
            ("citext", 'U', TypeClass::Text),
            ("inet", 'I', TypeClass::Inet),
            ("cidr", 'I', TypeClass::Inet),
            ("json", 'U', TypeClass::Json),
            ("jsonb", 'U', TypeClass::Json),
            ("date", 'D', TypeClass::Date),
            ("timestamp", 'D', TypeClass::Timestamp),
            ("timestamptz", 'D', TypeClass::Timestamp),
            ("time", 'D', TypeClass::Other),
            ("interval", 'T', TypeClass::Other),
            ("int4", 'N', TypeClass::Other),
            ("uuid", 'U', TypeClass::Other),
            ("bytea", 'U', TypeClass::Other),
            ("_text", 'A', TypeClass::Other),
            ("_inet", 'A', TypeClass::Other),
            ("macaddr", 'U', TypeClass::Other),
        ];
        for (typname, category, class) in cases {
            assert_eq!(TypeClass::from_pg(typname, category), class, "{typname}");
        }
    }

    // -- tag lines -----------------------------------------------------------

    #[test]
    fn no_tag_lines() {
        for comment in [
            "",
            "Login address.",
            "mentions @pii in the middle",
            "@piiemail",
            "@pii:email",
            "@PII email",
            "@Pii email",
            " x @pii email",
            "\n\n",
            "@pi email",
        ] {
            assert_eq!(parse_column_comment(comment), Ok(None), "{comment:?}");
            assert_eq!(parse_table_comment(comment), (TableTag::default(), vec![]), "{comment:?}");
        }
    }

    #[test]
    fn bare_tag() {
        let bare = tag("@pii");
        assert_eq!(bare, ColumnTag { roles: vec![], strategy: None, text: "@pii".into() });
        assert_eq!(tag("  @pii \t ").text, "@pii");
        assert_eq!(tag("@pii\r\n").roles, vec![]);
    }

    #[test]
    fn free_text_around_the_tag() {
        let t = tag("Login address.\n@pii email\nSee the wiki.");
        assert_eq!(t.strategy, Some(Strategy::Email));
        assert_eq!(t.roles, vec![]);
        assert_eq!(t.text, "@pii email");
    }

    #[test]
    fn leading_blanks_and_crlf() {
        let t = tag("Login.\r\n \t@pii  subject\t\temail \r\nmore\r\n");
        assert_eq!(t.roles, vec![Role::Subject]);
        assert_eq!(t.strategy, Some(Strategy::Email));
        assert_eq!(t.text, "@pii  subject\t\temail");
    }

    #[test]
    fn several_tag_lines_merge() {
        let t = tag("@pii subject\nfree text\n@pii key email\n@pii subject");
        assert_eq!(t.roles, vec![Role::Subject, Role::Key]);
        assert_eq!(t.strategy, Some(Strategy::Email));
        assert_eq!(t.text, "@pii subject\n@pii key email\n@pii subject");
    }

    #[test]
    fn keywords_ignore_case_arguments_keep_it() {
        let t = tag("@pii Subject KEY");
        assert_eq!(t.roles, vec![Role::Subject, Role::Key]);
        assert_eq!(strategy("@pii REDACT:Gone"), Some(Strategy::Redact(Some("Gone".into()))));
        assert_eq!(strategy("@pii Json:Email,Name"), Some(Strategy::Json(vec!["Email".into(), "Name".into()])));
        assert_eq!(strategy("@pii IP:8/16"), Some(ip(Some(8), Some(16))));
        assert_eq!(strategy("@pii Hash"), Some(Strategy::Hash));
    }

    // -- roles and strategies ------------------------------------------------

    #[test]
    fn every_role() {
        assert_eq!(tag("@pii subject").roles, vec![Role::Subject]);
        assert_eq!(tag("@pii key").roles, vec![Role::Key]);
        assert_eq!(tag("@pii time").roles, vec![Role::Time]);
        assert_eq!(tag("@pii ip").roles, vec![Role::Ip]);
        assert_eq!(tag("@pii ip key subject").roles, vec![Role::Subject, Role::Key, Role::Ip]);
        assert_eq!(tag("@pii subject").strategy, None);
        assert_eq!(tag("@pii time").strategy, None);
    }

    #[test]
    fn every_strategy() {
        assert_eq!(strategy("@pii redact"), Some(Strategy::Redact(None)));
        assert_eq!(strategy("@pii null"), Some(Strategy::Null));
        assert_eq!(strategy("@pii hash"), Some(Strategy::Hash));
        assert_eq!(strategy("@pii email"), Some(Strategy::Email));
        assert_eq!(strategy("@pii json:a"), Some(Strategy::Json(vec!["a".into()])));
        assert_eq!(strategy("@pii scrub"), Some(Strategy::Scrub));
        assert_eq!(strategy("@pii month"), Some(Strategy::Month));
        assert_eq!(strategy("@pii year"), Some(Strategy::Year));
        assert_eq!(strategy("@pii ip"), Some(ip(None, None)));
    }

    #[test]
    fn redact_text_is_verbatim() {
        assert_eq!(strategy("@pii redact:N/A"), Some(Strategy::Redact(Some("N/A".into()))));
        assert_eq!(strategy("@pii redact:a:b:"), Some(Strategy::Redact(Some("a:b:".into()))));
        assert_eq!(strategy("@pii redact:ÿ✓"), Some(Strategy::Redact(Some("ÿ✓".into()))));
    }

    #[test]
    fn json_keys_in_order_without_duplicates() {
        assert_eq!(strategy("@pii json:b,a,b,C,a"), Some(Strategy::Json(vec!["b".into(), "a".into(), "C".into()])));
        assert_eq!(strategy("@pii json:a json:a,a"), Some(Strategy::Json(vec!["a".into()])));
    }

    #[test]
    fn ip_arguments() {
        assert_eq!(strategy("@pii ip:16"), Some(ip(Some(16), None)));
        assert_eq!(strategy("@pii ip:16/32"), Some(ip(Some(16), Some(32))));
        assert_eq!(strategy("@pii ip:0/0"), Some(ip(Some(0), Some(0))));
        assert_eq!(strategy("@pii ip:32/128"), Some(ip(Some(32), Some(128))));
        assert_eq!(strategy("@pii ip:016"), Some(ip(Some(16), None)));
        assert_eq!(tag("@pii ip:16").roles, vec![Role::Ip]);
    }

    #[test]
    fn bare_ip_is_the_strategy_only_when_alone() {
        assert_eq!(strategy("@pii ip"), Some(ip(None, None)));
        assert_eq!(strategy("@pii ip ip"), Some(ip(None, None)));
        assert_eq!(strategy("@pii ip redact"), Some(Strategy::Redact(None)));
        assert_eq!(strategy("@pii hash ip"), Some(Strategy::Hash));
        assert_eq!(strategy("@pii ip ip:16"), Some(ip(Some(16), None)));
        assert_eq!(strategy("@pii ip:16/32 ip"), Some(ip(Some(16), Some(32))));
        assert_eq!(tag("@pii ip redact").roles, vec![Role::Ip]);
    }

    #[test]
    fn same_strategy_twice_is_fine() {
        assert_eq!(strategy("@pii hash HASH\n@pii hash"), Some(Strategy::Hash));
        assert_eq!(strategy("@pii redact:x redact:x"), Some(Strategy::Redact(Some("x".into()))));
        assert_eq!(strategy("@pii ip:8 ip:8"), Some(ip(Some(8), None)));
    }

    #[test]
    fn roles_are_sorted_and_unique() {
        assert_eq!(tag("@pii ip key subject key ip").roles, vec![Role::Subject, Role::Key, Role::Ip]);
    }

    // -- problems ------------------------------------------------------------

    #[test]
    fn unknown_word() {
        let p = problem("@pii emial");
        assert_eq!(p.word, "emial");
        assert!(p.problem.contains("unknown word `emial`"), "{}", p.problem);
        assert!(p.problem.contains("subject") && p.problem.contains("json:K1,K2"), "{}", p.problem);
        assert_eq!(problem("@pii sha1:x").word, "sha1:x");
        assert_eq!(problem("@pii :x").word, ":x");
        assert_eq!(problem("@pii @pii").word, "@pii");
    }

    #[test]
    fn table_words_in_a_column_comment() {
        let p = problem("@pii delete");
        assert_eq!(p.word, "delete");
        assert!(p.problem.contains("table comment"), "{}", p.problem);
    }

    #[test]
    fn argument_to_a_word_without_one() {
        for word in ["subject:x", "key:1", "time:now", "null:x", "hash:sha1", "Email:x", "scrub:", "month:1", "year:2"]
        {
            let p = problem(&format!("@pii {word}"));
            assert_eq!(p.word, word);
            assert!(p.problem.contains("takes no argument"), "{word}: {}", p.problem);
        }
    }

    #[test]
    fn missing_or_bad_arguments() {
        for (word, needle) in [
            ("json", "needs the member names"),
            ("json:", "needs the member names"),
            ("json:a,,b", "must not be empty"),
            ("json:,a", "must not be empty"),
            ("json:a,", "must not be empty"),
            ("redact:", "needs a replacement text"),
            ("ip:33", "IPv4 prefix length 33 is out of range 0 to 32"),
            ("ip:24/200", "IPv6 prefix length 200 is out of range 0 to 128"),
            ("ip:99999999999999999999999", "out of range"),
            ("ip:x", "`x` is not a number"),
            ("ip:", "not a number"),
            ("ip:/48", "not a number"),
            ("ip:24/", "not a number"),
            ("ip:-1", "not a number"),
            ("ip:+8", "not a number"),
            ("ip:8/16/32", "not a number"),
        ] {
            let p = problem(&format!("@pii {word}"));
            assert_eq!(p.word, word);
            assert!(p.problem.contains(needle), "{word}: {}", p.problem);
        }
    }

    #[test]
    fn two_strategies() {
        let p = problem("@pii redact hash");
        assert_eq!(p.word, "hash");
        assert!(p.problem.contains("`redact`") && p.problem.contains("`hash`"), "{}", p.problem);
        assert_eq!(problem("@pii redact redact:x").word, "redact:x");
        assert_eq!(problem("@pii ip:8 ip:16").word, "ip:16");
        assert_eq!(problem("@pii json:a json:b").word, "json:b");
        assert_eq!(problem("@pii email\n@pii Scrub").word, "Scrub");
        let all = problems("@pii null hash email");
        assert_eq!(all.iter().map(|p| p.word.as_str()).collect::<Vec<_>>(), ["hash", "email"]);
        assert!(all[1].problem.contains("`null`"), "{}", all[1].problem);
    }

    #[test]
    fn time_stands_alone() {
        for (comment, other) in [
            ("@pii time subject", "`subject`"),
            ("@pii key time", "`key`"),
            ("@pii time ip", "`ip`"),
            ("@pii time ip:16", "`ip:16`"),
            ("@pii time month", "`month`"),
            ("@pii Time\n@pii null", "`null`"),
        ] {
            let p = problem(comment);
            assert_eq!(p.word.to_ascii_lowercase(), "time", "{comment}");
            assert!(p.problem.contains("never masked") && p.problem.contains(other), "{comment}: {}", p.problem);
        }
        assert_eq!(tag("@pii time time").roles, vec![Role::Time]);
    }

    #[test]
    fn all_problems_in_order() {
        let all = problems("@pii foo hash:x\n@pii ip:40 bar");
        let words: Vec<_> = all.iter().map(|p| p.word.as_str()).collect();
        assert_eq!(words, ["foo", "hash:x", "ip:40", "bar"]);
    }

    #[test]
    fn too_long_word() {
        let long = "x".repeat(MAX_WORD_BYTES + 1);
        let p = problem(&format!("@pii {long}"));
        assert!(p.problem.contains("too long"), "{}", p.problem);
        assert!(p.word.len() < 100 && p.word.ends_with('…'), "{}", p.word);
        // exactly at the limit is only an unknown word
        let limit = "x".repeat(MAX_WORD_BYTES);
        assert!(problem(&format!("@pii {limit}")).problem.contains("unknown word"));
        // a long valid redaction text is still too long
        let long_redact = format!("@pii redact:{}", "é".repeat(MAX_WORD_BYTES));
        let p = problem(&long_redact);
        assert!(p.problem.contains("too long") && p.word.starts_with("redact:"), "{p:?}");
    }

    #[test]
    fn too_many_words() {
        let ok = format!("@pii {}", vec!["subject"; MAX_WORDS].join(" "));
        assert_eq!(tag(&ok).roles, vec![Role::Subject]);
        let many = format!("@pii {}", vec!["subject"; MAX_WORDS + 1].join(" "));
        let p = problem(&many);
        assert_eq!(p.word, "");
        assert!(p.problem.contains("too long"), "{}", p.problem);
        let split = format!("@pii {}\n@pii subject", vec!["key"; MAX_WORDS].join(" "));
        assert!(problem(&split).problem.contains("too long"));
        let huge = format!("@pii {}", "nope ".repeat(1_000_000));
        assert_eq!(problems(&huge).len(), 1);
        let (_, table_problems) = parse_table_comment(&huge);
        assert_eq!(table_problems.len(), 1);
    }

    #[test]
    fn problems_echo_only_the_comment() {
        let p = problem("@pii ssn");
        assert_eq!(p.word, "ssn");
        let secret = "alice@example.com";
        for ty in ALL_CLASSES {
            for problem in fit("@pii email", ty, true) {
                assert!(!problem.problem.contains(secret) && !problem.word.contains(secret));
            }
        }
    }

    #[test]
    fn strange_input_does_not_panic() {
        for comment in
            ["@pii \0", "@pii\t\0null", "\0@pii", "@pii é:é", "@pii ip:٣", "@pii json:\u{0}", "@pii\u{a0}email"]
        {
            let _ = parse_column_comment(comment);
            let _ = parse_table_comment(comment);
        }
        assert_eq!(parse_column_comment("@pii\u{a0}email"), Ok(None));
        assert_eq!(problem("@pii ip:٣").word, "ip:٣");
    }

    // -- table comments ------------------------------------------------------

    #[test]
    fn table_tags() {
        let both = TableTag { delete: true, subjects: true };
        assert_eq!(parse_table_comment("@pii delete"), (TableTag { delete: true, subjects: false }, vec![]));
        assert_eq!(
            parse_table_comment("Accounts\n@pii Subjects"),
            (TableTag { delete: false, subjects: true }, vec![])
        );
        assert_eq!(parse_table_comment("@pii delete subjects"), (both, vec![]));
        assert_eq!(parse_table_comment("@pii delete\r\nfree\r\n @pii subjects"), (both, vec![]));
        assert_eq!(parse_table_comment("@pii delete delete").0, TableTag { delete: true, subjects: false });
    }

    #[test]
    fn table_problems() {
        let (tag, problems) = parse_table_comment("@pii delete purge subject delete:x");
        assert_eq!(tag, TableTag { delete: true, subjects: false });
        let words: Vec<_> = problems.iter().map(|p| p.word.as_str()).collect();
        assert_eq!(words, ["purge", "subject", "delete:x"]);
        assert!(problems[0].problem.contains("unknown word") && problems[0].problem.contains("delete, subjects"));
        assert!(problems[1].problem.contains("column comment"), "{}", problems[1].problem);
        assert!(problems[2].problem.contains("takes no argument"));
        let (_, json) = parse_table_comment("@pii json");
        assert!(json[0].problem.contains("column comment"), "{}", json[0].problem);
        let (_, bare) = parse_table_comment("@pii");
        assert_eq!(bare.len(), 1);
        assert_eq!(bare[0].word, "");
        let (_, long) = parse_table_comment(&format!("@pii {}", "d".repeat(MAX_WORD_BYTES + 1)));
        assert!(long[0].problem.contains("too long"));
    }

    // -- check_fit -----------------------------------------------------------

    /// The classes a tag fits (nullable column).
    fn fitting(comment: &str) -> Vec<TypeClass> {
        ALL_CLASSES.into_iter().filter(|ty| fit(comment, *ty, false).is_empty()).collect()
    }

    #[test]
    fn strategies_fit_their_types() {
        use TypeClass::*;
        for comment in ["@pii redact", "@pii redact:x", "@pii hash", "@pii email", "@pii scrub"] {
            assert_eq!(fitting(comment), [Text], "{comment}");
        }
        assert_eq!(fitting("@pii json:a"), [Json]);
        assert_eq!(fitting("@pii month"), [Date, Timestamp]);
        assert_eq!(fitting("@pii year"), [Date, Timestamp]);
        assert_eq!(fitting("@pii ip"), [Text, Inet]);
        assert_eq!(fitting("@pii ip:16/32"), [Text, Inet]);
        assert_eq!(fitting("@pii null"), ALL_CLASSES);
    }

    #[test]
    fn misfit_problem_names_word_and_type() {
        let p = fit("@pii Hash", TypeClass::Date, false);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].word, "Hash");
        assert!(p[0].problem.contains("text columns") && p[0].problem.contains("date column"), "{}", p[0].problem);
        let p = fit("@pii ip:8/16", TypeClass::Other, false);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].word, "ip:8/16");
        let p = fit("@pii json:a", TypeClass::Text, false);
        assert!(p[0].problem.contains("json"), "{}", p[0].problem);
    }

    #[test]
    fn null_on_not_null() {
        for ty in ALL_CLASSES {
            let p = fit("@pii NULL", ty, true);
            assert_eq!(p.len(), 1, "{ty:?}");
            assert_eq!(p[0].word, "NULL");
            assert!(p[0].problem.contains("NOT NULL"));
        }
    }

    #[test]
    fn roles_fit_their_types() {
        use TypeClass::*;
        assert_eq!(fitting("@pii subject"), [Text]);
        assert_eq!(fitting("@pii time"), [Date, Timestamp]);
        assert_eq!(fitting("@pii ip subject"), [Text, Inet]);
        assert_eq!(fitting("@pii subject hash"), [Text]);
        assert_eq!(fitting("@pii subject null"), ALL_CLASSES);
        assert_eq!(fitting("@pii key"), ALL_CLASSES);
        assert_eq!(fitting("@pii"), ALL_CLASSES);
    }

    #[test]
    fn subject_without_strategy_needs_text() {
        let p = fit("@pii Subject", TypeClass::Other, true);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].word, "Subject");
        assert!(p[0].problem.contains("add a strategy"), "{}", p[0].problem);
        assert!(fit("@pii subject", TypeClass::Text, true).is_empty());
    }

    #[test]
    fn ip_role_with_other_strategy() {
        let p = fit("@pii ip hash", TypeClass::Inet, false);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].word, "hash");
        let p = fit("@pii IP null", TypeClass::Other, false);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].word, "IP");
        assert!(p[0].problem.contains("inet"), "{}", p[0].problem);
    }

    #[test]
    fn time_on_wrong_type() {
        let p = fit("@pii time", TypeClass::Text, true);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].word, "time");
        assert!(p[0].problem.contains("date or timestamp"));
        assert!(fit("@pii time", TypeClass::Timestamp, true).is_empty());
    }

    #[test]
    fn default_null_on_not_null() {
        use TypeClass::*;
        for ty in [Json, Date, Timestamp, Other] {
            for comment in ["@pii", "@pii key"] {
                let p = fit(comment, ty, true);
                assert_eq!(p.len(), 1, "{comment} {ty:?}: {p:?}");
                assert_eq!(p[0].word, "");
                assert!(p[0].problem.contains("no default strategy fits a NOT NULL"), "{}", p[0].problem);
                assert!(fit(comment, ty, false).is_empty());
            }
        }
        for ty in [Text, Inet] {
            assert!(fit("@pii", ty, true).is_empty(), "{ty:?}");
            assert!(fit("@pii key", ty, true).is_empty(), "{ty:?}");
        }
        assert!(fit("@pii month", Date, true).is_empty());
        assert!(fit("@pii json:a", Json, true).is_empty());
    }

    // -- effective_strategy --------------------------------------------------

    #[test]
    fn written_strategy_wins() {
        for ty in ALL_CLASSES {
            assert_eq!(effective("@pii subject key email", ty), Some(Strategy::Email));
            assert_eq!(effective("@pii ip:8", ty), Some(ip(Some(8), None)));
        }
    }

    #[test]
    fn role_defaults() {
        use TypeClass::*;
        assert_eq!(effective("@pii ip", Text), Some(ip(None, None)));
        assert_eq!(effective("@pii ip subject key", Inet), Some(ip(None, None)));
        assert_eq!(effective("@pii subject", Text), Some(Strategy::Subject));
        assert_eq!(effective("@pii subject key", Text), Some(Strategy::Subject));
        assert_eq!(effective("@pii key", Text), Some(Strategy::Hash));
        assert_eq!(effective("@pii key", Other), Some(Strategy::Null));
        assert_eq!(effective("@pii key", Inet), Some(ip(None, None)));
        for ty in ALL_CLASSES {
            assert_eq!(effective("@pii time", ty), None);
        }
    }

    #[test]
    fn type_defaults() {
        use TypeClass::*;
        assert_eq!(effective("@pii", Text), Some(Strategy::Redact(None)));
        assert_eq!(effective("@pii", Inet), Some(ip(None, None)));
        for ty in [Json, Date, Timestamp, Other] {
            assert_eq!(effective("@pii", ty), Some(Strategy::Null));
        }
    }

    #[test]
    fn serializes() {
        let t = tag("@pii subject redact:x");
        let json = serde_json::to_value(&t).expect("serializes");
        assert_eq!(json["roles"], serde_json::json!(["Subject"]));
        assert_eq!(json["text"], "@pii subject redact:x");
    }

    // -- properties ----------------------------------------------------------

    /// A keyword with its letters' case flipped where `mask` has a one bit.
    fn casify(word: &str, mask: u64) -> String {
        word.chars()
            .enumerate()
            .map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
            .collect()
    }

    fn role_strategy() -> impl Gen<Value = Role> {
        prop_oneof![Just(Role::Subject), Just(Role::Key), Just(Role::Ip)]
    }

    fn written_strategy() -> impl Gen<Value = Strategy> {
        use super::Strategy as S;
        prop_oneof![
            Just(S::Redact(None)),
            "[^ \t\r\n]{1,20}".prop_map(|text| S::Redact(Some(text))),
            Just(S::Null),
            Just(S::Hash),
            Just(S::Email),
            prop::collection::vec("[A-Za-z0-9_.é-]{1,8}", 1..4).prop_map(S::Json),
            Just(S::Scrub),
            Just(S::Month),
            Just(S::Year),
            Just(S::Ip { v4: None, v6: None }),
            (0u8..=32).prop_map(|v4| S::Ip { v4: Some(v4), v6: None }),
            (0u8..=32, 0u8..=128).prop_map(|(v4, v6)| S::Ip { v4: Some(v4), v6: Some(v6) }),
        ]
    }

    /// A free-text line: no newline, not a tag line.
    fn free_line() -> impl Gen<Value = String> {
        prop_oneof!["[^\n]{0,40}", "[ \t]{0,2}@(PII|Pii|piix|pi)[^\n]{0,10}",]
            .prop_filter("not a tag line", |line| !line.trim_start_matches([' ', '\t']).starts_with("@pii"))
    }

    /// The written form of a strategy with its keyword's case varied.
    fn write_strategy(strategy: &Strategy, mask: u64) -> String {
        let text = strategy.to_string();
        let (kw, arg) = split_word(&text);
        match arg {
            Some(arg) => format!("{}:{arg}", casify(kw, mask)),
            None => casify(kw, mask),
        }
    }

    /// Blanks between words.
    fn blanks() -> impl Gen<Value = String> {
        "[ \t]{1,3}"
    }

    proptest! {
        #[test]
        fn column_parse_never_panics(comment in any::<String>()) {
            let _ = parse_column_comment(&comment);
        }

        #[test]
        fn column_tag_lines_never_panic(body in any::<String>()) {
            let _ = parse_column_comment(&format!("@pii {body}"));
            let _ = parse_table_comment(&format!("@pii {body}"));
        }

        #[test]
        fn table_parse_never_panics(comment in any::<String>()) {
            let _ = parse_table_comment(&comment);
        }

        #[test]
        fn check_fit_never_panics(body in any::<String>(), not_null in any::<bool>()) {
            if let Ok(Some(tag)) = parse_column_comment(&format!("@pii {body}")) {
                for ty in ALL_CLASSES {
                    let _ = check_fit(&tag, ty, not_null);
                    let _ = effective_strategy(&tag, ty);
                }
            }
        }

        #[test]
        fn no_tag_line_means_no_tag(lines in prop::collection::vec(free_line(), 0..6), crlf in any::<bool>()) {
            let comment = lines.join(if crlf { "\r\n" } else { "\n" });
            prop_assert_eq!(parse_column_comment(&comment), Ok(None));
            prop_assert_eq!(parse_table_comment(&comment), (TableTag::default(), vec![]));
        }

        #[test]
        fn valid_words_parse_back(
            roles in prop::collection::vec(role_strategy(), 0..4),
            written in prop::option::of(written_strategy()),
            time_alone in any::<bool>(),
            masks in prop::collection::vec(any::<u64>(), 5),
            seps in prop::collection::vec(blanks(), 6),
            split_lines in any::<bool>(),
        ) {
            let (roles, written) = if time_alone { (vec![Role::Time], None) } else { (roles, written) };
            let mut words: Vec<String> = roles.iter().zip(&masks).map(|(r, m)| casify(r.as_str(), *m)).collect();
            if let Some(s) = &written {
                words.insert(words.len() / 2, write_strategy(s, masks[4]));
            }
            let mut comment = String::from("@pii");
            for (i, word) in words.iter().enumerate() {
                if split_lines && i % 2 == 1 {
                    comment.push_str("\n@pii");
                }
                comment.push_str(&seps[i % seps.len()]);
                comment.push_str(word);
            }
            let parsed = parse_column_comment(&comment);
            let parsed = parsed.map_err(|e| TestCaseError::fail(format!("{comment:?}: {e:?}")))?;
            let parsed = parsed.ok_or_else(|| TestCaseError::fail("no tag"))?;

            let mut want_roles = roles.clone();
            if matches!(written, Some(Strategy::Ip { .. })) {
                want_roles.push(Role::Ip);
            }
            want_roles.sort();
            want_roles.dedup();
            let want_strategy = match written {
                Some(Strategy::Json(keys)) => {
                    let mut unique: Vec<String> = Vec::new();
                    for key in keys {
                        if !unique.contains(&key) { unique.push(key); }
                    }
                    Some(Strategy::Json(unique))
                }
                None if want_roles.contains(&Role::Ip) => Some(Strategy::Ip { v4: None, v6: None }),
                other => other,
            };
            prop_assert_eq!(parsed.roles, want_roles);
            prop_assert_eq!(parsed.strategy, want_strategy);
        }

        #[test]
        fn free_text_around_a_tag_changes_nothing(
            roles in prop::collection::vec(role_strategy(), 0..3),
            written in prop::option::of(written_strategy()),
            before in prop::collection::vec(free_line(), 0..4),
            after in prop::collection::vec(free_line(), 0..4),
            indent in "[ \t]{0,3}",
        ) {
            let mut line = format!("{indent}@pii");
            for role in &roles {
                line.push(' ');
                line.push_str(role.as_str());
            }
            if let Some(s) = &written {
                line.push(' ');
                line.push_str(&s.to_string());
            }
            let alone = parse_column_comment(&line);
            prop_assert!(matches!(alone, Ok(Some(_))), "{:?}: {:?}", line, alone);
            let mut lines = before.clone();
            lines.push(line.clone());
            lines.extend(after.iter().cloned());
            prop_assert_eq!(parse_column_comment(&lines.join("\n")), alone);
        }

        #[test]
        fn display_round_trips(written in written_strategy()) {
            let parsed = parse_column_comment(&format!("@pii {written}"));
            let parsed = parsed.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let want = match written {
                Strategy::Json(keys) => {
                    let mut unique: Vec<String> = Vec::new();
                    for key in keys {
                        if !unique.contains(&key) { unique.push(key); }
                    }
                    Strategy::Json(unique)
                }
                other => other,
            };
            prop_assert_eq!(parsed.and_then(|t| t.strategy), Some(want));
        }
    }
}
