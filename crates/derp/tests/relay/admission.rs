//! Only admitted node keys connect, and only allowed pairs exchange packets.

use keygate_derp::client::{DerpClient, Received};
use keygate_derp::{ClientError, DerpConfig};

use crate::support::{
    assert_quiet, connect, eventually, new_key, next_message, start_router, Policy,
};

#[tokio::test]
async fn unadmitted_node_key_is_refused_with_a_health_message() {
    let admitted = new_key();
    let relay = start_router(Policy::admitting(&[&admitted]), DerpConfig::default()).await;
    let stranger = new_key();
    let err = DerpClient::connect(relay.addr, &stranger).await.unwrap_err();
    match err {
        ClientError::Refused { health: Some(health) } => {
            assert!(health.contains("not allowed to use this DERP server"), "{health}")
        }
        other => panic!("expected a refusal with a reason, got {other:?}"),
    }
    assert!(!relay.server.is_connected(&stranger.public_key()));
    let stats = relay.server.stats();
    assert_eq!((stats.refused, stats.accepted, stats.clients), (1, 0, 0));

    connect(&relay, &admitted).await;
    assert!(relay.server.is_connected(&admitted.public_key()));
}

#[tokio::test]
async fn pair_denied_by_may_send_is_dropped() {
    let (alice_key, bob_key, carol_key) = (new_key(), new_key(), new_key());
    let policy = Policy::admitting(&[&alice_key, &bob_key, &carol_key]);
    policy.deny_pair(&alice_key, &bob_key);
    let relay = start_router(policy, DerpConfig::default()).await;
    let (mut alice, _alice_rx) = connect(&relay, &alice_key).await.split();
    let (mut carol, _carol_rx) = connect(&relay, &carol_key).await.split();
    let (_bob_tx, mut bob_rx) = connect(&relay, &bob_key).await.split();

    alice.send(&bob_key.public_key(), b"denied").await.unwrap();
    carol.send(&bob_key.public_key(), b"allowed").await.unwrap();
    // Bob gets Carol's packet and nothing from Alice.
    assert_eq!(
        next_message(&mut bob_rx).await,
        Received::Packet { source: carol_key.public_key(), data: b"allowed"[..].into() }
    );
    assert_quiet(&mut bob_rx).await;
    eventually("the denied packet is counted", || relay.server.stats().dropped_denied == 1).await;
}

#[tokio::test]
async fn close_client_disconnects_a_removed_node() {
    let node = new_key();
    let policy = Policy::admitting(&[&node]);
    let relay = start_router(policy, DerpConfig::default()).await;
    let (_tx, mut rx) = connect(&relay, &node).await.split();
    assert_eq!(relay.server.close_client(&node.public_key()), 1);
    let closed = tokio::time::timeout(crate::support::DEADLINE, async {
        loop {
            if rx.recv().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the removed node's connection should close");
    eventually("the node is gone", || !relay.server.is_connected(&node.public_key())).await;
}
