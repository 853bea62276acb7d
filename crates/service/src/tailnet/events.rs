//! The change bus's messages: one [`TailnetEvent`] per change to the tailnet, numbered, with
//! what it did under the ACL policy.

use std::sync::Arc;

use keygate_domain::NodeId;
use keygate_policy::PacketRule;

use super::entry::NodeEntry;

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
    /// ([`crate::Tailnet::entries`]).
    pub peers_added: Vec<NodeId>,
    /// Nodes that were its peers and are not any more: each loses the node, and the node
    /// loses each of them.
    pub peers_removed: Vec<NodeId>,
    /// New packet filters of the nodes whose filter may have changed (the changed node's
    /// own included), by id.
    pub filters: Vec<(NodeId, Vec<PacketRule>)>,
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
