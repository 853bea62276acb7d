//! Nodes: insert, lookups, update, touch, delete, owners, and the unique columns.

use keygate_domain::{DiscoKey, MachineKey, NewNode, NodeId, NodeKey, NodeOwner, TagSet};
use keygate_store::{StoreError, Unique};

use crate::support::{
    auth_key, conformance, new_node, one_off, stored_key, user, RawArg, TestDb, DAY, MINUTE, T0,
};

conformance!(
    nodes_round_trip_and_are_found_by_their_keys,
    user_and_tag_owners_round_trip,
    updating_a_node_writes_every_field,
    updating_an_unknown_node_is_not_found,
    touching_a_node_records_when_it_was_seen,
    deleting_a_node_reports_whether_it_existed,
    every_unique_node_column_reports_its_conflict,
    a_node_of_an_unknown_user_is_refused,
    the_schema_refuses_a_node_owned_by_both_or_neither,
    deleting_a_key_keeps_its_nodes,
);

fn tags(list: &str) -> TagSet {
    TagSet::parse_list(list).unwrap()
}

async fn nodes_round_trip_and_are_found_by_their_keys(db: TestDb) {
    let alice = user(&db, "alice").await;
    let first = db.store.insert_node(&new_node(1, NodeOwner::User(alice.id))).await.unwrap();
    let mut bare = new_node(2, NodeOwner::User(alice.id));
    bare.endpoints.clear();
    bare.key_expiry = None;
    bare.hostinfo_json = String::new();
    let second = db.store.insert_node(&bare).await.unwrap();
    assert!(second.id > first.id, "ids grow");
    assert_eq!(second, bare.with_id(second.id));

    assert_eq!(db.store.get_node(first.id).await.unwrap(), first);
    let by_machine = db.store.find_node_by_machine_key(&first.machine_key).await.unwrap();
    assert_eq!(by_machine, Some(first.clone()));
    let by_node_key = db.store.find_node_by_node_key(&second.node_key).await.unwrap();
    assert_eq!(by_node_key, Some(second.clone()));
    assert_eq!(db.store.list_nodes().await.unwrap(), vec![first, second]);

    assert_eq!(db.store.find_node_by_machine_key(&MachineKey([9; 32])).await.unwrap(), None);
    assert_eq!(db.store.find_node_by_node_key(&NodeKey([9; 32])).await.unwrap(), None);
    let missing = db.store.get_node(NodeId(4242)).await;
    assert!(matches!(missing, Err(StoreError::NotFound("node"))), "{missing:?}");
}

async fn user_and_tag_owners_round_trip(db: TestDb) {
    let alice = user(&db, "alice").await;
    let owned = db.store.insert_node(&new_node(1, NodeOwner::User(alice.id))).await.unwrap();
    let tagged = new_node(2, NodeOwner::Tags(tags("tag:web,tag:db")));
    let tagged = db.store.insert_node(&tagged).await.unwrap();
    assert_eq!(db.store.get_node(owned.id).await.unwrap().owner, NodeOwner::User(alice.id));
    assert_eq!(
        db.store.get_node(tagged.id).await.unwrap().owner,
        NodeOwner::Tags(tags("tag:db,tag:web"))
    );
}

async fn updating_a_node_writes_every_field(db: TestDb) {
    let alice = user(&db, "alice").await;
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;
    let node = db.store.insert_node(&new_node(1, NodeOwner::User(alice.id))).await.unwrap();

    let mut changed = node.clone();
    changed.machine_key = MachineKey([0xa1; 32]);
    changed.node_key = NodeKey([0xa2; 32]);
    changed.disco_key = DiscoKey([0xa3; 32]);
    changed.hostname = "Renamed".to_owned();
    changed.given_name = "renamed".to_owned();
    changed.owner = NodeOwner::Tags(tags("tag:server"));
    changed.auth_key_id = Some(key.id.clone());
    changed.ipv4 = "100.64.9.9".parse().unwrap();
    changed.ipv6 = "fd7a:115c:a1e0::909".parse().unwrap();
    changed.hostinfo_json = r#"{"OS":"linux"}"#.to_owned();
    changed.endpoints = vec!["198.51.100.7:41641".to_owned()];
    changed.created = T0.plus(MINUTE);
    changed.last_seen = Some(T0.plus(DAY));
    changed.ephemeral = true;
    changed.authorized = false;
    changed.key_expiry = None;
    db.store.update_node(&changed).await.unwrap();
    assert_eq!(db.store.get_node(node.id).await.unwrap(), changed);

    // And back to a user owner.
    let mut back = changed.clone();
    back.owner = NodeOwner::User(alice.id);
    back.auth_key_id = None;
    db.store.update_node(&back).await.unwrap();
    assert_eq!(db.store.list_nodes().await.unwrap(), vec![back]);
}

async fn updating_an_unknown_node_is_not_found(db: TestDb) {
    let alice = user(&db, "alice").await;
    let ghost = new_node(1, NodeOwner::User(alice.id)).with_id(NodeId(4242));
    let got = db.store.update_node(&ghost).await;
    assert!(matches!(got, Err(StoreError::NotFound("node"))), "{got:?}");
}

async fn touching_a_node_records_when_it_was_seen(db: TestDb) {
    let alice = user(&db, "alice").await;
    let node = db.store.insert_node(&new_node(1, NodeOwner::User(alice.id))).await.unwrap();
    db.store.touch_node(node.id, T0.plus(MINUTE)).await.unwrap();
    db.store.touch_node(node.id, T0.plus(DAY)).await.unwrap();
    let seen = db.store.get_node(node.id).await.unwrap();
    assert_eq!(seen.last_seen, Some(T0.plus(DAY)));
    assert_eq!(seen, keygate_domain::Node { last_seen: Some(T0.plus(DAY)), ..node });

    let got = db.store.touch_node(NodeId(4242), T0).await;
    assert!(matches!(got, Err(StoreError::NotFound("node"))), "{got:?}");
}

async fn deleting_a_node_reports_whether_it_existed(db: TestDb) {
    let alice = user(&db, "alice").await;
    let gone = db.store.insert_node(&new_node(1, NodeOwner::User(alice.id))).await.unwrap();
    let kept = db.store.insert_node(&new_node(2, NodeOwner::User(alice.id))).await.unwrap();
    assert!(db.store.delete_node(gone.id).await.unwrap());
    assert!(!db.store.delete_node(gone.id).await.unwrap());
    assert_eq!(db.store.list_nodes().await.unwrap(), vec![kept]);
    assert_eq!(db.store.find_node_by_machine_key(&gone.machine_key).await.unwrap(), None);
}

async fn every_unique_node_column_reports_its_conflict(db: TestDb) {
    let alice = user(&db, "alice").await;
    let owner = NodeOwner::User(alice.id);
    let existing = db.store.insert_node(&new_node(1, owner.clone())).await.unwrap();
    let fresh = || new_node(2, owner.clone());
    let clashes: [(Unique, NewNode); 5] = [
        (Unique::NodeMachineKey, NewNode { machine_key: existing.machine_key, ..fresh() }),
        (Unique::NodeNodeKey, NewNode { node_key: existing.node_key, ..fresh() }),
        (Unique::NodeIpv4, NewNode { ipv4: existing.ipv4, ..fresh() }),
        (Unique::NodeIpv6, NewNode { ipv6: existing.ipv6, ..fresh() }),
        (Unique::NodeGivenName, NewNode { given_name: existing.given_name.clone(), ..fresh() }),
    ];
    for (subject, clash) in clashes {
        match db.store.insert_node(&clash).await {
            Err(StoreError::Conflict(got)) => assert_eq!(got, subject),
            other => panic!("expected Conflict({subject:?}), got {other:?}"),
        }
    }
    // Updates report conflicts the same way.
    let other = db.store.insert_node(&fresh()).await.unwrap();
    let renamed = keygate_domain::Node { given_name: existing.given_name.clone(), ..other };
    let got = db.store.update_node(&renamed).await;
    assert!(matches!(got, Err(StoreError::Conflict(Unique::NodeGivenName))), "{got:?}");
}

async fn a_node_of_an_unknown_user_is_refused(db: TestDb) {
    let orphan = new_node(1, NodeOwner::User(keygate_domain::UserId(4242)));
    let got = db.store.insert_node(&orphan).await;
    assert!(matches!(got, Err(StoreError::NotFound(_))), "{got:?}");
    assert!(db.store.list_nodes().await.unwrap().is_empty());
}

/// Inserts a node row directly, with the owner columns as given.
async fn raw_node(
    db: &TestDb,
    n: u8,
    user_id: Option<i64>,
    tags: &str,
) -> Result<u64, sqlx::Error> {
    const SQL: &str = "INSERT INTO nodes (machine_key, node_key, disco_key, hostname, given_name, \
         user_id, tags, ipv4, ipv6, hostinfo_json, created_at, ephemeral, authorized) \
         VALUES ($1, $2, $3, 'h', $4, $5, $6, $7, $8, '{}', 0, $9, $10)";
    let args = [
        RawArg::Bytes(vec![n; 32]),
        RawArg::Bytes(vec![n + 100; 32]),
        RawArg::Bytes(vec![n; 32]),
        RawArg::Text(format!("raw-{n}")),
        RawArg::OptInt(user_id),
        RawArg::Text(tags.to_owned()),
        RawArg::Text(format!("100.64.200.{n}")),
        RawArg::Text(format!("fd7a:115c:a1e0::c8:{n}")),
        RawArg::Bool(false),
        RawArg::Bool(true),
    ];
    db.raw_execute(SQL, &args).await
}

async fn the_schema_refuses_a_node_owned_by_both_or_neither(db: TestDb) {
    let alice = user(&db, "alice").await;
    // The two valid shapes go in...
    raw_node(&db, 1, Some(alice.id.0), "").await.expect("a user-owned row is accepted");
    raw_node(&db, 2, None, "tag:web").await.expect("a tagged row is accepted");
    // ...and the two invalid ones do not.
    let both = raw_node(&db, 3, Some(alice.id.0), "tag:web").await;
    let neither = raw_node(&db, 4, None, "").await;
    for refused in [both, neither] {
        let Err(sqlx::Error::Database(e)) = refused else {
            panic!("expected a refusal: {refused:?}")
        };
        assert_eq!(e.kind(), sqlx::error::ErrorKind::CheckViolation, "{e}");
    }
    assert_eq!(db.store.list_nodes().await.unwrap().len(), 2);
}

async fn deleting_a_key_keeps_its_nodes(db: TestDb) {
    let alice = user(&db, "alice").await;
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;
    let new =
        NewNode { auth_key_id: Some(key.id.clone()), ..new_node(1, NodeOwner::User(alice.id)) };
    let node = db.store.insert_node(&new).await.unwrap();

    // The store has no method to delete keys (yet); the schema already says what happens.
    let deleted = db
        .raw_execute("DELETE FROM auth_keys WHERE id = $1", &[RawArg::Text(key.id.to_string())])
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let kept = db.store.get_node(node.id).await.unwrap();
    assert_eq!(kept, keygate_domain::Node { auth_key_id: None, ..node });
}
