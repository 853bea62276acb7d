//! `update_node_consuming_key`: a known machine enrolling again with a new key, in one
//! transaction, alone and under contention.

use std::sync::Arc;

use keygate_domain::{AuthKey, KeyRejected, Node, NodeId, NodeKey, NodeOwner, TagSet};
use keygate_store::{ConsumeOutcome, Credentials, RevocableCredentials, StoreError, Unique};
use tokio::sync::Barrier;

use crate::support::{
    auth_key, conformance, key_id, new_node, one_off, reusable, stored_key, user, TestDb, MINUTE,
    RACERS, T0,
};

conformance!(
    re_enrolling_updates_the_node_and_counts_the_use,
    re_enrolling_with_a_rejected_key_writes_nothing,
    re_enrolling_a_deleted_node_does_not_count_the_use,
    re_enrolling_into_a_taken_node_key_does_not_count_the_use,
    one_off_key_re_enrols_exactly_one_of_many_concurrent_nodes,
);

async fn reload(db: &TestDb, key: &AuthKey) -> AuthKey {
    Credentials::<AuthKey>::find_credential(&*db.store, &key.id)
        .await
        .unwrap()
        .expect("the key exists")
}

/// `node` moved to `owner` by `key`, with a fresh node key.
fn re_enrolled(node: &Node, key: &AuthKey, owner: NodeOwner, node_key: u8) -> Node {
    Node {
        owner,
        auth_key_id: Some(key.id.clone()),
        node_key: NodeKey([node_key; 32]),
        key_expiry: None,
        authorized: true,
        ..node.clone()
    }
}

async fn re_enrolling_updates_the_node_and_counts_the_use(db: TestDb) {
    let alice = user(&db, "alice").await;
    let node = db.store.insert_node(&new_node(1, NodeOwner::User(alice.id))).await.unwrap();
    let key = stored_key(&db, auth_key(1, None, one_off())).await;
    let tags = NodeOwner::Tags(TagSet::parse_list("tag:ci").unwrap());
    let changed = re_enrolled(&node, &key, tags, 0xee);
    let now = T0.plus(MINUTE);

    let outcome = db.store.update_node_consuming_key(&changed, &key.id, now).await.unwrap();
    let used = AuthKey { use_count: 1, last_used_at: Some(now), ..key.clone() };
    assert_eq!(outcome, ConsumeOutcome::Consumed { key: used.clone(), value: changed.clone() });
    assert_eq!(db.store.get_node(node.id).await.unwrap(), changed);
    assert_eq!(reload(&db, &key).await, used);
}

async fn re_enrolling_with_a_rejected_key_writes_nothing(db: TestDb) {
    let alice = user(&db, "alice").await;
    let node = db.store.insert_node(&new_node(1, NodeOwner::User(alice.id))).await.unwrap();
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;
    RevocableCredentials::<AuthKey>::revoke_credential(&*db.store, &key.id, T0).await.unwrap();
    let revoked = reload(&db, &key).await;
    let changed = re_enrolled(&node, &key, NodeOwner::User(alice.id), 0xee);

    let outcome = db.store.update_node_consuming_key(&changed, &key.id, T0.plus(MINUTE)).await;
    assert_eq!(outcome.unwrap(), ConsumeOutcome::Rejected(KeyRejected::Revoked));
    assert_eq!(db.store.get_node(node.id).await.unwrap(), node, "the node is unchanged");
    assert_eq!(reload(&db, &key).await, revoked);

    let unknown = db.store.update_node_consuming_key(&changed, &key_id(99), T0).await;
    assert!(matches!(unknown, Err(StoreError::NotFound("auth key"))), "{unknown:?}");
}

async fn re_enrolling_a_deleted_node_does_not_count_the_use(db: TestDb) {
    let alice = user(&db, "alice").await;
    let node = db.store.insert_node(&new_node(1, NodeOwner::User(alice.id))).await.unwrap();
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;
    assert!(db.store.delete_node(node.id).await.unwrap());
    let changed = re_enrolled(&node, &key, NodeOwner::User(alice.id), 0xee);

    let got = db.store.update_node_consuming_key(&changed, &key.id, T0.plus(MINUTE)).await;
    assert!(matches!(got, Err(StoreError::NotFound("node"))), "{got:?}");
    assert_eq!(reload(&db, &key).await, key, "the use was rolled back");
    let missing = Node { id: NodeId(node.id.0 + 100), ..changed };
    let got = db.store.update_node_consuming_key(&missing, &key.id, T0.plus(MINUTE)).await;
    assert!(matches!(got, Err(StoreError::NotFound("node"))), "{got:?}");
    assert_eq!(reload(&db, &key).await.use_count, 0);
}

async fn re_enrolling_into_a_taken_node_key_does_not_count_the_use(db: TestDb) {
    let alice = user(&db, "alice").await;
    let owner = NodeOwner::User(alice.id);
    let node = db.store.insert_node(&new_node(1, owner.clone())).await.unwrap();
    let other = db.store.insert_node(&new_node(2, owner.clone())).await.unwrap();
    let key = stored_key(&db, auth_key(1, Some(alice.id), reusable(None))).await;
    let clash = Node { node_key: other.node_key, ..re_enrolled(&node, &key, owner, 0) };

    let got = db.store.update_node_consuming_key(&clash, &key.id, T0.plus(MINUTE)).await;
    assert!(matches!(got, Err(StoreError::Conflict(Unique::NodeNodeKey))), "{got:?}");
    assert_eq!(reload(&db, &key).await, key, "the use was rolled back");
    assert_eq!(db.store.get_node(node.id).await.unwrap(), node);
}

async fn one_off_key_re_enrols_exactly_one_of_many_concurrent_nodes(db: TestDb) {
    let alice = user(&db, "alice").await;
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;
    let mut nodes = Vec::new();
    for n in 1..=u32::try_from(RACERS).unwrap() {
        nodes.push(db.store.insert_node(&new_node(n, NodeOwner::User(alice.id))).await.unwrap());
    }
    let start = Arc::new(Barrier::new(RACERS));
    let mut tasks = tokio::task::JoinSet::new();
    for node in &nodes {
        let changed = Node { auth_key_id: Some(key.id.clone()), ..node.clone() };
        let (db, start, id) = (db.clone(), start.clone(), key.id.clone());
        tasks.spawn(async move {
            start.wait().await;
            db.store.update_node_consuming_key(&changed, &id, T0.plus(MINUTE)).await
        });
    }
    let (mut admitted, mut rejections) = (0, Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("no racer panics").expect("no racer hits a store error") {
            ConsumeOutcome::Consumed { .. } => admitted += 1,
            ConsumeOutcome::Rejected(why) => rejections.push(why),
        }
    }
    assert_eq!(admitted, 1);
    assert_eq!(rejections, vec![KeyRejected::AlreadyUsed; RACERS - 1]);
    let stored = db.store.list_nodes().await.unwrap();
    let with_key = stored.iter().filter(|n| n.auth_key_id.as_ref() == Some(&key.id)).count();
    assert_eq!(with_key, 1, "exactly one node was written");
    assert_eq!(reload(&db, &key).await.use_count, 1);
}
