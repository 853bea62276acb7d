//! Service-level tests of the audit log API (as other areas call it) and of OAuth grants,
//! over an in-memory SQLite store and a manual clock.

use std::sync::Arc;

use keygate_domain::{AuditAction, AuditActor, AuditFilter, NodeId, Pepper, Scope, Timestamp};
use keygate_service::{
    AccessTokenError, AccessTokenRequest, Actor, ManualClock, NewKeyRequest, NewOAuthClient,
    Service, ServiceConfig, ServiceError,
};
use serde_json::json;

const START: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

async fn service() -> Service {
    let store = keygate_store::connect("sqlite::memory:").await.expect("in-memory sqlite opens");
    let clock = ManualClock::new(START);
    Service::new(store, Pepper::from_bytes([9; 32]), Arc::new(clock), ServiceConfig::default())
}

#[tokio::test]
async fn other_areas_record_node_events_and_admins_list_them() {
    let svc = service().await;
    let detail = json!({ "node": 7, "hostname": "ci-1" });
    svc.record_audit_as(AuditActor::Node(NodeId(7)), AuditAction::KeyUse, "kAbc", detail.clone())
        .await;
    svc.record_audit(&Actor::Admin, AuditAction::NodeApprove, "7", json!({ "authorized": true }))
        .await;

    let all = svc.list_audit(&Actor::Admin, AuditFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[1].actor.as_str(), all[1].action.as_str()), ("node:7", "key.use"));
    assert_eq!(all[1].at, START);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&all[1].detail).unwrap(), detail);
    assert_eq!((all[0].actor.as_str(), all[0].target.as_str()), ("admin", "7"));

    let bob = svc.create_user(&Actor::Admin, "bob").await.unwrap();
    let err = svc.list_audit(&Actor::User(bob.id), AuditFilter::default()).await.unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err:?}");
    let too_many = AuditFilter { limit: 1001, ..Default::default() };
    let err = svc.list_audit(&Actor::Admin, too_many).await.unwrap_err();
    assert!(matches!(err, ServiceError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn an_access_token_authenticates_as_its_clients_grant() {
    let svc = service().await;
    let req = NewOAuthClient {
        scopes: vec!["auth_keys".into(), "devices:core:read".into()],
        tags: vec!["tag:ci".into()],
        description: "ci".into(),
    };
    let client = svc.create_oauth_client(&Actor::Admin, req).await.unwrap();
    let issued = svc
        .issue_access_token(AccessTokenRequest {
            client_secret: client.secret.expose(),
            scope: Some("auth_keys:read".into()),
            tags: None,
        })
        .await
        .unwrap();
    let actor = svc.authenticate(&issued.secret.expose()).await.unwrap();
    let Actor::OAuth(grant) = &actor else { panic!("not an OAuth actor: {actor:?}") };
    assert_eq!(grant.client, client.client.id);
    assert!(grant.scopes.grants(Scope::AuthKeysRead) && !grant.scopes.grants(Scope::AuthKeys));
    assert_eq!(grant.tags.to_strings(), vec!["tag:ci"]);

    // Narrowed to reading: creating a key is refused by the service itself.
    let key = NewKeyRequest { tags: vec!["tag:ci".into()], ..Default::default() };
    let err = svc.create_auth_key(&actor, key).await.unwrap_err();
    assert_eq!(err.to_string(), "creating auth keys requires scope auth_keys");

    let wrong =
        AccessTokenRequest { client_secret: "keygate-client-x".into(), ..Default::default() };
    assert!(matches!(svc.issue_access_token(wrong).await, Err(AccessTokenError::InvalidClient)));
    // An API-token-shaped string is not an access token, and vice versa.
    assert!(matches!(
        svc.authenticate(&client.secret.expose()).await,
        Err(ServiceError::Unauthenticated)
    ));
}
