//! `GET /api/v2/tailnet/{tailnet}/audit`: what is recorded, by whom, the filters, and that no
//! secret ever appears.

use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{minimal_key, Auth, TestApp, T0};

const AUDIT: &str = "/api/v2/tailnet/-/audit";

/// `(actor, action, target)` of every entry, newest first.
fn triples(log: &Value) -> Vec<(String, String, String)> {
    log["events"]
        .as_array()
        .expect("events is an array")
        .iter()
        .map(|e| {
            let s = |f: &str| e[f].as_str().expect("string field").to_owned();
            (s("actor"), s("action"), s("target"))
        })
        .collect()
}

fn t(actor: &str, action: &str, target: &str) -> (String, String, String) {
    (actor.to_owned(), action.to_owned(), target.to_owned())
}

#[tokio::test]
async fn every_change_is_recorded_with_actor_time_and_target() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let token =
        app.post("/api/v2/tailnet/-/tokens", &Auth::Admin, json!({ "user": "alice" })).await.json();
    let token_id = token["id"].as_str().unwrap().to_owned();
    let alice = Auth::Bearer(token["key"].as_str().unwrap().to_owned());
    let key = app.create_key(&alice, minimal_key()).await;
    let key_id = key["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::from_secs(5));
    app.delete(&format!("/api/v2/tailnet/-/keys/{key_id}"), &alice)
        .await
        .assert_status(StatusCode::OK);
    // Revoking again changes nothing and records nothing.
    app.delete(&format!("/api/v2/tailnet/-/keys/{key_id}"), &alice)
        .await
        .assert_status(StatusCode::OK);
    app.patch("/api/v2/tailnet/-/settings", &Auth::Admin, json!({ "devicesApprovalOn": true }))
        .await;
    let client = app.create_oauth_client(&["auth_keys"], &["tag:ci"]).await;
    let client_id = client["id"].as_str().unwrap().to_owned();
    let oauth = Auth::Bearer(app.access_token(client["key"].as_str().unwrap()).await);
    let tagged = json!({ "capabilities": { "devices": { "create": { "tags": ["tag:ci"] } } } });
    let oauth_key = app.create_key(&oauth, tagged).await["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/api/v2/tailnet/-/keys/{client_id}"), &Auth::Admin).await;
    app.delete(&format!("/api/v2/tailnet/-/tokens/{token_id}"), &Auth::Admin).await;

    let log = app.get(AUDIT, &Auth::Admin).await;
    log.assert_status(StatusCode::OK);
    let log = log.json();
    let oauth_actor = format!("oauth:{client_id}");
    assert_eq!(
        triples(&log),
        vec![
            t("admin", "token.revoke", &token_id),
            t("admin", "oauth_client.revoke", &client_id),
            t(&oauth_actor, "key.create", &oauth_key),
            t("admin", "oauth_client.create", &client_id),
            t("admin", "settings.change", "devicesApprovalOn"),
            t("user:alice", "key.revoke", &key_id),
            t("user:alice", "key.create", &key_id),
            t("admin", "token.create", &token_id),
            t("admin", "user.create", "alice"),
        ]
    );
    let events = log["events"].as_array().unwrap();
    // Field by field, one entry: ids grow, times are RFC 3339, details are objects.
    let revoke = &events[5];
    assert_eq!(revoke.as_object().unwrap().len(), 6, "{revoke}");
    assert_eq!(revoke["at"], "2021-12-09T23:22:44Z");
    assert_eq!(revoke["detail"], json!({}));
    assert!(events.windows(2).all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64()));
    assert_eq!(events[8]["at"], T0);
    assert_eq!(
        events[6]["detail"],
        json!({ "reusable": false, "ephemeral": false, "preauthorized": false, "tags": [],
                "expires": "2022-03-09T23:22:39Z", "creator": 1 })
    );
    assert_eq!(events[2]["detail"]["creator"], Value::Null);
    assert_eq!(events[4]["detail"], json!({ "devicesApprovalOn": true }));
    assert_eq!(
        events[3]["detail"],
        json!({ "scopes": ["auth_keys"], "tags": ["tag:ci"], "description": "" })
    );
}

#[tokio::test]
async fn the_audit_log_filters_by_actor_action_target_time_and_count() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let alice = Auth::Bearer(app.token_for("alice").await);
    let k1 = app.create_key(&alice, minimal_key()).await["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::from_secs(60));
    let k2 = app.create_key(&Auth::Admin, minimal_key()).await["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/api/v2/tailnet/-/keys/{k1}"), &Auth::Admin).await;

    let get = |query: &'static str| {
        let app = &app;
        async move {
            let r = app.get(&format!("{AUDIT}?{query}"), &Auth::Admin).await;
            r.assert_status(StatusCode::OK);
            triples(&r.json())
        }
    };
    assert_eq!(get("actor=user:alice").await, vec![t("user:alice", "key.create", &k1)]);
    assert_eq!(
        get("action=key.create").await,
        vec![t("admin", "key.create", &k2), t("user:alice", "key.create", &k1)]
    );
    let by_target = app.get(&format!("{AUDIT}?target={k1}"), &Auth::Admin).await.json();
    assert_eq!(
        triples(&by_target),
        vec![t("admin", "key.revoke", &k1), t("user:alice", "key.create", &k1)]
    );
    assert_eq!(
        get("since=2021-12-09T23:23:39Z").await,
        vec![t("admin", "key.revoke", &k1), t("admin", "key.create", &k2)]
    );
    assert_eq!(get("limit=1").await, vec![t("admin", "key.revoke", &k1)]);
    assert_eq!(
        get("actor=admin&action=key.create&limit=5").await,
        vec![t("admin", "key.create", &k2)]
    );
    assert_eq!(get("actor=user:nobody").await, vec![]);
}

#[tokio::test]
async fn bad_audit_filters_are_a_400_naming_the_parameter() {
    let app = TestApp::new().await;
    for (query, needle) in [
        ("since=yesterday", "since"),
        ("action=key.frobnicate", "key.frobnicate"),
        ("limit=0", "limit"),
        ("limit=1001", "1001"),
        ("limit=-1", "limit"),
        ("limit=lots", "limit"),
    ] {
        let r = app.get(&format!("{AUDIT}?{query}"), &Auth::Admin).await;
        r.assert_status(StatusCode::BAD_REQUEST);
        assert!(r.message().contains(needle), "{query}: {}", r.message());
    }
}

#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let app = TestApp::new().await;
    let alice = Auth::Bearer(app.user_with_token("alice").await);
    let r = app.get(AUDIT, &alice).await;
    r.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(r.message(), "this needs an administrator");
    app.get(AUDIT, &Auth::Anonymous).await.assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn no_secret_is_ever_in_the_audit_log() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let token = app.token_for("alice").await;
    let key = app.create_key(&Auth::Bearer(token.clone()), minimal_key()).await;
    let client = app.create_oauth_client(&["auth_keys"], &["tag:ci"]).await;
    let access = app.access_token(client["key"].as_str().unwrap()).await;
    let tagged = json!({ "capabilities": { "devices": { "create": { "tags": ["tag:ci"] } } } });
    let oauth_key = app.create_key(&Auth::Bearer(access.clone()), tagged).await;

    let log = app.get(AUDIT, &Auth::Admin).await.text;
    assert!(log.contains("key.create"));
    let secrets = [
        token,
        key["key"].as_str().unwrap().to_owned(),
        client["key"].as_str().unwrap().to_owned(),
        access,
        oauth_key["key"].as_str().unwrap().to_owned(),
    ];
    for secret in secrets {
        assert!(!log.contains(&secret[secret.len() - 64..]), "secret in the audit log: {log}");
    }
}
