//! The source of "now", and of waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keygate_domain::Timestamp;
use tokio::sync::watch;

/// A wait that [`Clock::sleep`] returns.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Tells the time, and waits. Injected so that tests can move time by hand.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// Waits for `duration` to pass: the tailnet's timers (ephemeral clean-up, the key-expiry
    /// watcher, the heartbeat) sleep through this. By default on the runtime's monotonic
    /// timer, so that a jump of the wall clock neither fires nor delays them.
    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        Timestamp::from_unix_millis(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// Its sleeps run on the runtime's timer, like the system clock's, so a test may move the
/// time by days without firing the tailnet's timers and drive their work by hand
/// (`Tailnet::announce_expired_keys`, `Tailnet::collect_inactive_ephemeral_nodes`). Made with
/// [`ManualClock::with_manual_timers`], its sleeps end only when the clock is moved past their
/// end instead, so a test drives the timers themselves and needs no real time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    /// Milliseconds since the Unix epoch; sleepers watch it.
    millis: Arc<watch::Sender<i64>>,
    manual_timers: bool,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self { millis: Arc::new(watch::Sender::new(start.unix_millis())), manual_timers: false }
    }

    /// A clock whose sleeps end when it is moved past their end (see the type's docs).
    pub fn with_manual_timers(start: Timestamp) -> Self {
        Self { manual_timers: true, ..Self::new(start) }
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.send_modify(|now| *now = now.saturating_add(ms));
    }

    pub fn set(&self, to: Timestamp) {
        self.millis.send_replace(to.unix_millis());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(*self.millis.borrow())
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        if !self.manual_timers {
            return Box::pin(tokio::time::sleep(duration));
        }
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        let end = self.now().unix_millis().saturating_add(ms);
        let mut now = self.millis.subscribe();
        Box::pin(async move {
            // Ends early only if every clone of the clock is gone: nothing can move it then.
            let _ = now.wait_for(|now| *now >= end).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Waker};

    use super::*;

    fn has_ended(sleep: &mut Sleep) -> bool {
        sleep.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready()
    }

    #[test]
    fn a_manual_timer_ends_when_the_clock_passes_its_end() {
        let clock = ManualClock::with_manual_timers(Timestamp::from_unix_millis(1_000));
        let mut sleep = clock.sleep(Duration::from_secs(2));
        assert!(!has_ended(&mut sleep));
        clock.advance(Duration::from_millis(1_999));
        assert!(!has_ended(&mut sleep));
        clock.advance(Duration::from_millis(1));
        assert!(has_ended(&mut sleep));
    }
}
