//! Updating a network one node at a time gives what rebuilding it would, and says whom each
//! change affects.

use std::collections::BTreeMap;
use std::sync::Arc;

use keygate_domain::NodeId;
use keygate_policy::{Changes, Network, NodeInfo, PacketRule};

use crate::support::{node, parse};

const POLICY: &str = r#"{
  "groups": {"group:eng": ["alice", "bob"]},
  "tagOwners": {"tag:web": ["alice"], "tag:db": ["alice"]},
  "hosts": {"low": "100.64.0.0/29"},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:web:443"]},
    {"action": "accept", "src": ["tag:web"], "dst": ["tag:db:5432"]},
    {"action": "accept", "src": ["carol"], "dst": ["low:22"]},
    {"action": "accept", "src": ["autogroup:tagged"], "dst": ["dave:80"]},
  ],
}"#;

fn network(nodes: Vec<NodeInfo>) -> Network {
    Network::new(Arc::new(parse(POLICY)), nodes)
}

fn ids(list: &[i64]) -> Vec<NodeId> {
    list.iter().copied().map(NodeId).collect()
}

/// Every node's filter and peers.
fn state(net: &Network) -> BTreeMap<NodeId, (Vec<PacketRule>, Vec<NodeId>)> {
    net.nodes().map(|n| (n.id, (net.packet_filter(n.id), net.peers(n.id)))).collect()
}

/// Asserts that `net` answers exactly as a network built from scratch with its nodes.
#[track_caller]
fn assert_same_as_rebuilt(net: &Network) {
    let rebuilt = Network::new(net.policy().clone(), net.nodes().cloned());
    assert_eq!(state(net), state(&rebuilt));
}

/// Asserts that every node whose filter changed between `before` and `after` is listed in
/// `changes.filters`, and that the peer changes of `who` are exactly as reported.
#[track_caller]
fn assert_changes_cover(
    before: &BTreeMap<NodeId, (Vec<PacketRule>, Vec<NodeId>)>,
    after: &BTreeMap<NodeId, (Vec<PacketRule>, Vec<NodeId>)>,
    who: NodeId,
    changes: &Changes,
) {
    for (id, (filter, _)) in after {
        if before.get(id).map(|(f, _)| f) != Some(filter) {
            assert!(
                changes.filters.contains(id),
                "node {id}'s filter changed unreported: {changes:?}"
            );
        }
    }
    let old: Vec<NodeId> = before.get(&who).map(|(_, p)| p.clone()).unwrap_or_default();
    let new: Vec<NodeId> = after.get(&who).map(|(_, p)| p.clone()).unwrap_or_default();
    let added: Vec<NodeId> = new.iter().filter(|p| !old.contains(p)).copied().collect();
    let removed: Vec<NodeId> = old.iter().filter(|p| !new.contains(p)).copied().collect();
    assert_eq!((&changes.peers_added, &changes.peers_removed), (&added, &removed));
}

#[test]
fn a_joining_node_reports_its_peers_and_the_filters_that_now_list_it() {
    let mut net = network(vec![node(1, "alice"), node(2, "tag:web"), node(3, "tag:db")]);
    let before = state(&net);
    let changes = net.upsert(node(4, "bob"));
    assert_eq!(changes.peers_added, ids(&[2]), "bob reaches the web node");
    assert!(changes.filters.contains(&NodeId(2)), "the web node's filter now lists bob");
    assert!(changes.filters.contains(&NodeId(4)));
    assert!(!changes.filters.contains(&NodeId(3)));
    assert_changes_cover(&before, &state(&net), NodeId(4), &changes);
    assert_same_as_rebuilt(&net);
}

#[test]
fn retagging_a_node_moves_it_between_peer_sets() {
    let mut net =
        network(vec![node(1, "alice"), node(2, "tag:web"), node(3, "tag:db"), node(4, "dave")]);
    let before = state(&net);
    // Node 1 was alice's (reaching tag:web); tagged tag:web it reaches tag:db and dave instead.
    let changes = net.upsert(node(1, "tag:web"));
    assert_eq!(changes.peers_added, ids(&[3, 4]));
    assert_eq!(changes.peers_removed, ids(&[2]));
    assert_changes_cover(&before, &state(&net), NodeId(1), &changes);
    assert_same_as_rebuilt(&net);
}

#[test]
fn a_leaving_node_reports_its_former_peers() {
    let mut net = network(vec![node(1, "alice"), node(2, "tag:web"), node(3, "tag:db")]);
    let before = state(&net);
    let changes = net.remove(NodeId(2));
    assert_eq!(changes.peers_removed, ids(&[1, 3]));
    assert!(
        changes.filters.contains(&NodeId(3)),
        "the db node's filter no longer lists the web node"
    );
    assert!(!changes.filters.contains(&NodeId(2)));
    assert_changes_cover(&before, &state(&net), NodeId(2), &changes);
    assert_same_as_rebuilt(&net);
    assert_eq!(net.remove(NodeId(2)), Changes::default(), "removing twice changes nothing");
}

#[test]
fn an_unchanged_node_changes_nothing() {
    let mut net = network(vec![node(1, "alice"), node(2, "tag:web")]);
    assert!(net.upsert(node(2, "tag:web")).is_empty());
}

#[test]
fn a_new_policy_replaces_every_filter() {
    let mut net = network(vec![node(1, "alice"), node(2, "tag:web")]);
    assert_eq!(net.peers(NodeId(1)), ids(&[2]));
    net.set_policy(Arc::new(parse("{}")));
    assert!(net.peers(NodeId(1)).is_empty());
    assert!(net.packet_filter(NodeId(2)).is_empty());
    assert_eq!(net.len(), 2);
}

/// A long, deterministic sequence of joins, retags and departures; after each step the
/// network equals a rebuilt one and the reported changes cover what changed.
#[test]
fn random_changes_keep_the_network_equal_to_a_rebuilt_one() {
    let owners = ["alice", "bob", "carol", "dave", "erin", "tag:web", "tag:db", "tag:web,tag:db"];
    let mut net = network(Vec::new());
    let mut seed: u64 = 42;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    for _ in 0..300 {
        let id = u8::try_from(1 + next(12)).unwrap();
        let before = state(&net);
        let changes = if next(4) == 0 {
            net.remove(NodeId(i64::from(id)))
        } else {
            let owner = owners[usize::try_from(next(owners.len() as u64)).unwrap()];
            net.upsert(node(id, owner))
        };
        assert_changes_cover(&before, &state(&net), NodeId(i64::from(id)), &changes);
        assert_same_as_rebuilt(&net);
    }
}
