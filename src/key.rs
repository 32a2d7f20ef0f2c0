//! The HMAC key, read from `forget.hmac_key` with the caller's privileges (so
//! a role that may not read it gets `permission denied`, 42501) and cached for
//! the rest of the statement: the cache is keyed on the local transaction, the
//! command counter (which moves on after any write, such as a key change) and
//! the current user (so `SET ROLE` checks again).

use std::cell::RefCell;

use pgrx::prelude::*;

use crate::api::{raise, OrRaise};
use crate::error::ForgetError;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    lxid: u32,
    cid: u32,
    user: u32,
}

thread_local! {
    static CACHE: RefCell<Option<(Stamp, Vec<u8>)>> = const { RefCell::new(None) };
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
    let now = stamp();
    let cached = CACHE.with(|c| c.borrow().as_ref().filter(|(s, _)| *s == now).map(|(_, k)| k.clone()));
    let key = match cached {
        Some(k) => k,
        None => {
            let k: Vec<u8> = Spi::get_one::<Vec<u8>>(KEY_SQL)
                .or_raise()
                .unwrap_or_else(|| raise(ForgetError::WrongState("forget.hmac_key holds no key".into())));
            if k.len() < 16 {
                raise(ForgetError::WrongState("forget.hmac_key holds a key shorter than 16 bytes".into()));
            }
            CACHE.with(|c| *c.borrow_mut() = Some((now, k.clone())));
            k
        }
    };
    f(&key)
}
