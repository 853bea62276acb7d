//! What happens to nodes while the server runs: it loads them and starts its background work,
//! counts their map sessions (online, offline), deletes ephemeral nodes once they have been
//! offline for the inactivity timeout, and tells nodes whose key expires so when it does.
//!
//! Everything here changes nodes through the write paths of `tailnet/` (see its module docs)
//! and reads the state through its methods; the tailnet never calls into this module.
//!
//! # Ephemeral nodes
//!
//! An ephemeral node (ephemeral key, or `tailscaled --state=mem:`) is deleted, its addresses
//! freed and its peers told, [`TailnetConfig::ephemeral_inactivity_timeout`] after its last
//! map stream closed (or after its enrolment, if it never opens one). A node that opens a
//! stream within the timeout is kept.
//!
//! - While the server runs, a timer per disconnection measures the timeout on the monotonic
//!   clock ([`crate::Clock::sleep`]), and the node's offline generation (bumped at each
//!   disconnection) tells the timer whether the node came back, or left again, meanwhile.
//! - Timers die with the process, so the clean-up also survives restarts through the stored
//!   last-seen times: at start, every ephemeral node offline (by `last_seen`, else `created`)
//!   since before now − timeout is deleted at once, and the others get the rest of their
//!   timeout. A heartbeat stores `last_seen` of connected ephemeral nodes every
//!   [`heartbeat_interval`], so that a node connected until the server stopped (crash,
//!   `kill -9`) counts from then, not from when it connected.
//! - Before deleting, the clean-up looks at the node again under its machine lock (timers fire,
//!   and the lock is awaited, while other writes go on): it must still be ephemeral (it may
//!   have been enrolled again with a plain key), have no map stream open, not have gone
//!   offline again since (that disconnection's own timer decides), and have been offline for
//!   the whole timeout by its last-seen time; a node seen more recently than that gets the
//!   rest of its timeout.
//!
//! Why three minutes by default: a node must not be deleted while it is merely reconnecting.
//! A Go client gives up on a silent map stream after 120 s and then redials with backoff, and
//! a restarted `tailscaled` or container needs a few seconds more; Headscale requires more
//! than 65 s. Three minutes cover that with margin, while CI runners that come and go every
//! few minutes do not pile up and hold addresses for long.
//!
//! # Key expiry
//!
//! A node's key expiry is in its map (`KeyExpiry`, `Expired`), and changing it publishes a
//! change like any other. The passing of the expiry time changes nothing stored, so a watcher
//! task sleeps until the next expiry (at most an hour, then it looks again) and then
//! publishes a change for each node whose key has just expired: the node gets a `Node`
//! message with `Expired` (the client goes to `NeedsLogin`) and peers see it expired. Each
//! expiry is published once (`State::take_due_expiries`).
//!
//! Both use the service's [`crate::Clock`] for wall-clock decisions and for their timers, so
//! tests drive them with a manual clock: by hand through
//! [`Tailnet::collect_inactive_ephemeral_nodes`] and [`Tailnet::announce_expired_keys`], or
//! by moving a clock with manual timers ([`crate::ManualClock::with_manual_timers`]).

use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{AuditAction, AuditActor, NodeId, Timestamp};
use tokio::sync::Notify;

use crate::error::ServiceError;
use crate::service::Service;
use crate::tailnet::{Tailnet, TailnetChange, TailnetConfig, WeakTailnet, EXPIRY_WATCH_MAX_SLEEP};

/// How often the last-seen time of connected ephemeral nodes is stored: a third of the
/// inactivity timeout (at least a second, at most a minute), so that after a crash a node
/// that was connected is kept for at least two thirds of the timeout.
pub fn heartbeat_interval(timeout: Duration) -> Duration {
    (timeout / 3).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

impl Tailnet {
    /// Loads every node and user from the store and starts the background work of this
    /// module. Ephemeral nodes start offline: those offline (by their stored last-seen time)
    /// for longer than the inactivity timeout are deleted now, the others get the rest of
    /// their timeout. Call within a tokio runtime.
    pub async fn load(service: Service, config: TailnetConfig) -> Result<Self, ServiceError> {
        let tailnet = Self::load_state(service, config).await?;
        tailnet.resume_ephemeral_cleanup().await?;
        tailnet.start_background_tasks();
        Ok(tailnet)
    }

    /// Records that a streaming map session of node `id` opened. The first open session
    /// makes the node online (and sets `last_seen`).
    pub async fn session_started(&self, id: NodeId) {
        let now = self.service().now();
        let went_online = self.write().open_session(id);
        if went_online {
            self.refresh_online(id, now).await;
        }
    }

    /// Records that a streaming map session of node `id` closed. When the last one closes the
    /// node goes offline, `last_seen` is stored, and an ephemeral node's inactivity timer
    /// starts.
    pub async fn session_ended(&self, id: NodeId) {
        let now = self.service().now();
        let Some(generation) = self.write().close_session(id) else { return };
        let ephemeral = self.refresh_online(id, now).await;
        if ephemeral {
            let timeout = self.config().ephemeral_inactivity_timeout;
            self.schedule_ephemeral_cleanup(id, generation, timeout);
        }
    }

    /// Starts the key-expiry watcher and the ephemeral heartbeat. They hold no strong
    /// reference to the tailnet and end once it is dropped.
    fn start_background_tasks(&self) {
        tokio::spawn(watch_key_expiries(self.downgrade(), self.expiry_changed()));
        let every = heartbeat_interval(self.config().ephemeral_inactivity_timeout);
        tokio::spawn(ephemeral_heartbeat(self.downgrade(), every));
    }

    /// At start: deletes the ephemeral nodes whose stored last-seen time is older than the
    /// timeout and schedules the others' clean-up for the rest of it.
    async fn resume_ephemeral_cleanup(&self) -> Result<(), ServiceError> {
        let removed = self.collect_inactive_ephemeral_nodes().await?;
        if !removed.is_empty() {
            tracing::info!(nodes = removed.len(), "ephemeral nodes offline for longer than the inactivity timeout were removed at start");
        }
        let timeout = self.config().ephemeral_inactivity_timeout;
        let now = self.service().now();
        let waiting: Vec<(NodeId, Timestamp)> = self
            .read()
            .nodes()
            .filter(|e| e.node.ephemeral)
            .map(|e| (e.node.id, offline_since(&e.node)))
            .collect();
        for (id, since) in waiting {
            // Generation 0: any disconnection after this start supersedes this timer.
            self.schedule_ephemeral_cleanup(id, 0, timeout.saturating_sub(now.since(since)));
        }
        Ok(())
    }

    /// Deletes every ephemeral node that has no map stream open and, by the service's clock,
    /// has been offline (since its stored `last_seen`, else since its enrolment) for at least
    /// the inactivity timeout. The ids deleted. Runs at start; the timers cover the rest.
    pub async fn collect_inactive_ephemeral_nodes(&self) -> Result<Vec<NodeId>, ServiceError> {
        let timeout = self.config().ephemeral_inactivity_timeout;
        let now = self.service().now();
        let stale: Vec<NodeId> = {
            let state = self.read();
            state
                .nodes()
                .filter(|e| e.node.ephemeral && !state.has_session(e.node.id))
                .filter(|e| now.since(offline_since(&e.node)) >= timeout)
                .map(|e| e.node.id)
                .collect()
        };
        let mut removed = Vec::new();
        for id in stale {
            if self.remove_inactive(id, None).await? {
                removed.push(id);
            }
        }
        Ok(removed)
    }

    /// Deletes ephemeral node `id` after `delay`, unless it reconnected (or disconnected again,
    /// which starts a timer of its own) meanwhile. `generation` is the node's offline
    /// generation when the timer started (0: not disconnected since start or enrolment).
    pub(crate) fn schedule_ephemeral_cleanup(&self, id: NodeId, generation: u64, delay: Duration) {
        let tailnet = self.clone();
        let sleep = self.service().clock.sleep(delay);
        tokio::spawn(async move {
            sleep.await;
            if let Err(e) = tailnet.remove_inactive(id, Some(generation)).await {
                tracing::warn!(node = %id, error = %e, "could not delete an inactive ephemeral node");
            }
        });
    }

    /// Deletes ephemeral node `id` and records it, if it still qualifies once its machine lock
    /// is held (see [`Inactivity`]); a timer's node seen again since the timer started gets the
    /// rest of its timeout. Whether it was deleted.
    async fn remove_inactive(
        &self,
        id: NodeId,
        generation: Option<u64>,
    ) -> Result<bool, ServiceError> {
        let Some(entry) = self.node(id) else { return Ok(false) };
        let lock = self.lock_machine(&entry.node.machine_key).await;
        // Decided on the node as it is now, not as it was when the timer fired or the list of
        // stale nodes was made: it may have reconnected, or been enrolled again with a
        // non-ephemeral key, while this waited.
        let timeout = self.config().ephemeral_inactivity_timeout;
        let verdict = {
            let state = self.read();
            match state.node(id) {
                None => return Ok(false),
                Some(current) => Inactivity {
                    ephemeral: current.node.ephemeral,
                    connected: state.has_session(id),
                    offline_again: generation.is_some_and(|g| g != state.offline_generation(id)),
                    offline_for: self.service().now().since(offline_since(&current.node)),
                }
                .verdict(timeout),
            }
        };
        match (verdict, generation) {
            (Verdict::Delete, _) => {}
            (Verdict::Keep, _) | (Verdict::NotYet(_), None) => return Ok(false),
            (Verdict::NotYet(rest), Some(generation)) => {
                self.schedule_ephemeral_cleanup(id, generation, rest);
                return Ok(false);
            }
        }
        let Some(entry) = self.remove_node_locked(&lock, id, "ephemeral node inactive").await?
        else {
            return Ok(false);
        };
        let detail = serde_json::json!({
            "name": entry.node.given_name,
            "reason": "ephemeral node offline for longer than the inactivity timeout",
        });
        self.service()
            .record_audit_as(AuditActor::System, AuditAction::NodeDelete, &id.to_string(), detail)
            .await;
        Ok(true)
    }

    /// Publishes a change for every node whose key has expired, by the service's clock, and
    /// was not published as expired yet; returns how many. The key-expiry watcher calls this
    /// when the next expiry is due.
    pub fn announce_expired_keys(&self) -> usize {
        let now = self.service().now();
        let mut state = self.write();
        let due = state.take_due_expiries(now);
        for entry in &due {
            tracing::info!(node = %entry.node.id, name = %entry.node.given_name, "node key expired");
            let was_visible = entry.visible_to_peers();
            self.publish(&mut state, TailnetChange::Changed { entry: entry.clone(), was_visible });
        }
        due.len()
    }

    /// Stores `now` as the last-seen time of every connected ephemeral node.
    async fn store_ephemeral_heartbeat(&self) {
        let connected: Vec<_> = {
            let state = self.read();
            state
                .nodes()
                .filter(|e| e.node.ephemeral && state.has_session(e.node.id))
                .map(|e| (e.node.id, e.node.machine_key))
                .collect()
        };
        for (id, machine) in connected {
            let lock = self.lock_machine(&machine).await;
            let now = self.service().now();
            if let Err(e) = self.store_last_seen(&lock, id, now).await {
                tracing::debug!(node = %id, error = %e, "could not store last_seen");
            }
        }
    }
}

/// What the ephemeral clean-up knows of a node once it holds the node's machine lock.
#[derive(Clone, Copy, Debug)]
struct Inactivity {
    ephemeral: bool,
    /// A map stream is open.
    connected: bool,
    /// It went offline again after the timer started (which started a timer of its own).
    offline_again: bool,
    /// Since its last-seen time (else its enrolment), by the wall clock.
    offline_for: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Delete,
    /// Not this node's clean-up (any more): connected, no longer ephemeral, or another timer's.
    Keep,
    /// Offline, but seen less than the timeout ago: this much of the timeout is left.
    NotYet(Duration),
}

impl Inactivity {
    fn verdict(self, timeout: Duration) -> Verdict {
        if !self.ephemeral || self.connected || self.offline_again {
            Verdict::Keep
        } else if self.offline_for < timeout {
            Verdict::NotYet(timeout - self.offline_for)
        } else {
            Verdict::Delete
        }
    }
}

/// Since when a node without a map stream counts as offline.
fn offline_since(node: &keygate_domain::Node) -> Timestamp {
    node.last_seen.unwrap_or(node.created).max(node.created)
}

/// Announces each key expiry when it is due: sleeps until the next one (or until a node's
/// expiry changes), then publishes.
async fn watch_key_expiries(tailnet: WeakTailnet, changed: Arc<Notify>) {
    loop {
        let wait = {
            let Some(tailnet) = tailnet.upgrade() else { return };
            tailnet.announce_expired_keys();
            let now = tailnet.service().now();
            // A millisecond late, so that the expiry has passed by the clock's reading.
            let next = tailnet.read().next_key_expiry(now);
            let next = next.map(|t| t.since(now) + Duration::from_millis(1));
            tailnet
                .service()
                .clock
                .sleep(next.unwrap_or(EXPIRY_WATCH_MAX_SLEEP).min(EXPIRY_WATCH_MAX_SLEEP))
        };
        tokio::select! {
            () = wait => {}
            () = changed.notified() => {}
        }
    }
}

/// Stores the last-seen time of connected ephemeral nodes every `every`.
async fn ephemeral_heartbeat(tailnet: WeakTailnet, every: Duration) {
    loop {
        let sleep = match tailnet.upgrade() {
            Some(tailnet) => tailnet.service().clock.sleep(every),
            None => return,
        };
        sleep.await;
        let Some(tailnet) = tailnet.upgrade() else { return };
        tailnet.store_ephemeral_heartbeat().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_ephemeral_node_offline_for_the_whole_timeout_is_deleted() {
        let timeout = Duration::from_secs(180);
        let idle = Inactivity {
            ephemeral: true,
            connected: false,
            offline_again: false,
            offline_for: timeout,
        };
        assert_eq!(idle.verdict(timeout), Verdict::Delete);
        assert_eq!(Inactivity { ephemeral: false, ..idle }.verdict(timeout), Verdict::Keep);
        assert_eq!(Inactivity { connected: true, ..idle }.verdict(timeout), Verdict::Keep);
        assert_eq!(Inactivity { offline_again: true, ..idle }.verdict(timeout), Verdict::Keep);
        // Seen a minute ago (the wall clock says so, whatever the timer measured): two left.
        let seen = Inactivity { offline_for: Duration::from_secs(60), ..idle };
        assert_eq!(seen.verdict(timeout), Verdict::NotYet(Duration::from_secs(120)));
    }

    #[test]
    fn the_heartbeat_is_a_third_of_the_timeout_within_bounds() {
        assert_eq!(heartbeat_interval(Duration::from_secs(180)), Duration::from_secs(60));
        assert_eq!(heartbeat_interval(Duration::from_secs(3600)), Duration::from_secs(60));
        assert_eq!(heartbeat_interval(Duration::from_secs(3)), Duration::from_secs(1));
        assert_eq!(heartbeat_interval(Duration::from_millis(300)), Duration::from_secs(1));
        assert_eq!(heartbeat_interval(Duration::from_secs(30)), Duration::from_secs(10));
    }
}
