//! [`NetMap`]: the node's current view of the tailnet, built from the first full
//! [`MapResponse`] and kept current by the deltas that follow.
//!
//! Rules, from Go's `mapSession.updatePeersStateFromResponse`
//! (`control/controlclient/map.go`):
//! - `Peers` present (even `[]`) = the complete list: it replaces every peer and **no other
//!   peer delta of that message is applied**;
//! - otherwise, in order: `PeersRemoved`, `PeersChanged` (insert or replace whole nodes),
//!   `PeerSeenChange`, `OnlineChange`, `PeersChangedPatch`; changes to unknown peers are
//!   ignored;
//! - `Node` replaces the self node; a non-empty `Domain` replaces the domain; absent fields
//!   mean "unchanged".
//!
//! What is kept per peer is up to a [`PeerState`] type: the full [`Node`] (the default, for
//! tests and the CLI) or a [`PeerSummary`] of about 80 bytes, so that a benchmark running
//! thousands of nodes does not hold thousands of copies of every peer's Hostinfo.

use std::collections::BTreeMap;

use ipnet::IpNet;
use keygate_tailcfg::{MapResponse, Node, NodeID, NodePublicKey, PeerChange};
use time::OffsetDateTime;

/// What a [`NetMap`] stores per peer, and how deltas change it.
pub trait PeerState {
    /// The state of a peer that arrived whole (`Peers`, `PeersChanged`).
    fn from_node(node: &Node) -> Self;
    /// The peer's current node key.
    fn node_key(&self) -> NodePublicKey;
    /// Applies a `PeersChangedPatch` entry (fields that are `None`/empty are unchanged).
    fn apply_patch(&mut self, change: &PeerChange);
    /// Applies an `OnlineChange` entry.
    fn set_online(&mut self, online: bool);
    /// Applies a `PeerSeenChange` entry: seen now (`true`) or last-seen unknown (`false`).
    fn set_seen(&mut self, _seen: bool) {}
}

impl PeerState for Node {
    fn from_node(node: &Node) -> Self {
        node.clone()
    }

    fn node_key(&self) -> NodePublicKey {
        self.key
    }

    fn apply_patch(&mut self, change: &PeerChange) {
        if change.derp_region != 0 {
            self.home_derp = change.derp_region;
        }
        if change.cap != 0 {
            self.cap = change.cap;
        }
        if let Some(cap_map) = &change.cap_map {
            self.cap_map = cap_map.clone();
        }
        if !change.endpoints.is_empty() {
            self.endpoints = change.endpoints.clone();
        }
        if let Some(key) = change.key {
            self.key = key;
        }
        if !change.key_signature.is_empty() {
            self.key_signature = change.key_signature.clone();
        }
        if let Some(disco_key) = change.disco_key {
            self.disco_key = disco_key;
        }
        if let Some(online) = change.online {
            self.online = Some(online);
        }
        if let Some(last_seen) = change.last_seen {
            self.last_seen = Some(last_seen);
        }
        if let Some(expiry) = change.key_expiry {
            // The Go zero time means "no longer expires", which `Node` spells `None`.
            self.key_expiry = (!keygate_tailcfg::go_time::is_go_zero(&expiry)).then_some(expiry);
        }
    }

    fn set_online(&mut self, online: bool) {
        self.online = Some(online);
    }

    fn set_seen(&mut self, seen: bool) {
        self.last_seen = seen.then(OffsetDateTime::now_utc);
    }
}

/// A compact peer record: key, online state and the first two addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerSummary {
    /// Current node key.
    pub key: NodePublicKey,
    /// `Online` as last reported (`None` = unknown).
    pub online: Option<bool>,
    /// The peer's first two addresses (normally its IPv4 then its IPv6 address).
    pub addresses: [Option<IpNet>; 2],
}

impl PeerState for PeerSummary {
    fn from_node(node: &Node) -> Self {
        Self {
            key: node.key,
            online: node.online,
            addresses: [node.addresses.first().copied(), node.addresses.get(1).copied()],
        }
    }

    fn node_key(&self) -> NodePublicKey {
        self.key
    }

    fn apply_patch(&mut self, change: &PeerChange) {
        if let Some(key) = change.key {
            self.key = key;
        }
        if let Some(online) = change.online {
            self.online = Some(online);
        }
    }

    fn set_online(&mut self, online: bool) {
        self.online = Some(online);
    }
}

/// What one [`NetMap::apply`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetMapChange {
    /// The message carried a complete peer list.
    pub full: bool,
    /// The message carried the self node.
    pub self_changed: bool,
    /// Peers that are new.
    pub added: Vec<NodeID>,
    /// Known peers that were replaced or patched (an ID appears once per delta naming it).
    pub updated: Vec<NodeID>,
    /// Peers that are gone.
    pub removed: Vec<NodeID>,
}

impl NetMapChange {
    /// Whether the peer set or any peer changed.
    pub fn peers_changed(&self) -> bool {
        self.full || !self.added.is_empty() || !self.updated.is_empty() || !self.removed.is_empty()
    }
}

/// The node's view of the tailnet: self node, domain and peers by ID.
#[derive(Debug, Clone)]
pub struct NetMap<P = Node> {
    self_node: Option<Node>,
    domain: String,
    peers: BTreeMap<NodeID, P>,
    messages: u64,
}

impl<P> Default for NetMap<P> {
    fn default() -> Self {
        Self { self_node: None, domain: String::new(), peers: BTreeMap::new(), messages: 0 }
    }
}

impl NetMap<Node> {
    /// An empty netmap keeping whole peer [`Node`]s.
    pub fn new() -> Self {
        Self::default()
    }
}

impl NetMap<PeerSummary> {
    /// An empty netmap keeping a [`PeerSummary`] per peer.
    pub fn compact() -> Self {
        Self::default()
    }
}

impl<P: PeerState> NetMap<P> {
    /// Applies one map message (keep-alives change nothing) and reports what changed.
    pub fn apply(&mut self, message: &MapResponse) -> NetMapChange {
        let mut change = NetMapChange::default();
        if message.keep_alive {
            return change;
        }
        self.messages += 1;
        if let Some(node) = &message.node {
            self.self_node = Some(node.clone());
            change.self_changed = true;
        }
        if !message.domain.is_empty() {
            self.domain.clone_from(&message.domain);
        }

        if let Some(peers) = &message.peers {
            change.full = true;
            let mut next = BTreeMap::new();
            for node in peers {
                if !self.peers.contains_key(&node.id) {
                    change.added.push(node.id);
                }
                next.insert(node.id, P::from_node(node));
            }
            change.removed =
                self.peers.keys().filter(|id| !next.contains_key(id)).copied().collect();
            self.peers = next;
            return change;
        }

        for id in message.peers_removed.iter().flatten() {
            if self.peers.remove(id).is_some() {
                change.removed.push(*id);
            }
        }
        for node in message.peers_changed.iter().flatten() {
            match self.peers.insert(node.id, P::from_node(node)) {
                None => change.added.push(node.id),
                Some(_) => change.updated.push(node.id),
            }
        }
        for (id, seen) in message.peer_seen_change.iter().flatten() {
            if let Some(peer) = self.peers.get_mut(id) {
                peer.set_seen(*seen);
                change.updated.push(*id);
            }
        }
        for (id, online) in message.online_change.iter().flatten() {
            if let Some(peer) = self.peers.get_mut(id) {
                peer.set_online(*online);
                change.updated.push(*id);
            }
        }
        for patch in message.peers_changed_patch.iter().flatten() {
            if let Some(peer) = self.peers.get_mut(&patch.node_id) {
                peer.apply_patch(patch);
                change.updated.push(patch.node_id);
            }
        }
        change
    }

    /// The self node from the latest message that carried one.
    pub fn self_node(&self) -> Option<&Node> {
        self.self_node.as_ref()
    }

    /// The node's own addresses (empty before the first map).
    pub fn addresses(&self) -> &[IpNet] {
        self.self_node.as_ref().map_or(&[], |node| &node.addresses)
    }

    /// The tailnet domain, e.g. `tail.test` (empty before a message named it).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Number of peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// A peer by ID.
    pub fn peer(&self, id: NodeID) -> Option<&P> {
        self.peers.get(&id)
    }

    /// Whether a peer with this ID is known.
    pub fn has_peer(&self, id: NodeID) -> bool {
        self.peers.contains_key(&id)
    }

    /// A peer by node key (a linear scan).
    pub fn peer_by_key(&self, key: &NodePublicKey) -> Option<(NodeID, &P)> {
        self.peers.iter().find(|(_, peer)| peer.node_key() == *key).map(|(id, peer)| (*id, peer))
    }

    /// All peers in ID order.
    pub fn peers(&self) -> impl Iterator<Item = (NodeID, &P)> {
        self.peers.iter().map(|(id, peer)| (*id, peer))
    }

    /// Number of non-keep-alive messages applied.
    pub fn messages_applied(&self) -> u64 {
        self.messages
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use keygate_tailcfg::host_addresses;

    use super::*;

    fn node(id: NodeID) -> Node {
        let byte = u8::try_from(id).unwrap();
        Node {
            id,
            stable_id: format!("n{id}"),
            name: format!("node{id}.tail.test."),
            key: NodePublicKey::from_bytes([byte; 32]),
            addresses: host_addresses(
                Ipv4Addr::new(100, 64, 0, byte),
                Ipv6Addr::new(0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 0, u16::from(byte)),
            ),
            online: Some(true),
            ..Node::default()
        }
    }

    fn full(self_id: NodeID, peers: &[NodeID]) -> MapResponse {
        MapResponse {
            node: Some(node(self_id)),
            domain: "tail.test".into(),
            peers: Some(peers.iter().map(|id| node(*id)).collect()),
            ..MapResponse::default()
        }
    }

    fn ids<P: PeerState>(map: &NetMap<P>) -> Vec<NodeID> {
        map.peers().map(|(id, _)| id).collect()
    }

    #[test]
    fn full_map_sets_self_domain_and_peers() {
        let mut map = NetMap::new();
        let change = map.apply(&full(1, &[2, 3]));
        assert!(change.full && change.self_changed);
        assert_eq!(change.added, [2, 3]);
        assert_eq!(map.self_node().unwrap().id, 1);
        assert_eq!(map.addresses().len(), 2);
        assert_eq!(map.domain(), "tail.test");
        assert_eq!(ids(&map), [2, 3]);
        assert_eq!(map.peer_by_key(&node(3).key).map(|(id, _)| id), Some(3));
    }

    #[test]
    fn deltas_add_replace_remove_and_patch() {
        let mut map = NetMap::new();
        map.apply(&full(1, &[2, 3]));

        let mut renamed = node(3);
        renamed.name = "renamed.tail.test.".into();
        let change = map.apply(&MapResponse {
            peers_changed: Some(vec![node(4), renamed]),
            peers_removed: Some(vec![2, 99]),
            ..MapResponse::default()
        });
        assert_eq!(change.added, [4]);
        assert_eq!(change.updated, [3]);
        assert_eq!(change.removed, [2], "unknown IDs are not reported");
        assert_eq!(ids(&map), [3, 4]);
        assert_eq!(map.peer(3).unwrap().name, "renamed.tail.test.");

        let new_key = NodePublicKey::from_bytes([0xee; 32]);
        let change = map.apply(&MapResponse {
            online_change: Some(BTreeMap::from([(3, false), (42, true)])),
            peers_changed_patch: Some(vec![
                PeerChange {
                    node_id: 4,
                    key: Some(new_key),
                    derp_region: 7,
                    ..PeerChange::default()
                },
                PeerChange { node_id: 77, online: Some(true), ..PeerChange::default() },
            ]),
            ..MapResponse::default()
        });
        assert_eq!(change.updated, [3, 4]);
        assert_eq!(map.peer(3).unwrap().online, Some(false));
        assert_eq!(map.peer(4).unwrap().key, new_key);
        assert_eq!(map.peer(4).unwrap().home_derp, 7);
        assert!(!map.has_peer(42) && !map.has_peer(77));
        assert_eq!(map.self_node().unwrap().id, 1, "absent Node leaves self alone");
    }

    #[test]
    fn a_full_list_replaces_everything_and_ignores_deltas() {
        let mut map = NetMap::new();
        map.apply(&full(1, &[2, 3]));
        let mut message = full(1, &[3, 5]);
        message.peers_changed = Some(vec![node(9)]);
        let change = map.apply(&message);
        assert_eq!(change.added, [5]);
        assert_eq!(change.removed, [2]);
        assert_eq!(ids(&map), [3, 5]);

        map.apply(&MapResponse { peers: Some(vec![]), ..MapResponse::default() });
        assert_eq!(map.peer_count(), 0);
    }

    #[test]
    fn keep_alives_change_nothing() {
        let mut map = NetMap::new();
        map.apply(&full(1, &[2]));
        let change = map.apply(&MapResponse::keep_alive());
        assert!(!change.peers_changed() && !change.self_changed);
        assert_eq!(map.messages_applied(), 1);
    }

    #[test]
    fn key_expiry_patch_with_go_zero_time_means_never() {
        let mut peer = node(2);
        peer.key_expiry = Some(OffsetDateTime::UNIX_EPOCH);
        peer.apply_patch(&PeerChange {
            node_id: 2,
            key_expiry: Some(keygate_tailcfg::go_time::GO_ZERO_TIME),
            ..PeerChange::default()
        });
        assert_eq!(peer.key_expiry, None);
        peer.set_seen(true);
        assert!(peer.last_seen.is_some());
        peer.set_seen(false);
        assert!(peer.last_seen.is_none());
    }

    #[test]
    fn compact_netmap_tracks_keys_and_online_state() {
        let mut map = NetMap::compact();
        map.apply(&full(1, &[2, 3]));
        map.apply(&MapResponse {
            online_change: Some(BTreeMap::from([(2, false)])),
            peers_changed: Some(vec![node(4)]),
            ..MapResponse::default()
        });
        assert_eq!(ids(&map), [2, 3, 4]);
        let peer = map.peer(2).unwrap();
        assert_eq!(peer.online, Some(false));
        assert_eq!(peer.addresses[0], Some("100.64.0.2/32".parse().unwrap()));
        assert_eq!(map.peer_by_key(&node(4).key).map(|(id, _)| id), Some(4));
        assert!(std::mem::size_of::<PeerSummary>() <= 96);
    }
}
