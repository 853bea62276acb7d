//! Limits on failed sign-ins (and setup posts), per account name and per client address.
//!
//! Policy ([`LOCKOUT_POLICY`]): the 5th failure in a row locks the name (or the address) for
//! 15 minutes; each further failure once a lock has run out locks it again for twice as long
//! as the last time, up to a day. A successful sign-in clears the name's count (not the
//! address's: one good account must not reset an attacker's address). A count is forgotten
//! a day after its last failure or the end of its last lock, whichever is later.
//!
//! An attempt is reserved ([`SignInLimiter::reserve`]) before the password is checked, and
//! settled after: reservations in flight count like failures, so concurrent attempts cannot
//! all pass while none has failed yet: at most 5 guesses (then one at a time once a lock ran
//! out) are ever checked for a name or an address. A reservation that ends without a verdict
//! (the server was busy, the client went away) is given back.
//!
//! While locked, sign-in is refused without checking the password, so the lock also stops
//! the expensive hashing. An IPv6 client counts by its /64, which is what one customer is
//! usually given; IPv4 by its address.
//!
//! The counts live in this process's memory (one server serves one database): they reset when
//! the server restarts. The table is bounded ([`LimiterPolicy::max_entries`]); when
//! full, stale entries go first, then the oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The numbers of the lockout policy.
#[derive(Clone, Copy, Debug)]
pub struct LimiterPolicy {
    /// Failures in a row that start the first lock.
    pub free_failures: u32,
    /// Length of the first lock; each later lock doubles it.
    pub first_lock: Duration,
    /// Longest lock.
    pub max_lock: Duration,
    /// A count is forgotten this long after its last failure or lock, whichever ends later.
    pub forget_after: Duration,
    /// Most names and addresses tracked at once.
    pub max_entries: usize,
}

/// The policy the console runs with.
pub const LOCKOUT_POLICY: LimiterPolicy = LimiterPolicy {
    free_failures: 5,
    first_lock: Duration::from_secs(15 * 60),
    max_lock: Duration::from_secs(24 * 3600),
    forget_after: Duration::from_secs(24 * 3600),
    max_entries: 100_000,
};

/// What is counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Subject {
    /// An account name as typed (trimmed, lowercased), whether or not it exists, so that
    /// the limiter says nothing about which names do.
    Account(String),
    Client(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
    /// Attempts reserved and not yet settled.
    in_flight: u32,
}

impl Entry {
    fn fresh(now: Instant) -> Self {
        Entry { failures: 0, last_failure: now, locked_until: None, in_flight: 0 }
    }
}

/// How long a client refused for having too many attempts in flight is told to wait.
pub(crate) const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);

/// The failed sign-in counts.
#[derive(Debug)]
pub(crate) struct SignInLimiter {
    policy: LimiterPolicy,
    entries: Mutex<HashMap<Subject, Entry>>,
}

/// A reserved attempt: settle it with [`Attempt::failed`] or [`Attempt::succeeded`]; dropped
/// unsettled, it is given back without counting.
#[must_use = "an attempt must be settled"]
pub(crate) struct Attempt<'a> {
    limiter: &'a SignInLimiter,
    subjects: Vec<Subject>,
    settled: bool,
}

impl Attempt<'_> {
    /// Counts the attempt as a failure; `Some(lock)` when it locked the account or the client.
    pub(crate) fn failed(mut self, now: Instant) -> Option<Duration> {
        self.settled = true;
        self.limiter.settle(&self.subjects, now, true)
    }

    /// The attempt succeeded: the account's count is cleared.
    pub(crate) fn succeeded(mut self, now: Instant) {
        self.settled = true;
        self.limiter.settle(&self.subjects, now, false);
        let mut entries = self.limiter.lock();
        for subject in &self.subjects {
            if let (Subject::Account(_), Some(entry)) = (subject, entries.get_mut(subject)) {
                *entry = Entry { in_flight: entry.in_flight, ..Entry::fresh(now) };
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.limiter.settle(&self.subjects, Instant::now(), false);
        }
    }
}

impl SignInLimiter {
    pub(crate) fn new(policy: LimiterPolicy) -> Self {
        Self { policy, entries: Mutex::new(HashMap::new()) }
    }

    /// Reserves an attempt for `account` (if named) from `client` (if known), or
    /// `Err(retry_after)` while either is locked, or already has as many attempts in flight
    /// as it has failures left before a lock (at least one).
    pub(crate) fn reserve(
        &self,
        account: Option<&str>,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt<'_>, Duration> {
        let subjects: Vec<Subject> = subjects(account, client).collect();
        let mut entries = self.lock();
        let mut refusal: Option<Duration> = None;
        for subject in &subjects {
            let Some(entry) = entries.get(subject) else { continue };
            let failures = if self.is_stale(entry, now) { 0 } else { entry.failures };
            let locked = entry
                .locked_until
                .and_then(|until| until.checked_duration_since(now))
                .filter(|d| !d.is_zero());
            let allowed = self.policy.free_failures.saturating_sub(failures).max(1);
            let wait = locked.or((entry.in_flight >= allowed).then_some(IN_FLIGHT_RETRY));
            refusal = refusal.max(wait);
        }
        if let Some(wait) = refusal {
            return Err(wait);
        }
        for subject in &subjects {
            if !entries.contains_key(subject) && entries.len() >= self.policy.max_entries {
                self.make_room(&mut entries, now);
            }
            let entry = entries.entry(subject.clone()).or_insert(Entry::fresh(now));
            if self.is_stale(entry, now) {
                *entry = Entry { in_flight: entry.in_flight, ..Entry::fresh(now) };
            }
            entry.in_flight = entry.in_flight.saturating_add(1);
        }
        drop(entries);
        Ok(Attempt { limiter: self, subjects, settled: false })
    }

    /// Ends a reserved attempt on `subjects`, counting a failure when `failure`; `Some(lock)`
    /// when that locked one of them.
    fn settle(&self, subjects: &[Subject], now: Instant, failure: bool) -> Option<Duration> {
        let mut entries = self.lock();
        let mut locked = None;
        for subject in subjects {
            if !failure {
                if let Some(entry) = entries.get_mut(subject) {
                    entry.in_flight = entry.in_flight.saturating_sub(1);
                }
                continue;
            }
            if !entries.contains_key(subject) && entries.len() >= self.policy.max_entries {
                self.make_room(&mut entries, now);
            }
            let entry = entries.entry(subject.clone()).or_insert(Entry::fresh(now));
            entry.in_flight = entry.in_flight.saturating_sub(1);
            if self.is_stale(entry, now) {
                *entry = Entry { in_flight: entry.in_flight, ..Entry::fresh(now) };
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            if let Some(lock) = self.lock_for(entry.failures) {
                entry.locked_until = Some(now + lock);
                locked = locked.max(Some(lock));
            }
        }
        locked
    }

    /// The lock that the `failures`-th failure in a row starts, if any.
    fn lock_for(&self, failures: u32) -> Option<Duration> {
        let beyond = failures.checked_sub(self.policy.free_failures)?;
        // 2^beyond, saturating long before it matters.
        let factor = 1u32.checked_shl(beyond.min(31)).unwrap_or(u32::MAX);
        Some(self.policy.first_lock.saturating_mul(factor).min(self.policy.max_lock))
    }

    /// Whether `entry` is to be forgotten at `now`.
    fn is_stale(&self, entry: &Entry, now: Instant) -> bool {
        let last = entry.locked_until.map_or(entry.last_failure, |l| l.max(entry.last_failure));
        now.saturating_duration_since(last) >= self.policy.forget_after
    }

    /// Drops forgotten entries, and if that frees nothing, the one with the oldest failure.
    fn make_room(&self, entries: &mut HashMap<Subject, Entry>, now: Instant) {
        entries.retain(|_, e| !self.is_stale(e, now));
        if entries.len() >= self.policy.max_entries {
            let oldest = entries.iter().min_by_key(|(_, e)| e.last_failure).map(|(s, _)| s.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Subject, Entry>> {
        // The map stays consistent even if a holder panicked: every update is one insert.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn account_key(account: &str) -> String {
    account.trim().to_lowercase()
}

/// The subjects an attempt counts against.
fn subjects(account: Option<&str>, client: Option<IpAddr>) -> impl Iterator<Item = Subject> {
    let account = account.map(|a| Subject::Account(account_key(a)));
    [account, client.map(|ip| Subject::Client(client_key(ip)))].into_iter().flatten()
}

/// An IPv6 client by its /64; IPv4 (and IPv4-mapped IPv6) by its address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn limiter() -> SignInLimiter {
        SignInLimiter::new(LOCKOUT_POLICY)
    }

    /// `Err(remaining)` while `account` or `client` may not try now.
    fn check(
        l: &SignInLimiter,
        account: &str,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        l.reserve(Some(account), client, now).map(drop)
    }

    impl SignInLimiter {
        /// One attempt, reserved and failed.
        fn record_failure(
            &self,
            account: &str,
            client: Option<IpAddr>,
            now: Instant,
        ) -> Option<Duration> {
            self.reserve(Some(account), client, now).expect("the attempt is allowed").failed(now)
        }
    }

    #[test]
    fn the_fifth_failure_locks_the_account_for_fifteen_minutes() {
        let l = limiter();
        let t0 = Instant::now();
        for n in 1..=4 {
            assert_eq!(l.record_failure("alice", ip("192.0.2.1"), t0), None, "failure {n}");
            assert_eq!(check(&l, "alice", ip("192.0.2.1"), t0), Ok(()));
        }
        assert_eq!(l.record_failure("alice", ip("192.0.2.1"), t0), Some(15 * MINUTE));
        // Locked from anywhere, and under any spelling of the name.
        assert_eq!(check(&l, "Alice ", ip("198.51.100.7"), t0 + MINUTE), Err(14 * MINUTE));
        assert_eq!(check(&l, "alice", None, t0 + 15 * MINUTE), Ok(()));
    }

    #[test]
    fn each_further_failure_doubles_the_lock_up_to_a_day() {
        let l = limiter();
        let mut t = Instant::now();
        for _ in 0..5 {
            l.record_failure("alice", None, t);
        }
        let mut expected = 15 * MINUTE;
        for _ in 0..10 {
            t += expected;
            expected = (expected * 2).min(Duration::from_secs(24 * 3600));
            assert_eq!(l.record_failure("alice", None, t), Some(expected));
        }
        assert_eq!(expected, Duration::from_secs(24 * 3600));
    }

    #[test]
    fn a_client_is_locked_across_account_names() {
        let l = limiter();
        let t0 = Instant::now();
        for n in 0..4 {
            l.record_failure(&format!("user{n}"), ip("192.0.2.1"), t0);
        }
        assert_eq!(l.record_failure("user4", ip("192.0.2.1"), t0), Some(15 * MINUTE));
        assert!(check(&l, "someone-else", ip("192.0.2.1"), t0).is_err());
        assert!(check(&l, "someone-else", ip("192.0.2.2"), t0).is_ok());
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let l = limiter();
        let t0 = Instant::now();
        for n in 0..5 {
            l.record_failure(&format!("user{n}"), ip(&format!("2001:db8:1:2::{n}")), t0);
        }
        assert!(check(&l, "x", ip("2001:db8:1:2:ffff::1"), t0).is_err());
        assert!(check(&l, "x", ip("2001:db8:1:3::1"), t0).is_ok());
        assert_eq!(client_key("::ffff:192.0.2.1".parse().unwrap()), ip("192.0.2.1").unwrap());
    }

    #[test]
    fn success_clears_the_account_and_old_failures_are_forgotten() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..4 {
            l.record_failure("alice", None, t0);
        }
        l.reserve(Some("alice"), None, t0).unwrap().succeeded(t0);
        assert_eq!(l.record_failure("alice", None, t0), None, "the count starts over");
        for _ in 0..3 {
            l.record_failure("alice", None, t0);
        }
        let next_day = t0 + Duration::from_secs(24 * 3600);
        assert_eq!(l.record_failure("alice", None, next_day), None, "forgotten after a day");
    }

    #[test]
    fn the_table_stays_bounded() {
        let l = SignInLimiter::new(LimiterPolicy { max_entries: 3, ..LOCKOUT_POLICY });
        let t0 = Instant::now();
        for n in 0..10u32 {
            l.record_failure(&format!("user{n}"), None, t0 + Duration::from_secs(n.into()));
        }
        assert!(l.lock().len() <= 3);
        assert!(l.lock().contains_key(&Subject::Account("user9".into())));
    }

    #[test]
    fn attempts_in_flight_count_like_failures() {
        let l = limiter();
        let t0 = Instant::now();
        let held: Vec<_> =
            (0..5).map(|_| l.reserve(Some("alice"), ip("192.0.2.1"), t0).unwrap()).collect();
        // The sixth concurrent guess waits, from any address, as does any name from this one.
        assert_eq!(check(&l, "alice", ip("198.51.100.7"), t0), Err(IN_FLIGHT_RETRY));
        assert_eq!(check(&l, "bob", ip("192.0.2.1"), t0), Err(IN_FLIGHT_RETRY));
        let mut locks = held.into_iter().map(|a| a.failed(t0));
        assert!(locks.by_ref().take(4).all(|lock| lock.is_none()));
        assert_eq!(locks.next(), Some(Some(15 * MINUTE)));
        // Once the lock has run out, one guess at a time.
        let t1 = t0 + 15 * MINUTE;
        let one = l.reserve(Some("alice"), None, t1).unwrap();
        assert_eq!(check(&l, "alice", None, t1), Err(IN_FLIGHT_RETRY));
        assert_eq!(one.failed(t1), Some(30 * MINUTE));
    }

    #[test]
    fn an_attempt_dropped_unsettled_is_given_back() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..20 {
            drop(l.reserve(Some("alice"), ip("192.0.2.1"), t0).unwrap());
        }
        assert_eq!(check(&l, "alice", ip("192.0.2.1"), t0), Ok(()));
        assert_eq!(l.lock()[&Subject::Account("alice".into())].failures, 0);
    }

    #[test]
    fn an_address_alone_can_be_limited() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(l.reserve(None, ip("192.0.2.1"), t0).unwrap().failed(t0), None);
        }
        assert_eq!(l.reserve(None, ip("192.0.2.1"), t0).unwrap().failed(t0), Some(15 * MINUTE));
        assert!(l.reserve(None, ip("192.0.2.1"), t0).is_err());
        assert!(l.reserve(None, ip("192.0.2.2"), t0).is_ok());
        assert!(l.reserve(None, None, t0).is_ok(), "nothing to count against");
    }
}
