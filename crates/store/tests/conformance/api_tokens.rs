//! API tokens: insert, find, list, revoke, touch.

use keygate_domain::{ApiToken, Description, SecretHash, TokenId, UserId};
use keygate_store::{Credentials, RevocableCredentials, RevokeOutcome, StoreError, Unique};

use crate::support::{conformance, user, TestDb, DAY, MINUTE, T0};

conformance!(
    api_tokens_round_trip_and_list_newest_first,
    api_token_ids_are_unique,
    a_token_of_an_unknown_user_is_refused,
    revoking_a_token_is_idempotent,
    touching_a_token_records_its_use,
);

fn token(n: u8, user: UserId) -> ApiToken {
    let mut random = [0u8; 12];
    random[0] = n;
    ApiToken {
        id: TokenId::from_random(&random),
        user,
        description: Description::parse(&format!("token {n}")).unwrap(),
        created: T0.plus(MINUTE * u32::from(n)),
        expires: T0.plus(90 * DAY),
        revoked_at: None,
        last_used_at: None,
        secret_hash: SecretHash([n; 32]),
    }
}

async fn api_tokens_round_trip_and_list_newest_first(db: TestDb) {
    let alice = user(&db, "alice").await;
    let plain = token(1, alice.id);
    let used = ApiToken {
        revoked_at: Some(T0.plus(DAY)),
        last_used_at: Some(T0.plus(MINUTE)),
        description: Description::default(),
        ..token(2, alice.id)
    };
    for t in [&plain, &used] {
        db.store.insert_credential(t).await.unwrap();
    }
    assert_eq!(
        Credentials::<ApiToken>::find_credential(&*db.store, &plain.id).await.unwrap(),
        Some(plain.clone())
    );
    assert_eq!(
        Credentials::<ApiToken>::find_credential(&*db.store, &used.id).await.unwrap(),
        Some(used.clone())
    );
    assert_eq!(
        Credentials::<ApiToken>::find_credential(&*db.store, &token(9, alice.id).id).await.unwrap(),
        None
    );
    assert_eq!(
        Credentials::<ApiToken>::list_credentials(&*db.store).await.unwrap(),
        vec![used, plain]
    );
}

async fn api_token_ids_are_unique(db: TestDb) {
    let alice = user(&db, "alice").await;
    db.store.insert_credential(&token(1, alice.id)).await.unwrap();
    let got = db.store.insert_credential(&token(1, alice.id)).await;
    assert!(matches!(got, Err(StoreError::Conflict(Unique::ApiTokenId))), "{got:?}");
}

async fn a_token_of_an_unknown_user_is_refused(db: TestDb) {
    let got = db.store.insert_credential(&token(1, UserId(4242))).await;
    assert!(matches!(got, Err(StoreError::NotFound("user"))), "{got:?}");
}

async fn revoking_a_token_is_idempotent(db: TestDb) {
    let alice = user(&db, "alice").await;
    let t = token(1, alice.id);
    db.store.insert_credential(&t).await.unwrap();
    let at = T0.plus(DAY);
    let expected = ApiToken { revoked_at: Some(at), ..t.clone() };
    assert_eq!(
        RevocableCredentials::<ApiToken>::revoke_credential(&*db.store, &t.id, at).await.unwrap(),
        RevokeOutcome::Revoked(expected.clone())
    );
    assert_eq!(
        RevocableCredentials::<ApiToken>::revoke_credential(&*db.store, &t.id, at.plus(DAY))
            .await
            .unwrap(),
        RevokeOutcome::AlreadyRevoked(expected.clone())
    );
    assert_eq!(
        Credentials::<ApiToken>::find_credential(&*db.store, &t.id).await.unwrap(),
        Some(expected)
    );
    let unknown =
        RevocableCredentials::<ApiToken>::revoke_credential(&*db.store, &token(9, alice.id).id, at)
            .await;
    assert!(matches!(unknown, Err(StoreError::NotFound("api token"))), "{unknown:?}");
}

async fn touching_a_token_records_its_use(db: TestDb) {
    let alice = user(&db, "alice").await;
    let t = token(1, alice.id);
    db.store.insert_credential(&t).await.unwrap();
    RevocableCredentials::<ApiToken>::touch_credential(&*db.store, &t.id, T0.plus(DAY))
        .await
        .unwrap();
    let touched = Credentials::<ApiToken>::find_credential(&*db.store, &t.id).await.unwrap();
    assert_eq!(touched, Some(ApiToken { last_used_at: Some(T0.plus(DAY)), ..t }));
    let unknown =
        RevocableCredentials::<ApiToken>::touch_credential(&*db.store, &token(9, alice.id).id, T0)
            .await;
    assert!(matches!(unknown, Err(StoreError::NotFound("api token"))), "{unknown:?}");
}
