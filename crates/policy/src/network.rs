//! [`Network`]: a compiled [`Policy`] applied to the tailnet's current nodes. It answers, for
//! any node, its packet filter and its peers, and it is updated one node at a time.
//!
//! # Cost
//!
//! - A node's filter: the policy's destination index yields the (rule, destination) pairs the
//!   node is in, looked up by its user, its tags and its addresses; each rule's source list is
//!   computed once per source set and then shared (`Arc`) by every node and every call, until
//!   a node joining or leaving that set clears it. So a filter costs what it contains, not the
//!   size of the policy or of the tailnet.
//! - A node's peers: the union of the member sets of the rules it is in, by either end; a rule
//!   with `*` short-cuts to "everyone".
//! - [`Network::upsert`] and [`Network::remove`]: membership bookkeeping, plus the node's peers
//!   before and after, plus the set of nodes whose filter names the node (the destinations of
//!   the rules the node is a source of). A node whose identity and addresses did not change
//!   costs nothing.
//!
//! # Semantics
//!
//! Filters are what the *receiving* node enforces: a node's filter lists who may reach it, on
//! its own addresses. A destination `*` is written as the address `*`, as Tailscale does, so
//! the default policy gives exactly Tailscale's allow-all filter. Two nodes are peers when
//! either may reach the other on some port; they must see each other to talk at all, and
//! replies to allowed connections need no rule of their own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use keygate_domain::{NodeId, Tag, UserName};
use keygate_tailcfg::NetPortRange;

use crate::node::{NodeIdentity, NodeInfo};
use crate::policy::SetId;
use crate::{PacketRule, Policy};

/// What one node's change did to the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Nodes whose packet filter may differ now (send each a new `PacketFilter`). Includes the
    /// changed node itself unless it was removed. A superset: a filter listed here may turn out
    /// unchanged.
    pub filters: BTreeSet<NodeId>,
    /// Nodes that are now the changed node's peers and were not (each must be told about it,
    /// and it about them).
    pub peers_added: Vec<NodeId>,
    /// Nodes that were the changed node's peers and are not any more.
    pub peers_removed: Vec<NodeId>,
    /// The changed node's peers after the change, sorted (empty once removed). Returned
    /// because computing them is O(N) under an allow-all policy: callers need not again.
    pub peers: Vec<NodeId>,
}

impl Changes {
    /// Whether nothing changed for anyone (`peers` is a result, not a change).
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty() && self.peers_added.is_empty() && self.peers_removed.is_empty()
    }
}

/// A policy and the nodes it applies to. Give it only nodes that may appear in other nodes'
/// maps (approved ones); a node it does not know has an empty (deny-all) filter and no peers.
#[derive(Clone, Debug)]
pub struct Network {
    policy: Arc<Policy>,
    nodes: BTreeMap<NodeId, NodeInfo>,
    /// The keys of `nodes`, sorted: under a rule that reaches everyone a node's peers are all
    /// of them but itself, copied from here in one go rather than walked out of the tree.
    ids: Vec<NodeId>,
    by_user: HashMap<UserName, BTreeSet<NodeId>>,
    by_tag: HashMap<Tag, BTreeSet<NodeId>>,
    members: BTreeSet<NodeId>,
    tagged: BTreeSet<NodeId>,
    /// Nodes inside each prefix the policy names.
    by_prefix: HashMap<IpNet, BTreeSet<NodeId>>,
    /// Each source set's rendered address list, computed on first use.
    sources: Vec<OnceLock<Arc<[String]>>>,
}

impl Network {
    pub fn new(policy: Arc<Policy>, nodes: impl IntoIterator<Item = NodeInfo>) -> Self {
        let mut network = Self {
            sources: fresh_sources(&policy),
            by_prefix: policy.prefixes.iter().map(|p| (*p, BTreeSet::new())).collect(),
            policy,
            nodes: BTreeMap::new(),
            ids: Vec::new(),
            by_user: HashMap::new(),
            by_tag: HashMap::new(),
            members: BTreeSet::new(),
            tagged: BTreeSet::new(),
        };
        for node in nodes {
            network.index(&node);
            network.nodes.insert(node.id, node);
        }
        network.ids = network.nodes.keys().copied().collect();
        network
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Replaces the policy. Every node's filter and peers may change: resend them all.
    pub fn set_policy(&mut self, policy: Arc<Policy>) {
        let nodes = std::mem::take(&mut self.nodes);
        *self = Self::new(policy, nodes.into_values());
    }

    pub fn node(&self, id: NodeId) -> Option<&NodeInfo> {
        self.nodes.get(&id)
    }

    /// The nodes, by id.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds a node, or updates one (its tags or owner changed, say). Says which other nodes
    /// are affected.
    pub fn upsert(&mut self, node: NodeInfo) -> Changes {
        let id = node.id;
        if self.nodes.get(&id) == Some(&node) {
            return Changes::default();
        }
        let before = self.peers(id);
        let mut sets = Vec::new();
        match self.nodes.remove(&id) {
            Some(old) => {
                self.policy.src_index.items_for(&old, &mut sets);
                self.unindex(&old);
            }
            None => {
                let at = self.ids.partition_point(|n| *n < id);
                self.ids.insert(at, id);
            }
        }
        self.policy.src_index.items_for(&node, &mut sets);
        self.index(&node);
        self.nodes.insert(id, node);
        let mut filters = self.invalidate(sets);
        filters.insert(id);
        let after = self.peers(id);
        let (peers_added, peers_removed) = difference(&before, &after);
        Changes { filters, peers_added, peers_removed, peers: after }
    }

    /// Removes a node. Says which other nodes are affected.
    pub fn remove(&mut self, id: NodeId) -> Changes {
        let peers_removed = self.peers(id);
        let Some(old) = self.nodes.remove(&id) else { return Changes::default() };
        if let Ok(at) = self.ids.binary_search(&id) {
            self.ids.remove(at);
        }
        let mut sets = Vec::new();
        self.policy.src_index.items_for(&old, &mut sets);
        self.unindex(&old);
        let mut filters = self.invalidate(sets);
        filters.remove(&id);
        Changes { filters, peers_added: Vec::new(), peers_removed, peers: Vec::new() }
    }

    /// Node `id`'s packet filter: who may reach it, on which of its addresses and ports, one
    /// rule per policy rule that reaches it, in policy order. Empty (deny everything) for a
    /// node that nothing may reach, or that this network does not know.
    pub fn packet_filter(&self, id: NodeId) -> Vec<PacketRule> {
        let Some(node) = self.nodes.get(&id) else { return Vec::new() };
        let mut pairs = Vec::new();
        self.policy.dst_index.items_for(node, &mut pairs);
        // Rendered once per filter, cloned into each entry.
        let (v4, v6, star) = (node.ipv4.to_string(), node.ipv6.to_string(), "*".to_owned());
        let mut out = Vec::new();
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            let rule = &self.policy.rules[group[0].0 as usize];
            let src_ips = self.source_ips(rule.src);
            if src_ips.is_empty() {
                continue;
            }
            let mut dst_ports = Vec::new();
            for &(_, d) in group {
                let dst = &rule.dsts[d as usize];
                let ips: &[&String] = match self.destination_addresses(dst.set, node) {
                    Named::All => &[&star],
                    Named::Both => &[&v4, &v6],
                    Named::V4 => &[&v4],
                    Named::V6 => &[&v6],
                    Named::Neither => &[],
                };
                for ip in ips {
                    dst_ports.extend(
                        dst.ports.iter().map(|p| NetPortRange { ip: (*ip).clone(), ports: *p }),
                    );
                }
            }
            out.push(PacketRule { src_ips, dst_ports });
        }
        out
    }

    /// Every node's packet filter, by node id.
    pub fn packet_filters(&self) -> impl Iterator<Item = (NodeId, Vec<PacketRule>)> + '_ {
        self.nodes.keys().map(|id| (*id, self.packet_filter(*id)))
    }

    /// Node `id`'s peers: the nodes it may reach or that may reach it, by id.
    pub fn peers(&self, id: NodeId) -> Vec<NodeId> {
        let Some(node) = self.nodes.get(&id) else { return Vec::new() };
        let policy = &self.policy;
        let mut sets: Vec<SetId> = Vec::new();
        // Rules reaching the node: their sources.
        let mut pairs = Vec::new();
        policy.dst_index.items_for(node, &mut pairs);
        sets.extend(pairs.iter().map(|(r, _)| policy.rules[*r as usize].src));
        // Rules the node is a source of: their destinations.
        let mut sources = Vec::new();
        policy.src_index.items_for(node, &mut sources);
        for s in sources {
            for r in &policy.rules_by_src[s as usize] {
                sets.extend(policy.rules[*r as usize].dsts.iter().map(|d| d.set));
            }
        }
        sets.sort_unstable();
        sets.dedup();
        if sets.iter().any(|s| policy.sets[*s as usize].all) {
            let at = self.ids.partition_point(|n| *n < id);
            let mut peers = Vec::with_capacity(self.ids.len());
            peers.extend_from_slice(&self.ids[..at]);
            // `id` is in `nodes`, hence at `at`; checked all the same.
            let skip = usize::from(self.ids.get(at) == Some(&id));
            peers.extend_from_slice(&self.ids[at + skip..]);
            return peers;
        }
        // A vector sorted once beats a set grown one id at a time: member sets run to
        // thousands of nodes.
        let mut peers = Vec::new();
        for s in sets {
            self.add_members(s, true, &mut peers);
        }
        peers.sort_unstable();
        peers.dedup();
        peers.retain(|p| *p != id);
        peers
    }

    /// Whether `a` and `b` are peers: the same relation as [`Network::peers`], found from the
    /// rules reaching either node rather than from a peer list, so that the DERP relay can ask
    /// per packet without anyone holding N peer lists of N nodes.
    pub fn are_peers(&self, a: NodeId, b: NodeId) -> bool {
        let (Some(na), Some(nb)) = (self.nodes.get(&a), self.nodes.get(&b)) else {
            return false;
        };
        a != b && (self.reaches(na, nb) || self.reaches(nb, na))
    }

    /// Whether some rule lets `from` reach `to`.
    fn reaches(&self, from: &NodeInfo, to: &NodeInfo) -> bool {
        let mut pairs = Vec::new();
        self.policy.dst_index.items_for(to, &mut pairs);
        let sets = &self.policy.sets;
        pairs
            .iter()
            .any(|(r, _)| sets[self.policy.rules[*r as usize].src as usize].contains_node(from))
    }

    /// Set `set`'s sources as a filter lists them: `*`, or its prefixes followed by the
    /// addresses of the nodes it names, by node id.
    fn source_ips(&self, set: SetId) -> Arc<[String]> {
        let Some(cell) = self.sources.get(set as usize) else { return Arc::from([]) };
        cell.get_or_init(|| {
            let targets = &self.policy.sets[set as usize];
            if targets.all {
                return Arc::from(["*".to_owned()]);
            }
            let mut ips: Vec<String> = targets.prefixes.iter().map(prefix_text).collect();
            // Nodes inside a prefix are already covered by it.
            let mut nodes = Vec::new();
            self.add_members(set, false, &mut nodes);
            nodes.sort_unstable();
            nodes.dedup();
            for id in nodes {
                if let Some(n) = self.nodes.get(&id) {
                    ips.push(n.ipv4.to_string());
                    ips.push(n.ipv6.to_string());
                }
            }
            ips.into()
        })
        .clone()
    }

    /// Which addresses of `node` destination set `set` names: `*` for `*`, both for an
    /// identity match, else those inside the set's prefixes.
    fn destination_addresses(&self, set: SetId, node: &NodeInfo) -> Named {
        let targets = &self.policy.sets[set as usize];
        if targets.all {
            return Named::All;
        }
        if targets.names_identity(&node.identity) {
            return Named::Both;
        }
        let (v4, v6) = (IpAddr::V4(node.ipv4), IpAddr::V6(node.ipv6));
        let v4 = targets.prefixes.iter().any(|p| p.contains(&v4));
        let v6 = targets.prefixes.iter().any(|p| p.contains(&v6));
        match (v4, v6) {
            (true, true) => Named::Both,
            (true, false) => Named::V4,
            (false, true) => Named::V6,
            (false, false) => Named::Neither,
        }
    }

    /// Adds the nodes of set `set` to `out`: by identity, and with `with_prefixes` also those
    /// inside its prefixes. (`*` is handled by the callers.)
    fn add_members(&self, set: SetId, with_prefixes: bool, out: &mut impl Extend<NodeId>) {
        let targets = &self.policy.sets[set as usize];
        if targets.members {
            out.extend(self.members.iter().copied());
        }
        if targets.tagged {
            out.extend(self.tagged.iter().copied());
        }
        for u in &targets.users {
            out.extend(self.by_user.get(u).into_iter().flatten().copied());
        }
        for t in &targets.tags {
            out.extend(self.by_tag.get(t).into_iter().flatten().copied());
        }
        if with_prefixes {
            for p in &targets.prefixes {
                out.extend(self.by_prefix.get(p).into_iter().flatten().copied());
            }
        }
    }

    /// Clears the cached source lists of `sets` (source sets a node joined or left) and
    /// returns the nodes whose filters list them: the destinations of their rules.
    fn invalidate(&mut self, mut sets: Vec<SetId>) -> BTreeSet<NodeId> {
        sets.sort_unstable();
        sets.dedup();
        let mut affected = Vec::new();
        for s in sets {
            // `*` is written as `*` whoever joins.
            if self.policy.sets[s as usize].all {
                continue;
            }
            if let Some(cell) = self.sources.get_mut(s as usize) {
                cell.take();
            }
            let policy = Arc::clone(&self.policy);
            for r in &policy.rules_by_src[s as usize] {
                for dst in &policy.rules[*r as usize].dsts {
                    if policy.sets[dst.set as usize].all {
                        affected.extend(self.nodes.keys().copied());
                    } else {
                        self.add_members(dst.set, true, &mut affected);
                    }
                }
            }
        }
        affected.sort_unstable();
        affected.into_iter().collect()
    }

    fn index(&mut self, node: &NodeInfo) {
        match &node.identity {
            NodeIdentity::User(u) => {
                self.members.insert(node.id);
                self.by_user.entry(u.clone()).or_default().insert(node.id);
            }
            NodeIdentity::Tags(tags) => {
                self.tagged.insert(node.id);
                for t in tags.iter() {
                    self.by_tag.entry(t.clone()).or_default().insert(node.id);
                }
            }
        }
        let (v4, v6) = (IpAddr::V4(node.ipv4), IpAddr::V6(node.ipv6));
        for (prefix, ids) in &mut self.by_prefix {
            if prefix.contains(&v4) || prefix.contains(&v6) {
                ids.insert(node.id);
            }
        }
    }

    fn unindex(&mut self, node: &NodeInfo) {
        match &node.identity {
            NodeIdentity::User(u) => {
                self.members.remove(&node.id);
                if let Some(ids) = self.by_user.get_mut(u) {
                    ids.remove(&node.id);
                }
            }
            NodeIdentity::Tags(tags) => {
                self.tagged.remove(&node.id);
                for t in tags.iter() {
                    if let Some(ids) = self.by_tag.get_mut(t) {
                        ids.remove(&node.id);
                    }
                }
            }
        }
        for ids in self.by_prefix.values_mut() {
            ids.remove(&node.id);
        }
    }
}

/// Which of a node's addresses a destination names.
enum Named {
    /// `*`: written as the address `*`.
    All,
    Both,
    V4,
    V6,
    Neither,
}

fn fresh_sources(policy: &Policy) -> Vec<OnceLock<Arc<[String]>>> {
    (0..policy.sets.len()).map(|_| OnceLock::new()).collect()
}

/// A prefix as filters write it: a bare address for a single host.
fn prefix_text(prefix: &IpNet) -> String {
    if prefix.prefix_len() == prefix.max_prefix_len() {
        prefix.addr().to_string()
    } else {
        prefix.to_string()
    }
}

/// (in `after` only, in `before` only), both sorted.
fn difference(before: &[NodeId], after: &[NodeId]) -> (Vec<NodeId>, Vec<NodeId>) {
    let added = after.iter().filter(|n| before.binary_search(n).is_err()).copied().collect();
    let removed = before.iter().filter(|n| after.binary_search(n).is_err()).copied().collect();
    (added, removed)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use keygate_domain::TagSet;

    use super::*;

    const POLICY: &str = r#"{
      "groups": {"group:a": ["u1", "u2"], "group:b": ["u3"]},
      "tagOwners": {"tag:x": [], "tag:y": [], "tag:z": []},
      "hosts": {"low": "100.64.0.0/29", "six": "fd7a:115c:a1e0::9"},
      "acls": [
        {"action": "accept", "src": ["group:a"], "dst": ["tag:x:1", "u3:2"]},
        {"action": "accept", "src": ["tag:x", "u4"], "dst": ["tag:y:3", "low:4"]},
        {"action": "accept", "src": ["autogroup:tagged"], "dst": ["group:b:5"]},
        {"action": "accept", "src": ["low"], "dst": ["autogroup:member:6"]},
        {"action": "accept", "src": ["six", "tag:z"], "dst": ["tag:z:7", "six:8"]},
        {"action": "accept", "src": ["u5"], "dst": ["*:9"]},
      ],
    }"#;

    fn nodes() -> Vec<NodeInfo> {
        let owners = ["u1", "u2", "u3", "u4", "u5", "tag:x", "tag:y", "tag:x,tag:z", "tag:z", "u1"];
        owners
            .iter()
            .enumerate()
            .map(|(i, owner)| {
                let n = u8::try_from(i + 1).unwrap();
                let identity = if owner.starts_with("tag:") {
                    NodeIdentity::Tags(TagSet::parse_list(owner).unwrap())
                } else {
                    NodeIdentity::User(UserName::parse(owner).unwrap())
                };
                NodeInfo {
                    id: NodeId(i64::from(n)),
                    identity,
                    ipv4: Ipv4Addr::new(100, 64, 0, n),
                    ipv6: Ipv6Addr::new(0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 0, u16::from(n)),
                }
            })
            .collect()
    }

    /// Whether rule `r` lets `a` reach `b`, by testing every target set directly.
    fn reaches(policy: &Policy, r: usize, a: &NodeInfo, b: &NodeInfo) -> bool {
        let rule = &policy.rules[r];
        policy.sets[rule.src as usize].contains_node(a)
            && rule.dsts.iter().any(|d| policy.sets[d.set as usize].contains_node(b))
    }

    #[test]
    fn a_network_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Network>();
        shareable::<Policy>();
    }

    #[test]
    fn the_indexes_agree_with_testing_every_rule() {
        let policy = Arc::new(Policy::parse(POLICY).unwrap());
        let nodes = nodes();
        let network = Network::new(policy.clone(), nodes.clone());
        for b in &nodes {
            let naive_peers: Vec<NodeId> = nodes
                .iter()
                .filter(|a| a.id != b.id)
                .filter(|a| {
                    (0..policy.rules.len())
                        .any(|r| reaches(&policy, r, a, b) || reaches(&policy, r, b, a))
                })
                .map(|a| a.id)
                .collect();
            assert_eq!(network.peers(b.id), naive_peers, "peers of {}", b.id);
            for a in &nodes {
                let naive = naive_peers.contains(&a.id);
                assert_eq!(network.are_peers(a.id, b.id), naive, "{} and {}", a.id, b.id);
            }
            assert!(!network.are_peers(b.id, NodeId(99)), "an unknown node is no one's peer");

            // Each rule reaching b, with its sources among the nodes.
            let naive_rules: Vec<BTreeSet<String>> = (0..policy.rules.len())
                .filter(|r| {
                    let rule = &policy.rules[*r];
                    rule.dsts.iter().any(|d| policy.sets[d.set as usize].contains_node(b))
                })
                .map(|r| network.source_ips(policy.rules[r].src).iter().cloned().collect())
                .filter(|s: &BTreeSet<String>| !s.is_empty())
                .collect();
            let found: Vec<BTreeSet<String>> = network
                .packet_filter(b.id)
                .iter()
                .map(|rule| rule.src_ips.iter().cloned().collect())
                .collect();
            assert_eq!(found, naive_rules, "filter of {}", b.id);
        }
    }

    #[test]
    fn everyone_sees_everyone_else_under_allow_all_as_nodes_come_and_go() {
        let policy = Arc::new(
            Policy::parse(r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}"#)
                .unwrap(),
        );
        let all = nodes();
        let mut network = Network::new(policy, all[2..5].to_vec());
        // Out of order, an update that is not a join, then a removal from the middle.
        for n in [&all[7], &all[0], &all[5], &all[3]] {
            network.upsert(n.clone());
        }
        let changes = network.remove(NodeId(5));
        assert_eq!(changes.peers_removed, ids(&[1, 3, 4, 6, 8]));
        let changes = network.upsert(all[1].clone());
        assert_eq!(changes.peers, ids(&[1, 3, 4, 6, 8]));
        assert_eq!(changes.peers_added, changes.peers);
        assert_eq!(network.peers(NodeId(1)), ids(&[2, 3, 4, 6, 8]));
        assert_eq!(network.peers(NodeId(8)), ids(&[1, 2, 3, 4, 6]));
        assert_eq!(network.peers(NodeId(5)), ids(&[]), "a removed node has no peers");
    }

    fn ids(ids: &[i64]) -> Vec<NodeId> {
        ids.iter().map(|i| NodeId(*i)).collect()
    }
}
