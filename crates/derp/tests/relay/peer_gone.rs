//! `PeerGone` tells receivers that a sender left, or that a disco destination is not here.

use std::sync::Arc;

use keygate_derp::client::Received;
use keygate_derp::frame::PeerGoneReason;
use keygate_derp::{AdmitAll, DerpConfig};

use crate::support::{assert_quiet, connect, new_key, next_message, start_router};

#[tokio::test]
async fn receiver_hears_peer_gone_when_the_sender_disconnects() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    let (alice_key, bob_key, carol_key) = (new_key(), new_key(), new_key());
    let mut alice = connect(&relay, &alice_key).await;
    let (_bob_tx, mut bob_rx) = connect(&relay, &bob_key).await.split();
    let (_carol_tx, mut carol_rx) = connect(&relay, &carol_key).await.split();

    alice.send(&bob_key.public_key(), b"hi").await.unwrap();
    assert!(matches!(next_message(&mut bob_rx).await, Received::Packet { .. }));
    drop(alice);

    assert_eq!(
        next_message(&mut bob_rx).await,
        Received::PeerGone { peer: alice_key.public_key(), reason: PeerGoneReason::Disconnected }
    );
    // Carol never heard from Alice, so she is not told.
    assert_quiet(&mut carol_rx).await;
}

#[tokio::test]
async fn no_peer_gone_while_another_connection_of_the_sender_remains() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    let (alice_key, bob_key) = (new_key(), new_key());
    let alice_old = connect(&relay, &alice_key).await;
    let mut alice_new = connect(&relay, &alice_key).await;
    let (_bob_tx, mut bob_rx) = connect(&relay, &bob_key).await.split();
    alice_new.send(&bob_key.public_key(), b"hi").await.unwrap();
    assert!(matches!(next_message(&mut bob_rx).await, Received::Packet { .. }));

    drop(alice_old);
    assert_quiet(&mut bob_rx).await;
    drop(alice_new);
    assert!(matches!(next_message(&mut bob_rx).await, Received::PeerGone { .. }));
}

#[tokio::test]
async fn disco_packet_to_an_absent_peer_earns_not_here() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    let (mut tx, mut rx) = connect(&relay, &new_key()).await.split();
    let absent = new_key().public_key();
    let mut disco = "TS💬".as_bytes().to_vec();
    disco.resize(6 + 32 + 24 + 16, 7);
    tx.send(&absent, &disco).await.unwrap();
    assert_eq!(
        next_message(&mut rx).await,
        Received::PeerGone { peer: absent, reason: PeerGoneReason::NotHere }
    );
}
