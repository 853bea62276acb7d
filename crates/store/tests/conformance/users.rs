//! Users: insert, get, find by name, list, and the unique name.

use keygate_domain::{UserId, UserName};
use keygate_store::{StoreError, Unique};

use crate::support::{conformance, user, TestDb, T0};

conformance!(users_round_trip_and_list_by_id, user_names_are_unique, unknown_users_are_missing);

async fn users_round_trip_and_list_by_id(db: TestDb) {
    let alice = user(&db, "alice").await;
    let bob = user(&db, "bob@example.com").await;
    assert_eq!(alice.name.as_str(), "alice");
    assert_eq!(alice.created, T0);
    assert!(bob.id > alice.id, "ids grow");

    assert_eq!(db.store.get_user(alice.id).await.unwrap(), alice);
    let found = db.store.find_user_by_name(&UserName::parse("bob@example.com").unwrap()).await;
    assert_eq!(found.unwrap(), Some(bob.clone()));
    assert_eq!(db.store.list_users().await.unwrap(), vec![alice, bob]);
}

async fn user_names_are_unique(db: TestDb) {
    user(&db, "alice").await;
    let again = db.store.insert_user(&UserName::parse("alice").unwrap(), T0).await;
    assert!(matches!(again, Err(StoreError::Conflict(Unique::UserName))), "{again:?}");
    assert_eq!(db.store.list_users().await.unwrap().len(), 1);
}

async fn unknown_users_are_missing(db: TestDb) {
    let got = db.store.get_user(UserId(4242)).await;
    assert!(matches!(got, Err(StoreError::NotFound("user"))), "{got:?}");
    let found = db.store.find_user_by_name(&UserName::parse("nobody").unwrap()).await;
    assert_eq!(found.unwrap(), None);
    assert!(db.store.list_users().await.unwrap().is_empty());
}
