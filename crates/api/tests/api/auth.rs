//! Authentication (admin channel, Basic, Bearer) and the `{tailnet}` segment, on every route.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{minimal_key, Auth, TestApp, DAY};

/// Every route with a body it accepts; `{t}` stands for the tailnet.
fn routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/v2/tailnet/{t}/keys", None),
        (Method::POST, "/api/v2/tailnet/{t}/keys", Some(minimal_key())),
        (Method::GET, "/api/v2/tailnet/{t}/keys/kAAAAAAAAAAAA", None),
        (Method::DELETE, "/api/v2/tailnet/{t}/keys/kAAAAAAAAAAAA", None),
        (Method::GET, "/api/v2/tailnet/{t}/users", None),
        (Method::POST, "/api/v2/tailnet/{t}/users", Some(json!({ "name": "carol" }))),
        (Method::GET, "/api/v2/tailnet/{t}/tokens", None),
        (Method::POST, "/api/v2/tailnet/{t}/tokens", Some(json!({}))),
        (Method::DELETE, "/api/v2/tailnet/{t}/tokens/tAAAAAAAAAAAA", None),
        (Method::GET, "/api/v2/tailnet/{t}/settings", None),
        (Method::PATCH, "/api/v2/tailnet/{t}/settings", Some(json!({ "devicesApprovalOn": true }))),
        (Method::GET, "/api/v2/tailnet/{t}/audit", None),
        (Method::GET, "/api/v2/tailnet/{t}/oauth/clients", None),
        (Method::GET, "/api/v2/tailnet/{t}/keys/tAAAAAAAAAAAA", None),
        (Method::DELETE, "/api/v2/tailnet/{t}/keys/tAAAAAAAAAAAA", None),
    ]
}

const UNIFORM_401: &str = "invalid or missing credentials";

#[tokio::test]
async fn every_route_needs_credentials() {
    let app = TestApp::new().await;
    for (method, path, body) in routes() {
        let r = app.call(method.clone(), &path.replace("{t}", "-"), &Auth::Anonymous, body).await;
        r.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers["www-authenticate"], r#"Basic realm="keygate""#, "{method} {path}");
        assert!(r.message().contains("missing API token"), "{method} {path}: {}", r.text);
    }
}

#[tokio::test]
async fn every_route_refuses_a_tailnet_other_than_ours() {
    let app = TestApp::new().await;
    for (method, path, body) in routes() {
        for tailnet in ["example.com", "other", "keygate2"] {
            let r = app
                .call(method.clone(), &path.replace("{t}", tailnet), &Auth::Admin, body.clone())
                .await;
            r.assert_status(StatusCode::NOT_FOUND);
            assert_eq!(r.message(), "tailnet not found", "{method} {path}");
        }
    }
}

#[tokio::test]
async fn the_tailnet_may_be_dash_or_its_name() {
    let app = TestApp::new().await;
    for tailnet in ["-", "keygate"] {
        let r = app.get(&format!("/api/v2/tailnet/{tailnet}/keys"), &Auth::Admin).await;
        r.assert_status(StatusCode::OK);
    }
}

#[tokio::test]
async fn basic_and_bearer_tokens_are_both_accepted() {
    let app = TestApp::new().await;
    let token = app.user_with_token("alice").await;
    for auth in [Auth::Basic(token.clone()), Auth::Bearer(token.clone())] {
        let r = app.get("/api/v2/tailnet/-/keys", &auth).await;
        r.assert_status(StatusCode::OK);
        assert_eq!(r.json(), json!({ "keys": [] }));
    }
    // A non-empty Basic password is ignored, as on Tailscale.
    let header = format!("Basic {}", base64_encode(&format!("{token}:ignored")));
    app.get("/api/v2/tailnet/-/keys", &Auth::Header(header)).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn wrong_and_malformed_credentials_get_one_uniform_401() {
    let app = TestApp::new().await;
    let token = app.user_with_token("alice").await;
    let id = token.split('-').nth(2).unwrap();
    let auth_key =
        app.create_key(&Auth::Admin, minimal_key()).await["key"].as_str().unwrap().to_owned();
    let last = token.chars().last().unwrap();
    let wrong_secret =
        format!("{}{}", &token[..token.len() - 1], if last == '0' { '1' } else { '0' });

    let cases = [
        Auth::Bearer("nonsense".into()),
        Auth::Bearer(format!("keygate-api-tAAAAAAAAAAAA-{}", "0".repeat(64))),
        Auth::Bearer(format!("keygate-api-{id}-{}", "0".repeat(64))),
        Auth::Basic(wrong_secret.clone()),
        Auth::Bearer(wrong_secret),
        Auth::Basic(auth_key),
        Auth::Header("Digest abc".into()),
        Auth::Header("Basic !!!".into()),
        Auth::Header("Bearer".into()),
        Auth::Header(format!("Basic {}", base64_encode(":password-only"))),
    ];
    for auth in cases {
        let r = app.get("/api/v2/tailnet/-/keys", &auth).await;
        r.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(r.message(), UNIFORM_401, "{auth:?}");
        assert_eq!(r.headers["www-authenticate"], r#"Basic realm="keygate""#);
    }
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let created =
        app.post("/api/v2/tailnet/-/tokens", &Auth::Admin, json!({ "user": "alice" })).await.json();
    let token = Auth::Basic(created["key"].as_str().unwrap().to_owned());
    app.get("/api/v2/tailnet/-/keys", &token).await.assert_status(StatusCode::OK);

    let path = format!("/api/v2/tailnet/-/tokens/{}", created["id"].as_str().unwrap());
    app.delete(&path, &Auth::Admin).await.assert_status(StatusCode::OK);
    let r = app.get("/api/v2/tailnet/-/keys", &token).await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(r.message(), UNIFORM_401);
}

#[tokio::test]
async fn a_token_is_refused_once_it_expires() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let created = app
        .post(
            "/api/v2/tailnet/-/tokens",
            &Auth::Admin,
            json!({ "user": "alice", "expirySeconds": 86_400 }),
        )
        .await
        .json();
    let token = Auth::Bearer(created["key"].as_str().unwrap().to_owned());

    app.clock.advance(DAY - std::time::Duration::from_secs(1));
    app.get("/api/v2/tailnet/-/keys", &token).await.assert_status(StatusCode::OK);
    app.clock.advance(std::time::Duration::from_secs(1));
    let r = app.get("/api/v2/tailnet/-/keys", &token).await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(r.message(), UNIFORM_401);
}

#[tokio::test]
async fn a_user_token_is_forbidden_on_admin_routes() {
    let app = TestApp::new().await;
    let alice = Auth::Basic(app.user_with_token("alice").await);
    let token_id =
        app.post("/api/v2/tailnet/-/tokens", &Auth::Admin, json!({ "user": "alice" })).await.json()
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();

    let admin_only: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/api/v2/tailnet/-/users".into(), Some(json!({ "name": "carol" }))),
        (Method::GET, "/api/v2/tailnet/-/tokens".into(), None),
        (Method::POST, "/api/v2/tailnet/-/tokens".into(), Some(json!({ "user": "alice" }))),
        (Method::DELETE, format!("/api/v2/tailnet/-/tokens/{token_id}"), None),
        (
            Method::PATCH,
            "/api/v2/tailnet/-/settings".into(),
            Some(json!({ "devicesApprovalOn": true })),
        ),
        (
            Method::PATCH,
            "/api/v2/tailnet/-/settings".into(),
            Some(json!({ "devicesKeyDurationDays": 30 })),
        ),
        (Method::PATCH, "/api/v2/tailnet/-/settings".into(), Some(json!({}))),
    ];
    for (method, path, body) in admin_only {
        let r = app.call(method.clone(), &path, &alice, body).await;
        r.assert_status(StatusCode::FORBIDDEN);
        assert_eq!(r.message(), "this needs an administrator", "{method} {path}");
    }
    // Nothing changed.
    let tokens = app.get("/api/v2/tailnet/-/tokens", &Auth::Admin).await.json();
    assert!(tokens["tokens"].as_array().unwrap().iter().all(|t| t["invalid"] == false));
    let settings = app.get("/api/v2/tailnet/-/settings", &Auth::Admin).await.json();
    assert_eq!(settings["devicesApprovalOn"], false);
}

#[tokio::test]
async fn the_admin_channel_needs_no_token() {
    let app = TestApp::new().await;
    app.get("/api/v2/tailnet/-/tokens", &Auth::Admin).await.assert_status(StatusCode::OK);
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
