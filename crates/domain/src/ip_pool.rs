//! Tailnet addresses: every node gets one IPv4 address from 100.64.0.0/10 and one IPv6
//! address from fd7a:115c:a1e0::/48, paired by the same offset so a node's two addresses
//! always correspond.
//!
//! Offsets start at 1 (100.64.0.1). A few offsets are never handed out: the ones whose IPv4
//! form lies in ranges Tailscale reserves inside 100.64.0.0/10 (100.100.100.0/24, which holds
//! the 100.100.100.100 resolver, and ChromeOS's 100.115.92.0/23), and the last address.

use std::net::{Ipv4Addr, Ipv6Addr};

const V4_BASE: u32 = u32::from_be_bytes([100, 64, 0, 0]);
/// Addresses in 100.64.0.0/10.
const V4_SIZE: u32 = 1 << 22;
const V6_BASE: u128 = 0xfd7a_115c_a1e0_0000_0000_0000_0000_0000;

/// The reserved IPv4 ranges inside the pool, as (first, last) inclusive.
const RESERVED: [(u32, u32); 2] = [
    (u32::from_be_bytes([100, 100, 100, 0]), u32::from_be_bytes([100, 100, 100, 255])),
    (u32::from_be_bytes([100, 115, 92, 0]), u32::from_be_bytes([100, 115, 93, 255])),
];

/// An address pair's position in the pool.
pub type Offset = u32;

/// The first offset handed out.
pub const FIRST_OFFSET: Offset = 1;
/// The last offset handed out.
pub const LAST_OFFSET: Offset = V4_SIZE - 2;

/// Whether `offset` may be given to a node.
pub fn is_assignable(offset: Offset) -> bool {
    if !(FIRST_OFFSET..=LAST_OFFSET).contains(&offset) {
        return false;
    }
    let v4 = V4_BASE + offset;
    !RESERVED.iter().any(|(a, b)| (*a..=*b).contains(&v4))
}

/// The IPv4 address at `offset`.
pub fn ipv4_at(offset: Offset) -> Ipv4Addr {
    Ipv4Addr::from(V4_BASE + offset)
}

/// The IPv6 address at `offset`.
pub fn ipv6_at(offset: Offset) -> Ipv6Addr {
    Ipv6Addr::from(V6_BASE + u128::from(offset))
}

/// The offset of `addr`, if it lies in the IPv4 pool.
pub fn offset_of(addr: Ipv4Addr) -> Option<Offset> {
    u32::from(addr).checked_sub(V4_BASE).filter(|o| *o < V4_SIZE)
}

/// The next assignable offset at or after `from`, if any is left.
pub fn next_assignable(from: Offset) -> Option<Offset> {
    (from.max(FIRST_OFFSET)..=LAST_OFFSET).find(|o| is_assignable(*o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_pair() {
        assert_eq!(ipv4_at(1), Ipv4Addr::new(100, 64, 0, 1));
        assert_eq!(ipv6_at(1).to_string(), "fd7a:115c:a1e0::1");
        assert_eq!(offset_of(Ipv4Addr::new(100, 64, 0, 1)), Some(1));
        assert_eq!(offset_of(Ipv4Addr::new(10, 0, 0, 1)), None);
        assert_eq!(offset_of(Ipv4Addr::new(100, 128, 0, 0)), None);
    }

    #[test]
    fn reserved_ranges_and_ends_are_skipped() {
        assert!(!is_assignable(0));
        assert!(!is_assignable(V4_SIZE - 1));
        let quad100 = offset_of(Ipv4Addr::new(100, 100, 100, 100)).unwrap();
        assert!(!is_assignable(quad100));
        let before = offset_of(Ipv4Addr::new(100, 100, 99, 255)).unwrap();
        assert_eq!(next_assignable(before + 1), offset_of(Ipv4Addr::new(100, 100, 101, 0)));
        assert!(!is_assignable(offset_of(Ipv4Addr::new(100, 115, 93, 7)).unwrap()));
        assert_eq!(next_assignable(LAST_OFFSET + 1), None);
        assert_eq!(ipv4_at(LAST_OFFSET), Ipv4Addr::new(100, 127, 255, 254));
    }
}
