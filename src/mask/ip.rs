//! `@pii ip`: an address is masked to the network it belongs to.
//!
//! IPv4 keeps [`DEFAULT_V4`] prefix bits and IPv6 keeps [`DEFAULT_V6`] unless
//! the tag says otherwise (`ip:16/32`). An IPv4-mapped IPv6 address
//! (`::ffff:10.1.2.3`) is an IPv4 address in IPv6 clothing: it keeps its
//! 96-bit mapping prefix plus the IPv4 number of bits, so it is masked exactly
//! like the IPv4 address it stands for (`::ffff:10.1.2.0/120`).

use std::net::{IpAddr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Prefix bits an IPv4 address keeps by default (the last octet becomes 0).
pub const DEFAULT_V4: u8 = 24;
/// Prefix bits an IPv6 address keeps by default.
pub const DEFAULT_V6: u8 = 48;

/// Length of the `::ffff:0:0/96` prefix of IPv4-mapped IPv6 addresses.
const MAPPED_PREFIX: u8 = 96;

/// The network an address or network belongs to, keeping `v4`/`v6` prefix
/// bits (clamped to 32/128).
///
/// An input whose own prefix is already shorter keeps its own prefix. The
/// result is the network address with the kept prefix:
/// `10.1.2.3/32 -> 10.1.2.0/24`, `2001:db8:1:2::5 -> 2001:db8:1::/48`,
/// `10.0.0.0/8 -> 10.0.0.0/8`. IPv4-mapped IPv6 addresses keep `96 + v4` bits.
pub fn mask_net(net: IpNet, v4: u8, v6: u8) -> IpNet {
    match net {
        IpNet::V4(n) => IpNet::V4(keep_v4(n, v4)),
        IpNet::V6(n) => IpNet::V6(keep_v6(n, v4, v6)),
    }
}

/// Masks an address given as PostgreSQL's `inet` stores it: the family
/// (`v6`), the prefix length and the address bytes (4 or 16). Returns the new
/// prefix length and bytes, or `None` when the bytes do not make an address.
#[inline]
pub fn mask_raw(v6: bool, bits: u8, addr: &[u8], v4: u8, v6p: u8) -> Option<(u8, [u8; 16])> {
    // on the bytes, as PostgreSQL's own network functions do (the same result
    // as mask_net, which a property test checks)
    let n = if v6 { 16 } else { 4 };
    if addr.len() != n {
        return None;
    }
    let mut out = [0u8; 16];
    out[..n].copy_from_slice(addr);
    let mapped = v6 && addr[..10].iter().all(|&b| b == 0) && addr[10] == 0xff && addr[11] == 0xff;
    let keep = match (v6, mapped) {
        (false, _) => v4.min(32),
        (true, true) => MAPPED_PREFIX + v4.min(32),
        (true, false) => v6p.min(128),
    };
    let len = bits.min(8 * n as u8).min(keep);
    let full = usize::from(len / 8);
    if full < n {
        out[full] &= (0xffu16 << (8 - len % 8)) as u8;
        out[full + 1..n].fill(0);
    }
    Some((len, out))
}

/// Masks an IP address stored as text.
///
/// Accepts an address (`10.1.2.3`, `::1`, `::ffff:10.1.2.3`) or an address
/// with a prefix (`10.1.2.3/32`), surrounded by optional whitespace. The
/// masked network address is returned without a prefix when the input had
/// none (`10.1.2.0`) and with one when it had one (`10.1.2.0/24`). Anything
/// that is not an address gives `None` (the caller then writes the
/// replacement `anonymous`).
pub fn mask_ip_text(s: &str, v4: u8, v6: u8) -> Option<String> {
    let s = s.trim();
    if s.contains('/') {
        let net: IpNet = s.parse().ok()?;
        Some(mask_net(net, v4, v6).to_string())
    } else {
        let addr: IpAddr = s.parse().ok()?;
        Some(mask_net(IpNet::from(addr), v4, v6).addr().to_string())
    }
}

/// Keeps at most `bits` (clamped to 32) prefix bits of an IPv4 network.
fn keep_v4(net: Ipv4Net, bits: u8) -> Ipv4Net {
    let len = net.prefix_len().min(bits.min(32));
    Ipv4Net::new(net.addr(), len).map_or(net, |n| n.trunc())
}

/// Keeps at most `v6` (clamped to 128) prefix bits of an IPv6 network, or
/// `96 + v4` bits of an IPv4-mapped one.
fn keep_v6(net: Ipv6Net, v4: u8, v6: u8) -> Ipv6Net {
    let bits = if is_v4_mapped(net.addr()) { MAPPED_PREFIX + v4.min(32) } else { v6.min(128) };
    let len = net.prefix_len().min(bits);
    Ipv6Net::new(net.addr(), len).map_or(net, |n| n.trunc())
}

/// Whether `addr` is in `::ffff:0:0/96`.
fn is_v4_mapped(addr: Ipv6Addr) -> bool {
    addr.to_ipv4_mapped().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn masked(s: &str) -> String {
        mask_net(net(s), DEFAULT_V4, DEFAULT_V6).to_string()
    }

    #[test]
    fn ipv4_host_keeps_24_bits() {
        assert_eq!(masked("10.1.2.3/32"), "10.1.2.0/24");
        assert_eq!(masked("192.168.255.255/32"), "192.168.255.0/24");
    }

    #[test]
    fn ipv6_host_keeps_48_bits() {
        assert_eq!(masked("2001:db8:1:2::5/128"), "2001:db8:1::/48");
        assert_eq!(masked("::1/128"), "::/48");
    }

    #[test]
    fn shorter_own_prefix_is_kept() {
        assert_eq!(masked("10.0.0.0/8"), "10.0.0.0/8");
        assert_eq!(masked("2001:db8::/32"), "2001:db8::/32");
    }

    #[test]
    fn shorter_own_prefix_with_host_bits_gives_network_address() {
        // inet '10.1.2.3/8' carries host bits; the result is the network.
        assert_eq!(masked("10.1.2.3/8"), "10.0.0.0/8");
        assert_eq!(masked("2001:db8:ffff::1/40"), "2001:db8:ff00::/40");
    }

    #[test]
    fn prefix_between_default_and_host_is_shortened() {
        assert_eq!(masked("10.1.2.128/25"), "10.1.2.0/24");
        assert_eq!(masked("2001:db8:1:2::/64"), "2001:db8:1::/48");
    }

    #[test]
    fn custom_prefixes() {
        assert_eq!(mask_net(net("10.1.2.3/32"), 16, 32).to_string(), "10.1.0.0/16");
        assert_eq!(mask_net(net("2001:db8:1:2::5/128"), 16, 32).to_string(), "2001:db8::/32");
    }

    #[test]
    fn prefix_zero_keeps_nothing() {
        assert_eq!(mask_net(net("10.1.2.3/32"), 0, 0).to_string(), "0.0.0.0/0");
        assert_eq!(mask_net(net("2001:db8::1/128"), 0, 0).to_string(), "::/0");
        assert_eq!(mask_net(net("0.0.0.0/0"), 24, 48).to_string(), "0.0.0.0/0");
    }

    #[test]
    fn full_prefix_keeps_everything() {
        assert_eq!(mask_net(net("10.1.2.3/32"), 32, 128).to_string(), "10.1.2.3/32");
        assert_eq!(mask_net(net("2001:db8::1/128"), 32, 128).to_string(), "2001:db8::1/128");
    }

    #[test]
    fn oversized_prefixes_are_clamped() {
        assert_eq!(mask_net(net("10.1.2.3/32"), 200, 255).to_string(), "10.1.2.3/32");
        assert_eq!(mask_net(net("2001:db8::1/128"), 200, 255).to_string(), "2001:db8::1/128");
    }

    #[test]
    fn mapped_ipv6_is_masked_like_ipv4() {
        assert_eq!(masked("::ffff:10.1.2.3/128"), "::ffff:10.1.2.0/120");
        assert_eq!(mask_net(net("::ffff:10.1.2.3/128"), 16, 48).to_string(), "::ffff:10.1.0.0/112");
        assert_eq!(mask_net(net("::ffff:10.1.2.3/128"), 0, 48).to_string(), "::ffff:0.0.0.0/96");
        // A mapped network shorter than the mapping prefix keeps its own prefix.
        assert_eq!(masked("::ffff:0:0/96"), "::ffff:0.0.0.0/96");
    }

    #[test]
    fn text_without_prefix_stays_without() {
        assert_eq!(mask_ip_text("10.1.2.3", 24, 48).as_deref(), Some("10.1.2.0"));
        assert_eq!(mask_ip_text("::1", 24, 48).as_deref(), Some("::"));
        assert_eq!(mask_ip_text("2001:db8:1:2::5", 24, 48).as_deref(), Some("2001:db8:1::"));
        assert_eq!(mask_ip_text("::ffff:10.1.2.3", 24, 48).as_deref(), Some("::ffff:10.1.2.0"));
    }

    #[test]
    fn text_with_prefix_keeps_it() {
        assert_eq!(mask_ip_text("10.1.2.3/32", 24, 48).as_deref(), Some("10.1.2.0/24"));
        assert_eq!(mask_ip_text("10.0.0.0/8", 24, 48).as_deref(), Some("10.0.0.0/8"));
        assert_eq!(mask_ip_text("2001:db8::1/128", 24, 48).as_deref(), Some("2001:db8::/48"));
        assert_eq!(mask_ip_text("::ffff:10.1.2.3/128", 24, 48).as_deref(), Some("::ffff:10.1.2.0/120"));
    }

    #[test]
    fn text_surrounding_whitespace_is_ignored() {
        assert_eq!(mask_ip_text("  10.1.2.3\n", 24, 48).as_deref(), Some("10.1.2.0"));
    }

    #[test]
    fn text_garbage_is_none() {
        for s in [
            "",
            " ",
            "anonymous",
            "10.1.2",
            "10.1.2.3.4",
            "256.1.2.3",
            "010.1.2.3",
            "10.1.2.3/33",
            "::1/129",
            "10.1.2.3/",
            "/24",
            "10.1.2.3/24/1",
            "10.1.2.3/-1",
            "fe80::1%eth0",
            ":::",
            "bob@example.com",
            "10.1.2.3 10.1.2.4",
            "１０.1.2.3",
        ] {
            assert_eq!(mask_ip_text(s, 24, 48), None, "{s:?}");
        }
    }

    fn any_net() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (any::<u32>(), 0u8..=32).prop_map(|(a, p)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), p).unwrap())),
            (any::<u128>(), 0u8..=128).prop_map(|(a, p)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), p).unwrap())),
            (any::<u32>(), 96u8..=128).prop_map(|(a, p)| {
                let mapped = Ipv4Addr::from(a).to_ipv6_mapped();
                IpNet::V6(Ipv6Net::new(mapped, p).unwrap())
            }),
        ]
    }

    proptest! {
        #[test]
        fn mask_net_is_idempotent_and_contains_input(n in any_net(), v4 in any::<u8>(), v6 in any::<u8>()) {
            let m = mask_net(n, v4, v6);
            prop_assert_eq!(mask_net(m, v4, v6), m);
            prop_assert!(m.contains(&n));
            prop_assert_eq!(m, m.trunc());
            prop_assert!(m.prefix_len() <= n.prefix_len());
        }

        #[test]
        fn mask_net_keeps_at_most_the_requested_bits(n in any_net(), v4 in 0u8..=32, v6 in 0u8..=128) {
            let m = mask_net(n, v4, v6);
            let limit = match n {
                IpNet::V4(_) => v4,
                IpNet::V6(x) if x.addr().to_ipv4_mapped().is_some() => 96 + v4,
                IpNet::V6(_) => v6,
            };
            prop_assert_eq!(m.prefix_len(), n.prefix_len().min(limit));
        }

        #[test]
        fn mask_ip_text_never_panics(s in ".{0,40}", v4 in any::<u8>(), v6 in any::<u8>()) {
            let _ = mask_ip_text(&s, v4, v6);
        }

        #[test]
        fn mask_raw_agrees_with_mask_net(n in any_net(), v4 in 0u8..=32, v6 in 0u8..=128) {
            let (v6net, bytes): (bool, Vec<u8>) = match n {
                IpNet::V4(x) => (false, x.addr().octets().to_vec()),
                IpNet::V6(x) => (true, x.addr().octets().to_vec()),
            };
            let (bits, out) = mask_raw(v6net, n.prefix_len(), &bytes, v4, v6).expect("an address");
            let want = mask_net(n, v4, v6);
            prop_assert_eq!(bits, want.prefix_len());
            match want {
                IpNet::V4(x) => prop_assert_eq!(&out[..4], &x.addr().octets()[..]),
                IpNet::V6(x) => prop_assert_eq!(&out[..], &x.addr().octets()[..]),
            }
        }

        #[test]
        fn mask_ip_text_matches_mask_net(n in any_net(), v4 in any::<u8>(), v6 in any::<u8>()) {
            let with_prefix = mask_ip_text(&n.to_string(), v4, v6);
            prop_assert_eq!(with_prefix, Some(mask_net(n, v4, v6).to_string()));
            let host = IpNet::from(n.addr());
            let bare = mask_ip_text(&n.addr().to_string(), v4, v6);
            prop_assert_eq!(bare, Some(mask_net(host, v4, v6).addr().to_string()));
        }
    }
}
