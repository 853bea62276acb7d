//! `lifecycle.rs`: ephemeral clean-up across restarts (stored last-seen times, the heartbeat),
//! and the key-expiry watcher, their timers driven by a manual clock.

use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{AuditFilter, DiscoKey, NewNode, NodeOwner, Timestamp};
use keygate_service::{
    heartbeat_interval, Actor, Clock, ManualClock, NewKeyRequest, Tailnet, TailnetChange,
    TailnetConfig,
};

use crate::support::*;

fn config(timeout: Duration) -> TailnetConfig {
    TailnetConfig { ephemeral_inactivity_timeout: timeout, ..TailnetConfig::default() }
}

/// Long enough that no timer of the tailnet a test starts with fires while the test runs.
const LONG: Duration = Duration::from_secs(600);

async fn ephemeral_key(f: &Fixture) -> String {
    f.key(NewKeyRequest { ephemeral: true, reusable: true, ..Default::default() }).await
}

#[tokio::test]
async fn a_restart_deletes_ephemeral_nodes_offline_for_longer_than_the_timeout() {
    let f = Fixture::with_config(config(Duration::from_secs(60))).await;
    let key = ephemeral_key(&f).await;
    let (connected, _) = registered(&f.register(request(1, Some(&key))).await);
    let (never, _) = registered(&f.register(request(2, Some(&key))).await);
    let plain = f.one_off_key().await;
    let (kept, _) = registered(&f.register(request(3, Some(&plain))).await);
    f.tailnet.session_started(connected.id).await;
    f.clock.advance(Duration::from_secs(30));
    f.tailnet.session_ended(connected.id).await;
    assert_eq!(f.store.get_node(connected.id).await.unwrap().last_seen, Some(f.now()));

    // The server is down for a minute and a half: both ephemeral nodes have been offline for
    // longer than the timeout by then (one since its disconnection, one since enrolment).
    f.clock.advance(Duration::from_secs(61));
    let restarted = f.reload(config(Duration::from_secs(60))).await;
    assert!(restarted.node(connected.id).is_none());
    assert!(restarted.node(never.id).is_none());
    assert!(restarted.node(kept.id).is_some(), "only ephemeral nodes are collected");
    let stored = f.store.list_nodes().await.unwrap();
    assert_eq!(stored.iter().map(|n| n.id).collect::<Vec<_>>(), vec![kept.id]);

    // Recorded as keygate's own doing.
    let filter = AuditFilter { action: Some("node.delete".into()), ..AuditFilter::default() };
    let deletions = f.service.list_audit(&Actor::Admin, filter).await.unwrap();
    assert_eq!(deletions.len(), 2);
    assert!(deletions.iter().all(|e| e.actor == "system"), "{deletions:?}");

    // Their addresses are not handed out again: the next node gets a pair never used.
    let (next, _) = registered(&restarted.register(request(4, Some(&key))).await.unwrap());
    assert!(![connected.ipv4, never.ipv4, kept.ipv4].contains(&next.ipv4), "{}", next.ipv4);
}

#[tokio::test]
async fn a_restart_within_the_timeout_gives_the_node_the_rest_of_it() {
    let f = Fixture::with_manual_timers(config(LONG)).await;
    let key = ephemeral_key(&f).await;
    let (node, _) = registered(&f.register(request(1, Some(&key))).await);
    f.tailnet.session_started(node.id).await;
    f.tailnet.session_ended(node.id).await;

    // Restarted 600 ms into a one-second timeout: 400 ms are left.
    let timeout = Duration::from_secs(1);
    f.clock.advance(Duration::from_millis(600));
    let restarted = f.reload(config(timeout)).await;
    let mut rx = restarted.subscribe();
    assert!(restarted.node(node.id).is_some(), "kept at start");
    f.clock.advance(Duration::from_millis(399));
    let_due_timers_run().await;
    assert!(restarted.node(node.id).is_some(), "kept until the rest of the timeout has passed");
    f.clock.advance(Duration::from_millis(1));
    let removed = next_event(&mut rx).await;
    assert!(
        matches!(&removed.change, TailnetChange::Removed { entry, .. } if entry.node.id == node.id),
        "deleted after the rest of the timeout, not all of it: {removed:?}"
    );
    assert!(f.store.find_node_by_machine_key(&machine(1)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_node_that_reconnects_after_a_restart_is_kept() {
    let f = Fixture::with_manual_timers(config(LONG)).await;
    let key = ephemeral_key(&f).await;
    let (node, _) = registered(&f.register(request(1, Some(&key))).await);
    f.tailnet.session_started(node.id).await;
    f.tailnet.session_ended(node.id).await;

    let timeout = Duration::from_millis(500);
    f.clock.advance(Duration::from_millis(300));
    let restarted = f.reload(config(timeout)).await;
    let mut rx = restarted.subscribe();
    restarted.session_started(node.id).await;
    // The restart's timer comes due while the node is connected, and keeps it.
    f.clock.advance(timeout * 2);
    let_due_timers_run().await;
    assert!(restarted.node(node.id).is_some(), "back within the timeout");
    assert!(restarted.collect_inactive_ephemeral_nodes().await.unwrap().is_empty());

    // Gone again: the whole timeout from this disconnection.
    restarted.session_ended(node.id).await;
    f.clock.advance(timeout - Duration::from_millis(1));
    let_due_timers_run().await;
    assert!(restarted.node(node.id).is_some());
    f.clock.advance(Duration::from_millis(1));
    loop {
        let event = next_event(&mut rx).await;
        match &event.change {
            TailnetChange::OnlineChanged(_) => continue,
            TailnetChange::Removed { entry, .. } if entry.node.id == node.id => break,
            other => panic!("only its removal is published: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_node_enrolled_again_with_a_non_ephemeral_key_outlives_its_timer() {
    let timeout = Duration::from_secs(60);
    let f = Fixture::with_manual_timers(config(timeout)).await;
    let key = ephemeral_key(&f).await;
    let (node, _) = registered(&f.register(request(1, Some(&key))).await);
    f.tailnet.session_started(node.id).await;
    f.tailnet.session_ended(node.id).await;

    // While the timer runs, the machine is enrolled again with a plain key.
    let plain = f.one_off_key().await;
    let (again, _) = registered(&f.register(request(1, Some(&plain))).await);
    assert_eq!(again.id, node.id);
    assert!(!again.ephemeral);

    // The timer comes due (and the enrolment's own, of generation 0); neither deletes it.
    f.clock.advance(timeout * 2);
    let_due_timers_run().await;
    // A write under the node's machine lock waits for a deletion in progress to finish.
    f.tailnet.set_node_authorized(&Actor::Admin, node.id, true).await.expect("the node is kept");
    assert!(f.tailnet.node(node.id).is_some());
    assert!(f.store.find_node_by_machine_key(&machine(1)).await.unwrap().is_some());
    assert!(f.tailnet.collect_inactive_ephemeral_nodes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_node_connected_when_its_timer_fires_is_kept() {
    let timeout = Duration::from_secs(60);
    let f = Fixture::with_manual_timers(config(timeout)).await;
    let key = ephemeral_key(&f).await;
    let (node, _) = registered(&f.register(request(1, Some(&key))).await);
    f.tailnet.session_started(node.id).await;
    f.tailnet.session_ended(node.id).await;
    f.clock.advance(timeout - Duration::from_secs(1));
    // It reconnects while its timer is about to fire, and stays connected.
    f.tailnet.session_started(node.id).await;
    f.clock.advance(timeout);
    let_due_timers_run().await;
    f.tailnet.set_node_authorized(&Actor::Admin, node.id, true).await.expect("the node is kept");
    assert!(f.tailnet.node(node.id).is_some_and(|e| e.online));
}

#[tokio::test]
async fn the_manual_clock_drives_the_collection_of_inactive_ephemeral_nodes() {
    let f = Fixture::with_config(config(LONG)).await;
    let key = ephemeral_key(&f).await;
    let (node, _) = registered(&f.register(request(1, Some(&key))).await);
    f.tailnet.session_started(node.id).await;
    f.tailnet.session_ended(node.id).await;
    f.clock.advance(LONG - Duration::from_secs(1));
    assert!(f.tailnet.collect_inactive_ephemeral_nodes().await.unwrap().is_empty());
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(f.tailnet.collect_inactive_ephemeral_nodes().await.unwrap(), vec![node.id]);
    assert!(f.tailnet.node(node.id).is_none());
}

#[tokio::test]
async fn a_node_connected_when_the_server_stopped_counts_from_its_last_heartbeat() {
    let timeout = Duration::from_secs(3);
    assert_eq!(heartbeat_interval(timeout), Duration::from_secs(1));
    let f = Fixture::with_manual_timers(config(timeout)).await;
    let key = ephemeral_key(&f).await;
    let (node, _) = registered(&f.register(request(1, Some(&key))).await);
    f.tailnet.session_started(node.id).await;
    let connected_at = f.now();

    // Connected for ten seconds; the heartbeat stores when it was last seen.
    f.clock.advance(Duration::from_secs(10));
    let heartbeat_at = f.now();
    // The heartbeat came due and writes the store; it publishes nothing, so watch the node.
    while f.tailnet.node(node.id).unwrap().node.last_seen != Some(heartbeat_at) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(f.store.get_node(node.id).await.unwrap().last_seen, Some(heartbeat_at));

    // The server dies without closing the stream and is back two seconds later: the node was
    // seen two seconds ago, not twelve (when it connected), so it keeps the rest of its time.
    f.clock.advance(Duration::from_secs(2));
    assert!(f.now().since(connected_at) > timeout);
    let restarted = f.reload(config(timeout)).await;
    assert!(restarted.node(node.id).is_some());
}

#[tokio::test]
async fn the_watcher_announces_a_key_expiry_when_it_is_due() {
    let clock = ManualClock::with_manual_timers(Timestamp::from_unix_millis(T0));
    let (service, store, _db) = service_with_clock(Arc::new(clock.clone())).await;
    let user = service.create_user(&Actor::Admin, "alice").await.unwrap();
    let expiry = clock.now().plus(Duration::from_millis(400));
    let node = NewNode {
        machine_key: machine(1),
        node_key: node_key(1),
        disco_key: DiscoKey([1; 32]),
        hostname: "soon".into(),
        given_name: "soon".into(),
        owner: NodeOwner::User(user.id),
        auth_key_id: None,
        ipv4: keygate_domain::ip_pool::ipv4_at(1),
        ipv6: keygate_domain::ip_pool::ipv6_at(1),
        hostinfo_json: String::new(),
        endpoints: Vec::new(),
        created: clock.now(),
        last_seen: None,
        ephemeral: false,
        authorized: true,
        key_expiry: Some(expiry),
    };
    let node = store.insert_node(&node).await.unwrap();
    let tailnet = Tailnet::load(service.clone(), TailnetConfig::default()).await.unwrap();
    let mut rx = tailnet.subscribe();
    clock.advance(Duration::from_millis(399));
    let_due_timers_run().await;
    assert!(rx.try_recv().is_err(), "not before it expired");
    // The watcher wakes a millisecond after the expiry.
    clock.advance(Duration::from_millis(2));
    let event = next_event(&mut rx).await;
    let TailnetChange::Changed { entry, was_visible } = &event.change else {
        panic!("a change: {event:?}");
    };
    assert_eq!((entry.node.id, *was_visible), (node.id, true));
    assert_eq!(tailnet.announce_expired_keys(), 0, "announced once");
}
