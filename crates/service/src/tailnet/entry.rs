//! What readers of the live tailnet get: a node with its owner and online state, all nodes at
//! one point of the event order, and what one node's map holds.

use std::sync::Arc;

use keygate_domain::{Node, NodeId, User};
use keygate_policy::PacketRule;

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
