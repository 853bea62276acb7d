//! Packet filters and peers of nodes: tagged and untagged nodes, groups, ports, autogroups,
//! hosts, CIDRs and `*`.

use std::sync::Arc;

use keygate_domain::NodeId;
use keygate_policy::{to_tailcfg, Network, NodeInfo, PacketRule, Policy, DEFAULT_POLICY};
use keygate_tailcfg::{NetPortRange, PortRange};
use serde_json::json;

use crate::support::{node, parse, v4, v6};

fn network(policy: &str, nodes: Vec<NodeInfo>) -> Network {
    Network::new(Arc::new(parse(policy)), nodes)
}

/// A policy with `tag:web`, `tag:db` and `tag:ci` defined, `group:eng` = alice and bob,
/// host `nas` = node 5's IPv4, and `acls` as given.
fn policy(acls: &str) -> String {
    format!(
        r#"{{
  "groups": {{"group:eng": ["alice", "bob"]}},
  "tagOwners": {{"tag:web": ["alice"], "tag:db": ["alice"], "tag:ci": ["alice"]}},
  "hosts": {{"nas": "100.64.0.5", "nas6": "fd7a:115c:a1e0::5", "lan": "192.168.1.0/24"}},
  "acls": [{acls}],
}}"#
    )
}

/// Node 1, 2: alice; 3: bob; 4: carol; 5: dave (the `nas` host); 6: tag:web; 7: tag:db,tag:ci.
fn nodes() -> Vec<NodeInfo> {
    vec![
        node(1, "alice"),
        node(2, "alice"),
        node(3, "bob"),
        node(4, "carol"),
        node(5, "dave"),
        node(6, "tag:web"),
        node(7, "tag:db,tag:ci"),
    ]
}

/// The source list of nodes `ids`, as a filter writes it.
fn srcs(ids: &[u8]) -> Vec<String> {
    ids.iter().flat_map(|id| [v4(*id).to_string(), v6(*id).to_string()]).collect()
}

/// Destination entries: node `id`'s two addresses with each of `ports`.
fn dsts(id: u8, ports: &[(u16, u16)]) -> Vec<NetPortRange> {
    [v4(id).to_string(), v6(id).to_string()]
        .into_iter()
        .flat_map(|ip| {
            ports.iter().map(move |&(first, last)| NetPortRange {
                ip: ip.clone(),
                ports: PortRange { first, last },
            })
        })
        .collect()
}

fn rule(src: Vec<String>, dst_ports: Vec<NetPortRange>) -> PacketRule {
    PacketRule { src_ips: src.into(), dst_ports }
}

fn id(n: i64) -> NodeId {
    NodeId(n)
}

fn peers(net: &Network, n: i64) -> Vec<i64> {
    net.peers(id(n)).into_iter().map(|p| p.0).collect()
}

#[test]
fn the_default_policy_gives_tailscales_allow_all_filter_and_everyone_as_peers() {
    let net = Network::new(Arc::new(Policy::parse(DEFAULT_POLICY).unwrap()), nodes());
    for n in 1..=7 {
        assert_eq!(to_tailcfg(&net.packet_filter(id(n))), keygate_tailcfg::allow_all(), "node {n}");
        assert_eq!(peers(&net, n).len(), 6);
    }
}

#[test]
fn a_user_reaches_a_tag_and_the_tagged_node_is_not_its_creators() {
    let net = network(
        &policy(r#"{"action": "accept", "src": ["alice"], "dst": ["tag:web:443"]}"#),
        nodes(),
    );
    assert_eq!(net.packet_filter(id(6)), vec![rule(srcs(&[1, 2]), dsts(6, &[(443, 443)]))]);
    for n in [1, 2, 3, 7] {
        assert_eq!(net.packet_filter(id(n)), vec![], "nothing reaches node {n}");
    }
    assert_eq!(peers(&net, 6), vec![1, 2]);
    assert_eq!(peers(&net, 1), vec![6], "a rule one way makes peers both ways");
    assert_eq!(peers(&net, 7), Vec::<i64>::new());
}

#[test]
fn tags_reach_tags_and_a_node_with_two_tags_matches_either() {
    let net = network(
        &policy(r#"{"action": "accept", "src": ["tag:web"], "dst": ["tag:ci:8000-8999"]}"#),
        nodes(),
    );
    assert_eq!(net.packet_filter(id(7)), vec![rule(srcs(&[6]), dsts(7, &[(8000, 8999)]))]);
    assert_eq!(peers(&net, 7), vec![6]);
}

#[test]
fn groups_expand_to_their_members_nodes() {
    let net = network(
        &policy(r#"{"action": "accept", "src": ["group:eng"], "dst": ["tag:db:5432"]}"#),
        nodes(),
    );
    assert_eq!(net.packet_filter(id(7)), vec![rule(srcs(&[1, 2, 3]), dsts(7, &[(5432, 5432)]))]);
    let net = network(
        &policy(r#"{"action": "accept", "src": ["tag:ci"], "dst": ["group:eng:22"]}"#),
        nodes(),
    );
    for n in [1, 2, 3] {
        assert_eq!(net.packet_filter(id(n)), vec![rule(srcs(&[7]), dsts(n as u8, &[(22, 22)]))]);
    }
    assert_eq!(net.packet_filter(id(4)), vec![]);
}

#[test]
fn every_port_form_becomes_ranges_on_both_addresses() {
    let net = network(
        &policy(
            r#"{"action": "accept", "src": ["bob"], "dst": ["carol:22,80,1000-2000", "carol:*"]}"#,
        ),
        nodes(),
    );
    let mut expected = dsts(4, &[(22, 22), (80, 80), (1000, 2000)]);
    expected.extend(dsts(4, &[(0, 65535)]));
    assert_eq!(
        net.packet_filter(id(4)),
        vec![rule(srcs(&[3]), expected)],
        "one rule, its destinations merged"
    );
}

#[test]
fn autogroups_split_tagged_from_untagged_nodes() {
    let net = network(
        &policy(
            r#"{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:tagged:22"]},
               {"action": "accept", "src": ["autogroup:tagged"], "dst": ["autogroup:member:80"]}"#,
        ),
        nodes(),
    );
    assert_eq!(net.packet_filter(id(6)), vec![rule(srcs(&[1, 2, 3, 4, 5]), dsts(6, &[(22, 22)]))]);
    assert_eq!(net.packet_filter(id(1)), vec![rule(srcs(&[6, 7]), dsts(1, &[(80, 80)]))]);
    assert_eq!(peers(&net, 1), vec![6, 7], "members do not see members");
    assert_eq!(peers(&net, 6), vec![1, 2, 3, 4, 5]);
}

#[test]
fn hosts_and_addresses_as_destinations_give_only_the_matching_address() {
    let net = network(
        &policy(
            r#"{"action": "accept", "src": ["carol"], "dst": ["nas:445", "nas6:139", "100.64.0.6:80", "100.64.0.0/30:9"]}"#,
        ),
        nodes(),
    );
    let one =
        |ip: String, port: u16| NetPortRange { ip, ports: PortRange { first: port, last: port } };
    assert_eq!(
        net.packet_filter(id(5)),
        vec![rule(srcs(&[4]), vec![one(v4(5).to_string(), 445), one(v6(5).to_string(), 139)])]
    );
    assert_eq!(net.packet_filter(id(6)), vec![rule(srcs(&[4]), vec![one(v4(6).to_string(), 80)])]);
    // 100.64.0.0/30 holds .1, .2 and .3.
    for n in 1..=3u8 {
        assert_eq!(
            net.packet_filter(id(i64::from(n))),
            vec![rule(srcs(&[4]), vec![one(v4(n).to_string(), 9)])]
        );
    }
    assert_eq!(peers(&net, 4), vec![1, 2, 3, 5, 6]);
}

#[test]
fn hosts_and_cidrs_as_sources_are_written_as_prefixes() {
    let net = network(
        &policy(
            r#"{"action": "accept", "src": ["lan", "100.64.0.0/30", "nas", "fd7a:115c:a1e0::/48"], "dst": ["tag:web:443"]}"#,
        ),
        nodes(),
    );
    let expected = ["100.64.0.0/30", "100.64.0.5", "192.168.1.0/24", "fd7a:115c:a1e0::/48"];
    let filter = net.packet_filter(id(6));
    assert_eq!(filter.len(), 1);
    assert_eq!(filter[0].src_ips.iter().map(String::as_str).collect::<Vec<_>>(), expected);
    // Every node is inside fd7a:115c:a1e0::/48, so all may reach the web node.
    assert_eq!(peers(&net, 6), vec![1, 2, 3, 4, 5, 7]);
}

#[test]
fn star_sources_and_destinations_are_written_as_star() {
    let net = network(
        &policy(
            r#"{"action": "accept", "src": ["*"], "dst": ["tag:db:5432"]},
                   {"action": "accept", "src": ["tag:db"], "dst": ["*:53"]}"#,
        ),
        nodes(),
    );
    assert_eq!(
        net.packet_filter(id(7)),
        vec![
            rule(vec!["*".into()], dsts(7, &[(5432, 5432)])),
            rule(
                srcs(&[7]),
                vec![NetPortRange { ip: "*".into(), ports: PortRange { first: 53, last: 53 } }]
            ),
        ]
    );
    assert_eq!(
        net.packet_filter(id(1)),
        vec![rule(
            srcs(&[7]),
            vec![NetPortRange { ip: "*".into(), ports: PortRange { first: 53, last: 53 } }]
        )]
    );
    assert_eq!(peers(&net, 7), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(peers(&net, 1), vec![7]);
}

#[test]
fn a_rule_whose_sources_match_no_node_is_left_out() {
    let net = network(
        &policy(r#"{"action": "accept", "src": ["nobody"], "dst": ["tag:web:1"]}"#),
        nodes(),
    );
    assert_eq!(net.packet_filter(id(6)), vec![]);
    assert_eq!(net.packet_filter(id(99)), vec![], "unknown nodes are denied everything");
    assert!(net.peers(id(99)).is_empty());
}

#[test]
fn filters_convert_to_the_wire_form() {
    let net =
        network(&policy(r#"{"action": "accept", "src": ["bob"], "dst": ["carol:22"]}"#), nodes());
    let wire = serde_json::to_value(to_tailcfg(&net.packet_filter(id(4)))).unwrap();
    assert_eq!(
        wire,
        json!([{
            "SrcIPs": ["100.64.0.3", "fd7a:115c:a1e0::3"],
            "DstPorts": [
                {"IP": "100.64.0.4", "Ports": {"First": 22, "Last": 22}},
                {"IP": "fd7a:115c:a1e0::4", "Ports": {"First": 22, "Last": 22}},
            ],
        }])
    );
}

#[test]
fn source_lists_are_shared_between_nodes() {
    let net = network(
        &policy(r#"{"action": "accept", "src": ["group:eng"], "dst": ["tag:web:1", "tag:db:2"]}"#),
        nodes(),
    );
    let web = net.packet_filter(id(6));
    let db = net.packet_filter(id(7));
    assert!(Arc::ptr_eq(&web[0].src_ips, &db[0].src_ips));
}
