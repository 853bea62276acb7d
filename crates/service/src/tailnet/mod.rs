//! The live tailnet: every node in memory, who is online, and a bus of changes.
//!
//! [`Tailnet`] is the owner of node state and its one writer. It loads all nodes from the store
//! at start; after that, every change to a node goes through one of its write paths, which
//! write the store first and then the in-memory state, and publish one [`TailnetEvent`] per
//! change:
//!
//! - [`Tailnet::persist_and_commit`]: a changed node (logout, rotation, host info, endpoints,
//!   approval, tags, expiry);
//! - [`Tailnet::insert_consuming_key`] and [`Tailnet::update_consuming_key`]: a node enrolled
//!   (again) with an auth key, the key's use counted in the same transaction;
//! - [`Tailnet::remove_node`]: a deleted node;
//! - [`Tailnet::refresh_online`] and [`Tailnet::store_last_seen`]: when a node was last seen.
//!
//! The use cases that decide *what* to write are elsewhere and depend on this module, never
//! the reverse: enrolment, re-registration, logout and endpoint updates in `nodes.rs`;
//! approval, tags, expiry and deletion in `node_admin.rs`; sessions, the clean-up of inactive
//! ephemeral nodes and the announcement of expired keys in `lifecycle.rs`. The state's fields
//! are private to `state.rs`.
//!
//! Surfaces read from here, never from the store:
//!
//! - the control protocol renders full maps from a [`Snapshot`] and turns each event into one
//!   delta frame that it fans out to every connected node, so a join costs O(peers) work and
//!   never a map rebuild per peer;
//! - the API lists nodes with their online state ([`Tailnet::list_nodes`]).
//!
//! Ordering: events carry a sequence number, taken under the same lock that changes the state,
//! so events are published in state order and a snapshot tells exactly which events it
//! already contains ([`Snapshot::seq`]).
//!
//! Concurrency: writes to one machine's node are serialised by a striped async lock keyed by
//! the machine key, so read-modify-write of a node never interleaves with itself; different
//! machines proceed in parallel. The write paths take the held lock ([`MachineLock`]) as an
//! argument, so a use case cannot write without it. The state itself sits behind a synchronous lock that is
//! never held across an `.await`.
//!
//! ACL policy: the state also holds the policy in force applied to the visible (approved)
//! nodes, a `keygate_policy::Network`, updated from each change under the same lock as it is
//! published; each event carries its [`PolicyEffects`] (who sees the node now, whose peers
//! and filters changed), and [`Tailnet::set_policy`] saves a new policy, swaps it in and
//! publishes [`TailnetChange::PolicyChanged`]. Maps read it through [`Tailnet::map_view`], the
//! DERP relay through [`Tailnet::may_talk`].
//!
//! One process per database: the in-memory state assumes no other process writes nodes.

mod config;
mod entry;
mod events;
mod state;

use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use keygate_domain::{
    AuthKeyId, MachineKey, NewNode, Node, NodeId, NodeKey, NodeOwner, Timestamp, User,
};
use keygate_policy::Policy;
use keygate_store::{ConsumeOutcome, StoreError};
use tokio::sync::{broadcast, Notify};

pub use config::{TailnetConfig, DEFAULT_BASE_DOMAIN, DEFAULT_EPHEMERAL_INACTIVITY_TIMEOUT};
pub use entry::{MapView, NodeEntry, Snapshot};
pub use events::{PolicyEffects, TailnetChange, TailnetEvent};
pub(crate) use state::{State, WriteKind};

use crate::actor::Actor;
use crate::error::ServiceError;
use crate::ip_allocator::IpAllocator;
use crate::policy::{CurrentPolicy, SetPolicyError};
use crate::service::Service;

/// Longest the key-expiry watcher (`lifecycle.rs`) sleeps without looking again, so that a
/// jump of the wall clock (a suspended host) delays an announcement by at most this much.
pub(crate) const EXPIRY_WATCH_MAX_SLEEP: Duration = Duration::from_secs(3600);

/// The live tailnet. Cheap to clone; every clone shares the same state.
#[derive(Clone)]
pub struct Tailnet {
    inner: Arc<Inner>,
}

/// A tailnet that background tasks hold without keeping it alive.
#[derive(Clone)]
pub(crate) struct WeakTailnet(Weak<Inner>);

impl WeakTailnet {
    /// The tailnet, unless it was dropped.
    pub(crate) fn upgrade(&self) -> Option<Tailnet> {
        self.0.upgrade().map(|inner| Tailnet { inner })
    }
}

struct Inner {
    service: Service,
    config: TailnetConfig,
    state: RwLock<State>,
    allocator: Mutex<IpAllocator>,
    events: broadcast::Sender<Arc<TailnetEvent>>,
    /// Serialises writes per machine (see the module docs).
    stripes: Box<[tokio::sync::Mutex<()>]>,
    /// Wakes the key-expiry watcher when a node's key expiry changed to a time it might
    /// otherwise sleep through, and when the tailnet is dropped.
    expiry_changed: Arc<Notify>,
    /// Serialises policy saves, so the policy in force is the last one saved.
    policy_lock: tokio::sync::Mutex<()>,
    /// Serialises node deletions, so the address cursor each one stores is never older than
    /// one stored before it (see `ip_allocator.rs`).
    deletion_lock: tokio::sync::Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The watcher holds no reference to the tailnet while it waits: let it see it is gone.
        self.expiry_changed.notify_one();
    }
}

/// The write lock of one machine's node, held: the write paths take it, so a read-modify-write
/// of a node cannot forget to serialise with the other writes of that node.
pub(crate) struct MachineLock<'a> {
    machine: MachineKey,
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

impl MachineLock<'_> {
    /// Whether this is the lock of machine `key`'s node.
    fn covers(&self, key: &MachineKey) -> bool {
        self.machine == *key
    }
}

/// Number of write-lock stripes: plenty to keep unrelated machines from waiting on each
/// other, few enough to cost nothing.
const STRIPES: usize = 64;

impl Tailnet {
    /// Reads every node and user from the store into a new tailnet, all nodes offline. Starts
    /// nothing: [`Tailnet::load`] (`lifecycle.rs`) does that.
    pub(crate) async fn load_state(
        service: Service,
        config: TailnetConfig,
    ) -> Result<Self, ServiceError> {
        let nodes = service.store.list_nodes().await?;
        let users = service.store.list_users().await?;
        let cursor = service.store.get_address_cursor().await?;
        let allocator = IpAllocator::new(nodes.iter().map(|n| (&n.ipv4, &n.ipv6)), cursor);
        let policy = service.current_policy().await?.policy;
        let state = State::load(policy, nodes, users, service.now());
        tracing::info!(nodes = state.node_count(), "tailnet loaded");

        let (events, _) = broadcast::channel(config.event_capacity.max(16));
        Ok(Self {
            inner: Arc::new(Inner {
                service,
                config,
                state: RwLock::new(state),
                allocator: Mutex::new(allocator),
                events,
                stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
                expiry_changed: Arc::new(Notify::new()),
                policy_lock: tokio::sync::Mutex::new(()),
                deletion_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The service this tailnet writes through.
    pub fn service(&self) -> &Service {
        &self.inner.service
    }

    pub(crate) fn config(&self) -> &TailnetConfig {
        &self.inner.config
    }

    /// A handle that does not keep the tailnet alive.
    pub(crate) fn downgrade(&self) -> WeakTailnet {
        WeakTailnet(Arc::downgrade(&self.inner))
    }

    /// Notified when a node's key expiry changed to within [`EXPIRY_WATCH_MAX_SLEEP`], and
    /// when the tailnet is dropped.
    pub(crate) fn expiry_changed(&self) -> Arc<Notify> {
        Arc::clone(&self.inner.expiry_changed)
    }

    /// The tailnet's DNS domain (MagicDNS suffix), without dots at either end.
    pub fn base_domain(&self) -> &str {
        &self.inner.config.base_domain
    }

    /// Receives every change from now on. A receiver that falls more than
    /// [`TailnetConfig::event_capacity`] events behind gets `Lagged` and must resynchronise
    /// from a fresh [`Snapshot`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TailnetEvent>> {
        self.inner.events.subscribe()
    }

    /// All nodes, consistent with the event order.
    pub fn snapshot(&self) -> Snapshot {
        self.read().snapshot()
    }

    /// The node with `id`.
    pub fn node(&self, id: NodeId) -> Option<Arc<NodeEntry>> {
        self.read().node(id).cloned()
    }

    /// The node currently holding `key`.
    pub fn node_by_node_key(&self, key: &NodeKey) -> Option<Arc<NodeEntry>> {
        self.read().by_node_key(key).cloned()
    }

    /// The node of the machine `key`.
    pub fn node_by_machine_key(&self, key: &MachineKey) -> Option<Arc<NodeEntry>> {
        self.read().by_machine(key).cloned()
    }

    /// The current entries of the nodes `ids` that still exist, in the order given.
    pub fn entries(&self, ids: &[NodeId]) -> Vec<Arc<NodeEntry>> {
        let state = self.read();
        ids.iter().filter_map(|id| state.node(*id).cloned()).collect()
    }

    /// What node `id`'s map holds now: itself, its peers under the policy, its filter.
    pub fn map_view(&self, id: NodeId) -> Option<MapView> {
        self.read().map_view(id)
    }

    /// Whether the nodes holding node keys `a` and `b` see each other (both approved, and the
    /// policy lets either reach the other). Memory only, and no peer list: the DERP relay
    /// asks per packet.
    pub fn may_talk(&self, a: &NodeKey, b: &NodeKey) -> bool {
        self.read().may_talk(a, b)
    }

    /// The compiled policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(self.read().policy())
    }

    /// Saves a new policy (checked, guarded by `if_match`, recorded: see `policy.rs`) and puts
    /// it in force: every connected node is sent its new packet filter and peers. The only
    /// way to change the policy, so the one in force is always the last one saved.
    pub async fn set_policy(
        &self,
        actor: &Actor,
        text: &str,
        if_match: Option<&str>,
    ) -> Result<CurrentPolicy, SetPolicyError> {
        let _serial = self.inner.policy_lock.lock().await;
        let current = self.inner.service.set_policy(actor, text, if_match).await?;
        let mut state = self.write();
        state.set_policy(Arc::clone(&current.policy));
        self.publish(&mut state, TailnetChange::PolicyChanged);
        Ok(current)
    }

    /// Writes `node` to the store and then makes it the current state, publishing the change.
    /// `user` is its owner's record when the owner is a user; `lock`, the node's machine
    /// lock.
    pub(crate) async fn persist_and_commit(
        &self,
        lock: &MachineLock<'_>,
        node: Node,
        user: Option<User>,
        kind: WriteKind,
    ) -> Result<Arc<NodeEntry>, StoreError> {
        debug_assert!(lock.covers(&node.machine_key));
        self.inner.service.store.update_node(&node).await?;
        Ok(self.commit(node, user, kind))
    }

    /// Stores a new node while counting a use of auth key `key` in the same transaction, and
    /// then makes it the current state, publishing [`TailnetChange::Added`]. Nothing is
    /// written when the key cannot be used. `lock` is the machine's lock.
    pub(crate) async fn insert_consuming_key(
        &self,
        lock: &MachineLock<'_>,
        new: &NewNode,
        key: &AuthKeyId,
        now: Timestamp,
        user: Option<User>,
    ) -> Result<ConsumeOutcome<Arc<NodeEntry>>, StoreError> {
        debug_assert!(lock.covers(&new.machine_key));
        let outcome = self.inner.service.store.insert_node_consuming_key(new, key, now).await?;
        Ok(self.commit_consumed(outcome, user, WriteKind::Added))
    }

    /// [`Tailnet::persist_and_commit`] for a node enrolled again with auth key `key`, whose
    /// use is counted in the same transaction; nothing is written when the key cannot be used.
    pub(crate) async fn update_consuming_key(
        &self,
        lock: &MachineLock<'_>,
        node: Node,
        key: &AuthKeyId,
        now: Timestamp,
        user: Option<User>,
    ) -> Result<ConsumeOutcome<Arc<NodeEntry>>, StoreError> {
        debug_assert!(lock.covers(&node.machine_key));
        let outcome = self.inner.service.store.update_node_consuming_key(&node, key, now).await?;
        Ok(self.commit_consumed(outcome, user, WriteKind::Changed))
    }

    /// Deletes node `id` from the store and the state: its addresses are free again (handed
    /// out once the allocator's round comes back to them, see `ip_allocator.rs`), peers are
    /// told, and its open map stream is closed. The node as it was; `None` when it did not
    /// exist.
    pub(crate) async fn remove_node(
        &self,
        id: NodeId,
        why: &str,
    ) -> Result<Option<Arc<NodeEntry>>, ServiceError> {
        let Some(entry) = self.node(id) else { return Ok(None) };
        let lock = self.lock_machine(&entry.node.machine_key).await;
        self.remove_node_locked(&lock, id, why).await
    }

    /// [`Tailnet::remove_node`] for a caller that holds the node's machine lock.
    pub(crate) async fn remove_node_locked(
        &self,
        lock: &MachineLock<'_>,
        id: NodeId,
        why: &str,
    ) -> Result<Option<Arc<NodeEntry>>, ServiceError> {
        debug_assert!(self.node(id).is_none_or(|e| lock.covers(&e.node.machine_key)));
        let _serial = self.inner.deletion_lock.lock().await;
        // Stored before the delete: after a crash between the two the cursor is ahead, which
        // costs nothing, and never behind the node's pair, which could hand it out again.
        let cursor = self.allocator().cursor();
        self.inner.service.store.put_address_cursor(cursor).await?;
        self.inner.service.store.delete_node(id).await?;
        let mut state = self.write();
        let Some(current) = state.remove(id) else { return Ok(None) };
        self.allocator().release_addresses(current.node.ipv4, current.node.ipv6);
        let was_visible = current.visible_to_peers();
        self.publish(&mut state, TailnetChange::Removed { entry: current.clone(), was_visible });
        tracing::info!(node = %id, name = %current.node.given_name, reason = why, "node removed");
        Ok(Some(current))
    }

    /// Stores `last_seen`, sets the in-memory online flag from the open sessions and publishes
    /// the change if it flipped. Returns whether the node is ephemeral.
    pub(crate) async fn refresh_online(&self, id: NodeId, now: Timestamp) -> bool {
        let Some(entry) = self.node(id) else { return false };
        let _lock = self.lock_machine(&entry.node.machine_key).await;
        if let Err(e) = self.inner.service.store.touch_node(id, now).await {
            // Not fatal: the online state is still right in memory.
            tracing::warn!(node = %id, error = %e, "could not store last_seen");
        }
        let mut state = self.write();
        // The sessions decide, not the caller: another session may have opened or closed
        // while the store was written.
        let Some((updated, flipped)) = state.set_online(id, now) else { return false };
        let ephemeral = updated.node.ephemeral;
        if flipped {
            self.publish(&mut state, TailnetChange::OnlineChanged(updated));
        }
        ephemeral
    }

    /// Stores `now` as node `id`'s last-seen time, and then keeps it in memory, publishing
    /// nothing (peers see the last-seen time of offline nodes only). Under the node's machine
    /// lock, so a concurrent write of the whole node cannot put an older time back.
    pub(crate) async fn store_last_seen(
        &self,
        lock: &MachineLock<'_>,
        id: NodeId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        debug_assert!(self.node(id).is_none_or(|e| lock.covers(&e.node.machine_key)));
        self.inner.service.store.touch_node(id, now).await?;
        self.write().set_last_seen(id, now);
        Ok(())
    }

    /// Reserves a given name derived from `hostname` for an enrolment in flight: unique among
    /// all nodes and other enrolments. Release it with [`Tailnet::release_name`] once the node
    /// is committed (its name is then taken for good) or the enrolment failed.
    pub(crate) fn reserve_name(&self, hostname: &str) -> String {
        self.write().reserve_name(hostname)
    }

    pub(crate) fn release_name(&self, name: &str) {
        self.write().release_name(name);
    }

    /// Marks a name as taken (the database said so) without a node in memory owning it.
    pub(crate) fn block_name(&self, name: &str) {
        self.write().block_name(name);
    }

    /// The owner's user record, from memory or else from the store.
    pub(crate) async fn owner_user(&self, owner: &NodeOwner) -> Result<Option<User>, ServiceError> {
        let Some(id) = owner.user() else { return Ok(None) };
        if let Some(user) = self.read().user(id).cloned() {
            return Ok(Some(user));
        }
        let user = self.inner.service.store.get_user(id).await?;
        self.write().remember_user(user.clone());
        Ok(Some(user))
    }

    /// Waits for the write lock of machine `key`'s node (its stripe's).
    pub(crate) async fn lock_machine(&self, key: &MachineKey) -> MachineLock<'_> {
        // Machine keys are uniformly random, so any byte spreads them evenly.
        let stripe = usize::from(key.as_bytes()[0]) % self.inner.stripes.len();
        MachineLock { machine: *key, _guard: self.inner.stripes[stripe].lock().await }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than stopping would; keep serving.
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn allocator(&self) -> MutexGuard<'_, IpAllocator> {
        self.inner.allocator.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Numbers `change`, applies it to the policy's view of the tailnet and sends it, while
    /// the caller still holds the state lock.
    pub(crate) fn publish(&self, state: &mut State, change: TailnetChange) {
        let event = state.record(change);
        // No subscriber is not an error: nobody is connected.
        let _ = self.inner.events.send(Arc::new(event));
    }

    /// Commits the node a key-consuming write stored, if the key was usable.
    fn commit_consumed(
        &self,
        outcome: ConsumeOutcome<Node>,
        user: Option<User>,
        kind: WriteKind,
    ) -> ConsumeOutcome<Arc<NodeEntry>> {
        match outcome {
            ConsumeOutcome::Consumed { key, value: node } => {
                ConsumeOutcome::Consumed { key, value: self.commit(node, user, kind) }
            }
            ConsumeOutcome::Rejected(rejected) => ConsumeOutcome::Rejected(rejected),
        }
    }

    /// Makes `node` (already written to the store) the current state and publishes the
    /// change.
    fn commit(&self, node: Node, user: Option<User>, kind: WriteKind) -> Arc<NodeEntry> {
        let now = self.inner.service.now();
        let expiry = node.key_expiry;
        let mut state = self.write();
        let (entry, change, expiry_changed) = state.commit(node, user, kind, now);
        if expiry_changed && wakes_the_expiry_watcher(expiry, now) {
            self.inner.expiry_changed.notify_one();
        }
        self.publish(&mut state, change);
        entry
    }
}

/// Whether a node's key expiry changing to `expiry` must wake the watcher: only when the new
/// expiry falls within the watcher's longest sleep. Enrolments (months ahead) never do, so a
/// burst of them does not make the watcher scan every node once per enrolment.
fn wakes_the_expiry_watcher(expiry: Option<Timestamp>, now: Timestamp) -> bool {
    expiry.is_some_and(|e| e > now && e < now.plus(EXPIRY_WATCH_MAX_SLEEP))
}

pub(crate) fn not_found(id: NodeId) -> ServiceError {
    ServiceError::NotFound { what: "node", id: id.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_expiries_within_the_watchers_sleep_wake_it() {
        let now = Timestamp::from_unix_millis(1_800_000_000_000);
        assert!(wakes_the_expiry_watcher(Some(now.plus(Duration::from_secs(60))), now));
        assert!(!wakes_the_expiry_watcher(Some(now.plus(Duration::from_secs(86_400))), now));
        assert!(!wakes_the_expiry_watcher(Some(now), now), "published by the change itself");
        assert!(!wakes_the_expiry_watcher(None, now));
    }
}
