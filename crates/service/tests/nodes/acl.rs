//! The ACL policy in the live tailnet: each node's packet filter and peers, and what a node
//! change or a new policy does to them.

use keygate_domain::{Node, NodeId};
use keygate_policy::PacketRule;
use keygate_service::{Actor, NewKeyRequest, TailnetChange, TailnetEvent};
use tokio::sync::broadcast::Receiver;

use crate::support::{registered, request, Fixture};

/// Only `tag:web` may reach `tag:db`, on 5432; any member may apply either tag.
const WEB_TO_DB: &str = r#"{
  // Who may apply the tags.
  "tagOwners": {"tag:web": ["autogroup:member"], "tag:db": ["autogroup:member"]},
  "acls": [
    {"action": "accept", "src": ["tag:web"], "dst": ["tag:db:5432"]},
  ],
}"#;

/// The same, and members may reach the databases too.
const MEMBERS_TOO: &str = r#"{
  "tagOwners": {"tag:web": ["autogroup:member"], "tag:db": ["autogroup:member"]},
  "acls": [
    {"action": "accept", "src": ["tag:web", "autogroup:member"], "dst": ["tag:db:5432"]},
  ],
}"#;

async fn enrol(f: &Fixture, n: u8, tags: &[&str]) -> Node {
    let tags = tags.iter().map(|t| (*t).to_owned()).collect();
    let key = f.key(NewKeyRequest { tags, ..NewKeyRequest::default() }).await;
    registered(&f.register(request(n, Some(&key))).await).0
}

fn addresses(nodes: &[&Node]) -> Vec<String> {
    nodes.iter().flat_map(|n| [n.ipv4.to_string(), n.ipv6.to_string()]).collect()
}

/// One rule as `(sources, [(destination address, first port, last port)])`.
type Rule = (Vec<String>, Vec<(String, u16, u16)>);

/// Each rule of a filter.
fn rules(filter: &[PacketRule]) -> Vec<Rule> {
    filter
        .iter()
        .map(|r| {
            let dsts = r.dst_ports.iter().map(|d| (d.ip.clone(), d.ports.first, d.ports.last));
            (r.src_ips.to_vec(), dsts.collect())
        })
        .collect()
}

fn peer_ids(f: &Fixture, id: NodeId) -> Vec<NodeId> {
    f.tailnet.map_view(id).unwrap().peers.iter().map(|p| p.node.id).collect()
}

async fn next(rx: &mut Receiver<std::sync::Arc<TailnetEvent>>) -> std::sync::Arc<TailnetEvent> {
    tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
        .await
        .expect("an event within 5 s")
        .expect("the bus is open")
}

#[tokio::test]
async fn the_policy_decides_filters_and_peers_and_changes_move_them() {
    let f = Fixture::new().await;
    f.tailnet.set_policy(&Actor::Admin, WEB_TO_DB, None).await.unwrap();
    let web = enrol(&f, 1, &["tag:web"]).await;
    let db = enrol(&f, 2, &["tag:db"]).await;
    let laptop = enrol(&f, 3, &[]).await;

    // The database accepts the web node's addresses on its own addresses, port 5432.
    let view = f.tailnet.map_view(db.id).unwrap();
    let own = |ip: String| (ip, 5432, 5432);
    assert_eq!(
        rules(&view.packet_filter),
        vec![(addresses(&[&web]), vec![own(db.ipv4.to_string()), own(db.ipv6.to_string())])]
    );
    assert_eq!(peer_ids(&f, db.id), vec![web.id]);
    // The web node accepts nothing, but sees the database it may reach.
    assert_eq!(peer_ids(&f, web.id), vec![db.id]);
    assert!(f.tailnet.map_view(web.id).unwrap().packet_filter.is_empty());
    // The untagged laptop sees neither, and neither sees it.
    assert!(peer_ids(&f, laptop.id).is_empty());
    assert!(f.tailnet.map_view(laptop.id).unwrap().packet_filter.is_empty());
    assert!(f.tailnet.may_talk(&web.node_key, &db.node_key));
    assert!(!f.tailnet.may_talk(&laptop.node_key, &db.node_key));

    // A new policy: members reach the database too.
    let mut rx = f.tailnet.subscribe();
    f.tailnet.set_policy(&Actor::Admin, MEMBERS_TOO, None).await.unwrap();
    assert!(matches!(next(&mut rx).await.change, TailnetChange::PolicyChanged));
    assert_eq!(peer_ids(&f, laptop.id), vec![db.id]);
    assert_eq!(peer_ids(&f, db.id), vec![web.id, laptop.id]);
    let filter = f.tailnet.map_view(db.id).unwrap().packet_filter;
    assert_eq!(filter[0].src_ips.to_vec(), addresses(&[&web, &laptop]));
    assert!(f.tailnet.may_talk(&db.node_key, &laptop.node_key));

    // Back: the laptop leaves the database's peers on the next map.
    f.tailnet.set_policy(&Actor::Admin, WEB_TO_DB, None).await.unwrap();
    assert!(matches!(next(&mut rx).await.change, TailnetChange::PolicyChanged));
    assert!(peer_ids(&f, laptop.id).is_empty());
    assert!(!f.tailnet.may_talk(&db.node_key, &laptop.node_key));

    // Retagging the laptop as a web node: it gains the database, whose filter now lists it.
    f.tailnet.set_node_tags(&Actor::Admin, laptop.id, &["tag:web".into()]).await.unwrap();
    let event = next(&mut rx).await;
    assert_eq!(event.node_id(), laptop.id);
    let effects = &event.effects;
    assert_eq!(effects.peers.to_vec(), vec![db.id]);
    assert_eq!((effects.peers_added.clone(), effects.peers_removed.clone()), (vec![db.id], vec![]));
    let added = f.tailnet.entries(&effects.peers_added);
    assert_eq!(added.iter().map(|p| p.node.id).collect::<Vec<_>>(), vec![db.id]);
    let (_, db_filter) = effects.filters.iter().find(|(id, _)| *id == db.id).expect("db's filter");
    assert_eq!(db_filter[0].src_ips.to_vec(), addresses(&[&web, &laptop]));

    // The web node leaves: the database loses it and its filter shrinks.
    f.tailnet.delete_node(&Actor::Admin, web.id).await.unwrap();
    let event = next(&mut rx).await;
    assert!(matches!(event.change, TailnetChange::Removed { .. }));
    // Sources are listed by node id.
    assert_eq!(event.effects.peers_removed, vec![db.id]);
    let (_, db_filter) = event.effects.filters.iter().find(|(id, _)| *id == db.id).unwrap();
    assert_eq!(db_filter[0].src_ips.to_vec(), addresses(&[&laptop]));
}

#[tokio::test]
async fn under_the_default_policy_every_node_sees_every_other_and_accepts_everything() {
    let f = Fixture::new().await;
    let a = enrol(&f, 1, &[]).await;
    let b = enrol(&f, 2, &[]).await;
    assert_eq!(peer_ids(&f, a.id), vec![b.id]);
    let filter = f.tailnet.map_view(a.id).unwrap().packet_filter;
    assert_eq!(rules(&filter), vec![(vec!["*".to_owned()], vec![("*".to_owned(), 0, 65535)])]);
    assert!(f.tailnet.may_talk(&a.node_key, &b.node_key));
    // A reloaded tailnet builds the same view from the store.
    let reloaded = f.reload(keygate_service::TailnetConfig::default()).await;
    assert_eq!(reloaded.map_view(b.id).unwrap().peers.len(), 1);
}
