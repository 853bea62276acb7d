//! Nodes: machines enrolled in the tailnet.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{AuthKeyId, DiscoKey, MachineKey, NodeId, NodeKey, TagSet, Timestamp, UserId};

/// Who a node belongs to: a user, or (for nodes enrolled with a tagged key) its tags.
/// Never both, by construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeOwner {
    User(UserId),
    Tags(TagSet),
}

impl NodeOwner {
    pub fn user(&self) -> Option<UserId> {
        match self {
            NodeOwner::User(u) => Some(*u),
            NodeOwner::Tags(_) => None,
        }
    }

    pub fn tags(&self) -> Option<&TagSet> {
        match self {
            NodeOwner::User(_) => None,
            NodeOwner::Tags(t) => Some(t),
        }
    }

    pub fn is_tagged(&self) -> bool {
        matches!(self, NodeOwner::Tags(_))
    }
}

/// A node as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: NodeId,
    pub machine_key: MachineKey,
    pub node_key: NodeKey,
    pub disco_key: DiscoKey,
    /// The host name the node reported.
    pub hostname: String,
    /// The DNS label the tailnet knows it by: unique, derived from `hostname`.
    pub given_name: String,
    pub owner: NodeOwner,
    /// The pre-authentication key that enrolled it.
    pub auth_key_id: Option<AuthKeyId>,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    /// The client's last `Hostinfo`, as JSON text (opaque to the domain).
    pub hostinfo_json: String,
    /// The client's last reported endpoints (`ip:port`).
    pub endpoints: Vec<String>,
    pub created: Timestamp,
    pub last_seen: Option<Timestamp>,
    pub ephemeral: bool,
    /// Approved by an admin, or enrolled with a pre-approved key, or approval is off.
    pub authorized: bool,
    /// When the node key expires; `None` never (tagged nodes, or expiry disabled).
    pub key_expiry: Option<Timestamp>,
}

/// A node about to be inserted: everything but the id, which the database assigns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNode {
    pub machine_key: MachineKey,
    pub node_key: NodeKey,
    pub disco_key: DiscoKey,
    pub hostname: String,
    pub given_name: String,
    pub owner: NodeOwner,
    pub auth_key_id: Option<AuthKeyId>,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    pub hostinfo_json: String,
    pub endpoints: Vec<String>,
    pub created: Timestamp,
    pub last_seen: Option<Timestamp>,
    pub ephemeral: bool,
    pub authorized: bool,
    pub key_expiry: Option<Timestamp>,
}

impl NewNode {
    /// The stored node once the database has given it `id`.
    pub fn with_id(self, id: NodeId) -> Node {
        Node {
            id,
            machine_key: self.machine_key,
            node_key: self.node_key,
            disco_key: self.disco_key,
            hostname: self.hostname,
            given_name: self.given_name,
            owner: self.owner,
            auth_key_id: self.auth_key_id,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            hostinfo_json: self.hostinfo_json,
            endpoints: self.endpoints,
            created: self.created,
            last_seen: self.last_seen,
            ephemeral: self.ephemeral,
            authorized: self.authorized,
            key_expiry: self.key_expiry,
        }
    }
}

impl Node {
    /// Whether the node's key has expired at `now`.
    pub fn is_key_expired(&self, now: Timestamp) -> bool {
        self.key_expiry.is_some_and(|e| now >= e)
    }
}

/// Turns a reported host name into a DNS label: lowercase letters, digits and dashes, at most
/// 63 characters, never empty.
pub fn dns_label(hostname: &str) -> String {
    let mut out = String::with_capacity(hostname.len().min(63));
    let mut last_dash = true;
    for c in hostname.chars().flat_map(char::to_lowercase) {
        if out.len() >= 63 {
            break;
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
            last_dash = false;
        } else if !last_dash {
            out.push('-');
            last_dash = true;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("node");
    }
    out
}

/// Picks a label not in `taken`: `label`, then `label-1`, `label-2`, …
pub fn unique_label(label: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(label) {
        return label.to_owned();
    }
    (1u32..)
        .map(|n| {
            let suffix = format!("-{n}");
            let mut base = label.to_owned();
            base.truncate(63 - suffix.len());
            base + &suffix
        })
        .find(|candidate| !taken(candidate))
        .expect("some suffix is always free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label("My Laptop.local"), "my-laptop-local");
        assert_eq!(dns_label("--ci__runner--"), "ci-runner");
        assert_eq!(dns_label("ÄÖ"), "node");
        assert_eq!(dns_label(""), "node");
        assert_eq!(dns_label(&"a".repeat(100)).len(), 63);
    }

    #[test]
    fn unique_labels_get_numeric_suffixes() {
        let taken = ["web", "web-1"];
        assert_eq!(unique_label("web", |l| taken.contains(&l)), "web-2");
        assert_eq!(unique_label("db", |l| taken.contains(&l)), "db");
        let long = "a".repeat(63);
        let got = unique_label(&long, |l| l == long);
        assert_eq!(got.len(), 63);
        assert!(got.ends_with("-1"));
    }
}
