//! Pre-authentication keys: insert, find, list, revoke, and every field's round trip.

use keygate_domain::{AuthKey, AuthKeySpec, Description, TagSet, UserId};
use keygate_store::{Credentials, RevocableCredentials, RevokeOutcome, StoreError, Unique};

use crate::support::{
    auth_key, conformance, key_id, one_off, reusable, stored_key, user, TestDb, DAY, MINUTE, T0,
};

conformance!(
    every_auth_key_field_round_trips,
    auth_keys_list_newest_first,
    auth_key_ids_are_unique,
    a_key_of_an_unknown_creator_is_refused,
    revoking_a_key_is_idempotent,
);

async fn every_auth_key_field_round_trips(db: TestDb) {
    let alice = user(&db, "alice").await;
    let mut tagged = auth_key(
        1,
        Some(alice.id),
        AuthKeySpec {
            reusable: true,
            usage_limit: Some(7),
            ephemeral: true,
            preauthorized: true,
            tags: TagSet::parse_list("tag:web,tag:ci-runner").unwrap(),
            description: Description::parse("CI runners, ü").unwrap(),
            ..AuthKeySpec::default()
        },
    );
    tagged.use_count = 3;
    tagged.last_used_at = Some(T0.plus(MINUTE));
    tagged.revoked_at = Some(T0.plus(DAY));
    db.store.insert_credential(&tagged).await.unwrap();

    // And the other extreme: no creator (an OAuth client's key), no tags, no description.
    let plain = stored_key(&db, auth_key(2, None, one_off())).await;

    assert_eq!(
        Credentials::<AuthKey>::find_credential(&*db.store, &tagged.id).await.unwrap(),
        Some(tagged.clone())
    );
    assert_eq!(
        Credentials::<AuthKey>::find_credential(&*db.store, &plain.id).await.unwrap(),
        Some(plain)
    );
    assert_eq!(
        Credentials::<AuthKey>::find_credential(&*db.store, &key_id(99)).await.unwrap(),
        None
    );
}

async fn auth_keys_list_newest_first(db: TestDb) {
    let alice = user(&db, "alice").await;
    let mut keys = Vec::new();
    for n in 0..4u8 {
        let mut key = auth_key(n, Some(alice.id), reusable(None));
        key.created = T0.plus(MINUTE * u32::from(n));
        keys.push(stored_key(&db, key).await);
    }
    keys.reverse();
    assert_eq!(Credentials::<AuthKey>::list_credentials(&*db.store).await.unwrap(), keys);
}

async fn auth_key_ids_are_unique(db: TestDb) {
    let key = stored_key(&db, auth_key(1, None, one_off())).await;
    let mut same_id = auth_key(2, None, reusable(None));
    same_id.id = key.id.clone();
    let got = db.store.insert_credential(&same_id).await;
    assert!(matches!(got, Err(StoreError::Conflict(Unique::AuthKeyId))), "{got:?}");
    assert_eq!(
        Credentials::<AuthKey>::find_credential(&*db.store, &key.id).await.unwrap(),
        Some(key)
    );
}

async fn a_key_of_an_unknown_creator_is_refused(db: TestDb) {
    let got = db.store.insert_credential(&auth_key(1, Some(UserId(4242)), one_off())).await;
    assert!(matches!(got, Err(StoreError::NotFound("creator user"))), "{got:?}");
    assert!(Credentials::<AuthKey>::list_credentials(&*db.store).await.unwrap().is_empty());
}

async fn revoking_a_key_is_idempotent(db: TestDb) {
    let key = stored_key(&db, auth_key(1, None, one_off())).await;
    let first = T0.plus(MINUTE);

    let revoked = RevocableCredentials::<AuthKey>::revoke_credential(&*db.store, &key.id, first)
        .await
        .unwrap();
    let expected = keygate_domain::AuthKey { revoked_at: Some(first), ..key.clone() };
    assert_eq!(revoked, RevokeOutcome::Revoked(expected.clone()));

    // A second revocation changes nothing, not even the time.
    let again =
        RevocableCredentials::<AuthKey>::revoke_credential(&*db.store, &key.id, first.plus(DAY))
            .await
            .unwrap();
    assert_eq!(again, RevokeOutcome::AlreadyRevoked(expected.clone()));
    assert_eq!(
        Credentials::<AuthKey>::find_credential(&*db.store, &key.id).await.unwrap(),
        Some(expected)
    );

    let unknown =
        RevocableCredentials::<AuthKey>::revoke_credential(&*db.store, &key_id(99), first).await;
    assert!(matches!(unknown, Err(StoreError::NotFound("auth key"))), "{unknown:?}");
}
