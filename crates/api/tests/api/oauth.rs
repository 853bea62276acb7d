//! OAuth clients (`POST …/keys` with `keyType: "client"`), the token endpoint, and what an
//! OAuth access token may do.

use std::time::Duration;

use http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use http::{Method, StatusCode};
use keygate_domain::TokenId;
use serde_json::{json, Value};

use crate::helpers::{minimal_key, Auth, TestApp, TestResponse, T0};

const KEYS: &str = "/api/v2/tailnet/-/keys";
const TOKEN: &str = "/api/v2/oauth/token";

/// A key body with `tags` (not pre-approved: that needs scope devices:core, see
/// `pre_approved_keys_need_scope_devices_core`).
fn tagged_key(tags: &[&str]) -> Value {
    json!({ "capabilities": { "devices": { "create": {
        "reusable": false, "ephemeral": true, "preauthorized": false, "tags": tags
    } } } })
}

/// Asserts an RFC 6749 error body with exactly `error` and `error_description`.
#[track_caller]
fn assert_oauth_error(r: &TestResponse, status: StatusCode, code: &str) -> String {
    r.assert_status(status);
    let body = r.json();
    let obj = body.as_object().expect("error body is an object");
    assert_eq!(obj.len(), 2, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(r.headers[CACHE_CONTROL], "no-store");
    body["error_description"].as_str().expect("error_description").to_owned()
}

#[tokio::test]
async fn an_admin_creates_a_client_and_sees_its_secret_once() {
    let app = TestApp::new().await;
    let body = app
        .post(
            KEYS,
            &Auth::Admin,
            json!({ "keyType": "client", "scopes": ["devices:core", "auth_keys"],
                    "tags": ["tag:ci", "tag:ci"], "description": "ci runners" }),
        )
        .await;
    body.assert_status(StatusCode::OK);
    let body = body.json();
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(TokenId::parse(&id).is_some(), "{id}");
    let secret = body["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(&format!("keygate-client-{id}-")), "{secret}");
    assert_eq!(secret.len(), format!("keygate-client-{id}-").len() + 64);
    let expected = json!({
        "id": id,
        "key": secret,
        "keyType": "client",
        "description": "ci runners",
        "created": T0,
        "invalid": false,
        "scopes": ["auth_keys", "devices:core"],
        "tags": ["tag:ci"],
        "userId": "",
        "lastUsed": null,
    });
    assert_eq!(body, expected);

    // Read back, listed, and after revocation: never the secret.
    let mut without_secret = expected.clone();
    without_secret.as_object_mut().unwrap().remove("key");
    let got = app.get(&format!("{KEYS}/{id}"), &Auth::Admin).await;
    got.assert_status(StatusCode::OK);
    assert_eq!(got.json(), without_secret);
    let listed = app.get("/api/v2/tailnet/-/oauth/clients", &Auth::Admin).await.json();
    assert_eq!(listed, json!({ "clients": [without_secret] }));
    for r in [&got, &app.get("/api/v2/tailnet/-/oauth/clients", &Auth::Admin).await] {
        assert!(!r.text.contains(&secret[secret.len() - 64..]));
    }
}

#[tokio::test]
async fn client_rules_are_checked() {
    let app = TestApp::new().await;
    let cases = [
        (json!({ "keyType": "client", "scopes": ["auth_keys"] }), "needs tags"),
        (json!({ "keyType": "client", "scopes": ["devices:core"], "tags": null }), "needs tags"),
        (json!({ "keyType": "client", "scopes": ["all"], "tags": [] }), "needs tags"),
        (json!({ "keyType": "client", "scopes": [], "tags": ["tag:a"] }), "at least one scope"),
        (
            json!({ "keyType": "client", "scopes": ["policy_file"] }),
            "unknown scope \"policy_file\"",
        ),
        (json!({ "keyType": "client", "scopes": ["auth_keys"], "tags": ["ci"] }), "\"ci\""),
        (json!({ "keyType": "client", "tags": ["tag:a"] }), "missing field `scopes`"),
        (json!({ "keyType": "federated", "scopes": ["auth_keys"] }), "\"federated\""),
    ];
    for (body, needle) in cases {
        let r = app.post(KEYS, &Auth::Admin, body.clone()).await;
        r.assert_status(StatusCode::BAD_REQUEST);
        assert!(r.message().contains(needle), "{body}: {}", r.message());
    }
    // Read-only scopes need no tags.
    app.create_oauth_client(&["auth_keys:read", "devices:core:read"], &[]).await;
}

#[tokio::test]
async fn only_admins_create_clients() {
    let app = TestApp::new().await;
    let alice = Auth::Bearer(app.user_with_token("alice").await);
    let client = app.create_oauth_client(&["auth_keys"], &["tag:ci"]).await;
    let oauth = Auth::Bearer(app.access_token(client["key"].as_str().unwrap()).await);
    let body = json!({ "keyType": "client", "scopes": ["auth_keys"], "tags": ["tag:ci"] });
    for auth in [alice, oauth] {
        let r = app.post(KEYS, &auth, body.clone()).await;
        r.assert_status(StatusCode::FORBIDDEN);
        assert_eq!(r.message(), "this needs an administrator");
        let r = app.get("/api/v2/tailnet/-/oauth/clients", &auth).await;
        r.assert_status(StatusCode::FORBIDDEN);
        let r = app.get(&format!("{KEYS}/{}", client["id"].as_str().unwrap()), &auth).await;
        r.assert_status(StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn the_token_endpoint_takes_form_or_basic_credentials() {
    let app = TestApp::new().await;
    let client = app.create_oauth_client(&["auth_keys", "devices:core"], &["tag:ci"]).await;
    let id = client["id"].as_str().unwrap();
    let secret = client["key"].as_str().unwrap();

    let by_form = app.post_form(TOKEN, None, &[("client_id", id), ("client_secret", secret)]).await;
    let by_basic =
        app.post_form(TOKEN, Some((id, secret)), &[("grant_type", "client_credentials")]).await;
    for r in [by_form, by_basic] {
        r.assert_status(StatusCode::OK);
        assert_eq!(r.headers[CACHE_CONTROL], "no-store");
        assert_eq!(r.headers["pragma"], "no-cache");
        let body = r.json();
        assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
        let token = body["access_token"].as_str().unwrap();
        assert!(token.starts_with("keygate-oauthtok-t"), "{token}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "auth_keys devices:core");
        // The token works, as Bearer and as Basic.
        for auth in [Auth::Bearer(token.to_owned()), Auth::Basic(token.to_owned())] {
            app.get(KEYS, &auth).await.assert_status(StatusCode::OK);
        }
    }
    // The client records its use.
    let read = app.get(&format!("{KEYS}/{id}"), &Auth::Admin).await.json();
    assert_eq!(read["lastUsed"], T0);
}

#[tokio::test]
async fn token_request_errors_have_the_rfc_6749_shape() {
    let app = TestApp::new().await;
    let client = app.create_oauth_client(&["auth_keys:read"], &[]).await;
    let id = client["id"].as_str().unwrap().to_owned();
    let secret = client["key"].as_str().unwrap().to_owned();
    let last = secret.chars().last().unwrap();
    let wrong = format!("{}{}", &secret[..secret.len() - 1], if last == '0' { '1' } else { '0' });

    for bad in [wrong.as_str(), "nonsense", "keygate-api-tAAAAAAAAAAAA-00", ""] {
        let r = app.post_form(TOKEN, None, &[("client_secret", bad)]).await;
        let d = assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
        assert!(!d.contains(bad) || bad.is_empty(), "{d}");
    }
    let r = app.post_form(TOKEN, Some((&id, &wrong)), &[]).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(r.headers[WWW_AUTHENTICATE], r#"Basic realm="keygate""#);

    let r = app.post_form(TOKEN, None, &[("client_secret", &secret), ("scope", "all")]).await;
    let d = assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_scope");
    assert!(d.contains("scope all is not granted"), "{d}");
    let r =
        app.post_form(TOKEN, None, &[("client_secret", &secret), ("scope", "frobnicate")]).await;
    let d = assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_scope");
    assert!(d.contains("\"frobnicate\""), "{d}");
    let r = app.post_form(TOKEN, None, &[("client_secret", &secret), ("tags", "tag:other")]).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_target");
    let r =
        app.post_form(TOKEN, None, &[("client_secret", &secret), ("grant_type", "password")]).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    let r = app.post_form(TOKEN, Some((&id, &secret)), &[("client_secret", &secret)]).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = app.post(TOKEN, &Auth::Anonymous, json!({ "client_secret": secret })).await;
    assert_oauth_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request");
}

#[tokio::test]
async fn a_token_can_be_narrowed_to_fewer_scopes_and_tags() {
    let app = TestApp::new().await;
    let client = app.create_oauth_client(&["auth_keys"], &["tag:a", "tag:b"]).await;
    let secret = client["key"].as_str().unwrap();
    let r =
        app.post_form(TOKEN, None, &[("client_secret", secret), ("scope", "auth_keys:read")]).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json()["scope"], "auth_keys:read");
    let read_only = Auth::Bearer(r.json()["access_token"].as_str().unwrap().to_owned());
    app.get(KEYS, &read_only).await.assert_status(StatusCode::OK);
    let r = app.post(KEYS, &read_only, tagged_key(&["tag:a"])).await;
    r.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(r.message(), "creating auth keys requires scope auth_keys");

    let r = app.post_form(TOKEN, None, &[("client_secret", secret), ("tags", "tag:b")]).await;
    let only_b = Auth::Bearer(r.json()["access_token"].as_str().unwrap().to_owned());
    let r = app.post(KEYS, &only_b, tagged_key(&["tag:a"])).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("[tag:a]"), "{}", r.message());
    app.create_key(&only_b, tagged_key(&["tag:b"])).await;
}

#[tokio::test]
async fn an_access_token_expires_after_one_hour() {
    let app = TestApp::new().await;
    let client = app.create_oauth_client(&["auth_keys"], &["tag:ci"]).await;
    let token = Auth::Bearer(app.access_token(client["key"].as_str().unwrap()).await);
    app.clock.advance(Duration::from_secs(3599));
    app.get(KEYS, &token).await.assert_status(StatusCode::OK);
    app.clock.advance(Duration::from_secs(1));
    let r = app.get(KEYS, &token).await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(r.message(), "invalid or missing credentials");
    // The client itself does not expire: a new token works.
    let fresh = Auth::Bearer(app.access_token(client["key"].as_str().unwrap()).await);
    app.get(KEYS, &fresh).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn revoking_a_client_is_soft_and_cuts_off_its_tokens() {
    let app = TestApp::new().await;
    let client = app.create_oauth_client(&["auth_keys"], &["tag:ci"]).await;
    let id = client["id"].as_str().unwrap();
    let secret = client["key"].as_str().unwrap();
    let token = Auth::Bearer(app.access_token(secret).await);

    app.clock.advance(Duration::from_secs(60));
    let r = app.delete(&format!("{KEYS}/{id}"), &Auth::Admin).await;
    r.assert_status(StatusCode::OK);
    let revoked = r.json();
    assert_eq!(revoked["invalid"], true);
    assert_eq!(revoked["revoked"], "2021-12-09T23:23:39Z");
    assert_eq!(revoked["alreadyRevoked"], false);
    assert!(revoked.get("key").is_none(), "{revoked}");
    let again = app.delete(&format!("{KEYS}/{id}"), &Auth::Admin).await.json();
    assert_eq!(again["alreadyRevoked"], true);
    assert_eq!(again["revoked"], "2021-12-09T23:23:39Z");
    // Still readable, marked invalid.
    let read = app.get(&format!("{KEYS}/{id}"), &Auth::Admin).await.json();
    assert_eq!(
        (read["invalid"].clone(), read["revoked"].clone()),
        (json!(true), revoked["revoked"].clone())
    );

    let r = app.get(KEYS, &token).await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    let r = app.post_form(TOKEN, None, &[("client_secret", secret)]).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
    let r = app.delete(&format!("{KEYS}/tAAAAAAAAAAAA"), &Auth::Admin).await;
    r.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn keys_minted_with_oauth_are_tagged_and_owned_by_the_tailnet() {
    let app = TestApp::new().await;
    let client = app.create_oauth_client(&["auth_keys"], &["tag:ci", "tag:web"]).await;
    let oauth = Auth::Bearer(app.access_token(client["key"].as_str().unwrap()).await);

    let body = app.create_key(&oauth, tagged_key(&["tag:ci"])).await;
    assert_eq!(body["userId"], "");
    assert!(body.get("user").is_none(), "{body}");
    assert_eq!(
        body["capabilities"]["devices"]["create"],
        json!({ "reusable": false, "ephemeral": true, "preauthorized": false, "tags": ["tag:ci"] })
    );
    assert!(body["key"].as_str().unwrap().starts_with("keygate-auth-"));

    let r = app.post(KEYS, &oauth, minimal_key()).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("must have tags"), "{}", r.message());
    let r = app.post(KEYS, &oauth, tagged_key(&["tag:ci", "tag:prod"])).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(
        r.message().starts_with("requested tags [tag:prod] are invalid or not permitted"),
        "{}",
        r.message()
    );
    let mut with_user = tagged_key(&["tag:ci"]);
    with_user["user"] = json!("admin");
    let r = app.post(KEYS, &oauth, with_user).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("leave out `user`"), "{}", r.message());
}

#[tokio::test]
async fn pre_approved_keys_need_scope_devices_core() {
    let app = TestApp::new().await;
    let mut pre = tagged_key(&["tag:ci"]);
    pre["capabilities"]["devices"]["create"]["preauthorized"] = json!(true);

    let keys_only = app.create_oauth_client(&["auth_keys"], &["tag:ci"]).await;
    let keys_only = Auth::Bearer(app.access_token(keys_only["key"].as_str().unwrap()).await);
    let r = app.post(KEYS, &keys_only, pre.clone()).await;
    r.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(
        r.message(),
        "only an administrator may create pre-approved keys: an OAuth token needs scope \
         devices:core for them"
    );

    let devices = app.create_oauth_client(&["auth_keys", "devices:core"], &["tag:ci"]).await;
    let devices = Auth::Bearer(app.access_token(devices["key"].as_str().unwrap()).await);
    let body = app.create_key(&devices, pre).await;
    assert_eq!(body["capabilities"]["devices"]["create"]["preauthorized"], true);
}

#[tokio::test]
async fn an_access_token_acts_only_on_tailnet_owned_keys() {
    let app = TestApp::new().await;
    let client = app.create_oauth_client(&["auth_keys"], &["tag:ci"]).await;
    let oauth = Auth::Bearer(app.access_token(client["key"].as_str().unwrap()).await);
    let users_key = app.create_key(&Auth::Admin, minimal_key()).await;
    let users_key_id = users_key["id"].as_str().unwrap();
    let tailnet_key = app.create_key(&oauth, tagged_key(&["tag:ci"])).await;
    let tailnet_key_id = tailnet_key["id"].as_str().unwrap();

    let listed = app.get(KEYS, &oauth).await.json();
    let ids: Vec<&str> =
        listed["keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![tailnet_key_id]);
    for method in [Method::GET, Method::DELETE] {
        let r = app.call(method, &format!("{KEYS}/{users_key_id}"), &oauth, None).await;
        r.assert_status(StatusCode::NOT_FOUND);
    }
    let r = app.delete(&format!("{KEYS}/{tailnet_key_id}"), &oauth).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json()["invalid"], true);
    // The admin sees both; a user token sees neither tailnet key nor OAuth client.
    let all = app.get(KEYS, &Auth::Admin).await.json();
    assert_eq!(all["keys"].as_array().unwrap().len(), 2);
    let alice = Auth::Bearer(app.user_with_token("alice").await);
    assert_eq!(app.get(KEYS, &alice).await.json(), json!({ "keys": [] }));
}

#[tokio::test]
async fn scopes_decide_what_an_access_token_may_call() {
    let app = TestApp::new().await;
    let token_with = |scopes: &'static [&'static str]| {
        let app = &app;
        async move {
            let client = app.create_oauth_client(scopes, &["tag:ci"]).await;
            Auth::Bearer(app.access_token(client["key"].as_str().unwrap()).await)
        }
    };
    let devices_only = token_with(&["devices:core"]).await;
    let read_only = token_with(&["auth_keys:read"]).await;
    let all_read = token_with(&["all:read"]).await;
    let all = token_with(&["all"]).await;
    let key_id =
        app.create_key(&all, tagged_key(&["tag:ci"])).await["id"].as_str().unwrap().to_owned();
    let key_path = format!("{KEYS}/{key_id}");

    let forbidden = |r: TestResponse, scope: &str| {
        r.assert_status(StatusCode::FORBIDDEN);
        assert!(r.message().ends_with(&format!("requires scope {scope}")), "{}", r.message());
    };
    forbidden(app.get(KEYS, &devices_only).await, "auth_keys:read");
    forbidden(app.get(&key_path, &devices_only).await, "auth_keys:read");
    forbidden(app.post(KEYS, &devices_only, tagged_key(&["tag:ci"])).await, "auth_keys");
    forbidden(app.delete(&key_path, &devices_only).await, "auth_keys");
    for reader in [&read_only, &all_read] {
        app.get(KEYS, reader).await.assert_status(StatusCode::OK);
        app.get(&key_path, reader).await.assert_status(StatusCode::OK);
        forbidden(app.post(KEYS, reader, tagged_key(&["tag:ci"])).await, "auth_keys");
        forbidden(app.delete(&key_path, reader).await, "auth_keys");
    }
    // The scope is checked before the body is read.
    let r = app.post(KEYS, &read_only, json!({ "not": "a key" })).await;
    r.assert_status(StatusCode::FORBIDDEN);

    // No scope opens the people and admin routes.
    let people: [(Method, &str, Option<Value>); 8] = [
        (Method::GET, "/api/v2/tailnet/-/users", None),
        (Method::POST, "/api/v2/tailnet/-/users", Some(json!({ "name": "eve" }))),
        (Method::GET, "/api/v2/tailnet/-/tokens", None),
        (Method::POST, "/api/v2/tailnet/-/tokens", Some(json!({}))),
        (Method::GET, "/api/v2/tailnet/-/settings", None),
        (Method::PATCH, "/api/v2/tailnet/-/settings", Some(json!({ "devicesApprovalOn": true }))),
        (Method::GET, "/api/v2/tailnet/-/audit", None),
        (Method::GET, "/api/v2/tailnet/-/oauth/clients", None),
    ];
    for (method, path, body) in people {
        let r = app.call(method.clone(), path, &all, body).await;
        r.assert_status(StatusCode::FORBIDDEN);
        r.message();
    }
}

#[tokio::test]
async fn secrets_never_appear_after_creation() {
    let app = TestApp::new().await;
    let client = app.create_oauth_client(&["auth_keys"], &["tag:ci"]).await;
    let client_secret = client["key"].as_str().unwrap().to_owned();
    let access = app.access_token(&client_secret).await;
    let oauth = Auth::Bearer(access.clone());
    let key = app.create_key(&oauth, tagged_key(&["tag:ci"])).await;
    let key_secret = key["key"].as_str().unwrap().to_owned();
    let id = key["id"].as_str().unwrap();
    let client_id = client["id"].as_str().unwrap();

    let reads = [
        app.get(KEYS, &oauth).await,
        app.get(&format!("{KEYS}/{id}"), &oauth).await,
        app.delete(&format!("{KEYS}/{id}"), &oauth).await,
        app.get(&format!("{KEYS}/{client_id}"), &Auth::Admin).await,
        app.get("/api/v2/tailnet/-/oauth/clients", &Auth::Admin).await,
        app.get("/api/v2/tailnet/-/audit", &Auth::Admin).await,
        app.delete(&format!("{KEYS}/{client_id}"), &Auth::Admin).await,
    ];
    for r in reads {
        r.assert_status(StatusCode::OK);
        for secret in [&client_secret, &access, &key_secret] {
            let hex = &secret[secret.len() - 64..];
            assert!(!r.text.contains(hex), "a secret leaked into {}", r.text);
        }
    }
}
