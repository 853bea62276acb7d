//! Packets travel between clients with the right source key, on both listeners.

use std::sync::Arc;
use std::time::Duration;

use keygate_derp::client::{ConnectOptions, DerpClient, Received};
use keygate_derp::frame::MAX_PACKET_SIZE;
use keygate_derp::{AdmitAll, DerpConfig, PublicKey};

use crate::support::{
    assert_quiet, connect, eventually, new_key, next_message, start_router, start_standalone,
    TestRelay,
};

async fn exchange_packets(relay: &TestRelay) {
    let (alice_key, bob_key) = (new_key(), new_key());
    let mut alice = connect(relay, &alice_key).await;
    let (_bob_tx, mut bob_rx) = connect(relay, &bob_key).await.split();
    assert_eq!(alice.server_key(), relay.server.public_key());
    assert_eq!(alice.server_info().version, 2);

    alice.send(&bob_key.public_key(), b"hello bob").await.unwrap();
    assert_eq!(
        next_message(&mut bob_rx).await,
        Received::Packet { source: alice_key.public_key(), data: b"hello bob"[..].into() }
    );

    let big = vec![0xa5; MAX_PACKET_SIZE];
    alice.send(&bob_key.public_key(), &big).await.unwrap();
    match next_message(&mut bob_rx).await {
        Received::Packet { source, data } => {
            assert_eq!(source, alice_key.public_key());
            assert_eq!(data.len(), MAX_PACKET_SIZE);
        }
        other => panic!("expected the large packet, got {other:?}"),
    }
    let stats = relay.server.stats();
    assert_eq!((stats.clients, stats.packets_relayed), (2, 2));
    assert_eq!(stats.bytes_relayed, (9 + MAX_PACKET_SIZE) as u64);
}

#[tokio::test]
async fn router_relays_a_packet_with_the_sender_key() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    exchange_packets(&relay).await;
}

#[tokio::test]
async fn standalone_listener_relays_a_packet_with_the_sender_key() {
    let relay = start_standalone(Arc::new(AdmitAll), DerpConfig::default()).await;
    exchange_packets(&relay).await;
}

#[tokio::test]
async fn standalone_listener_honours_fast_start() {
    let relay = start_standalone(Arc::new(AdmitAll), DerpConfig::default()).await;
    let (alice_key, bob_key) = (new_key(), new_key());
    let options = ConnectOptions { fast_start: true, ..ConnectOptions::default() };
    let mut alice =
        DerpClient::connect_with(relay.addr, &alice_key, options.clone()).await.unwrap();
    let bob = DerpClient::connect_with(relay.addr, &bob_key, options).await.unwrap();
    let (_bob_tx, mut bob_rx) = bob.split();
    alice.send(&bob_key.public_key(), b"fast").await.unwrap();
    assert!(
        matches!(next_message(&mut bob_rx).await, Received::Packet { data, .. } if &data[..] == b"fast")
    );
}

#[tokio::test]
async fn client_refuses_to_send_an_oversize_packet() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    let mut alice = connect(&relay, &new_key()).await;
    let err = alice.send(&PublicKey([1; 32]), &vec![0; MAX_PACKET_SIZE + 1]).await.unwrap_err();
    assert!(err.to_string().contains("larger than the DERP maximum"), "{err}");
}

#[tokio::test]
async fn ping_is_answered_with_the_same_bytes() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    let (mut tx, mut rx) = connect(&relay, &new_key()).await.split();
    tx.note_preferred(true).await.unwrap();
    tx.ping(*b"12345678").await.unwrap();
    assert_eq!(next_message(&mut rx).await, Received::Pong(*b"12345678"));
}

#[tokio::test]
async fn packet_to_an_absent_peer_is_dropped() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    let (mut tx, mut rx) = connect(&relay, &new_key()).await.split();
    tx.send(&new_key().public_key(), b"anyone there?").await.unwrap();
    // Not a disco packet: no PeerGone(NotHere) either.
    assert_quiet(&mut rx).await;
    assert_eq!(relay.server.stats().dropped_unknown_destination, 1);
}

#[tokio::test]
async fn newest_duplicate_connection_receives_until_the_old_one_speaks() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    let (sender_key, dup_key) = (new_key(), new_key());
    let (mut sender, _sender_rx) = connect(&relay, &sender_key).await.split();
    let (mut old_tx, mut old_rx) = connect(&relay, &dup_key).await.split();
    let (_new_tx, mut new_rx) = connect(&relay, &dup_key).await.split();

    sender.send(&dup_key.public_key(), b"one").await.unwrap();
    assert!(
        matches!(next_message(&mut new_rx).await, Received::Packet { data, .. } if &data[..] == b"one")
    );

    // The old connection speaks: it becomes the active one (last writer wins).
    old_tx.ping([0; 8]).await.unwrap();
    assert_eq!(next_message(&mut old_rx).await, Received::Pong([0; 8]));
    sender.send(&dup_key.public_key(), b"two").await.unwrap();
    assert!(
        matches!(next_message(&mut old_rx).await, Received::Packet { data, .. } if &data[..] == b"two")
    );
    assert_quiet(&mut new_rx).await;
}

/// A receiver that never reads loses its own packets (and is dropped after the write timeout)
/// while other pairs keep flowing.
#[tokio::test]
async fn slow_receiver_drops_its_packets_without_stalling_others() {
    let config = DerpConfig {
        send_queue_depth: 4,
        write_timeout: Duration::from_millis(500),
        ..DerpConfig::default()
    };
    let relay = start_router(Arc::new(AdmitAll), config).await;
    let (flooder_key, stuck_key, alice_key, bob_key) = (new_key(), new_key(), new_key(), new_key());
    let stuck = stuck_key.public_key();
    let (mut flooder, _flooder_rx) = connect(&relay, &flooder_key).await.split();
    let _stuck = connect(&relay, &stuck_key).await; // never reads
    let (mut alice, _alice_rx) = connect(&relay, &alice_key).await.split();
    let (_bob_tx, mut bob_rx) = connect(&relay, &bob_key).await.split();

    // Enough to fill the socket buffers and the queue many times over.
    let flood = tokio::spawn(async move {
        let packet = vec![0u8; MAX_PACKET_SIZE];
        for _ in 0..2_000 {
            if flooder.send(&stuck, &packet).await.is_err() {
                break;
            }
        }
        flooder
    });
    for i in 0..200u32 {
        alice.send(&bob_key.public_key(), &i.to_be_bytes()).await.unwrap();
        match next_message(&mut bob_rx).await {
            Received::Packet { data, .. } => assert_eq!(&data[..], &i.to_be_bytes()),
            other => panic!("expected packet {i}, got {other:?}"),
        }
    }
    let _flooder = flood.await.unwrap();
    eventually("queue-full drops are counted", || relay.server.stats().dropped_queue_full > 0)
        .await;
    eventually("the stuck client is dropped after the write timeout", || {
        !relay.server.is_connected(&stuck)
    })
    .await;
}

#[tokio::test]
async fn shutdown_closes_every_connection() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    let (_tx, mut rx) = connect(&relay, &new_key()).await.split();
    relay.server.shutdown();
    let outcome = tokio::time::timeout(crate::support::DEADLINE, async {
        loop {
            if rx.recv().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "the connection should close");
    assert_eq!(relay.server.stats().clients, 0);
}
