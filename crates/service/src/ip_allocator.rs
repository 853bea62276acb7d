//! Hands out tailnet address pairs: the lowest free offset of [`keygate_domain::ip_pool`].
//!
//! The allocator lives in memory, seeded from the stored nodes when the [`crate::Tailnet`]
//! loads. An offset is marked used the moment it is handed out, so two enrolments running at
//! the same time never get the same pair; an enrolment that fails gives its offset back. The
//! database's unique constraints on `ipv4` and `ipv6` remain the final guard (for example
//! against a second process writing to the same database): a conflict there marks the offset
//! used and the enrolment retries with the next one.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use keygate_domain::ip_pool::{self, Offset, FIRST_OFFSET};

/// The set of offsets in use, and where to start looking for a free one.
#[derive(Debug)]
pub(crate) struct IpAllocator {
    used: BTreeSet<Offset>,
    /// No offset below this one is free: the scan for a free offset starts here, which keeps
    /// filling a fresh pool linear instead of quadratic.
    hint: Offset,
}

impl IpAllocator {
    /// An allocator with the addresses of existing nodes marked used.
    pub(crate) fn new<'a>(in_use: impl IntoIterator<Item = (&'a Ipv4Addr, &'a Ipv6Addr)>) -> Self {
        let mut allocator = Self { used: BTreeSet::new(), hint: FIRST_OFFSET };
        for (v4, v6) in in_use {
            allocator.mark_used_addresses(*v4, *v6);
        }
        allocator
    }

    /// Reserves the lowest free assignable offset; `None` when the pool is exhausted.
    pub(crate) fn allocate(&mut self) -> Option<Offset> {
        let mut candidate = ip_pool::next_assignable(self.hint)?;
        while self.used.contains(&candidate) {
            candidate = ip_pool::next_assignable(candidate.checked_add(1)?)?;
        }
        self.used.insert(candidate);
        self.hint = candidate + 1;
        Some(candidate)
    }

    /// Gives `offset` back (its node was deleted, or its enrolment failed).
    pub(crate) fn release(&mut self, offset: Offset) {
        if self.used.remove(&offset) {
            self.hint = self.hint.min(offset);
        }
    }

    /// Marks `offset` used without handing it out (the database says it is taken).
    pub(crate) fn mark_used(&mut self, offset: Offset) {
        self.used.insert(offset);
    }

    /// Marks a stored node's addresses used. Addresses outside the pool are ignored; an IPv6
    /// address whose offset differs from its IPv4 partner's blocks that offset too, so no new
    /// pair can collide with it.
    pub(crate) fn mark_used_addresses(&mut self, v4: Ipv4Addr, v6: Ipv6Addr) {
        if let Some(offset) = ip_pool::offset_of(v4) {
            self.mark_used(offset);
        }
        if let Some(offset) = v6_offset(v6) {
            self.mark_used(offset);
        }
    }

    /// Releases a deleted node's addresses.
    pub(crate) fn release_addresses(&mut self, v4: Ipv4Addr, v6: Ipv6Addr) {
        let v4_offset = ip_pool::offset_of(v4);
        if let Some(offset) = v4_offset {
            self.release(offset);
        }
        if let Some(offset) = v6_offset(v6).filter(|o| Some(*o) != v4_offset) {
            self.release(offset);
        }
    }
}

/// The pool offset of an IPv6 address of fd7a:115c:a1e0::/48, if it is one that
/// [`ip_pool::ipv6_at`] can produce.
fn v6_offset(v6: Ipv6Addr) -> Option<Offset> {
    let base = u128::from(ip_pool::ipv6_at(0));
    let offset = u128::from(v6).checked_sub(base)?;
    Offset::try_from(offset).ok().filter(|o| ip_pool::ipv6_at(*o) == v6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ip_pool::{ipv4_at, ipv6_at, offset_of};

    fn pair(offset: Offset) -> (Ipv4Addr, Ipv6Addr) {
        (ipv4_at(offset), ipv6_at(offset))
    }

    #[test]
    fn a_fresh_pool_starts_at_100_64_0_1() {
        let mut a = IpAllocator::new([]);
        assert_eq!(a.allocate().map(ipv4_at), Some(Ipv4Addr::new(100, 64, 0, 1)));
        assert_eq!(a.allocate().map(ipv6_at), Some("fd7a:115c:a1e0::2".parse().unwrap()));
    }

    #[test]
    fn the_lowest_free_offset_wins_and_deleted_addresses_are_reused() {
        let stored = [pair(1), pair(2), pair(4)];
        let mut a = IpAllocator::new(stored.iter().map(|(v4, v6)| (v4, v6)));
        assert_eq!(a.allocate(), Some(3));
        assert_eq!(a.allocate(), Some(5));
        let (v4, v6) = pair(2);
        a.release_addresses(v4, v6);
        assert_eq!(a.allocate(), Some(2), "a deleted node's pair is handed out again");
        assert_eq!(a.allocate(), Some(6));
    }

    #[test]
    fn a_failed_enrolment_gives_its_offset_back() {
        let mut a = IpAllocator::new([]);
        let first = a.allocate().unwrap();
        let second = a.allocate().unwrap();
        a.release(first);
        assert_eq!(a.allocate(), Some(first));
        assert_eq!(a.allocate(), Some(second + 1));
    }

    #[test]
    fn reserved_ranges_are_skipped() {
        // Everything up to 100.100.99.255 is taken: the next pair is 100.100.101.0, past the
        // 100.100.100.0/24 block that holds the 100.100.100.100 resolver.
        let last_before = offset_of(Ipv4Addr::new(100, 100, 99, 255)).unwrap();
        let mut a = IpAllocator::new([]);
        for offset in FIRST_OFFSET..=last_before {
            a.mark_used(offset);
        }
        assert_eq!(a.allocate().map(ipv4_at), Some(Ipv4Addr::new(100, 100, 101, 0)));
    }

    #[test]
    fn a_database_conflict_marks_the_offset_and_moves_on() {
        let mut a = IpAllocator::new([]);
        let taken = a.allocate().unwrap();
        a.mark_used(taken);
        assert_eq!(a.allocate(), Some(taken + 1));
    }

    #[test]
    fn an_exhausted_pool_says_so() {
        let mut a = IpAllocator::new([]);
        a.hint = ip_pool::LAST_OFFSET;
        assert_eq!(a.allocate(), Some(ip_pool::LAST_OFFSET));
        assert_eq!(a.allocate(), None);
    }

    #[test]
    fn mismatched_ipv6_blocks_its_own_offset() {
        let (v4, _) = pair(1);
        let (_, v6) = pair(2);
        let mut a = IpAllocator::new([(&v4, &v6)]);
        assert_eq!(a.allocate(), Some(3));
        assert_eq!(v6_offset("fd7a:115c:a1e1::1".parse().unwrap()), None);
    }
}
