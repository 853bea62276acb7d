//! Hands out tailnet address pairs of [`keygate_domain::ip_pool`] round-robin: the next free
//! offset after the last one handed out, wrapping to the start of the pool at its end.
//!
//! # Address reuse
//!
//! ACL rules, firewall rules and peers' caches name nodes by address, so a new node given a
//! just-deleted node's address would inherit what was meant for that node. Round-robin keeps
//! a freed pair out of circulation until every other free pair of the pool (about four million)
//! has been handed out once since: the same effect as a quarantine, with no timer and no list
//! of freed addresses to keep. (Once the pool has wrapped, a pair freed just ahead of the
//! cursor comes back as soon as the cursor reaches it; that takes millions of enrolments.)
//!
//! The position survives restarts, without costing enrolments a write: the cursor is stored
//! (`address_cursor` table) just **before** each node deletion, so the stored cursor is past
//! every pair that was ever freed. Enrolments after it are not recorded, and need not be:
//! their nodes are in the database, and the search skips pairs in use. At load the cursor is
//! the stored one; without one (a database from before this rule, or no deletion yet) it is
//! the pair after the highest in use. (Not the larger of the two: after a wrap the stored
//! cursor is legitimately below pairs in use, and jumping past them would wrap again onto the
//! pairs freed most recently.)
//!
//! The allocator lives in memory, seeded from the stored nodes when the [`crate::Tailnet`]
//! loads. An offset is marked used the moment it is handed out, so two enrolments running at
//! the same time never get the same pair; an enrolment that fails gives its offset back (and
//! the cursor too, if nothing was handed out after it). The database's unique constraints on
//! `ipv4` and `ipv6` remain the final guard (for example against a second process writing to
//! the same database): a conflict there marks the offset used and the enrolment retries with
//! the next one.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use keygate_domain::ip_pool::{self, Offset, FIRST_OFFSET};

/// The set of offsets in use, and where the search for the next one starts.
#[derive(Debug)]
pub(crate) struct IpAllocator {
    used: BTreeSet<Offset>,
    /// Just past the last offset handed out: the search for a free offset starts here.
    cursor: Offset,
}

impl IpAllocator {
    /// An allocator with the addresses of existing nodes marked used, continuing at
    /// `stored_cursor` if one was saved, else after the highest offset in use.
    pub(crate) fn new<'a>(
        in_use: impl IntoIterator<Item = (&'a Ipv4Addr, &'a Ipv6Addr)>,
        stored_cursor: Option<Offset>,
    ) -> Self {
        let mut allocator = Self { used: BTreeSet::new(), cursor: FIRST_OFFSET };
        for (v4, v6) in in_use {
            allocator.mark_used_addresses(*v4, *v6);
        }
        allocator.cursor = stored_cursor
            .unwrap_or_else(|| allocator.used.last().map_or(FIRST_OFFSET, |highest| highest + 1));
        allocator
    }

    /// Where the search for the next free offset starts: the value to store before a node
    /// is deleted (see the module docs).
    pub(crate) fn cursor(&self) -> Offset {
        self.cursor
    }

    /// Reserves the first free assignable offset at or after the cursor, wrapping to the
    /// start of the pool; `None` when the pool is exhausted.
    pub(crate) fn allocate(&mut self) -> Option<Offset> {
        let offset = self
            .first_free_in(self.cursor, Offset::MAX)
            .or_else(|| self.first_free_in(FIRST_OFFSET, self.cursor))?;
        self.used.insert(offset);
        self.cursor = offset + 1;
        Some(offset)
    }

    /// The first free assignable offset at or after `from` and before `end`. Walks the used
    /// offsets in order alongside the candidates, so a long run of used ones (a pool that has
    /// wrapped) costs one step each, not a lookup each.
    fn first_free_in(&self, from: Offset, end: Offset) -> Option<Offset> {
        let mut candidate = ip_pool::next_assignable(from).filter(|c| *c < end)?;
        for &used in self.used.range(candidate..end) {
            if used > candidate {
                break;
            }
            if used == candidate {
                candidate = ip_pool::next_assignable(candidate.checked_add(1)?)?;
            }
        }
        Some(candidate).filter(|c| *c < end)
    }

    /// Gives back `offset`, handed out to an enrolment that failed: free again, and if it was
    /// the last one handed out, the next enrolment gets it (no node ever had it).
    pub(crate) fn give_back(&mut self, offset: Offset) {
        if self.used.remove(&offset) && self.cursor == offset + 1 {
            self.cursor = offset;
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

    /// Frees a deleted node's addresses. The cursor stays where it is, so they are handed out
    /// again only once it comes round to them.
    pub(crate) fn release_addresses(&mut self, v4: Ipv4Addr, v6: Ipv6Addr) {
        if let Some(offset) = ip_pool::offset_of(v4) {
            self.used.remove(&offset);
        }
        if let Some(offset) = v6_offset(v6) {
            self.used.remove(&offset);
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
    use ip_pool::{ipv4_at, ipv6_at, offset_of, LAST_OFFSET};

    fn pair(offset: Offset) -> (Ipv4Addr, Ipv6Addr) {
        (ipv4_at(offset), ipv6_at(offset))
    }

    fn loaded(stored: &[(Ipv4Addr, Ipv6Addr)], cursor: Option<Offset>) -> IpAllocator {
        IpAllocator::new(stored.iter().map(|(v4, v6)| (v4, v6)), cursor)
    }

    #[test]
    fn a_fresh_pool_starts_at_100_64_0_1() {
        let mut a = IpAllocator::new([], None);
        assert_eq!(a.allocate().map(ipv4_at), Some(Ipv4Addr::new(100, 64, 0, 1)));
        assert_eq!(a.allocate().map(ipv6_at), Some("fd7a:115c:a1e0::2".parse().unwrap()));
    }

    #[test]
    fn a_deleted_nodes_pair_is_not_handed_out_again_until_the_pool_wraps() {
        let mut a = IpAllocator::new([], None);
        assert_eq!((a.allocate(), a.allocate(), a.allocate()), (Some(1), Some(2), Some(3)));
        let (v4, v6) = pair(2);
        a.release_addresses(v4, v6);
        assert_eq!(a.allocate(), Some(4), "the next pair after the last one handed out");
        assert_eq!(a.allocate(), Some(5));

        // Near the end of the pool the cursor wraps, and only then reaches the freed pair.
        a.cursor = LAST_OFFSET;
        assert_eq!(a.allocate(), Some(LAST_OFFSET));
        assert_eq!(a.allocate(), Some(2), "1 is in use; 2 was freed a whole lap ago");
        assert_eq!(a.allocate(), Some(6));
    }

    #[test]
    fn without_a_stored_cursor_allocation_continues_after_the_highest_pair_in_use() {
        // A database from before round-robin: the gap at 3 may be a deleted node's pair.
        let mut a = loaded(&[pair(1), pair(2), pair(4)], None);
        assert_eq!(a.allocate(), Some(5));
        assert_eq!(a.allocate(), Some(6));
    }

    #[test]
    fn a_stored_cursor_wins_and_pairs_in_use_after_it_are_skipped() {
        // Saved at a deletion when the cursor stood at 3; 3 and 4 were enrolled afterwards.
        let mut a = loaded(&[pair(1), pair(3), pair(4)], Some(3));
        assert_eq!(a.allocate(), Some(5), "2 was freed before the cursor was saved");

        // After a wrap the stored cursor lies below pairs in use, and is still where to go on:
        // the pairs past the highest one in use were freed most recently.
        let mut a = loaded(&[pair(1), pair(2), pair(LAST_OFFSET - 2)], Some(3));
        assert_eq!(a.allocate(), Some(3));
    }

    #[test]
    fn a_failed_enrolment_gives_its_offset_back() {
        let mut a = IpAllocator::new([], None);
        let first = a.allocate().unwrap();
        let second = a.allocate().unwrap();
        // The last one handed out comes back at once: no node ever had it.
        a.give_back(second);
        assert_eq!(a.allocate(), Some(second));
        // An earlier one is free, but the cursor does not go back for it.
        a.give_back(first);
        assert_eq!(a.allocate(), Some(second + 1));
    }

    #[test]
    fn reserved_ranges_are_skipped() {
        // Everything up to 100.100.99.255 is taken: the next pair is 100.100.101.0, past the
        // 100.100.100.0/24 block that holds the 100.100.100.100 resolver.
        let last_before = offset_of(Ipv4Addr::new(100, 100, 99, 255)).unwrap();
        let mut a = IpAllocator::new([], None);
        a.used = (FIRST_OFFSET..=last_before).collect();
        assert_eq!(a.allocate().map(ipv4_at), Some(Ipv4Addr::new(100, 100, 101, 0)));
    }

    #[test]
    fn a_database_conflict_marks_the_offset_and_moves_on() {
        let mut a = IpAllocator::new([], None);
        let taken = a.allocate().unwrap();
        a.mark_used(taken);
        assert_eq!(a.allocate(), Some(taken + 1));
    }

    #[test]
    fn an_exhausted_pool_says_so() {
        let mut a = IpAllocator::new([], None);
        a.used = (FIRST_OFFSET..LAST_OFFSET).collect();
        assert_eq!(a.allocate(), Some(LAST_OFFSET));
        assert_eq!(a.allocate(), None);
    }

    #[test]
    fn a_stored_cursor_outside_the_pool_wraps_to_its_start() {
        assert_eq!(IpAllocator::new([], Some(0)).allocate(), Some(FIRST_OFFSET));
        assert_eq!(IpAllocator::new([], Some(u32::MAX)).allocate(), Some(FIRST_OFFSET));
    }

    #[test]
    fn mismatched_ipv6_blocks_its_own_offset() {
        let (v4, _) = pair(1);
        let (_, v6) = pair(2);
        let mut a = IpAllocator::new([(&v4, &v6)], Some(FIRST_OFFSET));
        assert_eq!(a.allocate(), Some(3));
        assert_eq!(v6_offset("fd7a:115c:a1e1::1".parse().unwrap()), None);
    }
}
