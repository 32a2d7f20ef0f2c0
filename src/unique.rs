//! Distinct replacements for unique columns. `anonymous-<hash8>` (or an
//! e-mail's `anon-<hash8>@...`) collides at scale: two of 100,000 people
//! already share 32 bits. Each old value starts at 8 hex digits and is
//! lengthened by 4 until its replacement clashes neither with another
//! replacement of the same call nor with a value already in the column. Pure:
//! the caller passes how to build a replacement and how to ask the database
//! which candidates are taken.

use std::collections::{HashMap, HashSet};

pub const START_DIGITS: usize = 8;
pub const STEP: usize = 4;
pub const MAX_DIGITS: usize = 64;

/// Maps each old value to its replacement. `make(old, digits)` builds a
/// candidate; `taken(candidates)` returns those already present in the column.
pub fn assign<M, T, E>(olds: &[String], make: M, mut taken: T) -> Result<HashMap<String, String>, E>
where
    M: Fn(&str, usize) -> String,
    T: FnMut(&[String]) -> Result<HashSet<String>, E>,
{
    let mut digits: HashMap<&str, usize> = olds.iter().map(|o| (o.as_str(), START_DIGITS)).collect();
    loop {
        let mut cand: HashMap<&str, String> = HashMap::with_capacity(olds.len());
        let mut by_value: HashMap<String, Vec<&str>> = HashMap::new();
        for o in olds {
            let c = make(o, digits[o.as_str()]);
            by_value.entry(c.clone()).or_default().push(o.as_str());
            cand.insert(o.as_str(), c);
        }
        let mut bump: HashSet<&str> = HashSet::new();
        for owners in by_value.values() {
            if owners.len() > 1 {
                bump.extend(owners.iter().copied());
            }
        }
        let values: Vec<String> = by_value.keys().cloned().collect();
        for v in taken(&values)? {
            if let Some(owners) = by_value.get(&v) {
                // a candidate equal to its own old value is no clash (already anonymized)
                bump.extend(owners.iter().copied().filter(|o| *o != v));
            }
        }
        let bump: Vec<&str> = bump.into_iter().filter(|o| digits[o] < MAX_DIGITS).collect();
        if bump.is_empty() {
            return Ok(cand.into_iter().map(|(o, c)| (o.to_owned(), c)).collect());
        }
        for o in bump {
            let d = digits.get_mut(o).expect("known old value");
            *d = (*d + STEP).min(MAX_DIGITS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(o: &str, d: usize) -> String {
        // a "hash" whose first 8 digits collide for a* names
        let h = if o.starts_with('a') { format!("{:0<64}", "aaaaaaaa") } else { format!("{:0<64}", o) };
        let tail = format!("{:x}", o.len() * 7919 + o.bytes().map(|b| b as usize).sum::<usize>());
        let h = format!("{}{}", &h[..8], tail.repeat(16));
        format!("anonymous-{}", &h[..d])
    }

    #[test]
    fn distinct_values_keep_eight_digits() {
        let olds = vec!["bob".to_string(), "carol".to_string()];
        let m: HashMap<String, String> = assign(&olds, make, |_| Ok::<_, ()>(HashSet::new())).unwrap();
        assert!(m.values().all(|v| v.len() == "anonymous-".len() + 8));
    }

    #[test]
    fn collisions_within_the_call_are_lengthened() {
        let olds = vec!["alice".to_string(), "anna".to_string(), "bob".to_string()];
        let m = assign(&olds, make, |_| Ok::<_, ()>(HashSet::new())).unwrap();
        assert_ne!(m["alice"], m["anna"]);
        assert_eq!(m["bob"].len(), "anonymous-".len() + 8);
        assert!(m["alice"].len() > "anonymous-".len() + 8);
        let distinct: HashSet<&String> = m.values().collect();
        assert_eq!(distinct.len(), 3);
    }

    #[test]
    fn collisions_with_existing_rows_are_lengthened() {
        let olds = vec!["bob".to_string()];
        let existing = make("bob", 8);
        let m = assign(&olds, make, |c| Ok::<_, ()>(c.iter().filter(|v| **v == existing).cloned().collect())).unwrap();
        assert_eq!(m["bob"].len(), "anonymous-".len() + 12);
    }

    #[test]
    fn gives_up_lengthening_at_64_digits() {
        let olds = vec!["alice".to_string(), "amy".to_string()];
        // everything is taken: terminates at the maximum length
        let m = assign(&olds, make, |c| Ok::<_, ()>(c.iter().cloned().collect())).unwrap();
        assert!(m.values().all(|v| v.len() <= "anonymous-".len() + MAX_DIGITS));
    }

    #[test]
    fn database_errors_propagate() {
        let olds = vec!["bob".to_string()];
        let r: Result<_, &str> = assign(&olds, make, |_| Err("boom"));
        assert_eq!(r.unwrap_err(), "boom");
    }
}
