//! `/api/v2/tailnet/{tailnet}/keys`.

use http::StatusCode;
use keygate_domain::AuthKeyId;
use keygate_store::ConsumeOutcome;
use serde_json::{json, Value};

use crate::helpers::{minimal_key, Auth, TestApp, DAY, NINETY_DAYS_SECONDS, T0, T0_PLUS_90_DAYS};

const KEYS: &str = "/api/v2/tailnet/-/keys";

fn key_path(id: &str) -> String {
    format!("{KEYS}/{id}")
}

/// The reference's example request (§4.1).
fn example_request() -> Value {
    json!({
        "capabilities": { "devices": { "create": {
            "reusable": false, "ephemeral": false, "preauthorized": false, "tags": ["tag:example"]
        } } },
        "expirySeconds": 86400,
        "description": "dev access"
    })
}

async fn user_id(app: &TestApp, name: &str) -> String {
    let users = app.get("/api/v2/tailnet/-/users", &Auth::Admin).await.json();
    let user =
        users["users"].as_array().unwrap().iter().find(|u| u["name"] == name).expect("user exists");
    user["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_returns_every_field_with_the_secret_once() {
    let app = TestApp::new().await;
    let body = app.create_key(&Auth::Admin, example_request()).await;

    let id = body["id"].as_str().expect("id is a string").to_owned();
    assert!(AuthKeyId::parse(&id).is_some(), "{id}");
    let secret = body["key"].as_str().expect("key is a string").to_owned();
    assert!(secret.starts_with(&format!("keygate-auth-{id}-")), "{secret}");
    assert_eq!(secret.len(), format!("keygate-auth-{id}-").len() + 64);

    let expected = json!({
        "id": id,
        "key": secret,
        "keyType": "auth",
        "description": "dev access",
        "created": T0,
        "expires": "2021-12-10T23:22:39Z",
        "expirySeconds": 86400,
        "invalid": false,
        "capabilities": { "devices": { "create": {
            "reusable": false, "ephemeral": false, "preauthorized": false, "tags": ["tag:example"]
        } } },
        "userId": user_id(&app, "admin").await,
        "user": "admin",
        "usageLimit": null,
        "useCount": 0,
        "state": "valid",
        "lastUsed": null,
    });
    assert_eq!(body, expected);
}

#[tokio::test]
async fn the_response_decodes_into_the_public_type() {
    let app = TestApp::new().await;
    let body = app.create_key(&Auth::Admin, example_request()).await;
    let key: keygate_api::Key = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(key.state, keygate_api::KeyStatus::Valid);
    assert_eq!(key.capabilities.devices.create.tags, vec!["tag:example"]);
    assert_eq!(serde_json::to_value(&key).unwrap(), body, "serialising gives the same JSON back");
}

#[tokio::test]
async fn the_minimal_body_makes_a_one_off_untagged_key_for_90_days() {
    let app = TestApp::new().await;
    let body = app.create_key(&Auth::Admin, minimal_key()).await;
    assert_eq!(
        body["capabilities"],
        json!({"devices":{"create":{"reusable":false,"ephemeral":false,"preauthorized":false,"tags":[]}}})
    );
    assert_eq!(body["expirySeconds"], NINETY_DAYS_SECONDS);
    assert_eq!(body["expires"], T0_PLUS_90_DAYS);
    assert_eq!(body["description"], "");
}

#[tokio::test]
async fn the_go_clients_null_tags_and_zero_expiry_mean_untagged_and_default() {
    let app = TestApp::new().await;
    let body = app
        .create_key(
            &Auth::Admin,
            json!({
                "capabilities": { "devices": { "create": {
                    "reusable": true, "ephemeral": true, "preauthorized": true, "tags": null
                } } },
                "expirySeconds": 0,
                "description": ""
            }),
        )
        .await;
    assert_eq!(
        body["capabilities"]["devices"]["create"],
        json!({
            "reusable": true, "ephemeral": true, "preauthorized": true, "tags": []
        })
    );
    assert_eq!(body["expirySeconds"], NINETY_DAYS_SECONDS);
}

#[tokio::test]
async fn keytype_auth_is_accepted_and_others_are_refused() {
    let app = TestApp::new().await;
    let mut body = minimal_key();
    body["keyType"] = json!("auth");
    app.create_key(&Auth::Admin, body.clone()).await;

    // `client` makes an OAuth client, which needs scopes (see oauth.rs); other kinds are
    // not created here.
    body["keyType"] = json!("client");
    let r = app.post(KEYS, &Auth::Admin, body.clone()).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(r.message(), "missing field `scopes` (for keyType \"client\")");
    body["keyType"] = json!("federated");
    let r = app.post(KEYS, &Auth::Admin, body).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().starts_with("keyType \"federated\" cannot be created here"));
}

#[tokio::test]
async fn expiry_must_be_between_one_and_ninety_days() {
    let app = TestApp::new().await;
    for seconds in [3600_i64, 86_399, 91 * 86_400, -86_400] {
        let mut body = minimal_key();
        body["expirySeconds"] = json!(seconds);
        let r = app.post(KEYS, &Auth::Admin, body).await;
        r.assert_status(StatusCode::BAD_REQUEST);
        let msg = r.message();
        assert!(msg.contains(&seconds.to_string()) && msg.contains("1 to 90 days"), "{msg}");
    }
    for seconds in [86_400_u64, 90 * 86_400] {
        let mut body = minimal_key();
        body["expirySeconds"] = json!(seconds);
        assert_eq!(app.create_key(&Auth::Admin, body).await["expirySeconds"], seconds);
    }
}

#[tokio::test]
async fn a_bad_tag_is_refused_by_name() {
    let app = TestApp::new().await;
    let mut body = minimal_key();
    body["capabilities"]["devices"]["create"] = json!({ "tags": ["tag:ok", "tag:Bad_One"] });
    let r = app.post(KEYS, &Auth::Admin, body).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("\"tag:Bad_One\""), "{}", r.message());
}

#[tokio::test]
async fn a_description_over_50_characters_is_refused() {
    let app = TestApp::new().await;
    let mut body = minimal_key();
    body["description"] = json!("x".repeat(51));
    let r = app.post(KEYS, &Auth::Admin, body).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("at most 50"), "{}", r.message());

    let mut body = minimal_key();
    body["description"] = json!("x".repeat(50));
    app.create_key(&Auth::Admin, body).await;
}

#[tokio::test]
async fn a_usage_limit_needs_a_reusable_key() {
    let app = TestApp::new().await;
    let mut body = minimal_key();
    body["usageLimit"] = json!(3);
    let r = app.post(KEYS, &Auth::Admin, body.clone()).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("usage limit needs a reusable key"), "{}", r.message());

    body["capabilities"]["devices"]["create"] = json!({ "reusable": true });
    let created = app.create_key(&Auth::Admin, body).await;
    assert_eq!(created["usageLimit"], 3);
    assert_eq!(created["useCount"], 0);
}

#[tokio::test]
async fn missing_capabilities_is_a_400_naming_the_field() {
    let app = TestApp::new().await;
    let r = app.post(KEYS, &Auth::Admin, json!({ "expirySeconds": 86400 })).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("missing field `capabilities`"), "{}", r.message());

    let r = app.post(KEYS, &Auth::Admin, json!({ "capabilities": {} })).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("missing field `devices`"), "{}", r.message());
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_a_400_naming_it() {
    let app = TestApp::new().await;
    let mut body = minimal_key();
    body["capabilities"]["devices"]["create"] = json!({ "reusable": "yes" });
    let r = app.post(KEYS, &Auth::Admin, body).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    let msg = r.message();
    assert!(
        msg.contains("capabilities.devices.create.reusable") && msg.contains("expected a boolean"),
        "{msg}"
    );
}

#[tokio::test]
async fn admins_create_keys_for_named_users_and_unknown_users_are_a_400() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let mut body = minimal_key();
    body["user"] = json!("alice");
    let created = app.create_key(&Auth::Admin, body).await;
    assert_eq!(created["user"], "alice");
    assert_eq!(created["userId"], user_id(&app, "alice").await);

    let mut body = minimal_key();
    body["user"] = json!("nobody");
    let r = app.post(KEYS, &Auth::Admin, body).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("unknown user \"nobody\""), "{}", r.message());
}

#[tokio::test]
async fn a_user_tokens_keys_belong_to_its_user_and_others_are_forbidden() {
    let app = TestApp::new().await;
    let alice = Auth::Basic(app.user_with_token("alice").await);
    app.create_user("bob").await;

    let created = app.create_key(&alice, minimal_key()).await;
    assert_eq!(created["user"], "alice");
    assert_eq!(created["userId"], user_id(&app, "alice").await);

    let mut own = minimal_key();
    own["user"] = json!("alice");
    app.create_key(&alice, own).await;

    let mut body = minimal_key();
    body["user"] = json!("bob");
    let r = app.post(KEYS, &alice, body).await;
    r.assert_status(StatusCode::FORBIDDEN);
    assert!(r.message().contains("\"bob\""), "{}", r.message());
}

#[tokio::test]
async fn a_user_token_sees_only_its_own_keys() {
    let app = TestApp::new().await;
    let alice = Auth::Bearer(app.user_with_token("alice").await);
    let bob = Auth::Bearer(app.user_with_token("bob").await);
    let alices = app.create_key(&alice, minimal_key()).await["id"].as_str().unwrap().to_owned();
    app.clock.advance(std::time::Duration::from_secs(1));
    let bobs = app.create_key(&bob, minimal_key()).await["id"].as_str().unwrap().to_owned();
    app.clock.advance(std::time::Duration::from_secs(1));
    let admins =
        app.create_key(&Auth::Admin, minimal_key()).await["id"].as_str().unwrap().to_owned();

    let ids = |v: Value| -> Vec<String> {
        v["keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(app.get(KEYS, &alice).await.json()), vec![alices.clone()]);
    assert_eq!(
        ids(app.get(&format!("{KEYS}?all=true"), &alice).await.json()),
        vec![alices.clone()]
    );
    assert_eq!(
        ids(app.get(KEYS, &Auth::Admin).await.json()),
        vec![admins, bobs.clone(), alices.clone()]
    );

    app.get(&key_path(&alices), &alice).await.assert_status(StatusCode::OK);
    let r = app.get(&key_path(&bobs), &alice).await;
    r.assert_status(StatusCode::NOT_FOUND);
    r.message();
    app.delete(&key_path(&bobs), &alice).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&key_path(&bobs), &bob).await.json()["invalid"],
        false,
        "bob's key untouched"
    );
}

#[tokio::test]
async fn get_returns_the_key_without_its_secret() {
    let app = TestApp::new().await;
    let mut created = app.create_key(&Auth::Admin, example_request()).await;
    let id = created["id"].as_str().unwrap().to_owned();

    let r = app.get(&key_path(&id), &Auth::Admin).await;
    r.assert_status(StatusCode::OK);
    created.as_object_mut().unwrap().remove("key");
    assert_eq!(r.json(), created, "the same object as created, less the secret");
}

#[tokio::test]
async fn unknown_and_malformed_key_ids_are_404() {
    let app = TestApp::new().await;
    for id in ["kAAAAAAAAAAAA", "nope", "tAAAAAAAAAAAA"] {
        let r = app.get(&key_path(id), &Auth::Admin).await;
        r.assert_status(StatusCode::NOT_FOUND);
        assert!(r.message().contains("not found"), "{}", r.message());
        app.delete(&key_path(id), &Auth::Admin).await.assert_status(StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn list_has_the_keys_envelope_valid_keys_first_then_recently_invalid() {
    let app = TestApp::new().await;
    let first =
        app.create_key(&Auth::Admin, minimal_key()).await["id"].as_str().unwrap().to_owned();
    app.clock.advance(std::time::Duration::from_secs(60));
    let revoked =
        app.create_key(&Auth::Admin, minimal_key()).await["id"].as_str().unwrap().to_owned();
    app.clock.advance(std::time::Duration::from_secs(60));
    let last = app.create_key(&Auth::Admin, minimal_key()).await["id"].as_str().unwrap().to_owned();
    app.delete(&key_path(&revoked), &Auth::Admin).await.assert_status(StatusCode::OK);

    let body = app.get(KEYS, &Auth::Admin).await.assert_status(StatusCode::OK).json();
    assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["keys"]);
    let keys = body["keys"].as_array().unwrap();
    let summary: Vec<(&str, bool, &str)> = keys
        .iter()
        .map(|k| {
            (
                k["id"].as_str().unwrap(),
                k["invalid"].as_bool().unwrap(),
                k["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (last.as_str(), false, "valid"),
            (first.as_str(), false, "valid"),
            (revoked.as_str(), true, "revoked")
        ]
    );
    for k in keys {
        assert!(k.get("key").is_none(), "no secret in listings: {k}");
        assert_eq!(k["keyType"], "auth");
        assert!(k["capabilities"]["devices"]["create"]["tags"].is_array());
    }

    // Past the 30-day window the revoked key leaves the default listing but not `all=true`.
    app.clock.advance(31 * DAY);
    let ids = |v: Value| -> Vec<String> {
        v["keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(app.get(KEYS, &Auth::Admin).await.json()), vec![last.clone(), first.clone()]);
    assert_eq!(
        ids(app.get(&format!("{KEYS}?all=true"), &Auth::Admin).await.json()),
        vec![last, revoked, first]
    );
}

#[tokio::test]
async fn a_bad_query_is_a_json_400() {
    let app = TestApp::new().await;
    let r = app.get(&format!("{KEYS}?all=maybe"), &Auth::Admin).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("all"), "{}", r.message());
}

#[tokio::test]
async fn delete_is_an_idempotent_soft_revoke() {
    let app = TestApp::new().await;
    let id =
        app.create_key(&Auth::Admin, example_request()).await["id"].as_str().unwrap().to_owned();
    app.clock.advance(std::time::Duration::from_secs(3600));

    let first = app.delete(&key_path(&id), &Auth::Admin).await.assert_status(StatusCode::OK).json();
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["invalid"], true);
    assert_eq!(first["state"], "revoked");
    assert_eq!(first["revoked"], "2021-12-10T00:22:39Z");
    assert_eq!(first["alreadyRevoked"], false);
    assert!(first.get("key").is_none());

    app.clock.advance(std::time::Duration::from_secs(3600));
    let second =
        app.delete(&key_path(&id), &Auth::Admin).await.assert_status(StatusCode::OK).json();
    assert_eq!(second["alreadyRevoked"], true);
    assert_eq!(second["revoked"], "2021-12-10T00:22:39Z", "the first revocation time stays");

    let got = app.get(&key_path(&id), &Auth::Admin).await.assert_status(StatusCode::OK).json();
    assert_eq!(got["invalid"], true);
    assert_eq!(got["revoked"], "2021-12-10T00:22:39Z");
    assert_eq!(got["state"], "revoked");
    assert!(got.get("alreadyRevoked").is_none(), "only DELETE reports it");
}

#[tokio::test]
async fn the_secret_appears_in_the_create_response_only() {
    let app = TestApp::new().await;
    let created = app.create_key(&Auth::Admin, example_request()).await;
    let id = created["id"].as_str().unwrap();
    let secret = created["key"].as_str().unwrap();
    let secret_part = secret.rsplit('-').next().unwrap();

    let bodies = [
        app.get(KEYS, &Auth::Admin).await.text,
        app.get(&format!("{KEYS}?all=true"), &Auth::Admin).await.text,
        app.get(&key_path(id), &Auth::Admin).await.text,
        app.delete(&key_path(id), &Auth::Admin).await.text,
        app.delete(&key_path(id), &Auth::Admin).await.text,
        app.get(&key_path(id), &Auth::Admin).await.text,
    ];
    for body in bodies {
        assert!(body.contains(id), "the key is in the body: {body}");
        assert!(!body.contains(secret_part), "secret leaked: {body}");
        assert!(!body.contains("\"key\""), "no key field: {body}");
    }
}

#[tokio::test]
async fn secrets_are_never_logged() {
    let (logs, _guard) = crate::helpers::capture_logs();
    let app = TestApp::new().await;
    let token = app.user_with_token("alice").await;
    let created = app.create_key(&Auth::Basic(token.clone()), minimal_key()).await;
    let id = created["id"].as_str().unwrap();
    app.delete(&key_path(id), &Auth::Bearer(token.clone())).await.assert_status(StatusCode::OK);

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains(&format!("keygate-auth-{id}-***")), "the masked form is logged: {logs}");
    for secret in [token.as_str(), created["key"].as_str().unwrap()] {
        let secret_part = secret.rsplit('-').next().unwrap();
        assert!(!logs.contains(secret_part), "secret in the log: {logs}");
    }
}

#[tokio::test]
async fn a_key_past_its_expiry_reads_as_expired_and_invalid() {
    let app = TestApp::new().await;
    let mut body = minimal_key();
    body["expirySeconds"] = json!(86_400);
    let id = app.create_key(&Auth::Admin, body).await["id"].as_str().unwrap().to_owned();

    app.clock.advance(DAY);
    let got = app.get(&key_path(&id), &Auth::Admin).await.assert_status(StatusCode::OK).json();
    assert_eq!(got["state"], "expired");
    assert_eq!(got["invalid"], true);
    assert_eq!(got["revoked"], "2021-12-10T23:22:39Z", "invalid since the expiry");
    assert_eq!(got["expires"], "2021-12-10T23:22:39Z");

    let listed = app.get(KEYS, &Auth::Admin).await.json();
    assert_eq!(listed["keys"][0]["state"], "expired");
}

#[tokio::test]
async fn a_used_one_off_key_reads_as_used() {
    let app = TestApp::new().await;
    let id = app.create_key(&Auth::Admin, minimal_key()).await["id"].as_str().unwrap().to_owned();
    app.clock.advance(std::time::Duration::from_secs(60));
    let now = app.service.now();
    let outcome = app.store.consume_auth_key(&AuthKeyId::parse(&id).unwrap(), now).await.unwrap();
    assert!(matches!(outcome, ConsumeOutcome::Consumed { .. }));

    let got = app.get(&key_path(&id), &Auth::Admin).await.json();
    assert_eq!(got["state"], "used");
    assert_eq!(got["invalid"], true);
    assert_eq!(got["useCount"], 1);
    let used_at = now.to_rfc3339();
    assert_eq!(got["lastUsed"], used_at.as_str());
    assert_eq!(got["revoked"], used_at.as_str());
}

#[tokio::test]
async fn only_an_administrator_creates_pre_approved_keys() {
    let app = TestApp::new().await;
    let alice = Auth::Bearer(app.user_with_token("alice").await);
    let mut pre = minimal_key();
    pre["capabilities"]["devices"]["create"]["preauthorized"] = json!(true);

    // A user's own API token: 403, with the rule in the message, and no key.
    let r = app.post(KEYS, &alice, pre.clone()).await;
    r.assert_status(StatusCode::FORBIDDEN);
    assert!(
        r.message().starts_with("only an administrator may create pre-approved keys: "),
        "{}",
        r.message()
    );
    let listed = app.get(KEYS, &alice).await.json();
    assert_eq!(listed["keys"], json!([]), "{listed}");
    // The same token may create a key that waits for approval.
    app.create_key(&alice, minimal_key()).await;

    // The admin channel may.
    let body = app.create_key(&Auth::Admin, pre).await;
    assert_eq!(body["capabilities"]["devices"]["create"]["preauthorized"], true);
}
