//! OAuth clients and their access tokens: insert, find, list, revoke, touch, expiry clean-up.

use keygate_domain::{Description, OAuthClient, OAuthToken, ScopeSet, SecretHash, TagSet, TokenId};
use keygate_store::{Credentials, RevocableCredentials, RevokeOutcome, StoreError, Unique};

use crate::support::{conformance, TestDb, DAY, MINUTE, T0};

conformance!(
    oauth_clients_round_trip_and_list_newest_first,
    oauth_client_ids_are_unique,
    revoking_an_oauth_client_is_idempotent,
    touching_an_oauth_client_records_its_use,
    oauth_tokens_round_trip_and_need_their_client,
    expired_oauth_tokens_are_deleted,
);

fn id(n: u8) -> TokenId {
    let mut random = [0u8; 12];
    random[0] = n;
    TokenId::from_random(&random)
}

fn client(n: u8) -> OAuthClient {
    OAuthClient {
        id: id(n),
        scopes: ScopeSet::parse_list("auth_keys devices:core:read").unwrap(),
        tags: TagSet::parse_list("tag:ci,tag:web").unwrap(),
        description: Description::parse(&format!("client {n}")).unwrap(),
        created: T0.plus(MINUTE * u32::from(n)),
        revoked_at: None,
        last_used_at: None,
        secret_hash: SecretHash([n; 32]),
    }
}

fn token(n: u8, client: &OAuthClient) -> OAuthToken {
    OAuthToken {
        id: id(100 + n),
        client: client.id.clone(),
        scopes: ScopeSet::parse_list("auth_keys:read").unwrap(),
        tags: TagSet::parse_list("tag:ci").unwrap(),
        created: T0,
        expires: T0.plus(MINUTE * 60 * u32::from(n)),
        secret_hash: SecretHash([100 + n; 32]),
    }
}

async fn oauth_clients_round_trip_and_list_newest_first(db: TestDb) {
    let plain = client(1);
    let used = OAuthClient {
        scopes: ScopeSet::parse_list("all:read").unwrap(),
        tags: TagSet::default(),
        description: Description::default(),
        revoked_at: Some(T0.plus(DAY)),
        last_used_at: Some(T0.plus(MINUTE)),
        ..client(2)
    };
    for c in [&plain, &used] {
        db.store.insert_credential(c).await.unwrap();
    }
    assert_eq!(
        Credentials::<OAuthClient>::find_credential(&*db.store, &plain.id).await.unwrap(),
        Some(plain.clone())
    );
    assert_eq!(
        Credentials::<OAuthClient>::find_credential(&*db.store, &used.id).await.unwrap(),
        Some(used.clone())
    );
    assert_eq!(
        Credentials::<OAuthClient>::find_credential(&*db.store, &id(9)).await.unwrap(),
        None
    );
    assert_eq!(
        Credentials::<OAuthClient>::list_credentials(&*db.store).await.unwrap(),
        vec![used, plain]
    );
}

async fn oauth_client_ids_are_unique(db: TestDb) {
    db.store.insert_credential(&client(1)).await.unwrap();
    let got = db.store.insert_credential(&client(1)).await;
    assert!(matches!(got, Err(StoreError::Conflict(Unique::OAuthClientId))), "{got:?}");
}

async fn revoking_an_oauth_client_is_idempotent(db: TestDb) {
    let c = client(1);
    db.store.insert_credential(&c).await.unwrap();
    let at = T0.plus(DAY);
    let expected = OAuthClient { revoked_at: Some(at), ..c.clone() };
    assert_eq!(
        RevocableCredentials::<OAuthClient>::revoke_credential(&*db.store, &c.id, at)
            .await
            .unwrap(),
        RevokeOutcome::Revoked(expected.clone())
    );
    assert_eq!(
        RevocableCredentials::<OAuthClient>::revoke_credential(&*db.store, &c.id, at.plus(DAY))
            .await
            .unwrap(),
        RevokeOutcome::AlreadyRevoked(expected.clone())
    );
    assert_eq!(
        Credentials::<OAuthClient>::find_credential(&*db.store, &c.id).await.unwrap(),
        Some(expected)
    );
    let unknown =
        RevocableCredentials::<OAuthClient>::revoke_credential(&*db.store, &id(9), at).await;
    assert!(matches!(unknown, Err(StoreError::NotFound("oauth client"))), "{unknown:?}");
}

async fn touching_an_oauth_client_records_its_use(db: TestDb) {
    let c = client(1);
    db.store.insert_credential(&c).await.unwrap();
    RevocableCredentials::<OAuthClient>::touch_credential(&*db.store, &c.id, T0.plus(DAY))
        .await
        .unwrap();
    let touched = Credentials::<OAuthClient>::find_credential(&*db.store, &c.id).await.unwrap();
    assert_eq!(touched, Some(OAuthClient { last_used_at: Some(T0.plus(DAY)), ..c }));
    let unknown =
        RevocableCredentials::<OAuthClient>::touch_credential(&*db.store, &id(9), T0).await;
    assert!(matches!(unknown, Err(StoreError::NotFound("oauth client"))), "{unknown:?}");
}

async fn oauth_tokens_round_trip_and_need_their_client(db: TestDb) {
    let c = client(1);
    let orphan = token(1, &c);
    let got = db.store.insert_credential(&orphan).await;
    assert!(matches!(got, Err(StoreError::NotFound("oauth client"))), "{got:?}");

    db.store.insert_credential(&c).await.unwrap();
    let t = token(1, &c);
    db.store.insert_credential(&t).await.unwrap();
    assert_eq!(
        Credentials::<OAuthToken>::find_credential(&*db.store, &t.id).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(Credentials::<OAuthToken>::find_credential(&*db.store, &id(9)).await.unwrap(), None);
    let again = db.store.insert_credential(&t).await;
    assert!(matches!(again, Err(StoreError::Conflict(Unique::OAuthTokenId))), "{again:?}");
}

async fn expired_oauth_tokens_are_deleted(db: TestDb) {
    let c = client(1);
    db.store.insert_credential(&c).await.unwrap();
    // Tokens expiring 1, 2 and 3 hours after T0.
    let tokens: Vec<OAuthToken> = (1..=3).map(|n| token(n, &c)).collect();
    for t in &tokens {
        db.store.insert_credential(t).await.unwrap();
    }
    assert_eq!(db.store.delete_expired_oauth_tokens(tokens[1].expires).await.unwrap(), 2);
    assert_eq!(
        Credentials::<OAuthToken>::find_credential(&*db.store, &tokens[0].id).await.unwrap(),
        None
    );
    assert_eq!(
        Credentials::<OAuthToken>::find_credential(&*db.store, &tokens[1].id).await.unwrap(),
        None
    );
    assert_eq!(
        Credentials::<OAuthToken>::find_credential(&*db.store, &tokens[2].id).await.unwrap(),
        Some(tokens[2].clone())
    );
    assert_eq!(db.store.delete_expired_oauth_tokens(tokens[1].expires).await.unwrap(), 0);
}
