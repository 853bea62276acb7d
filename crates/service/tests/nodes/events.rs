//! The change bus: what each write publishes, and online state.

use std::sync::Arc;
use std::time::Duration;

use keygate_service::{
    Actor, ClientUpdate, NewKeyRequest, TailnetChange, TailnetConfig, TailnetEvent,
};
use tokio::sync::broadcast::Receiver;

use crate::support::*;

async fn next(rx: &mut Receiver<Arc<TailnetEvent>>) -> Arc<TailnetEvent> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event")
        .expect("bus open")
}

#[tokio::test]
async fn writes_publish_ordered_events_and_snapshots_know_their_place() {
    let f = Fixture::new().await;
    let mut rx = f.tailnet.subscribe();
    let key = f.key(NewKeyRequest { reusable: true, ..Default::default() }).await;
    let (node, _) = registered(&f.register(request(1, Some(&key))).await);
    let added = next(&mut rx).await;
    assert!(matches!(&added.change, TailnetChange::Added(e) if e.node.id == node.id));
    assert_eq!(f.tailnet.snapshot().seq, added.seq);

    f.tailnet.session_started(node.id).await;
    let online = next(&mut rx).await;
    assert!(matches!(&online.change, TailnetChange::OnlineChanged(e) if e.online));
    assert!(online.seq > added.seq);
    assert!(f.tailnet.node(node.id).unwrap().online);

    // Endpoints and disco key only: a patchable change.
    let update = ClientUpdate {
        endpoints: Some(vec!["192.0.2.1:41641".into()]),
        disco_key: Some(keygate_domain::DiscoKey([9; 32])),
        ..ClientUpdate::default()
    };
    f.tailnet.update_from_client(node.id, &machine(1), update).await.unwrap();
    assert!(matches!(&next(&mut rx).await.change, TailnetChange::EndpointsChanged(_)));
    // Reported again unchanged: nothing is written or published.
    let same =
        ClientUpdate { endpoints: Some(vec!["192.0.2.1:41641".into()]), ..Default::default() };
    f.tailnet.update_from_client(node.id, &machine(1), same).await.unwrap();
    // A new host name is a full change.
    let renamed = ClientUpdate {
        hostinfo: Some((r#"{"Hostname":"renamed"}"#.into(), "renamed".into())),
        ..ClientUpdate::default()
    };
    f.tailnet.update_from_client(node.id, &machine(1), renamed).await.unwrap();
    assert!(matches!(
        &next(&mut rx).await.change,
        TailnetChange::Changed { was_visible: true, .. }
    ));
    // Another machine cannot update this node.
    assert!(f
        .tailnet
        .update_from_client(node.id, &machine(2), ClientUpdate::default())
        .await
        .is_err());

    f.tailnet.session_ended(node.id).await;
    let offline = next(&mut rx).await;
    assert!(
        matches!(&offline.change, TailnetChange::OnlineChanged(e) if !e.online && e.node.last_seen.is_some())
    );
    let stored = f.store.get_node(node.id).await.unwrap();
    assert_eq!(stored.last_seen, Some(f.now()));

    f.tailnet.delete_node(&Actor::Admin, node.id).await.unwrap();
    assert!(matches!(
        &next(&mut rx).await.change,
        TailnetChange::Removed { was_visible: true, .. }
    ));
}

#[tokio::test]
async fn a_second_session_keeps_the_node_online_until_the_last_closes() {
    let f = Fixture::new().await;
    let key = f.one_off_key().await;
    let (node, _) = registered(&f.register(request(1, Some(&key))).await);
    f.tailnet.session_started(node.id).await;
    f.tailnet.session_started(node.id).await;
    f.tailnet.session_ended(node.id).await;
    assert!(f.tailnet.node(node.id).unwrap().online);
    f.tailnet.session_ended(node.id).await;
    assert!(!f.tailnet.node(node.id).unwrap().online);
}

#[tokio::test]
async fn approval_is_a_change_that_makes_the_node_visible() {
    let f = Fixture::new().await;
    f.service.set_device_approval(&Actor::Admin, true).await.unwrap();
    let key = f.one_off_key().await;
    let mut rx = f.tailnet.subscribe();
    let (node, _) = registered(&f.register(request(1, Some(&key))).await);
    assert!(
        matches!(&next(&mut rx).await.change, TailnetChange::Added(e) if !e.visible_to_peers())
    );
    f.tailnet.set_node_authorized(&Actor::Admin, node.id, true).await.unwrap();
    assert!(matches!(&next(&mut rx).await.change,
        TailnetChange::Changed { entry, was_visible: false } if entry.visible_to_peers()));
}

#[tokio::test]
async fn an_ephemeral_node_is_removed_after_its_inactivity_timeout() {
    let timeout = Duration::from_millis(300);
    let config = TailnetConfig { ephemeral_inactivity_timeout: timeout, ..Default::default() };
    let f = Fixture::with_manual_timers(config).await;
    let key = f.key(NewKeyRequest { ephemeral: true, reusable: true, ..Default::default() }).await;
    let (gone, _) = registered(&f.register(request(1, Some(&key))).await);
    let (back, _) = registered(&f.register(request(2, Some(&key))).await);
    for id in [gone.id, back.id] {
        f.tailnet.session_started(id).await;
        f.tailnet.session_ended(id).await;
    }
    f.clock.advance(timeout / 2);
    f.tailnet.session_started(back.id).await;
    let mut rx = f.tailnet.subscribe();
    // Both timers come due; only the node still offline is removed.
    f.clock.advance(timeout / 2);
    let removed = next(&mut rx).await;
    assert!(
        matches!(&removed.change, TailnetChange::Removed { entry, .. } if entry.node.id == gone.id),
        "offline for the whole timeout: {removed:?}"
    );
    assert!(f.store.find_node_by_machine_key(&machine(1)).await.unwrap().is_none());
    let_due_timers_run().await;
    assert!(f.tailnet.node(back.id).is_some(), "reconnected in time");
}
