//! Consuming key uses: the guarded update, alone and together with a node insert, sequential
//! and under contention.

use std::sync::Arc;

use keygate_domain::{AuthKey, KeyRejected, NodeOwner};
use keygate_store::{ConsumeOutcome, Credentials, RevocableCredentials, StoreError, Unique};
use tokio::sync::Barrier;

use crate::support::{
    auth_key, conformance, key_id, new_node, one_off, reusable, stored_key, user, TestDb, DAY,
    MINUTE, RACERS, T0,
};

conformance!(
    consuming_counts_a_use_and_records_when,
    one_off_key_admits_exactly_one_of_many_concurrent_consumers,
    limited_key_admits_exactly_its_limit_of_many_concurrent_consumers,
    unlimited_key_keeps_admitting,
    expired_key_is_rejected_without_counting,
    revoked_key_is_rejected_without_counting,
    consuming_an_unknown_key_is_not_found,
    enrolling_inserts_the_node_and_counts_the_use,
    enrolling_with_a_conflicting_node_does_not_count_the_use,
    enrolling_with_a_rejected_key_inserts_nothing,
    one_off_key_enrolls_exactly_one_of_many_concurrent_nodes,
);

/// The key as stored now.
async fn reload(db: &TestDb, key: &AuthKey) -> AuthKey {
    Credentials::<AuthKey>::find_credential(&*db.store, &key.id)
        .await
        .unwrap()
        .expect("the key exists")
}

async fn consuming_counts_a_use_and_records_when(db: TestDb) {
    let key = stored_key(&db, auth_key(1, None, reusable(Some(3)))).await;
    let now = T0.plus(MINUTE);
    let outcome = db.store.consume_auth_key(&key.id, now).await.unwrap();
    let expected = AuthKey { use_count: 1, last_used_at: Some(now), ..key.clone() };
    assert_eq!(outcome, ConsumeOutcome::Consumed { key: expected.clone(), value: () });
    assert_eq!(reload(&db, &key).await, expected);
}

/// Starts `RACERS` tasks that each run `consume` on one shared store at the same moment, and
/// returns their outcomes.
async fn race<T, F, Fut>(db: &TestDb, consume: F) -> Vec<ConsumeOutcome<T>>
where
    T: Send + 'static,
    F: Fn(TestDb, usize) -> Fut,
    Fut: std::future::Future<Output = Result<ConsumeOutcome<T>, StoreError>> + Send + 'static,
{
    let start = Arc::new(Barrier::new(RACERS));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..RACERS {
        let (start, attempt) = (start.clone(), consume(db.clone(), i));
        tasks.spawn(async move {
            start.wait().await;
            attempt.await
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.expect("no racer panics").expect("no racer hits a store error"));
    }
    outcomes
}

/// How many outcomes were admitted, and the rejections of the rest.
fn tally<T>(outcomes: &[ConsumeOutcome<T>]) -> (usize, Vec<KeyRejected>) {
    let mut admitted = 0;
    let mut rejections = Vec::new();
    for outcome in outcomes {
        match outcome {
            ConsumeOutcome::Consumed { .. } => admitted += 1,
            ConsumeOutcome::Rejected(why) => rejections.push(*why),
        }
    }
    (admitted, rejections)
}

async fn one_off_key_admits_exactly_one_of_many_concurrent_consumers(db: TestDb) {
    let key = stored_key(&db, auth_key(1, None, one_off())).await;
    let id = key.id.clone();
    let outcomes = race(&db, |db, _| {
        let id = id.clone();
        async move { db.store.consume_auth_key(&id, T0.plus(MINUTE)).await }
    })
    .await;
    let (admitted, rejections) = tally(&outcomes);
    assert_eq!(admitted, 1);
    assert_eq!(rejections, vec![KeyRejected::AlreadyUsed; RACERS - 1]);
    assert_eq!(reload(&db, &key).await.use_count, 1);
}

async fn limited_key_admits_exactly_its_limit_of_many_concurrent_consumers(db: TestDb) {
    let key = stored_key(&db, auth_key(1, None, reusable(Some(5)))).await;
    let id = key.id.clone();
    let outcomes = race(&db, |db, _| {
        let id = id.clone();
        async move { db.store.consume_auth_key(&id, T0.plus(MINUTE)).await }
    })
    .await;
    let (admitted, rejections) = tally(&outcomes);
    assert_eq!(admitted, 5);
    assert_eq!(rejections, vec![KeyRejected::UsageLimitReached; RACERS - 5]);
    assert_eq!(reload(&db, &key).await.use_count, 5);
}

async fn unlimited_key_keeps_admitting(db: TestDb) {
    let key = stored_key(&db, auth_key(1, None, reusable(None))).await;
    for n in 1..=10u32 {
        let outcome = db.store.consume_auth_key(&key.id, T0.plus(MINUTE * n)).await.unwrap();
        assert!(matches!(outcome, ConsumeOutcome::Consumed { ref key, .. } if key.use_count == n));
    }
}

async fn expired_key_is_rejected_without_counting(db: TestDb) {
    let key = stored_key(&db, auth_key(1, None, one_off())).await;
    // The key expires at exactly `expires`: usable one millisecond before, not at it.
    let at_expiry = db.store.consume_auth_key(&key.id, key.expires).await.unwrap();
    assert_eq!(at_expiry, ConsumeOutcome::Rejected(KeyRejected::Expired));
    assert_eq!(reload(&db, &key).await, key, "nothing was written");

    let before = key.expires.minus(std::time::Duration::from_millis(1));
    let outcome = db.store.consume_auth_key(&key.id, before).await.unwrap();
    assert!(matches!(outcome, ConsumeOutcome::Consumed { .. }));
}

async fn revoked_key_is_rejected_without_counting(db: TestDb) {
    let key = stored_key(&db, auth_key(1, None, reusable(None))).await;
    RevocableCredentials::<AuthKey>::revoke_credential(&*db.store, &key.id, T0.plus(MINUTE))
        .await
        .unwrap();
    let revoked = reload(&db, &key).await;

    let outcome = db.store.consume_auth_key(&key.id, T0.plus(DAY)).await.unwrap();
    assert_eq!(outcome, ConsumeOutcome::Rejected(KeyRejected::Revoked));
    assert_eq!(reload(&db, &key).await, revoked, "nothing was written");
    assert_eq!(revoked.use_count, 0);
}

async fn consuming_an_unknown_key_is_not_found(db: TestDb) {
    let got = db.store.consume_auth_key(&key_id(99), T0).await;
    assert!(matches!(got, Err(StoreError::NotFound("auth key"))), "{got:?}");
    let node = new_node(1, NodeOwner::Tags(keygate_domain::TagSet::parse_list("tag:a").unwrap()));
    let got = db.store.insert_node_consuming_key(&node, &key_id(99), T0).await;
    assert!(matches!(got, Err(StoreError::NotFound("auth key"))), "{got:?}");
    assert!(db.store.list_nodes().await.unwrap().is_empty());
}

async fn enrolling_inserts_the_node_and_counts_the_use(db: TestDb) {
    let alice = user(&db, "alice").await;
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;
    let new = keygate_domain::NewNode {
        auth_key_id: Some(key.id.clone()),
        ..new_node(1, NodeOwner::User(alice.id))
    };
    let now = T0.plus(MINUTE);

    let outcome = db.store.insert_node_consuming_key(&new, &key.id, now).await.unwrap();
    let ConsumeOutcome::Consumed { key: used, value: node } = outcome else {
        panic!("a fresh key enrolls: {outcome:?}");
    };
    assert_eq!(used, AuthKey { use_count: 1, last_used_at: Some(now), ..key.clone() });
    assert_eq!(node, new.clone().with_id(node.id));
    assert_eq!(db.store.get_node(node.id).await.unwrap(), node);
    assert_eq!(reload(&db, &key).await, used);
}

async fn enrolling_with_a_conflicting_node_does_not_count_the_use(db: TestDb) {
    let alice = user(&db, "alice").await;
    let owner = NodeOwner::User(alice.id);
    let existing = db.store.insert_node(&new_node(1, owner.clone())).await.unwrap();
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;

    // A different machine that was handed the same IPv4 address.
    let clash = keygate_domain::NewNode { ipv4: existing.ipv4, ..new_node(2, owner.clone()) };
    let got = db.store.insert_node_consuming_key(&clash, &key.id, T0.plus(MINUTE)).await;
    assert!(matches!(got, Err(StoreError::Conflict(Unique::NodeIpv4))), "{got:?}");
    assert_eq!(reload(&db, &key).await, key, "the use was rolled back");
    assert_eq!(db.store.list_nodes().await.unwrap(), vec![existing]);

    // The key is still good for one enrolment.
    let fine = new_node(3, owner);
    let outcome = db.store.insert_node_consuming_key(&fine, &key.id, T0.plus(MINUTE)).await;
    assert!(matches!(outcome, Ok(ConsumeOutcome::Consumed { .. })), "{outcome:?}");
}

async fn enrolling_with_a_rejected_key_inserts_nothing(db: TestDb) {
    let alice = user(&db, "alice").await;
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;
    let owner = NodeOwner::User(alice.id);
    db.store.insert_node_consuming_key(&new_node(1, owner.clone()), &key.id, T0).await.unwrap();
    let used = reload(&db, &key).await;

    let second = db.store.insert_node_consuming_key(&new_node(2, owner), &key.id, T0).await;
    assert_eq!(second.unwrap(), ConsumeOutcome::Rejected(KeyRejected::AlreadyUsed));
    assert_eq!(db.store.list_nodes().await.unwrap().len(), 1);
    assert_eq!(reload(&db, &key).await, used);
}

async fn one_off_key_enrolls_exactly_one_of_many_concurrent_nodes(db: TestDb) {
    let alice = user(&db, "alice").await;
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;
    let id = key.id.clone();
    let outcomes = race(&db, |db, i| {
        let id = id.clone();
        let node = new_node(u32::try_from(i).unwrap() + 1, NodeOwner::User(alice.id));
        async move { db.store.insert_node_consuming_key(&node, &id, T0.plus(MINUTE)).await }
    })
    .await;
    let (admitted, rejections) = tally(&outcomes);
    assert_eq!(admitted, 1);
    assert_eq!(rejections, vec![KeyRejected::AlreadyUsed; RACERS - 1]);
    assert_eq!(db.store.list_nodes().await.unwrap().len(), 1);
    assert_eq!(reload(&db, &key).await.use_count, 1);
}
