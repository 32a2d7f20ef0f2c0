//! The HMAC key, read from `forget.hmac_key` with the caller's privileges (so
//! a role that may not read it gets `permission denied`, 42501) and cached for
//! the rest of the statement: the cache is keyed on the local transaction, the
//! command counter (which moves on after any write, such as a key change) and
//! the current user (so `SET ROLE` checks again).

use std::cell::RefCell;

use pgrx::prelude::*;

use crate::api::{raise, OrRaise};
use crate::error::ForgetError;
use crate::mask::hmac::Pseudonymizer;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    lxid: u32,
    cid: u32,
    user: u32,
}

/// The key and an HMAC keyed with it (keying costs two SHA-256 blocks: done
/// once per statement, not once per value).
struct Cached {
    stamp: Stamp,
    key: Vec<u8>,
    hmac: Pseudonymizer,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

fn stamp() -> Stamp {
    // SAFETY: MyProc is set for every backend that runs SQL; these calls only read state.
    unsafe {
        #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15", feature = "pg16"))]
        let lxid = (*pg_sys::MyProc).lxid;
        #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15", feature = "pg16")))]
        let lxid = (*pg_sys::MyProc).vxid.lxid;
        Stamp { lxid, cid: pg_sys::GetCurrentCommandId(false), user: pg_sys::GetUserId().to_u32() }
    }
}

const KEY_SQL: &str = "SELECT key FROM forget.hmac_key ORDER BY created_at, ctid LIMIT 1";

/// Runs `f` with the key.
pub fn with_key<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    with_cached(|c| f(&c.key))
}

/// Runs `f` with an HMAC keyed with the key.
pub fn with_pseudonymizer<R>(f: impl FnOnce(&Pseudonymizer) -> R) -> R {
    with_cached(|c| f(&c.hmac))
}

fn with_cached<R>(f: impl FnOnce(&Cached) -> R) -> R {
    let now = stamp();
    let fresh = CACHE.with(|c| c.borrow().as_ref().is_some_and(|c| c.stamp == now));
    if !fresh {
        let key: Vec<u8> = Spi::get_one::<Vec<u8>>(KEY_SQL)
            .or_raise()
            .unwrap_or_else(|| raise(ForgetError::WrongState("forget.hmac_key holds no key".into())));
        if key.len() < 16 {
            raise(ForgetError::WrongState("forget.hmac_key holds a key shorter than 16 bytes".into()));
        }
        let hmac = Pseudonymizer::new(&key);
        CACHE.with(|c| *c.borrow_mut() = Some(Cached { stamp: now, key, hmac }));
    }
    CACHE.with(|c| f(c.borrow().as_ref().unwrap_or_else(|| unreachable!("cached just above"))))
}
