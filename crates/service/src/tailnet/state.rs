//! The in-memory state behind the tailnet's lock: every node, its indexes, who is online,
//! and the ACL policy applied to the visible nodes. Its fields are private: the rest of the
//! crate changes it through the methods here, each of which keeps the indexes, the policy's
//! view and the event numbering consistent with the nodes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use keygate_domain::{MachineKey, Node, NodeId, NodeKey, Timestamp, User, UserId};
use keygate_policy::{Network, NodeInfo, Policy};

use super::entry::{MapView, NodeEntry, Snapshot};
use super::events::{PolicyEffects, TailnetChange, TailnetEvent};

/// What kind of write [`State::commit`] records, which decides the event published.
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
    offline_generation: HashMap<NodeId, u64>,
    /// Nodes whose key has expired and whose expiry was published (by the change that set it,
    /// or by `lifecycle.rs` when the time came): the expiry each was published with.
    announced_expiry: HashMap<NodeId, Timestamp>,
    users: HashMap<UserId, User>,
}

impl State {
    /// The state of a tailnet with `nodes` and `users` (as stored) under `policy`, at `now`.
    /// Every node starts offline; keys expired before `now` count as announced (a connecting
    /// node learns it from its first map).
    pub(crate) fn load(
        policy: Arc<Policy>,
        nodes: Vec<Node>,
        users: Vec<User>,
        now: Timestamp,
    ) -> Self {
        let mut state = Self {
            seq: 0,
            network: Network::new(Arc::clone(&policy), std::iter::empty()),
            nodes: BTreeMap::new(),
            by_machine: HashMap::new(),
            by_node_key: HashMap::new(),
            names: HashSet::new(),
            pending_names: HashSet::new(),
            sessions: HashMap::new(),
            offline_generation: HashMap::new(),
            announced_expiry: HashMap::new(),
            users: users.into_iter().map(|u| (u.id, u)).collect(),
        };
        for node in nodes {
            state.insert_indexes(&node);
            if let Some(expiry) = node.key_expiry.filter(|_| node.is_key_expired(now)) {
                state.announced_expiry.insert(node.id, expiry);
            }
            let user = node.owner.user().and_then(|u| state.users.get(&u).cloned());
            let entry = NodeEntry { node, user, online: false };
            state.nodes.insert(entry.node.id, Arc::new(entry));
        }
        let visible: Vec<NodeInfo> = state.nodes.values().filter_map(|e| network_node(e)).collect();
        state.network = Network::new(policy, visible);
        state
    }

    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
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

    /// All nodes, with the number of the last event they reflect.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot { seq: self.seq, nodes: self.nodes.values().cloned().collect() }
    }

    /// What node `id`'s map holds now: itself, its peers under the policy, its filter.
    pub(crate) fn map_view(&self, id: NodeId) -> Option<MapView> {
        let me = self.nodes.get(&id)?.clone();
        let peers = self.peers(id).iter().filter_map(|p| self.nodes.get(p).cloned()).collect();
        Some(MapView { seq: self.seq, me, peers, packet_filter: self.network.packet_filter(id) })
    }

    /// Whether the nodes holding node keys `a` and `b` see each other under the policy.
    pub(crate) fn may_talk(&self, a: &NodeKey, b: &NodeKey) -> bool {
        let (Some(a), Some(b)) = (self.by_node_key.get(a), self.by_node_key.get(b)) else {
            return false;
        };
        self.network.are_peers(*a, *b)
    }

    /// The compiled policy in force.
    pub(crate) fn policy(&self) -> &Arc<Policy> {
        self.network.policy()
    }

    /// Puts `policy` in force; the caller publishes [`TailnetChange::PolicyChanged`].
    pub(crate) fn set_policy(&mut self, policy: Arc<Policy>) {
        self.network.set_policy(policy);
    }

    /// Numbers `change` and applies it to the policy's view of the tailnet: the event to
    /// publish, while the caller still holds the lock (so events go out in state order).
    pub(crate) fn record(&mut self, change: TailnetChange) -> TailnetEvent {
        let effects = self.apply_to_network(&change);
        self.seq += 1;
        TailnetEvent { seq: self.seq, change, effects }
    }

    /// Makes `node` (already written to the store) the current state; the change to publish.
    /// `user` is its owner's record when the owner is a user. The returned flag tells whether
    /// the key expiry differs from the node's previous one.
    pub(crate) fn commit(
        &mut self,
        node: Node,
        user: Option<User>,
        kind: WriteKind,
        now: Timestamp,
    ) -> (Arc<NodeEntry>, TailnetChange, bool) {
        let id = node.id;
        let previous = self.nodes.get(&id).cloned();
        if let Some(previous) = &previous {
            self.remove_indexes(&previous.node);
        }
        self.insert_indexes(&node);
        // An expired key is published by this change itself; a future one is the watcher's.
        match node.key_expiry.filter(|_| node.is_key_expired(now)) {
            Some(expiry) => self.announced_expiry.insert(id, expiry),
            None => self.announced_expiry.remove(&id),
        };
        let expiry_changed = previous.as_ref().map(|p| p.node.key_expiry) != Some(node.key_expiry);
        if let Some(user) = &user {
            self.users.insert(user.id, user.clone());
        }
        // Only `set_online` flips the flag, so that every flip is published as such.
        let online = previous.as_ref().is_some_and(|p| p.online);
        let entry = Arc::new(NodeEntry { node, user, online });
        self.nodes.insert(id, entry.clone());
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
        (entry, change, expiry_changed)
    }

    /// Forgets node `id` (already deleted from the store): the node as it was.
    pub(crate) fn remove(&mut self, id: NodeId) -> Option<Arc<NodeEntry>> {
        let current = self.nodes.remove(&id)?;
        self.remove_indexes(&current.node);
        self.offline_generation.remove(&id);
        self.announced_expiry.remove(&id);
        Some(current)
    }

    /// Sets node `id`'s `last_seen` to `now` and its online flag from its open sessions: the
    /// node as it is now, and whether the flag flipped. `None` when there is no such node.
    pub(crate) fn set_online(
        &mut self,
        id: NodeId,
        now: Timestamp,
    ) -> Option<(Arc<NodeEntry>, bool)> {
        let online = self.sessions.get(&id).is_some_and(|c| *c > 0);
        let current = self.nodes.get(&id)?;
        let mut updated = (**current).clone();
        updated.node.last_seen = Some(now);
        let flipped = updated.online != online;
        updated.online = online;
        let updated = Arc::new(updated);
        self.nodes.insert(id, updated.clone());
        Some((updated, flipped))
    }

    /// Sets node `id`'s `last_seen` without publishing anything (peers see the last-seen time
    /// of offline nodes only, which an online node's refresh does not change).
    pub(crate) fn set_last_seen(&mut self, id: NodeId, at: Timestamp) {
        if let Some(entry) = self.nodes.get_mut(&id) {
            Arc::make_mut(entry).node.last_seen = Some(at);
        }
    }

    /// Counts a newly opened streaming session of node `id`: whether it is the node's first
    /// (the node goes online).
    pub(crate) fn open_session(&mut self, id: NodeId) -> bool {
        let count = self.sessions.entry(id).or_insert(0);
        *count += 1;
        *count == 1 && self.nodes.contains_key(&id)
    }

    /// Counts a closed streaming session of node `id`. When it was the last one, the node
    /// goes offline: its new offline generation.
    pub(crate) fn close_session(&mut self, id: NodeId) -> Option<u64> {
        match self.sessions.get_mut(&id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                None
            }
            Some(_) => {
                self.sessions.remove(&id);
                let generation = self.offline_generation.entry(id).or_insert(0);
                *generation += 1;
                Some(*generation)
            }
            None => None,
        }
    }

    /// Whether node `id` has a streaming map session open.
    pub(crate) fn has_session(&self, id: NodeId) -> bool {
        self.sessions.contains_key(&id)
    }

    /// How often node `id` went offline since start (or its enrolment).
    pub(crate) fn offline_generation(&self, id: NodeId) -> u64 {
        self.offline_generation.get(&id).copied().unwrap_or(0)
    }

    /// The nodes whose key has expired by `now` and was not announced with that expiry yet;
    /// they count as announced from now on.
    pub(crate) fn take_due_expiries(&mut self, now: Timestamp) -> Vec<Arc<NodeEntry>> {
        let due: Vec<Arc<NodeEntry>> = self
            .nodes
            .values()
            .filter(|e| {
                e.node.key_expiry.is_some_and(|expiry| {
                    expiry <= now && self.announced_expiry.get(&e.node.id) != Some(&expiry)
                })
            })
            .cloned()
            .collect();
        for entry in &due {
            if let Some(expiry) = entry.node.key_expiry {
                self.announced_expiry.insert(entry.node.id, expiry);
            }
        }
        due
    }

    /// The earliest key expiry after `now`.
    pub(crate) fn next_key_expiry(&self, now: Timestamp) -> Option<Timestamp> {
        self.nodes.values().filter_map(|e| e.node.key_expiry).filter(|t| *t > now).min()
    }

    /// Reserves a given name derived from `hostname`, unique among all nodes and enrolments
    /// in flight.
    pub(crate) fn reserve_name(&mut self, hostname: &str) -> String {
        let label = keygate_domain::node::dns_label(hostname);
        let name = keygate_domain::node::unique_label(&label, |l| self.name_taken(l));
        self.pending_names.insert(name.clone());
        name
    }

    pub(crate) fn release_name(&mut self, name: &str) {
        self.pending_names.remove(name);
    }

    /// Marks a name as taken without a node in memory owning it.
    pub(crate) fn block_name(&mut self, name: &str) {
        self.names.insert(name.to_owned());
    }

    /// Remembers a user's record, for the nodes it owns.
    pub(crate) fn remember_user(&mut self, user: User) {
        self.users.insert(user.id, user);
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

/// The policy's view of `entry`, when other nodes may see it at all (approved, owner known).
fn network_node(entry: &NodeEntry) -> Option<NodeInfo> {
    if !entry.visible_to_peers() {
        return None;
    }
    NodeInfo::from_node(&entry.node, entry.user.as_ref().map(|u| &u.name))
}
