//! `/api/v2/tailnet/{tailnet}/tokens` (keygate extension).

use http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Auth, TestApp, DAY, NINETY_DAYS_SECONDS, T0, T0_PLUS_90_DAYS};

const TOKENS: &str = "/api/v2/tailnet/-/tokens";

async fn create(app: &TestApp, body: Value) -> Value {
    let r = app.post(TOKENS, &Auth::Admin, body).await;
    r.assert_status(StatusCode::OK);
    r.json()
}

#[tokio::test]
async fn create_returns_every_field_with_the_secret_once() {
    let app = TestApp::new().await;
    let alice = app.create_user("alice").await;
    let body = create(&app, json!({ "user": "alice", "description": "laptop cli" })).await;
    let id = body["id"].as_str().unwrap().to_owned();
    let secret = body["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(&format!("keygate-api-{id}-")), "{secret}");
    assert_eq!(
        body,
        json!({
            "id": id,
            "key": secret,
            "keyType": "api",
            "userId": alice["id"],
            "user": "alice",
            "description": "laptop cli",
            "created": T0,
            "expires": T0_PLUS_90_DAYS,
            "expirySeconds": NINETY_DAYS_SECONDS,
            "invalid": false,
            "lastUsed": null,
        })
    );
}

#[tokio::test]
async fn without_a_user_the_token_is_for_the_default_user() {
    let app = TestApp::new().await;
    let body = create(&app, json!({ "expirySeconds": 7 * 86_400 })).await;
    assert_eq!(body["user"], "admin");
    assert_eq!(body["expirySeconds"], 7 * 86_400);
    assert_eq!(body["expires"], "2021-12-16T23:22:39Z");
}

#[tokio::test]
async fn bad_requests_are_400_and_unknown_users_404() {
    let app = TestApp::new().await;
    let r = app.post(TOKENS, &Auth::Admin, json!({ "expirySeconds": 3600 })).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("1 to 90 days"), "{}", r.message());

    let r = app.post(TOKENS, &Auth::Admin, json!({ "description": "d".repeat(51) })).await;
    r.assert_status(StatusCode::BAD_REQUEST);

    let r = app.post(TOKENS, &Auth::Admin, json!({ "user": "nobody" })).await;
    r.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(r.message(), "user \"nobody\" not found");
}

#[tokio::test]
async fn list_shows_use_and_never_the_secret() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let created = create(&app, json!({ "user": "alice" })).await;
    let secret = created["key"].as_str().unwrap().to_owned();
    app.clock.advance(DAY);
    app.get("/api/v2/tailnet/-/keys", &Auth::Bearer(secret.clone()))
        .await
        .assert_status(StatusCode::OK);

    let r = app.get(TOKENS, &Auth::Admin).await;
    r.assert_status(StatusCode::OK);
    assert!(!r.text.contains(secret.rsplit('-').next().unwrap()), "secret leaked: {}", r.text);
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("key");
    expected["lastUsed"] = json!("2021-12-10T23:22:39Z");
    assert_eq!(r.json(), json!({ "tokens": [expected] }));
}

#[tokio::test]
async fn delete_is_an_idempotent_revoke_and_unknown_ids_are_404() {
    let app = TestApp::new().await;
    let created = create(&app, json!({})).await;
    let path = format!("{TOKENS}/{}", created["id"].as_str().unwrap());
    app.clock.advance(DAY);

    let first = app.delete(&path, &Auth::Admin).await.assert_status(StatusCode::OK).json();
    assert_eq!(first["invalid"], true);
    assert_eq!(first["revoked"], "2021-12-10T23:22:39Z");
    assert_eq!(first["alreadyRevoked"], false);
    assert!(first.get("key").is_none());

    let second = app.delete(&path, &Auth::Admin).await.assert_status(StatusCode::OK).json();
    assert_eq!(second["alreadyRevoked"], true);
    assert_eq!(second["revoked"], "2021-12-10T23:22:39Z");

    let listed = app.get(TOKENS, &Auth::Admin).await.json();
    assert_eq!(listed["tokens"][0]["invalid"], true);

    for id in ["tAAAAAAAAAAAA", "junk"] {
        let r = app.delete(&format!("{TOKENS}/{id}"), &Auth::Admin).await;
        r.assert_status(StatusCode::NOT_FOUND);
        r.message();
    }
}

#[tokio::test]
async fn an_expired_token_lists_as_invalid() {
    let app = TestApp::new().await;
    create(&app, json!({ "expirySeconds": 86_400 })).await;
    app.clock.advance(DAY);
    let listed = app.get(TOKENS, &Auth::Admin).await.json();
    assert_eq!(listed["tokens"][0]["invalid"], true);
    assert_eq!(listed["tokens"][0]["revoked"], "2021-12-10T23:22:39Z");
}
