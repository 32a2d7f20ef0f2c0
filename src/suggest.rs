//! Suggestions for untagged columns that look personal, from their name and,
//! where cheap, from a small sample of their values. Pure: the SQL layer
//! hands in names, type classes and sampled values; nothing sampled is ever
//! returned, only counts.

use crate::mask::ip::mask_ip_text;
use crate::tags::TypeClass;

/// A proposed tag with the reason for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub tag: String,
    pub reason: String,
}

/// What a column name suggests. Names are compared lower-cased with `-`, spaces and `_` removed.
struct NameRule {
    names: &'static [&'static str],
    /// proposed strategy word by type class; None: the rule does not apply to this class
    tag: fn(TypeClass) -> Option<&'static str>,
    what: &'static str,
}

fn text_only(word: &'static str) -> fn(TypeClass) -> Option<&'static str> {
    match word {
        "email" => |c| (c == TypeClass::Text).then_some("@pii email"),
        "subject" => |c| (c == TypeClass::Text).then_some("@pii subject"),
        _ => |c| match c {
            TypeClass::Text => Some("@pii redact"),
            TypeClass::Other | TypeClass::Json | TypeClass::Inet => Some("@pii null"),
            _ => None,
        },
    }
}

fn ip_tag(c: TypeClass) -> Option<&'static str> {
    matches!(c, TypeClass::Inet | TypeClass::Text).then_some("@pii ip")
}

fn date_tag(c: TypeClass) -> Option<&'static str> {
    matches!(c, TypeClass::Date | TypeClass::Timestamp).then_some("@pii year")
}

fn rules() -> Vec<NameRule> {
    vec![
        NameRule {
            names: &["email", "emailaddress", "mail", "contactemail", "useremail"],
            tag: text_only("email"),
            what: "an e-mail address",
        },
        NameRule {
            names: &["username", "login", "userlogin", "loginname", "userkey"],
            tag: text_only("subject"),
            what: "a user name",
        },
        NameRule {
            names: &["firstname", "givenname", "fname", "forename"],
            tag: text_only("redact"),
            what: "a first name",
        },
        NameRule {
            names: &["lastname", "surname", "familyname", "lname"],
            tag: text_only("redact"),
            what: "a last name",
        },
        NameRule { names: &["fullname", "displayname", "realname"], tag: text_only("redact"), what: "a person's name" },
        NameRule {
            names: &["company", "registeredcompany", "companyname", "employer", "organization", "organisation"],
            tag: text_only("redact"),
            what: "a registered company",
        },
        NameRule {
            names: &["position", "jobtitle", "jobposition", "role_title"],
            tag: text_only("redact"),
            what: "a position",
        },
        NameRule {
            names: &["phone", "phonenumber", "telephone", "mobile", "mobilephone", "cellphone", "fax"],
            tag: text_only("redact"),
            what: "a phone number",
        },
        NameRule {
            names: &["preferredlanguage", "preferredlang", "preflanguage", "language_preference"],
            tag: text_only("redact"),
            what: "a preferred language",
        },
        NameRule {
            names: &["modifiedby", "updatedby", "createdby", "lastmodifiedby", "changedby"],
            tag: text_only("redact"),
            what: "who modified the row",
        },
        NameRule {
            names: &["ip", "ipaddress", "ipaddr", "clientip", "remoteip", "remoteaddr", "sourceip"],
            tag: ip_tag,
            what: "an IP address",
        },
        NameRule {
            names: &[
                "address",
                "address1",
                "address2",
                "streetaddress",
                "street",
                "postalcode",
                "zip",
                "zipcode",
                "postcode",
            ],
            tag: text_only("redact"),
            what: "a postal address",
        },
        NameRule { names: &["birthdate", "dateofbirth", "dob", "birthday"], tag: date_tag, what: "a birth date" },
        NameRule {
            names: &["ssn", "socialsecuritynumber", "passport", "passportnumber", "nationalid", "taxid", "iban"],
            tag: text_only("redact"),
            what: "an official identifier",
        },
    ]
}

fn normalize(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '_' | '-' | ' ')).flat_map(char::to_lowercase).collect()
}

/// A suggestion from the column name alone.
pub fn by_name(column: &str, class: TypeClass) -> Option<Suggestion> {
    let n = normalize(column);
    for rule in rules() {
        if rule.names.iter().any(|r| normalize(r) == n) {
            let tag = (rule.tag)(class)?;
            return Some(Suggestion { tag: tag.to_owned(), reason: format!("column name suggests {}", rule.what) });
        }
    }
    None
}

/// What a single value looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Looks {
    Email,
    Phone,
    Ip,
}

pub fn looks_like(v: &str) -> Option<Looks> {
    let v = v.trim();
    if v.is_empty() || v.len() > 320 {
        return None;
    }
    if is_email(v) {
        return Some(Looks::Email);
    }
    if (v.contains('.') || v.contains(':')) && mask_ip_text(v, 24, 48).is_some() {
        return Some(Looks::Ip);
    }
    if is_phone(v) {
        return Some(Looks::Phone);
    }
    None
}

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.rsplit_once('@') else { return false };
    !local.is_empty()
        && !local.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

fn is_phone(v: &str) -> bool {
    let digits = v.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && v.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && (v.starts_with('+') || v.starts_with('(') || v.contains('-') || v.contains(' ') || digits >= 10)
}

/// A suggestion from sampled values: at least half of the non-empty samples
/// (and at least 3) look the same. Only the counts go into the reason.
pub fn by_values<S: AsRef<str>>(samples: &[S], class: TypeClass) -> Option<Suggestion> {
    if class != TypeClass::Text {
        return None;
    }
    let (mut email, mut phone, mut ip, mut total) = (0usize, 0usize, 0usize, 0usize);
    for s in samples {
        let s = s.as_ref();
        if s.trim().is_empty() {
            continue;
        }
        total += 1;
        match looks_like(s) {
            Some(Looks::Email) => email += 1,
            Some(Looks::Phone) => phone += 1,
            Some(Looks::Ip) => ip += 1,
            None => {}
        }
    }
    let pick = [
        (email, "@pii email", "e-mail addresses"),
        (ip, "@pii ip", "IP addresses"),
        (phone, "@pii redact", "phone numbers"),
    ]
    .into_iter()
    .max_by_key(|(n, _, _)| *n)?;
    let (n, tag, what) = pick;
    (n >= 3 && n * 2 >= total)
        .then(|| Suggestion { tag: tag.to_owned(), reason: format!("{n} of {total} sampled values look like {what}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_fields_are_suggested_by_name() {
        for (name, tag) in [
            ("email", "@pii email"),
            ("E_Mail", "@pii email"),
            ("first_name", "@pii redact"),
            ("LastName", "@pii redact"),
            ("registered_company", "@pii redact"),
            ("position", "@pii redact"),
            ("phone", "@pii redact"),
            ("preferred_language", "@pii redact"),
            ("modified_by", "@pii redact"),
            ("ip_address", "@pii ip"),
            ("address2", "@pii redact"),
            ("user_name", "@pii subject"),
        ] {
            let s = by_name(name, TypeClass::Text).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(s.tag, tag, "{name}");
            assert!(s.reason.starts_with("column name suggests"));
        }
    }

    #[test]
    fn suggestions_fit_the_type() {
        assert_eq!(by_name("client_ip", TypeClass::Inet).unwrap().tag, "@pii ip");
        assert_eq!(by_name("birth_date", TypeClass::Date).unwrap().tag, "@pii year");
        assert_eq!(by_name("birth_date", TypeClass::Text), None);
        assert_eq!(by_name("email", TypeClass::Json), None);
        assert_eq!(by_name("title", TypeClass::Text), None);
        assert_eq!(by_name("id", TypeClass::Other), None);
    }

    #[test]
    fn values_are_classified() {
        assert_eq!(looks_like("alice@example.com"), Some(Looks::Email));
        assert_eq!(looks_like("not an @ email"), None);
        assert_eq!(looks_like("10.1.2.3"), Some(Looks::Ip));
        assert_eq!(looks_like("2001:db8::1"), Some(Looks::Ip));
        assert_eq!(looks_like("+1 555-0100-22"), Some(Looks::Phone));
        assert_eq!(looks_like("1999"), None);
        assert_eq!(looks_like("hello"), None);
    }

    #[test]
    fn a_sample_needs_a_majority_and_reveals_only_counts() {
        let s = by_values(&["a@x.org", "b@y.org", "c@z.org", "nope"], TypeClass::Text).unwrap();
        assert_eq!(s.tag, "@pii email");
        assert_eq!(s.reason, "3 of 4 sampled values look like e-mail addresses");
        assert!(!s.reason.contains('@'));
        assert_eq!(by_values(&["a@x.org", "b", "c", "d", "e"], TypeClass::Text), None);
        assert_eq!(by_values(&["10.0.0.1", "10.0.0.2", "10.0.0.3"], TypeClass::Text).unwrap().tag, "@pii ip");
        assert_eq!(by_values(&["a@x.org"; 5], TypeClass::Json), None);
        assert_eq!(by_values::<&str>(&[], TypeClass::Text), None);
    }
}
