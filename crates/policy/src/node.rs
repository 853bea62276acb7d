//! The engine's view of a node: who it is and its addresses. Kept apart from the service's
//! node types, so the engine depends on nothing but the domain.

use std::net::{Ipv4Addr, Ipv6Addr};

use keygate_domain::{Node, NodeId, NodeOwner, TagSet, UserName};

/// Who a node is, for the policy: its user, or (for a node enrolled with a tagged key) its
/// tags. A tagged node is not its creator's: rules naming the user do not reach it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeIdentity {
    User(UserName),
    Tags(TagSet),
}

/// A node as the policy sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    pub id: NodeId,
    pub identity: NodeIdentity,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
}

impl NodeInfo {
    /// The policy's view of a stored node. `user` is the name of the node's owner when the
    /// owner is a user; `None` for such a node (its user unknown) gives `None`.
    pub fn from_node(node: &Node, user: Option<&UserName>) -> Option<Self> {
        let identity = match &node.owner {
            NodeOwner::User(_) => NodeIdentity::User(user?.clone()),
            NodeOwner::Tags(tags) => NodeIdentity::Tags(tags.clone()),
        };
        Some(Self { id: node.id, identity, ipv4: node.ipv4, ipv6: node.ipv6 })
    }
}
