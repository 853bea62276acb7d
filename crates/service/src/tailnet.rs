//! The live tailnet: every node in memory, who is online, and a bus of changes.
//!
//! [`Tailnet`] is the one writer of nodes. It loads all nodes from the store at start, and
//! every node use case (enrolment, re-registration, logout, endpoint updates, approval,
//! expiry, deletion; see `nodes.rs`) writes the store first and then this state, publishing one
//! [`TailnetEvent`] per change. Surfaces read from here, never from the store:
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
//! machines proceed in parallel. The state itself sits behind a synchronous lock that is
//! never held across an `.await`.
//!
//! One process per database: the in-memory state assumes no other process writes nodes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use keygate_domain::{MachineKey, Node, NodeId, NodeKey, NodeOwner, Timestamp, User, UserId};
use tokio::sync::broadcast;

use crate::ip_allocator::IpAllocator;
use crate::users::require_admin;
use crate::{Actor, Service, ServiceError};

/// Tunables of the live tailnet.
#[derive(Clone, Debug)]
pub struct TailnetConfig {
    /// How long an ephemeral node may stay offline before it is deleted.
    pub ephemeral_inactivity_timeout: Duration,
    /// Events buffered for a slow subscriber before it is told it lagged.
    pub event_capacity: usize,
}

impl Default for TailnetConfig {
    fn default() -> Self {
        Self { ephemeral_inactivity_timeout: Duration::from_secs(300), event_capacity: 4096 }
    }
}

/// A node as the live tailnet knows it: the stored node, its owner's user record (for
/// user-owned nodes) and whether it is connected right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEntry {
    pub node: Node,
    /// The owning user; `None` for tagged nodes.
    pub user: Option<User>,
    /// The node has at least one streaming map session open.
    pub online: bool,
}

impl NodeEntry {
    /// Whether other nodes get this node in their maps: only approved nodes are peers.
    pub fn visible_to_peers(&self) -> bool {
        self.node.authorized
    }
}

/// One change to the tailnet.
#[derive(Clone, Debug)]
pub enum TailnetChange {
    /// A node was enrolled.
    Added(Arc<NodeEntry>),
    /// Anything about a node changed (keys, owner, approval, expiry, host info…).
    /// `was_visible`: whether peers had it in their maps before.
    Changed { entry: Arc<NodeEntry>, was_visible: bool },
    /// Only the node's endpoints, disco key or home DERP changed: peers can be sent a patch.
    EndpointsChanged(Arc<NodeEntry>),
    /// The node went online or offline.
    OnlineChanged(Arc<NodeEntry>),
    /// The node was deleted. `was_visible`: whether peers had it in their maps.
    Removed { id: NodeId, was_visible: bool },
}

/// A change with its place in the order of all changes.
#[derive(Clone, Debug)]
pub struct TailnetEvent {
    /// Strictly increasing, starting at 1.
    pub seq: u64,
    pub change: TailnetChange,
}

impl TailnetEvent {
    /// The node the change is about.
    pub fn node_id(&self) -> NodeId {
        match &self.change {
            TailnetChange::Added(e)
            | TailnetChange::Changed { entry: e, .. }
            | TailnetChange::EndpointsChanged(e)
            | TailnetChange::OnlineChanged(e) => e.node.id,
            TailnetChange::Removed { id, .. } => *id,
        }
    }
}

/// All nodes at one point of the event order, sorted by id.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The sequence number of the last event reflected here (0 before any event).
    pub seq: u64,
    pub nodes: Vec<Arc<NodeEntry>>,
}

impl Snapshot {
    /// The node with `id`, if present.
    pub fn get(&self, id: NodeId) -> Option<&Arc<NodeEntry>> {
        self.nodes.binary_search_by_key(&id, |e| e.node.id).ok().map(|i| &self.nodes[i])
    }
}

/// What kind of write [`Tailnet::commit`] records, which decides the event published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteKind {
    Added,
    Changed,
    Endpoints,
}

/// The in-memory state behind the lock.
#[derive(Default)]
pub(crate) struct State {
    seq: u64,
    nodes: BTreeMap<NodeId, Arc<NodeEntry>>,
    by_machine: HashMap<MachineKey, NodeId>,
    by_node_key: HashMap<NodeKey, NodeId>,
    /// Given names in use, and those reserved by enrolments still in flight.
    names: HashSet<String>,
    pending_names: HashSet<String>,
    /// Open streaming sessions per node.
    sessions: HashMap<NodeId, u32>,
    /// Bumped whenever a node goes offline, so a pending ephemeral deletion can tell whether
    /// the node came back in the meantime.
    offline_generation: HashMap<NodeId, u64>,
    users: HashMap<UserId, User>,
}

impl State {
    pub(crate) fn node(&self, id: NodeId) -> Option<&Arc<NodeEntry>> {
        self.nodes.get(&id)
    }

    pub(crate) fn by_machine(&self, key: &MachineKey) -> Option<&Arc<NodeEntry>> {
        self.by_machine.get(key).and_then(|id| self.nodes.get(id))
    }

    pub(crate) fn by_node_key(&self, key: &NodeKey) -> Option<&Arc<NodeEntry>> {
        self.by_node_key.get(key).and_then(|id| self.nodes.get(id))
    }

    pub(crate) fn user(&self, id: UserId) -> Option<&User> {
        self.users.get(&id)
    }

    /// Whether a given name is used by a node or reserved by an enrolment in flight.
    fn name_taken(&self, name: &str) -> bool {
        self.names.contains(name) || self.pending_names.contains(name)
    }

    fn insert_indexes(&mut self, node: &Node) {
        self.by_machine.insert(node.machine_key, node.id);
        self.by_node_key.insert(node.node_key, node.id);
        self.names.insert(node.given_name.clone());
    }

    fn remove_indexes(&mut self, node: &Node) {
        self.by_machine.remove(&node.machine_key);
        self.by_node_key.remove(&node.node_key);
        self.names.remove(&node.given_name);
    }
}

/// The live tailnet. Cheap to clone; every clone shares the same state.
#[derive(Clone)]
pub struct Tailnet {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) service: Service,
    pub(crate) config: TailnetConfig,
    state: RwLock<State>,
    pub(crate) allocator: Mutex<IpAllocator>,
    events: broadcast::Sender<Arc<TailnetEvent>>,
    /// Serialises writes per machine (see the module docs).
    stripes: Box<[tokio::sync::Mutex<()>]>,
}

/// Number of write-lock stripes: plenty to keep unrelated machines from waiting on each
/// other, few enough to cost nothing.
const STRIPES: usize = 64;

impl Tailnet {
    /// Loads every node and user from the store. Ephemeral nodes start offline, so each gets
    /// its inactivity timer, as if it had just disconnected. Call within a tokio runtime.
    pub async fn load(service: Service, config: TailnetConfig) -> Result<Self, ServiceError> {
        let nodes = service.store.list_nodes().await?;
        let users = service.store.list_users().await?;
        let allocator = IpAllocator::new(nodes.iter().map(|n| (&n.ipv4, &n.ipv6)));

        let mut state =
            State { users: users.into_iter().map(|u| (u.id, u)).collect(), ..State::default() };
        for node in nodes {
            state.insert_indexes(&node);
            let user = node.owner.user().and_then(|u| state.users.get(&u).cloned());
            let entry = NodeEntry { node, user, online: false };
            state.nodes.insert(entry.node.id, Arc::new(entry));
        }
        let ephemeral: Vec<NodeId> =
            state.nodes.values().filter(|e| e.node.ephemeral).map(|e| e.node.id).collect();
        tracing::info!(nodes = state.nodes.len(), "tailnet loaded");

        let (events, _) = broadcast::channel(config.event_capacity.max(16));
        let tailnet = Self {
            inner: Arc::new(Inner {
                service,
                config,
                state: RwLock::new(state),
                allocator: Mutex::new(allocator),
                events,
                stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            }),
        };
        for id in ephemeral {
            tailnet.schedule_ephemeral_cleanup(id, 0);
        }
        Ok(tailnet)
    }

    /// The service this tailnet writes through.
    pub fn service(&self) -> &Service {
        &self.inner.service
    }

    /// Receives every change from now on. A receiver that falls more than
    /// [`TailnetConfig::event_capacity`] events behind gets `Lagged` and must resynchronise
    /// from a fresh [`Snapshot`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TailnetEvent>> {
        self.inner.events.subscribe()
    }

    /// All nodes, consistent with the event order.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.read();
        Snapshot { seq: state.seq, nodes: state.nodes.values().cloned().collect() }
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

    /// Nodes visible to `actor` (admins: all; users: the nodes they own), by id, with their
    /// online state.
    pub fn list_nodes(&self, actor: &Actor) -> Vec<Arc<NodeEntry>> {
        self.read()
            .nodes
            .values()
            .filter(|e| match actor {
                Actor::Admin => true,
                Actor::User(me) => e.node.owner.user() == Some(*me),
                // OAuth (issue 5): the whole device list with scope devices:core:read.
                Actor::OAuth(grant) => grant.scopes.grants(keygate_domain::Scope::DevicesCoreRead),
            })
            .cloned()
            .collect()
    }

    /// Records that a streaming map session of node `id` opened. The first open session
    /// makes the node online (and sets `last_seen`).
    pub async fn session_started(&self, id: NodeId) {
        let now = self.inner.service.now();
        let went_online = {
            let mut state = self.write();
            let count = state.sessions.entry(id).or_insert(0);
            *count += 1;
            *count == 1 && state.nodes.contains_key(&id)
        };
        if went_online {
            self.refresh_online(id, now).await;
        }
    }

    /// Records that a streaming map session of node `id` closed. When the last one closes the
    /// node goes offline, `last_seen` is stored, and an ephemeral node's inactivity timer
    /// starts.
    pub async fn session_ended(&self, id: NodeId) {
        let now = self.inner.service.now();
        let went_offline = {
            let mut state = self.write();
            match state.sessions.get_mut(&id) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    None
                }
                Some(_) => {
                    state.sessions.remove(&id);
                    let generation = state.offline_generation.entry(id).or_insert(0);
                    *generation += 1;
                    Some(*generation)
                }
                None => None,
            }
        };
        let Some(generation) = went_offline else { return };
        let ephemeral = self.refresh_online(id, now).await;
        if ephemeral {
            self.schedule_ephemeral_cleanup(id, generation);
        }
    }

    /// Stores `last_seen`, sets the in-memory online flag from the open sessions and publishes
    /// the change if it flipped. Returns whether the node is ephemeral.
    async fn refresh_online(&self, id: NodeId, now: Timestamp) -> bool {
        let Some(entry) = self.node(id) else { return false };
        let _guard = self.lock_machine(&entry.node.machine_key).await;
        if let Err(e) = self.inner.service.store.touch_node(id, now).await {
            // Not fatal: the online state is still right in memory.
            tracing::warn!(node = %id, error = %e, "could not store last_seen");
        }
        let mut state = self.write();
        // The sessions decide, not the caller: another session may have opened or closed
        // while the store was written.
        let online = state.sessions.get(&id).is_some_and(|c| *c > 0);
        let Some(current) = state.nodes.get(&id).cloned() else { return false };
        let mut updated = (*current).clone();
        updated.node.last_seen = Some(now);
        let changed = updated.online != online;
        updated.online = online;
        let updated = Arc::new(updated);
        state.nodes.insert(id, updated.clone());
        if changed {
            self.publish(&mut state, TailnetChange::OnlineChanged(updated));
        }
        current.node.ephemeral
    }

    /// Deletes ephemeral node `id` once it has been offline for the configured timeout,
    /// unless it reconnected (or disconnected again) in the meantime. `generation` is the
    /// node's offline generation when it went offline (0: never connected since start or
    /// enrolment).
    pub(crate) fn schedule_ephemeral_cleanup(&self, id: NodeId, generation: u64) {
        let tailnet = self.clone();
        let timeout = self.inner.config.ephemeral_inactivity_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let still_gone = {
                let state = tailnet.read();
                !state.sessions.contains_key(&id)
                    && state.offline_generation.get(&id).copied().unwrap_or(0) == generation
            };
            if still_gone {
                match tailnet.remove_node(id, "ephemeral node inactive").await {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(node = %id, error = %e, "could not delete ephemeral node")
                    }
                }
            }
        });
    }

    /// Deletes a node. Admins, or the user who owns it.
    pub async fn delete_node(&self, actor: &Actor, id: NodeId) -> Result<(), ServiceError> {
        self.check_may_manage(actor, id)?;
        if self.remove_node(id, "deleted").await? {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// Deletes node `id` from the store and the state; `false` when it did not exist.
    pub(crate) async fn remove_node(&self, id: NodeId, why: &str) -> Result<bool, ServiceError> {
        let Some(entry) = self.node(id) else { return Ok(false) };
        let _guard = self.lock_machine(&entry.node.machine_key).await;
        self.remove_node_locked(id, why).await
    }

    /// [`Tailnet::remove_node`] for a caller that holds the node's machine lock.
    pub(crate) async fn remove_node_locked(
        &self,
        id: NodeId,
        why: &str,
    ) -> Result<bool, ServiceError> {
        let existed = self.inner.service.store.delete_node(id).await?;
        let mut state = self.write();
        let Some(current) = state.nodes.remove(&id) else { return Ok(existed) };
        state.remove_indexes(&current.node);
        state.offline_generation.remove(&id);
        self.allocator().release_addresses(current.node.ipv4, current.node.ipv6);
        let was_visible = current.visible_to_peers();
        self.publish(&mut state, TailnetChange::Removed { id, was_visible });
        tracing::info!(node = %id, name = %current.node.given_name, reason = why, "node removed");
        Ok(true)
    }

    /// Fails unless `actor` may change node `id`.
    pub(crate) fn check_may_manage(&self, actor: &Actor, id: NodeId) -> Result<(), ServiceError> {
        let owner = self.node(id).ok_or_else(|| not_found(id))?.node.owner.clone();
        match (actor, owner) {
            (Actor::User(me), NodeOwner::User(owner)) if *me == owner => Ok(()),
            // Users learn nothing about nodes that are not theirs.
            (Actor::User(_), _) => Err(not_found(id)),
            (Actor::Admin, _) => require_admin(actor),
            // OAuth (issue 5): any device with scope devices:core.
            (Actor::OAuth(_), _) => {
                actor.require_scope(keygate_domain::Scope::DevicesCore, "changing devices")
            }
        }
    }

    /// Makes `node` (already written to the store) the current state and publishes the
    /// change. `user` is its owner's record when the owner is a user.
    pub(crate) fn commit(&self, node: Node, user: Option<User>, kind: WriteKind) -> Arc<NodeEntry> {
        let mut state = self.write();
        let id = node.id;
        let previous = state.nodes.get(&id).cloned();
        if let Some(previous) = &previous {
            state.remove_indexes(&previous.node);
        }
        state.insert_indexes(&node);
        if let Some(user) = &user {
            state.users.insert(user.id, user.clone());
        }
        // Only `refresh_online` flips the flag, so that every flip is published as such.
        let online = previous.as_ref().is_some_and(|p| p.online);
        let entry = Arc::new(NodeEntry { node, user, online });
        state.nodes.insert(id, entry.clone());
        let change = match (kind, previous) {
            (WriteKind::Endpoints, Some(prev))
                if prev.visible_to_peers() == entry.visible_to_peers() =>
            {
                TailnetChange::EndpointsChanged(entry.clone())
            }
            (WriteKind::Added, None) => TailnetChange::Added(entry.clone()),
            (_, previous) => TailnetChange::Changed {
                entry: entry.clone(),
                was_visible: previous.is_some_and(|p| p.visible_to_peers()),
            },
        };
        self.publish(&mut state, change);
        entry
    }

    /// Reserves a given name derived from `hostname` for an enrolment in flight: unique among
    /// all nodes and other enrolments. Release it with [`Tailnet::release_name`] once the node
    /// is committed (its name is then taken for good) or the enrolment failed.
    pub(crate) fn reserve_name(&self, hostname: &str) -> String {
        let label = keygate_domain::node::dns_label(hostname);
        let mut state = self.write();
        let name = keygate_domain::node::unique_label(&label, |l| state.name_taken(l));
        state.pending_names.insert(name.clone());
        name
    }

    pub(crate) fn release_name(&self, name: &str) {
        self.write().pending_names.remove(name);
    }

    /// Marks a name as taken (the database said so) without a node in memory owning it.
    pub(crate) fn block_name(&self, name: &str) {
        self.write().names.insert(name.to_owned());
    }

    /// The owner's user record, from memory or else from the store.
    pub(crate) async fn owner_user(&self, owner: &NodeOwner) -> Result<Option<User>, ServiceError> {
        let Some(id) = owner.user() else { return Ok(None) };
        if let Some(user) = self.read().user(id).cloned() {
            return Ok(Some(user));
        }
        let user = self.inner.service.store.get_user(id).await?;
        self.write().users.insert(id, user.clone());
        Ok(Some(user))
    }

    /// Waits for the write lock of `key`'s stripe.
    pub(crate) async fn lock_machine(&self, key: &MachineKey) -> tokio::sync::MutexGuard<'_, ()> {
        // Machine keys are uniformly random, so any byte spreads them evenly.
        let stripe = usize::from(key.as_bytes()[0]) % self.inner.stripes.len();
        self.inner.stripes[stripe].lock().await
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than stopping would; keep serving.
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn allocator(&self) -> MutexGuard<'_, IpAllocator> {
        self.inner.allocator.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Numbers `change` and sends it, while the caller still holds the state lock.
    fn publish(&self, state: &mut State, change: TailnetChange) {
        state.seq += 1;
        // No subscriber is not an error: nobody is connected.
        let _ = self.inner.events.send(Arc::new(TailnetEvent { seq: state.seq, change }));
    }
}

pub(crate) fn not_found(id: NodeId) -> ServiceError {
    ServiceError::NotFound { what: "node", id: id.to_string() }
}
