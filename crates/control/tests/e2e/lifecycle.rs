//! What connected nodes hear when a node is deleted, re-tagged, or its key expires.

use std::time::Duration;

use keygate_control::TAGGED_DEVICES_ID;
use keygate_domain::{NodeId, Timestamp};
use keygate_node::MapStream;
use keygate_service::{Actor, NewKeyRequest};
use keygate_tailcfg::MapResponse;

use crate::helpers::*;

const DAY: Duration = Duration::from_secs(86_400);

fn id_of(server: &TestServer, node: &TestNode) -> NodeId {
    let machine = node.identity.machine_public();
    server.tailnet.node_by_machine_key(&machine).expect("the node is enrolled").node.id
}

/// Two nodes with open, drained streams: (server, a, a's stream, b, b's stream).
async fn two_connected_nodes() -> (TestServer, TestNode, MapStream, TestNode, MapStream) {
    let server = TestServer::start().await;
    let key = server.key(NewKeyRequest { reusable: true, ..Default::default() }).await;
    let a = server.node("alpha").await;
    a.register(Some(&key)).await;
    let b = server.node("beta").await;
    b.register(Some(&key)).await;
    let mut a_stream = a.stream(true).await;
    let mut b_stream = b.stream(true).await;
    a_stream.drain(Duration::from_millis(300)).await;
    b_stream.drain(Duration::from_millis(300)).await;
    (server, a, a_stream, b, b_stream)
}

/// The next message that is neither a keep-alive nor an online/endpoint patch.
async fn next_change(stream: &mut MapStream) -> MapResponse {
    loop {
        let m = stream.next_update().await;
        if m.peers_changed_patch.is_none() {
            return m;
        }
    }
}

#[tokio::test]
async fn a_deleted_node_is_told_its_key_expired_then_its_stream_ends_and_peers_forget_it() {
    let (server, _a, mut a_stream, b, mut b_stream) = two_connected_nodes().await;
    let b_id = id_of(&server, &b);
    server.tailnet.delete_node(&Actor::Admin, b_id).await.unwrap();

    // The last message: its own node, expired, so the client goes to NeedsLogin.
    let last = next_change(&mut b_stream).await;
    let node = last.node.expect("a Node message");
    assert!(node.expired, "{node:?}");
    let now = Timestamp::from_unix_millis(T0).to_offset_date_time();
    assert!(node.key_expiry.is_some_and(|e| e <= now), "{node:?}");
    loop {
        match b_stream.message().await {
            None => break,
            Some(m) => assert!(m.keep_alive || m.peers_changed_patch.is_some(), "{m:?}"),
        }
    }
    assert_eq!(next_change(&mut a_stream).await.peers_removed, Some(vec![b_id.0]));
    // Its next map request finds no node.
    let (status, _) = b.post_read("/machine/map", &b.map_body(true, true)).await;
    assert_eq!(status, http::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_expiring_key_is_announced_to_the_node_and_its_peers_when_it_expires() {
    let (server, a, mut a_stream, _b, mut b_stream) = two_connected_nodes().await;
    let a_id = id_of(&server, &a);
    // A moment before both keys expire (180 days after enrolment), nothing is due…
    server.clock.advance(180 * DAY - Duration::from_millis(500));
    assert_eq!(server.tailnet.announce_expired_keys(), 0, "not yet");
    // …and past it, both are announced (the watcher, which sleeps by the wall clock, calls
    // this when the time comes; the service's tests run it on a clock with manual timers).
    server.clock.advance(Duration::from_millis(600));
    assert_eq!(server.tailnet.announce_expired_keys(), 2);
    let own = next_change(&mut a_stream).await;
    assert!(own.node.expect("its own node").expired);
    let seen = next_change(&mut b_stream).await;
    let changed = seen.peers_changed.expect("PeersChanged");
    assert_eq!((changed[0].id, changed[0].expired), (a_id.0, true));
    // Once only.
    assert_eq!(server.tailnet.announce_expired_keys(), 0);
}

#[tokio::test]
async fn an_expired_node_that_connects_sees_itself_expired_and_must_log_in_again() {
    let server = TestServer::start().await;
    let key = server.key(NewKeyRequest::default()).await;
    let a = server.node("alpha").await;
    a.register(Some(&key)).await;
    server.tailnet.expire_node(&Actor::Admin, id_of(&server, &a)).await.unwrap();
    let mut stream = a.stream(true).await;
    assert!(stream.next_update().await.node.unwrap().expired);
    let again = a.register(None).await;
    assert!(again.node_key_expired, "a restart learns its key expired");
}

#[tokio::test]
async fn re_tagging_reaches_peers_as_a_delta_and_the_node_itself() {
    let (server, _a, mut a_stream, b, mut b_stream) = two_connected_nodes().await;
    let b_id = id_of(&server, &b);
    server.tailnet.set_node_tags(&Actor::Admin, b_id, &["tag:web".to_owned()]).await.unwrap();

    let delta = next_change(&mut a_stream).await;
    assert!(delta.peers.is_none(), "a delta, not a full map");
    let changed = delta.peers_changed.expect("PeersChanged");
    assert_eq!(changed[0].tags, vec!["tag:web".to_owned()]);
    assert_eq!(changed[0].user, TAGGED_DEVICES_ID);
    assert!(changed[0].key_expiry.is_none(), "tagged nodes never expire");
    assert_eq!(delta.user_profiles[0].login_name, "tagged-devices");

    let own = next_change(&mut b_stream).await.node.expect("its own node");
    assert_eq!((own.tags, own.user), (vec!["tag:web".to_owned()], TAGGED_DEVICES_ID));
}

#[tokio::test]
async fn un_approving_a_node_hides_it_from_peers_and_its_peers_from_it() {
    let (server, _a, mut a_stream, b, mut b_stream) = two_connected_nodes().await;
    let b_id = id_of(&server, &b);
    server.tailnet.set_node_authorized(&Actor::Admin, b_id, false).await.unwrap();
    assert_eq!(next_change(&mut a_stream).await.peers_removed, Some(vec![b_id.0]));
    let own = next_change(&mut b_stream).await;
    assert!(!own.node.expect("its own node").machine_authorized);
    assert_eq!(own.peers_removed.map(|r| r.len()), Some(1));
}
