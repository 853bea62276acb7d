//! The live tailnet: every node in memory, who is online, and a bus of changes.
//!
//! [`Tailnet`] is the one writer of nodes. It loads all nodes from the store at start, and
//! every node use case (enrolment, re-registration, logout and endpoint updates in `nodes.rs`;
//! approval, tags, expiry and deletion in `node_admin.rs`; the clean-up of inactive ephemeral
//! nodes and the announcement of expired keys in `lifecycle.rs`) writes the store first and
//! then this state, publishing one [`TailnetEvent`] per change. Surfaces read from here, never
//! from the store:
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
//! ACL policy: the state also holds the policy in force applied to the visible (approved)
//! nodes, a `keygate_policy::Network`, updated by [`Tailnet::publish`] from each change under
//! the same lock; each event carries its [`PolicyEffects`] (who sees the node now, whose peers
//! and filters changed), and [`Tailnet::set_policy`] swaps the policy and publishes
//! [`TailnetChange::PolicyChanged`]. Maps read it through [`Tailnet::map_view`], the DERP
//! relay through [`Tailnet::may_talk`].
//!
//! One process per database: the in-memory state assumes no other process writes nodes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use keygate_domain::{MachineKey, Node, NodeId, NodeKey, NodeOwner, Timestamp, User, UserId};
use keygate_policy::{Network, NodeInfo, PacketRule, Policy};
use tokio::sync::{broadcast, Notify};

use crate::ip_allocator::IpAllocator;
use crate::{Actor, Service, ServiceError};

/// The tailnet's default DNS domain: nodes are named `<name>.keygate.internal`. `.internal`
/// is reserved for private use (ICANN, 2024), so it never collides with a public name.
pub const DEFAULT_BASE_DOMAIN: &str = "keygate.internal";

/// Tunables of the live tailnet.
#[derive(Clone, Debug)]
pub struct TailnetConfig {
    /// How long an ephemeral node may stay offline before it is deleted (see `lifecycle.rs`
    /// for why the default is three minutes).
    pub ephemeral_inactivity_timeout: Duration,
    /// Events buffered for a slow subscriber before it is told it lagged.
    pub event_capacity: usize,
    /// The tailnet's DNS domain (MagicDNS suffix), without dots at either end. The control
    /// protocol's `ControlConfig::base_domain` must be the same.
    pub base_domain: String,
}

impl Default for TailnetConfig {
    fn default() -> Self {
        Self {
            ephemeral_inactivity_timeout: crate::lifecycle::DEFAULT_EPHEMERAL_INACTIVITY_TIMEOUT,
            event_capacity: 4096,
            base_domain: DEFAULT_BASE_DOMAIN.to_owned(),
        }
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

    /// The node's MagicDNS name in `base_domain`, without the trailing dot:
    /// `web.keygate.internal`.
    pub fn fqdn(&self, base_domain: &str) -> String {
        format!("{}.{base_domain}", self.node.given_name)
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
    /// The node was deleted; `entry` is its last state. `was_visible`: whether peers had it
    /// in their maps.
    Removed { entry: Arc<NodeEntry>, was_visible: bool },
    /// A new ACL policy is in force: every node's filter and peers may differ (resend them).
    PolicyChanged,
}

/// What a node change did under the ACL policy: who sees the node now, whose peer sets and
/// packet filters changed. Computed under the state lock, so it matches the event order.
#[derive(Clone, Debug, Default)]
pub struct PolicyEffects {
    /// The nodes that have the changed node in their maps after the change (its peers),
    /// sorted by id. Empty for a node that is not visible (or was removed).
    pub peers: Arc<[NodeId]>,
    /// Nodes that became its peers, sorted: each gets the node, and the node gets each of
    /// them. Ids, not entries: a join under an allow-all policy adds every node, and only the
    /// node's own map session (rarely open when it joins) needs them rendered
    /// ([`Tailnet::entries`]).
    pub peers_added: Vec<NodeId>,
    /// Nodes that were its peers and are not any more: each loses the node, and the node
    /// loses each of them.
    pub peers_removed: Vec<NodeId>,
    /// New packet filters of the nodes whose filter may have changed (the changed node's
    /// own included), by id.
    pub filters: Vec<(NodeId, Vec<PacketRule>)>,
}

/// What one node's map holds at one point of the event order: itself, the peers the policy
/// lets it see and its packet filter.
#[derive(Clone, Debug)]
pub struct MapView {
    /// The sequence number of the last event reflected here.
    pub seq: u64,
    pub me: Arc<NodeEntry>,
    /// Its peers, by id (approved nodes it may reach or that may reach it).
    pub peers: Vec<Arc<NodeEntry>>,
    /// Its packet filter: empty (deny all) for a node peers cannot see.
    pub packet_filter: Vec<PacketRule>,
}

/// A change with its place in the order of all changes.
#[derive(Clone, Debug)]
pub struct TailnetEvent {
    /// Strictly increasing, starting at 1.
    pub seq: u64,
    pub change: TailnetChange,
    /// Its effects under the ACL policy (empty for [`TailnetChange::PolicyChanged`]).
    pub effects: PolicyEffects,
}

impl TailnetEvent {
    /// The node the change is about (`NodeId(0)`, which no node has, for a policy change).
    pub fn node_id(&self) -> NodeId {
        match &self.change {
            TailnetChange::Added(e)
            | TailnetChange::Changed { entry: e, .. }
            | TailnetChange::EndpointsChanged(e)
            | TailnetChange::OnlineChanged(e)
            | TailnetChange::Removed { entry: e, .. } => e.node.id,
            TailnetChange::PolicyChanged => NodeId(0),
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
pub(crate) struct State {
    seq: u64,
    /// The policy in force applied to the visible nodes: who sees whom, packet filters.
    network: Network,
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
    pub(crate) offline_generation: HashMap<NodeId, u64>,
    /// Nodes whose key has expired and whose expiry was published (by the change that set it,
    /// or by `lifecycle.rs` when the time came): the expiry each was published with.
    pub(crate) announced_expiry: HashMap<NodeId, Timestamp>,
    users: HashMap<UserId, User>,
}

impl State {
    fn new(network: Network) -> Self {
        Self {
            seq: 0,
            network,
            nodes: BTreeMap::new(),
            by_machine: HashMap::new(),
            by_node_key: HashMap::new(),
            names: HashSet::new(),
            pending_names: HashSet::new(),
            sessions: HashMap::new(),
            offline_generation: HashMap::new(),
            announced_expiry: HashMap::new(),
            users: HashMap::new(),
        }
    }

    /// Node `id`'s peers under the policy, sorted. Computed each time, never kept: under an
    /// allow-all policy each list holds every node, and keeping one per node costs O(N²)
    /// memory (800 MB at 10,000 nodes), while computing one is a copy of the sorted id list.
    fn peers(&self, id: NodeId) -> Vec<NodeId> {
        self.network.peers(id)
    }

    /// Brings the network up to date with `change` and says what that did.
    fn apply_to_network(&mut self, change: &TailnetChange) -> PolicyEffects {
        let (entry, mut changes) = match change {
            TailnetChange::Added(e)
            | TailnetChange::Changed { entry: e, .. }
            | TailnetChange::EndpointsChanged(e) => {
                let changes = match network_node(e) {
                    Some(info) => self.network.upsert(info),
                    None => self.network.remove(e.node.id),
                };
                (e, changes)
            }
            TailnetChange::OnlineChanged(e) => (e, keygate_policy::Changes::default()),
            TailnetChange::Removed { entry, .. } => (entry, self.network.remove(entry.node.id)),
            TailnetChange::PolicyChanged => return PolicyEffects::default(),
        };
        let id = entry.node.id;
        // A change to the network computed the node's peers already.
        let peers =
            if changes.is_empty() { self.peers(id) } else { std::mem::take(&mut changes.peers) };
        PolicyEffects {
            peers: peers.into(),
            peers_added: changes.peers_added,
            peers_removed: changes.peers_removed,
            filters: changes
                .filters
                .into_iter()
                .map(|n| (n, self.network.packet_filter(n)))
                .collect(),
        }
    }

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

    /// Every node, by id.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &Arc<NodeEntry>> {
        self.nodes.values()
    }

    /// Whether node `id` has a streaming map session open.
    pub(crate) fn has_session(&self, id: NodeId) -> bool {
        self.sessions.contains_key(&id)
    }

    /// Sets node `id`'s in-memory `last_seen` without publishing anything (peers see the
    /// last-seen time of offline nodes only, which an online node's refresh does not change).
    pub(crate) fn set_last_seen(&mut self, id: NodeId, at: Timestamp) {
        if let Some(entry) = self.nodes.get_mut(&id) {
            Arc::make_mut(entry).node.last_seen = Some(at);
        }
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
    /// Wakes the key-expiry watcher (`lifecycle.rs`) when a node's key expiry changed to a
    /// time it might otherwise sleep through, and when the tailnet is dropped.
    pub(crate) expiry_changed: Arc<Notify>,
    /// Serialises policy saves, so the policy in force is the last one saved.
    policy_lock: tokio::sync::Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The watcher holds no reference to the tailnet while it waits: let it see it is gone.
        self.expiry_changed.notify_one();
    }
}

/// Number of write-lock stripes: plenty to keep unrelated machines from waiting on each
/// other, few enough to cost nothing.
const STRIPES: usize = 64;

impl Tailnet {
    /// Loads every node and user from the store and starts the background work of
    /// `lifecycle.rs`. Ephemeral nodes start offline: those offline (by their stored last-seen
    /// time) for longer than the inactivity timeout are deleted now, the others get the rest
    /// of their timeout. Call within a tokio runtime.
    pub async fn load(service: Service, config: TailnetConfig) -> Result<Self, ServiceError> {
        let nodes = service.store.list_nodes().await?;
        let users = service.store.list_users().await?;
        let allocator = IpAllocator::new(nodes.iter().map(|n| (&n.ipv4, &n.ipv6)));

        let now = service.now();
        let policy = service.current_policy().await?.policy;
        let mut state = State::new(Network::new(policy, std::iter::empty()));
        state.users = users.into_iter().map(|u| (u.id, u)).collect();
        for node in nodes {
            state.insert_indexes(&node);
            if let Some(expiry) = node.key_expiry.filter(|_| node.is_key_expired(now)) {
                // Expired before this start: a connecting node learns it from its first map.
                state.announced_expiry.insert(node.id, expiry);
            }
            let user = node.owner.user().and_then(|u| state.users.get(&u).cloned());
            let entry = NodeEntry { node, user, online: false };
            state.nodes.insert(entry.node.id, Arc::new(entry));
        }
        let visible: Vec<NodeInfo> = state.nodes.values().filter_map(|e| network_node(e)).collect();
        state.network = Network::new(Arc::clone(state.network.policy()), visible);
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
                expiry_changed: Arc::new(Notify::new()),
                policy_lock: tokio::sync::Mutex::new(()),
            }),
        };
        tailnet.resume_ephemeral_cleanup().await?;
        tailnet.start_background_tasks();
        Ok(tailnet)
    }

    /// The service this tailnet writes through.
    pub fn service(&self) -> &Service {
        &self.inner.service
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

    /// Nodes visible to `actor` (admins: all; users: the nodes they own; OAuth clients: all,
    /// with scope `devices:core:read`), by id, with their online state.
    pub fn list_nodes(&self, actor: &Actor) -> Vec<Arc<NodeEntry>> {
        self.read()
            .nodes
            .values()
            .filter(|e| crate::node_admin::may_see(actor, e))
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
            let timeout = self.inner.config.ephemeral_inactivity_timeout;
            self.schedule_ephemeral_cleanup(id, generation, timeout);
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

    /// Deletes node `id` from the store and the state: its addresses are free again, peers
    /// are told, and its open map stream is closed. The node as it was; `None` when it did not
    /// exist.
    pub(crate) async fn remove_node(
        &self,
        id: NodeId,
        why: &str,
    ) -> Result<Option<Arc<NodeEntry>>, ServiceError> {
        let Some(entry) = self.node(id) else { return Ok(None) };
        let _guard = self.lock_machine(&entry.node.machine_key).await;
        self.remove_node_locked(id, why).await
    }

    /// [`Tailnet::remove_node`] for a caller that holds the node's machine lock.
    pub(crate) async fn remove_node_locked(
        &self,
        id: NodeId,
        why: &str,
    ) -> Result<Option<Arc<NodeEntry>>, ServiceError> {
        self.inner.service.store.delete_node(id).await?;
        let mut state = self.write();
        let Some(current) = state.nodes.remove(&id) else { return Ok(None) };
        state.remove_indexes(&current.node);
        state.offline_generation.remove(&id);
        state.announced_expiry.remove(&id);
        self.allocator().release_addresses(current.node.ipv4, current.node.ipv6);
        let was_visible = current.visible_to_peers();
        self.publish(&mut state, TailnetChange::Removed { entry: current.clone(), was_visible });
        tracing::info!(node = %id, name = %current.node.given_name, reason = why, "node removed");
        Ok(Some(current))
    }

    /// Makes `node` (already written to the store) the current state and publishes the
    /// change. `user` is its owner's record when the owner is a user.
    pub(crate) fn commit(&self, node: Node, user: Option<User>, kind: WriteKind) -> Arc<NodeEntry> {
        let now = self.inner.service.now();
        let mut state = self.write();
        let id = node.id;
        let previous = state.nodes.get(&id).cloned();
        if let Some(previous) = &previous {
            state.remove_indexes(&previous.node);
        }
        state.insert_indexes(&node);
        // An expired key is published by this change itself; a future one is the watcher's.
        match node.key_expiry.filter(|_| node.is_key_expired(now)) {
            Some(expiry) => state.announced_expiry.insert(id, expiry),
            None => state.announced_expiry.remove(&id),
        };
        let expiry_changed = previous.as_ref().map(|p| p.node.key_expiry) != Some(node.key_expiry);
        if expiry_changed && crate::lifecycle::wakes_the_expiry_watcher(node.key_expiry, now) {
            self.inner.expiry_changed.notify_one();
        }
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

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn allocator(&self) -> MutexGuard<'_, IpAllocator> {
        self.inner.allocator.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Numbers `change`, applies it to the policy's view of the tailnet and sends it, while
    /// the caller still holds the state lock.
    pub(crate) fn publish(&self, state: &mut State, change: TailnetChange) {
        let effects = state.apply_to_network(&change);
        state.seq += 1;
        // No subscriber is not an error: nobody is connected.
        let _ = self.inner.events.send(Arc::new(TailnetEvent { seq: state.seq, change, effects }));
    }

    /// The current entries of the nodes `ids` that still exist, in the order given.
    pub fn entries(&self, ids: &[NodeId]) -> Vec<Arc<NodeEntry>> {
        let state = self.read();
        ids.iter().filter_map(|id| state.nodes.get(id).cloned()).collect()
    }

    /// What node `id`'s map holds now: itself, its peers under the policy, its filter.
    pub fn map_view(&self, id: NodeId) -> Option<MapView> {
        let state = self.read();
        let me = state.nodes.get(&id)?.clone();
        let peers = state.peers(id).iter().filter_map(|p| state.nodes.get(p).cloned()).collect();
        Some(MapView { seq: state.seq, me, peers, packet_filter: state.network.packet_filter(id) })
    }

    /// Whether the nodes holding node keys `a` and `b` see each other (both approved, and the
    /// policy lets either reach the other). Memory only, and no peer list: the DERP relay
    /// asks per packet.
    pub fn may_talk(&self, a: &NodeKey, b: &NodeKey) -> bool {
        let state = self.read();
        let (Some(a), Some(b)) = (state.by_node_key.get(a), state.by_node_key.get(b)) else {
            return false;
        };
        state.network.are_peers(*a, *b)
    }

    /// The compiled policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(self.read().network.policy())
    }

    /// Saves a new policy (see [`Service::set_policy`]) and puts it in force: every connected
    /// node is sent its new packet filter and peers.
    pub async fn set_policy(
        &self,
        actor: &Actor,
        text: &str,
        if_match: Option<&str>,
    ) -> Result<crate::CurrentPolicy, crate::SetPolicyError> {
        let _serial = self.inner.policy_lock.lock().await;
        let current = self.inner.service.set_policy(actor, text, if_match).await?;
        let mut state = self.write();
        state.network.set_policy(Arc::clone(&current.policy));
        self.publish(&mut state, TailnetChange::PolicyChanged);
        Ok(current)
    }
}

/// The policy's view of `entry`, when other nodes may see it at all (approved, owner known).
fn network_node(entry: &NodeEntry) -> Option<NodeInfo> {
    if !entry.visible_to_peers() {
        return None;
    }
    NodeInfo::from_node(&entry.node, entry.user.as_ref().map(|u| &u.name))
}

pub(crate) fn not_found(id: NodeId) -> ServiceError {
    ServiceError::NotFound { what: "node", id: id.to_string() }
}
