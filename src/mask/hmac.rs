//! Keyed pseudonyms: HMAC-SHA-256 under the extension's secret key.
//!
//! The same value gives the same pseudonym in every table, so joins and
//! counts survive anonymization, while nobody without the key can recompute
//! or reverse it. [`Pseudonymizer`] keeps the keyed state for hashing many
//! values under one key; the free functions build one per call.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The subject replacement, and what `redact` writes by default.
pub const REPLACEMENT: &str = "anonymous";

/// Number of hex digits of the hash in `anonymous-<hash>` and `anon-<hash>@…`
/// before any lengthening on collision.
pub const DEFAULT_DIGITS: usize = 8;

/// Number of hex digits of a full HMAC-SHA-256.
pub const FULL_DIGITS: usize = 64;

/// Domain of masked e-mail addresses (`.invalid` is reserved, RFC 2606).
pub const EMAIL_DOMAIN: &str = "anonymized.invalid";

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// HMAC-SHA-256 keyed once, for hashing many values under the same key.
#[derive(Clone)]
pub struct Pseudonymizer {
    mac: HmacSha256,
}

impl Pseudonymizer {
    /// Keys the HMAC; any key length is accepted (longer than 64 bytes is hashed first).
    pub fn new(key: &[u8]) -> Self {
        Self {
            mac: <HmacSha256 as Mac>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length")),
        }
    }

    /// The raw 32-byte HMAC of `value`.
    pub fn digest(&self, value: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The HMAC of `value` as 64 lowercase hex digits.
    pub fn pseudonym(&self, value: &str) -> String {
        self.hash_prefix(value, FULL_DIGITS)
    }

    /// The first `n` hex digits of [`pseudonym`](Self::pseudonym) (`n` clamped to 64).
    pub fn hash_prefix(&self, value: &str, n: usize) -> String {
        let n = n.min(FULL_DIGITS);
        let mut out = String::with_capacity(n);
        push_hex(&mut out, &self.digest(value), n);
        out
    }

    /// `anonymous`, or `anonymous-<hash>` for a unique column, `<hash>` being
    /// the first `digits` (clamped to 1..=64) hex digits of the subject's pseudonym.
    pub fn subject_replacement(&self, subject: &str, unique: bool, digits: usize) -> String {
        if !unique {
            return REPLACEMENT.to_owned();
        }
        let digits = digits.clamp(1, FULL_DIGITS);
        let mut out = String::with_capacity(REPLACEMENT.len() + 1 + digits);
        out.push_str(REPLACEMENT);
        out.push('-');
        push_hex(&mut out, &self.digest(subject), digits);
        out
    }

    /// `anon-<hash>@anonymized.invalid`, `<hash>` being the first `digits`
    /// (clamped to 1..=64) hex digits of the HMAC of the whole address as given.
    pub fn mask_email(&self, email: &str, digits: usize) -> String {
        const PREFIX: &str = "anon-";
        let digits = digits.clamp(1, FULL_DIGITS);
        let mut out = String::with_capacity(PREFIX.len() + digits + 1 + EMAIL_DOMAIN.len());
        out.push_str(PREFIX);
        push_hex(&mut out, &self.digest(email), digits);
        out.push('@');
        out.push_str(EMAIL_DOMAIN);
        out
    }
}

impl std::fmt::Debug for Pseudonymizer {
    /// Never prints the key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer { .. }")
    }
}

/// HMAC-SHA-256 of `value` under `key`, 64 lowercase hex chars.
pub fn pseudonym(key: &[u8], value: &str) -> String {
    Pseudonymizer::new(key).pseudonym(value)
}

/// The first `n` hex digits of [`pseudonym`] (`n` even or odd, clamped to 64).
pub fn hash_prefix(key: &[u8], value: &str, n: usize) -> String {
    Pseudonymizer::new(key).hash_prefix(value, n)
}

/// The subject replacement: `anonymous` or, for unique columns,
/// `anonymous-<hash>` with the first `digits` hex digits of the HMAC of the
/// person's subject value (`digits` = 8, then 12, 16 … to lengthen on collision).
pub fn subject_replacement(key: &[u8], subject: &str, unique: bool, digits: usize) -> String {
    if !unique {
        return REPLACEMENT.to_owned();
    }
    Pseudonymizer::new(key).subject_replacement(subject, unique, digits)
}

/// `anon-<hash>@anonymized.invalid` from the HMAC of the whole address as
/// given (`digits` = 8 normally, longer on collision).
pub fn mask_email(key: &[u8], email: &str, digits: usize) -> String {
    Pseudonymizer::new(key).mask_email(email, digits)
}

/// Appends the first `digits` lowercase hex digits of `bytes` to `out`.
fn push_hex(out: &mut String, bytes: &[u8], digits: usize) {
    for i in 0..digits.min(bytes.len() * 2) {
        let byte = bytes[i / 2];
        let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
        out.push(char::from(HEX_DIGITS[usize::from(nibble)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 4231 test case 2.
    const JEFE: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn rfc4231_case_2() {
        assert_eq!(pseudonym(b"Jefe", "what do ya want for nothing?"), JEFE);
    }

    #[test]
    fn rfc4231_case_1() {
        assert_eq!(
            pseudonym(&[0x0b; 20], "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn rfc4231_case_6_key_longer_than_block() {
        assert_eq!(
            pseudonym(&[0xaa; 131], "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn empty_key_and_value_are_fine() {
        // HMAC-SHA-256 with empty key and message (well-known value).
        assert_eq!(pseudonym(b"", ""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    }

    #[test]
    fn pseudonym_matches_hex_crate() {
        let p = Pseudonymizer::new(b"k");
        assert_eq!(p.pseudonym("alice"), hex::encode(p.digest("alice")));
    }

    #[test]
    fn different_keys_and_values_differ() {
        assert_ne!(pseudonym(b"k1", "alice"), pseudonym(b"k2", "alice"));
        assert_ne!(pseudonym(b"k1", "alice"), pseudonym(b"k1", "Alice"));
    }

    #[test]
    fn hash_prefix_lengths() {
        let key = b"Jefe";
        let value = "what do ya want for nothing?";
        assert_eq!(hash_prefix(key, value, 0), "");
        assert_eq!(hash_prefix(key, value, 1), "5");
        assert_eq!(hash_prefix(key, value, 7), "5bdcc14");
        assert_eq!(hash_prefix(key, value, 8), "5bdcc146");
        assert_eq!(hash_prefix(key, value, 64), JEFE);
        assert_eq!(hash_prefix(key, value, 1000), JEFE);
    }

    #[test]
    fn subject_replacement_plain_and_unique() {
        let key = b"Jefe";
        let subject = "what do ya want for nothing?";
        assert_eq!(subject_replacement(key, subject, false, 8), "anonymous");
        assert_eq!(subject_replacement(key, subject, true, 8), "anonymous-5bdcc146");
        assert_eq!(subject_replacement(key, subject, true, 12), "anonymous-5bdcc146bf60");
        assert_eq!(subject_replacement(key, subject, true, 16), "anonymous-5bdcc146bf60754e");
        assert_eq!(subject_replacement(key, subject, true, 99), format!("anonymous-{JEFE}"));
        assert_eq!(subject_replacement(key, subject, true, 0), "anonymous-5");
    }

    #[test]
    fn mask_email_shape() {
        let key = b"Jefe";
        assert_eq!(mask_email(key, "what do ya want for nothing?", 8), "anon-5bdcc146@anonymized.invalid");
        assert_eq!(mask_email(key, "what do ya want for nothing?", 12), "anon-5bdcc146bf60@anonymized.invalid");
    }

    #[test]
    fn mask_email_hashes_the_address_as_given() {
        let key = b"k";
        let a = mask_email(key, "Alice@Example.com", 8);
        let b = mask_email(key, "alice@example.com", 8);
        assert_ne!(a, b);
        assert_eq!(a, format!("anon-{}@anonymized.invalid", hash_prefix(key, "Alice@Example.com", 8)));
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", Pseudonymizer::new(b"secret")), "Pseudonymizer { .. }");
    }

    proptest! {
        #[test]
        fn pseudonym_is_64_lowercase_hex(key in proptest::collection::vec(any::<u8>(), 0..200), value in any::<String>()) {
            let p = pseudonym(&key, &value);
            prop_assert_eq!(p.len(), 64);
            prop_assert!(p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            prop_assert_eq!(&p, &hex::encode(Pseudonymizer::new(&key).digest(&value)));
        }

        #[test]
        fn prefixes_agree(key in proptest::collection::vec(any::<u8>(), 0..80), value in any::<String>(), n in 0usize..100, unique in any::<bool>()) {
            let full = pseudonym(&key, &value);
            let prefix = hash_prefix(&key, &value, n);
            prop_assert_eq!(prefix.as_str(), &full[..n.min(64)]);
            let digits = n.clamp(1, 64);
            let subject = subject_replacement(&key, &value, unique, n);
            if unique {
                prop_assert_eq!(subject, format!("anonymous-{}", &full[..digits]));
            } else {
                prop_assert_eq!(subject, "anonymous");
            }
            prop_assert_eq!(mask_email(&key, &value, n), format!("anon-{}@anonymized.invalid", &full[..digits]));
        }
    }
}
