//! [`Targets`]: a resolved set of sources or destinations, and [`SelectorIndex`], which finds
//! the targets a node belongs to without testing every one.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use keygate_domain::{Tag, TagSet, UserName};

use crate::alias::Alias;
use crate::node::{NodeIdentity, NodeInfo};

/// A set of nodes and addresses, as selectors: groups are expanded to their users and hosts to
/// their prefixes, so two spellings of the same set compare equal (and are interned once).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Targets {
    /// `*`: every node and every address.
    pub(crate) all: bool,
    /// `autogroup:member`: every user-owned node.
    pub(crate) members: bool,
    /// `autogroup:tagged`: every tagged node.
    pub(crate) tagged: bool,
    pub(crate) users: BTreeSet<UserName>,
    pub(crate) tags: BTreeSet<Tag>,
    pub(crate) prefixes: BTreeSet<IpNet>,
}

/// Who or what a `tests` assertion talks about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A node of this user.
    User(UserName),
    /// A node with these tags.
    Tags(TagSet),
    /// This address.
    Ip(IpAddr),
}

impl Targets {
    /// Adds what `alias` names; `groups` expands group names.
    pub(crate) fn add(&mut self, alias: &Alias, groups: &HashMap<String, Vec<UserName>>) {
        match alias {
            Alias::All => self.all = true,
            Alias::User(u) => {
                self.users.insert(u.clone());
            }
            Alias::Group(g) => self.users.extend(groups.get(g).into_iter().flatten().cloned()),
            Alias::Tag(t) => {
                self.tags.insert(t.clone());
            }
            Alias::Member => self.members = true,
            Alias::Tagged => self.tagged = true,
            Alias::Prefix(p) => {
                self.prefixes.insert(*p);
            }
        }
    }

    /// Whether node `node` is in the set, by identity or by one of its addresses: what
    /// [`SelectorIndex::items_for`] answers for many sets at once (the tests compare the two).
    pub(crate) fn contains_node(&self, node: &NodeInfo) -> bool {
        self.all
            || self.names_identity(&node.identity)
            || self.prefixes.iter().any(|p| p.contains(&IpAddr::V4(node.ipv4)))
            || self.prefixes.iter().any(|p| p.contains(&IpAddr::V6(node.ipv6)))
    }

    /// Whether the set names nodes of this identity (not counting `*` or addresses).
    pub(crate) fn names_identity(&self, identity: &NodeIdentity) -> bool {
        match identity {
            NodeIdentity::User(u) => self.has_user(u),
            NodeIdentity::Tags(t) => self.has_tags(t),
        }
    }

    /// Whether a node of user `u` is in the set by identity (not by address).
    fn has_user(&self, u: &UserName) -> bool {
        self.members || self.users.contains(u)
    }

    /// Whether a node tagged `tags` is in the set by identity (not by address).
    fn has_tags(&self, tags: &TagSet) -> bool {
        self.tagged || tags.iter().any(|t| self.tags.contains(t))
    }

    /// Whether `endpoint` is in the set. Addresses match only prefixes, identities only
    /// identities: a test cannot know which addresses a user's nodes will have.
    pub(crate) fn contains_endpoint(&self, endpoint: &Endpoint) -> bool {
        self.all
            || match endpoint {
                Endpoint::User(u) => self.has_user(u),
                Endpoint::Tags(t) => self.has_tags(t),
                Endpoint::Ip(ip) => self.prefixes.iter().any(|p| p.contains(ip)),
            }
    }
}

/// Items (rules' destinations, source sets) filed under the selectors of their [`Targets`], so
/// that the items a node belongs to are found by looking up the node's user, tags and
/// addresses: the cost follows the number of matching items, not the size of the policy.
/// Prefixes are few in practice and are scanned.
#[derive(Debug)]
pub(crate) struct SelectorIndex<T> {
    all: Vec<T>,
    members: Vec<T>,
    tagged: Vec<T>,
    users: HashMap<UserName, Vec<T>>,
    tags: HashMap<Tag, Vec<T>>,
    prefixes: Vec<(IpNet, T)>,
}

impl<T> Default for SelectorIndex<T> {
    fn default() -> Self {
        Self {
            all: Vec::new(),
            members: Vec::new(),
            tagged: Vec::new(),
            users: HashMap::new(),
            tags: HashMap::new(),
            prefixes: Vec::new(),
        }
    }
}

impl<T: Copy + Ord> SelectorIndex<T> {
    /// Files `item` under every selector of `targets`.
    pub(crate) fn add(&mut self, targets: &Targets, item: T) {
        if targets.all {
            self.all.push(item);
        }
        if targets.members {
            self.members.push(item);
        }
        if targets.tagged {
            self.tagged.push(item);
        }
        for u in &targets.users {
            self.users.entry(u.clone()).or_default().push(item);
        }
        for t in &targets.tags {
            self.tags.entry(t.clone()).or_default().push(item);
        }
        for p in &targets.prefixes {
            self.prefixes.push((*p, item));
        }
    }

    /// Appends to `out` every item whose targets contain `node`, sorted and without repeats.
    pub(crate) fn items_for(&self, node: &NodeInfo, out: &mut Vec<T>) {
        let start = out.len();
        out.extend_from_slice(&self.all);
        match &node.identity {
            NodeIdentity::User(u) => {
                out.extend_from_slice(&self.members);
                if let Some(items) = self.users.get(u) {
                    out.extend_from_slice(items);
                }
            }
            NodeIdentity::Tags(tags) => {
                out.extend_from_slice(&self.tagged);
                for t in tags.iter() {
                    if let Some(items) = self.tags.get(t) {
                        out.extend_from_slice(items);
                    }
                }
            }
        }
        let (v4, v6) = (IpAddr::V4(node.ipv4), IpAddr::V6(node.ipv6));
        for (prefix, item) in &self.prefixes {
            if prefix.contains(&v4) || prefix.contains(&v6) {
                out.push(*item);
            }
        }
        out[start..].sort_unstable();
        let mut unique = start;
        for i in start..out.len() {
            if unique == start || out[i] != out[unique - 1] {
                out[unique] = out[i];
                unique += 1;
            }
        }
        out.truncate(unique);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use keygate_domain::NodeId;

    use super::*;

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    fn tags(list: &str) -> TagSet {
        TagSet::parse_list(list).unwrap()
    }

    fn node(identity: NodeIdentity, last: u8) -> NodeInfo {
        NodeInfo {
            id: NodeId(i64::from(last)),
            identity,
            ipv4: Ipv4Addr::new(100, 64, 0, last),
            ipv6: Ipv6Addr::new(0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 0, u16::from(last)),
        }
    }

    #[test]
    fn tagged_nodes_are_not_their_creators() {
        let t = Targets { users: BTreeSet::from([user("alice")]), ..Targets::default() };
        assert!(t.contains_node(&node(NodeIdentity::User(user("alice")), 1)));
        assert!(!t.contains_node(&node(NodeIdentity::Tags(tags("tag:web")), 2)));
        let members = Targets { members: true, ..Targets::default() };
        assert!(!members.contains_node(&node(NodeIdentity::Tags(tags("tag:web")), 2)));
        let tagged = Targets { tagged: true, ..Targets::default() };
        assert!(tagged.contains_node(&node(NodeIdentity::Tags(tags("tag:web")), 2)));
    }

    #[test]
    fn prefixes_match_either_address() {
        let v6 = Targets {
            prefixes: BTreeSet::from(["fd7a:115c:a1e0::3/128".parse().unwrap()]),
            ..Targets::default()
        };
        assert!(v6.contains_node(&node(NodeIdentity::User(user("bob")), 3)));
        assert!(!v6.contains_node(&node(NodeIdentity::User(user("bob")), 4)));
    }

    #[test]
    fn the_index_finds_exactly_the_items_a_node_is_in() {
        let mut index = SelectorIndex::default();
        let web = Targets {
            tags: BTreeSet::from([Tag::parse("tag:web").unwrap()]),
            ..Targets::default()
        };
        let alice = Targets { users: BTreeSet::from([user("alice")]), ..Targets::default() };
        let all = Targets { all: true, ..Targets::default() };
        let net = Targets {
            prefixes: BTreeSet::from(["100.64.0.0/24".parse().unwrap()]),
            tagged: true,
            ..Targets::default()
        };
        for (i, t) in [&web, &alice, &all, &net].into_iter().enumerate() {
            index.add(t, i);
        }
        let mut out = Vec::new();
        index.items_for(&node(NodeIdentity::Tags(tags("tag:web,tag:db")), 1), &mut out);
        assert_eq!(out, vec![0, 2, 3], "net matched twice (tagged and prefix) but is listed once");
        out.clear();
        index.items_for(&node(NodeIdentity::User(user("alice")), 1), &mut out);
        assert_eq!(out, vec![1, 2, 3]);
    }
}
