//! The ACL policy on the wire: each node's first map carries its own packet filter and only
//! the peers the policy lets it see, and a new policy reaches connected nodes at once.

use keygate_node::MapStream;
use keygate_service::{Actor, NewKeyRequest};
use keygate_tailcfg::{FilterRule, MapResponse, Node};

use crate::helpers::*;

/// Only `tag:web` may reach `tag:db`, on 5432; any member may apply either tag.
const WEB_TO_DB: &str = r#"{
  "tagOwners": {"tag:web": ["autogroup:member"], "tag:db": ["autogroup:member"]},
  "acls": [{"action": "accept", "src": ["tag:web"], "dst": ["tag:db:5432"]}],
}"#;

/// The same, and members may reach the databases too.
const MEMBERS_TOO: &str = r#"{
  "tagOwners": {"tag:web": ["autogroup:member"], "tag:db": ["autogroup:member"]},
  "acls": [{"action": "accept", "src": ["tag:web", "autogroup:member"], "dst": ["tag:db:5432"]}],
}"#;

async fn tagged_key(server: &TestServer, tag: &str) -> String {
    server.key(NewKeyRequest { tags: vec![tag.to_owned()], ..Default::default() }).await
}

fn addresses(node: &Node) -> Vec<String> {
    node.addresses.iter().map(|a| a.addr().to_string()).collect()
}

/// One rule as `(sources, [(destination, first port, last port)])`.
type Rule = (Vec<String>, Vec<(String, u16, u16)>);

/// Each rule of a filter.
fn rules(filter: &[FilterRule]) -> Vec<Rule> {
    filter
        .iter()
        .map(|r| {
            let dsts = r.dst_ports.iter().map(|d| (d.ip.clone(), d.ports.first, d.ports.last));
            (r.src_ips.clone(), dsts.collect())
        })
        .collect()
}

fn peer_names(map: &MapResponse) -> Vec<String> {
    map.peers.as_ref().expect("a full peer list").iter().map(|p| p.name.clone()).collect()
}

/// The next message that carries a packet filter.
async fn next_filter(stream: &mut MapStream) -> MapResponse {
    loop {
        let message = stream.next_update().await;
        if message.packet_filter.is_some() {
            return message;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_map_carries_the_policys_filter_and_a_new_policy_is_pushed() {
    let server = TestServer::start().await;
    server.tailnet.set_policy(&Actor::Admin, WEB_TO_DB, None).await.unwrap();

    let web = server.node("web").await;
    assert_eq!(web.register(Some(&tagged_key(&server, "tag:web").await)).await.error, "");
    let db = server.node("db").await;
    assert_eq!(db.register(Some(&tagged_key(&server, "tag:db").await)).await.error, "");

    // The database's first map: the web node, and a filter admitting it on port 5432.
    let mut db_stream = db.stream(true).await;
    let first = db_stream.next_update().await;
    assert_eq!(peer_names(&first), vec!["web.keygate.internal."]);
    let web_addresses = addresses(&first.peers.as_ref().unwrap()[0]);
    let db_addresses = addresses(first.node.as_ref().unwrap());
    let own = |ip: &String| (ip.clone(), 5432, 5432);
    assert_eq!(
        rules(first.packet_filter.as_ref().expect("a packet filter")),
        vec![(web_addresses.clone(), db_addresses.iter().map(own).collect())]
    );

    // An untagged laptop sees no one and accepts nothing; the database hears nothing of it.
    let laptop = server.node("laptop").await;
    assert_eq!(laptop.register(Some(&server.key(NewKeyRequest::default()).await)).await.error, "");
    let mut laptop_stream = laptop.stream(true).await;
    let laptop_first = laptop_stream.next_update().await;
    assert!(peer_names(&laptop_first).is_empty());
    assert_eq!(laptop_first.packet_filter, Some(vec![]));
    let laptop_addresses = addresses(laptop_first.node.as_ref().unwrap());

    // Members may reach the database now: both get their new peers and filters at once.
    server.tailnet.set_policy(&Actor::Admin, MEMBERS_TOO, None).await.unwrap();
    // The stream is ordered, so the database's next message being this update proves the
    // laptop's arrival before it told the database nothing.
    let update = db_stream.next_update().await;
    assert!(
        update.packet_filter.is_some(),
        "the database hears nothing of the laptop before the new policy: {update:?}"
    );
    assert_eq!(peer_names(&update), vec!["web.keygate.internal.", "laptop.keygate.internal."]);
    let sources: Vec<String> = web_addresses.iter().chain(&laptop_addresses).cloned().collect();
    assert_eq!(
        rules(update.packet_filter.as_ref().unwrap()),
        vec![(sources, db_addresses.iter().map(own).collect())]
    );
    assert!(update.derp_map.is_none(), "settings are not resent");
    let update = next_filter(&mut laptop_stream).await;
    assert_eq!(peer_names(&update), vec!["db.keygate.internal."]);
    assert_eq!(update.packet_filter, Some(vec![]));

    // And back: the laptop loses the database again.
    server.tailnet.set_policy(&Actor::Admin, WEB_TO_DB, None).await.unwrap();
    assert!(peer_names(&next_filter(&mut laptop_stream).await).is_empty());
    let update = next_filter(&mut db_stream).await;
    assert_eq!(peer_names(&update), vec!["web.keygate.internal."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_retagged_into_the_policy_is_announced_with_the_new_filter() {
    let server = TestServer::start().await;
    server.tailnet.set_policy(&Actor::Admin, WEB_TO_DB, None).await.unwrap();
    let db = server.node("db").await;
    assert_eq!(db.register(Some(&tagged_key(&server, "tag:db").await)).await.error, "");
    let laptop = server.node("laptop").await;
    assert_eq!(laptop.register(Some(&server.key(NewKeyRequest::default()).await)).await.error, "");
    let mut db_stream = db.stream(true).await;
    assert!(peer_names(&db_stream.next_update().await).is_empty());
    let mut laptop_stream = laptop.stream(true).await;
    assert!(peer_names(&laptop_stream.next_update().await).is_empty());

    // The laptop becomes a web node: the database gets it as a peer and a filter naming it.
    let id = server
        .tailnet
        .list_nodes(&Actor::Admin)
        .iter()
        .find(|e| e.node.hostname == "laptop")
        .unwrap()
        .node
        .id;
    server.tailnet.set_node_tags(&Actor::Admin, id, &["tag:web".into()]).await.unwrap();
    let mut saw_peer = false;
    let mut saw_filter = false;
    while !(saw_peer && saw_filter) {
        let message = db_stream.next_update().await;
        if let Some(changed) = &message.peers_changed {
            assert_eq!(changed[0].name, "laptop.keygate.internal.");
            saw_peer = true;
        }
        if let Some(filter) = &message.packet_filter {
            assert_eq!(filter.len(), 1);
            assert_eq!(filter[0].src_ips.len(), 2, "the laptop's two addresses: {filter:?}");
            saw_filter = true;
        }
    }
    // The laptop learns the database in its own message.
    loop {
        let message = laptop_stream.next_update().await;
        if let Some(changed) = &message.peers_changed {
            assert_eq!(changed[0].name, "db.keygate.internal.");
            break;
        }
    }
}
