//! Service-level tests of the key lifecycle over a real SQLite store and a manual clock.

use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{KeyLifetime, KeyRejected, KeyState, Pepper, Timestamp};
use keygate_service::{
    Actor, ManualClock, NewKeyRequest, PresentedKeyError, Service, ServiceConfig, ServiceError,
};
use keygate_store::RevokeOutcome;

const DAY: Duration = Duration::from_secs(86_400);
const START: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

async fn service() -> (Service, ManualClock) {
    let store = keygate_store::connect("sqlite::memory:").await.expect("in-memory sqlite opens");
    let clock = ManualClock::new(START);
    let svc = Service::new(
        store,
        Pepper::from_bytes([9; 32]),
        Arc::new(clock.clone()),
        ServiceConfig::default(),
    );
    (svc, clock)
}

fn one_off(days: i64) -> NewKeyRequest {
    NewKeyRequest { lifetime: Some(KeyLifetime::from_days(days).unwrap()), ..Default::default() }
}

#[tokio::test]
async fn a_key_is_valid_then_expired_then_drops_out_of_the_recent_list() {
    let (svc, clock) = service().await;
    let created = svc.create_auth_key(&Actor::Admin, one_off(7)).await.unwrap();
    let id = created.key.id.to_string();

    let listing = svc.list_auth_keys(&Actor::Admin).await.unwrap();
    assert_eq!(listing.valid.len(), 1);
    assert!(listing.recently_invalid.is_empty());

    clock.advance(7 * DAY);
    let listing = svc.list_auth_keys(&Actor::Admin).await.unwrap();
    assert!(listing.valid.is_empty());
    assert_eq!(listing.recently_invalid[0].id.to_string(), id);
    assert_eq!(listing.recently_invalid[0].state(svc.now()), KeyState::Expired);
    let presented = created.secret.expose();
    assert!(matches!(
        svc.check_presented_auth_key(&presented).await,
        Err(PresentedKeyError::Rejected(KeyRejected::Expired))
    ));

    // Thirty days after expiry it is no longer "recent", but still readable by id.
    clock.advance(31 * DAY);
    let listing = svc.list_auth_keys(&Actor::Admin).await.unwrap();
    assert!(listing.valid.is_empty() && listing.recently_invalid.is_empty());
    assert_eq!(svc.auth_key(&Actor::Admin, &id).await.unwrap().id.to_string(), id);
}

#[tokio::test]
async fn presented_keys_are_checked_by_secret_and_state() {
    let (svc, _clock) = service().await;
    let created = svc.create_auth_key(&Actor::Admin, one_off(1)).await.unwrap();
    let good = created.secret.expose();
    assert_eq!(svc.check_presented_auth_key(&good).await.unwrap().id, created.key.id);

    // A wrong secret under a real id, a malformed string and an unknown id look the same.
    let wrong_secret =
        format!("{}{}", &good[..good.len() - 1], if good.ends_with('0') { '1' } else { '0' });
    let unknown_id = good.replace(created.key.id.as_str(), "kzzzzzzzzzzzz");
    for presented in [wrong_secret.as_str(), "garbage", unknown_id.as_str(), ""] {
        assert!(
            matches!(
                svc.check_presented_auth_key(presented).await,
                Err(PresentedKeyError::Rejected(KeyRejected::Unknown))
            ),
            "{presented}"
        );
    }

    match svc.revoke_auth_key(&Actor::Admin, created.key.id.as_str()).await.unwrap() {
        RevokeOutcome::Revoked(k) => assert_eq!(k.revoked_at, Some(START)),
        other => panic!("expected a fresh revocation, got {other:?}"),
    }
    assert!(matches!(
        svc.revoke_auth_key(&Actor::Admin, created.key.id.as_str()).await.unwrap(),
        RevokeOutcome::AlreadyRevoked(_)
    ));
    assert!(matches!(
        svc.check_presented_auth_key(&good).await,
        Err(PresentedKeyError::Rejected(KeyRejected::Revoked))
    ));
}

#[tokio::test]
async fn invalid_requests_are_refused_with_the_rule_in_the_message() {
    let (svc, _clock) = service().await;
    let cases = [
        (NewKeyRequest { tags: vec!["tag:Bad".into()], ..Default::default() }, "\"tag:Bad\""),
        (NewKeyRequest { description: "x".repeat(51), ..Default::default() }, "at most 50"),
        (NewKeyRequest { usage_limit: Some(5), ..Default::default() }, "reusable"),
        (
            NewKeyRequest { user: Some("nobody".into()), ..Default::default() },
            "keygate users create nobody",
        ),
    ];
    for (req, needle) in cases {
        match svc.create_auth_key(&Actor::Admin, req).await {
            Err(e) if e.is_invalid() => {
                let msg = e.to_string();
                assert!(msg.contains(needle), "{msg:?} lacks {needle:?}")
            }
            other => panic!("expected Invalid containing {needle:?}, got {other:?}"),
        }
    }
    assert!(
        svc.list_auth_keys(&Actor::Admin).await.unwrap().valid.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn users_see_only_their_own_keys_and_cannot_create_for_others() {
    let (svc, _clock) = service().await;
    let alice = svc.create_user(&Actor::Admin, "alice").await.unwrap();
    svc.create_user(&Actor::Admin, "bob").await.unwrap();
    let for_bob = NewKeyRequest { user: Some("bob".into()), ..Default::default() };
    let bobs = svc.create_auth_key(&Actor::Admin, for_bob.clone()).await.unwrap();
    let as_alice = Actor::User(alice.id);
    let alices = svc.create_auth_key(&as_alice, NewKeyRequest::default()).await.unwrap();
    assert_eq!(alices.key.creator, Some(alice.id));

    let listing = svc.list_auth_keys(&as_alice).await.unwrap();
    assert_eq!(listing.valid.iter().map(|k| k.id.clone()).collect::<Vec<_>>(), vec![alices.key.id]);
    assert!(matches!(
        svc.auth_key(&as_alice, bobs.key.id.as_str()).await,
        Err(ServiceError::NotFound { .. })
    ));
    assert!(matches!(
        svc.create_auth_key(&as_alice, for_bob).await,
        Err(ServiceError::Forbidden(_))
    ));
    assert!(matches!(svc.create_user(&as_alice, "carol").await, Err(ServiceError::Forbidden(_))));
}

#[tokio::test]
async fn api_tokens_authenticate_until_revoked_or_expired() {
    let (svc, clock) = service().await;
    let created = svc
        .create_api_token(
            &Actor::Admin,
            keygate_service::TokenSpec {
                lifetime: Some(KeyLifetime::from_days(1).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let secret = created.secret.expose();
    assert_eq!(svc.authenticate_api_token(&secret).await.unwrap(), Actor::User(created.token.user));
    assert!(matches!(
        svc.authenticate_api_token("keygate-api-tnope-00").await,
        Err(ServiceError::Unauthenticated)
    ));
    clock.advance(DAY);
    assert!(matches!(
        svc.authenticate_api_token(&secret).await,
        Err(ServiceError::Unauthenticated)
    ));
    clock.set(START);
    svc.revoke_api_token(&Actor::Admin, created.token.id.as_str()).await.unwrap();
    assert!(matches!(
        svc.authenticate_api_token(&secret).await,
        Err(ServiceError::Unauthenticated)
    ));
}

#[tokio::test]
async fn only_administrators_create_pre_approved_keys() {
    let (svc, _clock) = service().await;
    let alice = svc.create_user(&Actor::Admin, "alice").await.unwrap();
    let pre = NewKeyRequest { preauthorized: true, ..Default::default() };

    // A user's own API token: refused, and nothing is created.
    let token = svc
        .create_api_token(
            &Actor::Admin,
            keygate_service::TokenSpec { user: Some("alice".into()), ..Default::default() },
        )
        .await
        .unwrap();
    let as_alice = svc.authenticate_api_token(&token.secret.expose()).await.unwrap();
    assert_eq!(as_alice, Actor::User(alice.id));
    let err = svc.create_auth_key(&as_alice, pre.clone()).await.unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("only an administrator may create pre-approved keys: "),
        "{err}"
    );
    assert!(svc.list_auth_keys(&Actor::Admin).await.unwrap().valid.is_empty());
    // Without pre-approval the same token may create keys.
    svc.create_auth_key(&as_alice, NewKeyRequest::default()).await.unwrap();

    // The administrator may, for any user.
    let for_alice = NewKeyRequest { user: Some("alice".into()), ..pre.clone() };
    assert!(svc.create_auth_key(&Actor::Admin, for_alice).await.unwrap().key.preauthorized);

    // OAuth tokens: with scope devices:core, yes; with auth_keys alone, no.
    let oauth = |scopes: &'static [&'static str]| {
        let svc = svc.clone();
        async move {
            let req = keygate_service::NewOAuthClient {
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                tags: vec!["tag:ci".into()],
                description: String::new(),
            };
            let client = svc.create_oauth_client(&Actor::Admin, req).await.unwrap();
            let request = keygate_service::AccessTokenRequest {
                client_secret: client.secret.expose(),
                ..Default::default()
            };
            let issued = svc.issue_access_token(request).await.unwrap();
            svc.authenticate(&issued.secret.expose()).await.unwrap()
        }
    };
    let tagged = NewKeyRequest { tags: vec!["tag:ci".into()], ..pre };
    let devices = oauth(&["auth_keys", "devices:core"]).await;
    assert!(svc.create_auth_key(&devices, tagged.clone()).await.unwrap().key.preauthorized);
    let keys_only = oauth(&["auth_keys"]).await;
    let err = svc.create_auth_key(&keys_only, tagged.clone()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "only an administrator may create pre-approved keys: an OAuth token needs scope \
         devices:core for them"
    );
    let plain = NewKeyRequest { preauthorized: false, ..tagged };
    assert!(!svc.create_auth_key(&keys_only, plain).await.unwrap().key.preauthorized);
}
