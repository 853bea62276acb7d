//! `/api/v2/tailnet/{tailnet}/devices` and `/api/v2/device/{deviceId}…`: the Device shape
//! field by field, every route, its errors, and who may see and change which device.

use http::{Method, StatusCode};
use keygate_domain::{MachineKey, NodeKey, Timestamp};
use keygate_service::{RegisterNode, RegisterOutcome};
use serde_json::{json, Value};

use crate::helpers::{Auth, TestApp, TestResponse, DAY, T0, T0_MILLIS};

const DEVICES: &str = "/api/v2/tailnet/-/devices";

fn device(id: &str) -> String {
    format!("/api/v2/device/{id}")
}

/// What node `n` reports about itself when it registers.
fn hostinfo(n: u8) -> Value {
    json!({
        "Hostname": format!("Host {n}"),
        "OS": "linux",
        "IPNVersion": "1.96.4-t8cf541dfd-g62bc84ce7",
        "RoutableIPs": ["10.0.0.0/24"],
        "NetInfo": {"PreferredDERP": 900, "WorkingUDP": true, "WorkingIPv6": false,
                    "HairPinning": false, "DERPLatency": {"900-v4": 0.004}},
    })
}

/// Creates a key for `user` (or a tagged one), enrols machine `n` with it, and returns the
/// node's id as the API shows it, and the key's id.
async fn enrol(app: &TestApp, n: u8, user: Option<&str>, tags: &[&str]) -> (String, String) {
    let mut body = json!({ "capabilities": { "devices": { "create": { "tags": tags } } } });
    if let Some(user) = user {
        body["user"] = json!(user);
    }
    let key = app.create_key(&Auth::Admin, body).await;
    let request = RegisterNode {
        machine_key: MachineKey([n; 32]),
        node_key: NodeKey([0x80 | n; 32]),
        old_node_key: NodeKey([0; 32]),
        auth_key: key["key"].as_str().map(str::to_owned),
        expiry: None,
        hostname: format!("Host {n}"),
        hostinfo_json: hostinfo(n).to_string(),
        ephemeral: false,
        request_tags: Vec::new(),
    };
    match app.tailnet.register(request).await.expect("registration works") {
        RegisterOutcome::Registered { entry, .. } => {
            (entry.node.id.to_string(), key["id"].as_str().unwrap().to_owned())
        }
        other => panic!("not registered: {other:?}"),
    }
}

async fn oauth(app: &TestApp, scopes: &[&str], tags: &[&str]) -> Auth {
    let client = app.create_oauth_client(scopes, tags).await;
    Auth::Bearer(app.access_token(client["key"].as_str().unwrap()).await)
}

fn time(offset: std::time::Duration) -> String {
    Timestamp::from_unix_millis(T0_MILLIS).plus(offset).to_rfc3339()
}

#[track_caller]
fn error(r: &TestResponse, status: StatusCode) -> String {
    r.assert_status(status);
    r.message()
}

#[tokio::test]
async fn the_device_list_has_tailscales_shape_field_by_field() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let (alice_node, alice_key) = enrol(&app, 1, Some("alice"), &[]).await;
    let (tagged_node, tagged_key) = enrol(&app, 2, None, &["tag:ci", "tag:web"]).await;
    let node = app.tailnet.node(keygate_domain::NodeId(alice_node.parse().unwrap())).unwrap();
    app.tailnet.session_started(node.node.id).await;

    let r = app.get(DEVICES, &Auth::Admin).await;
    r.assert_status(StatusCode::OK);
    let body = r.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "only `devices`: {body}");
    let devices = body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(
        devices[0],
        json!({
            "addresses": ["100.64.0.1", "fd7a:115c:a1e0::1"],
            "id": alice_node,
            "nodeId": format!("n{alice_node}"),
            "user": "alice@keygate",
            "name": "host-1.keygate.internal",
            "hostname": "Host 1",
            "clientVersion": "1.96.4-t8cf541dfd-g62bc84ce7",
            "updateAvailable": false,
            "os": "linux",
            "created": T0,
            "lastSeen": T0,
            "expires": time(180 * DAY),
            "keyExpiryDisabled": false,
            "authorized": true,
            "isExternal": false,
            "isEphemeral": false,
            "machineKey": format!("mkey:{}", "01".repeat(32)),
            "nodeKey": format!("nodekey:{}", "81".repeat(32)),
            "blocksIncomingConnections": false,
            "tags": [],
            "tailnetLockKey": "",
            "tailnetLockError": "",
            "authKeyId": alice_key,
            "online": true,
        })
    );
    let tagged = &devices[1];
    assert_eq!(tagged["id"], tagged_node.as_str());
    assert_eq!(tagged["user"], "", "tags are a tagged device's identity");
    assert_eq!(tagged["tags"], json!(["tag:ci", "tag:web"]));
    assert_eq!((&tagged["expires"], &tagged["keyExpiryDisabled"]), (&json!(""), &json!(true)));
    assert_eq!((&tagged["lastSeen"], &tagged["online"]), (&json!(""), &json!(false)));
    assert_eq!(tagged["authKeyId"], tagged_key.as_str());
    assert_eq!(tagged["addresses"], json!(["100.64.0.2", "fd7a:115c:a1e0::2"]));

    // `fields=all` adds routes and connectivity; the default fields stay the same.
    let all = app.get(&format!("{DEVICES}?fields=all"), &Auth::Admin).await.json();
    let first = all["devices"][0].as_object().unwrap();
    assert_eq!(first["advertisedRoutes"], json!(["10.0.0.0/24"]));
    assert_eq!(first["enabledRoutes"], json!([]));
    assert_eq!(
        first["clientConnectivity"],
        json!({
            "endpoints": [],
            "derp": "900",
            "mappingVariesByDestIP": false,
            "latency": {"900": {"preferred": true, "latencyMs": 4.0}},
            "clientSupports": {"hairPinning": false, "ipv6": false, "pcp": false,
                               "pmp": false, "udp": true, "upnp": false},
        })
    );
    for (k, v) in devices[0].as_object().unwrap() {
        assert_eq!(&first[k], v, "{k} is the same with fields=all");
    }
    let default = app.get(&format!("{DEVICES}?fields=default"), &Auth::Admin).await.json();
    assert_eq!(default, body);
    let bad = app.get(&format!("{DEVICES}?fields=some"), &Auth::Admin).await;
    assert!(error(&bad, StatusCode::BAD_REQUEST).contains("fields=all"));
}

#[tokio::test]
async fn one_device_is_read_by_numeric_or_node_id_and_unknown_ids_are_404() {
    let app = TestApp::new().await;
    let (id, _) = enrol(&app, 1, None, &["tag:ci"]).await;
    let listed = app.get(DEVICES, &Auth::Admin).await.json()["devices"][0].clone();
    let by_id = app.get(&device(&id), &Auth::Admin).await;
    by_id.assert_status(StatusCode::OK);
    assert_eq!(by_id.json(), listed);
    assert_eq!(app.get(&device(&format!("n{id}")), &Auth::Admin).await.json(), listed);
    let all = app.get(&format!("{}?fields=all", device(&id)), &Auth::Admin).await.json();
    assert!(all["clientConnectivity"].is_object());

    for unknown in ["99", "n99", "abc", "0", "-1"] {
        for method in [Method::GET, Method::DELETE] {
            let r = app.call(method.clone(), &device(unknown), &Auth::Admin, None).await;
            error(&r, StatusCode::NOT_FOUND);
        }
        let r = app.post(&format!("{}/expire", device(unknown)), &Auth::Admin, json!({})).await;
        error(&r, StatusCode::NOT_FOUND);
        let body = json!({ "authorized": true });
        let r = app.post(&format!("{}/authorized", device(unknown)), &Auth::Admin, body).await;
        error(&r, StatusCode::NOT_FOUND);
    }
    error(&app.get("/api/v2/tailnet/other/devices", &Auth::Admin).await, StatusCode::NOT_FOUND);
    error(&app.get(DEVICES, &Auth::Anonymous).await, StatusCode::UNAUTHORIZED);
    let put = app.call(Method::PUT, &device(&id), &Auth::Admin, None).await;
    error(&put, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn approval_lets_a_waiting_device_in_and_can_be_taken_back() {
    let app = TestApp::new().await;
    app.patch("/api/v2/tailnet/-/settings", &Auth::Admin, json!({ "devicesApprovalOn": true }))
        .await
        .assert_status(StatusCode::OK);
    let (id, _) = enrol(&app, 1, None, &[]).await;
    assert_eq!(app.get(&device(&id), &Auth::Admin).await.json()["authorized"], false);

    let path = format!("{}/authorized", device(&id));
    let r = app.post(&path, &Auth::Admin, json!({ "authorized": true })).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json()["authorized"], true);
    assert_eq!(app.get(&device(&id), &Auth::Admin).await.json()["authorized"], true);
    let r = app.post(&path, &Auth::Admin, json!({ "authorized": false })).await;
    assert_eq!(r.json()["authorized"], false);

    let missing = app.post(&path, &Auth::Admin, json!({})).await;
    assert!(error(&missing, StatusCode::BAD_REQUEST).contains("authorized"));
    let wrong_type = app.post(&path, &Auth::Admin, json!({ "authorized": "yes" })).await;
    error(&wrong_type, StatusCode::BAD_REQUEST);
    let not_json = app
        .send(
            http::Request::post(&path)
                .extension(keygate_api::AdminChannel)
                .body(axum::body::Body::from(r#"{"authorized":true}"#))
                .unwrap(),
        )
        .await;
    error(&not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn tags_turn_a_users_device_into_a_tagged_one_without_expiry() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let (id, _) = enrol(&app, 1, Some("alice"), &[]).await;
    let path = format!("{}/tags", device(&id));

    // `null` (the Go client's empty list) leaves a user's device as it is.
    let r = app.post(&path, &Auth::Admin, json!({ "tags": null })).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json()["user"], "alice@keygate");

    let r = app.post(&path, &Auth::Admin, json!({ "tags": ["tag:server", "tag:db"] })).await;
    r.assert_status(StatusCode::OK);
    let d = r.json();
    assert_eq!(d["tags"], json!(["tag:db", "tag:server"]));
    assert_eq!(
        (&d["user"], &d["expires"], &d["keyExpiryDisabled"]),
        (&json!(""), &json!(""), &json!(true))
    );

    let r = app.post(&path, &Auth::Admin, json!({ "tags": ["tag:web"] })).await;
    assert_eq!(r.json()["tags"], json!(["tag:web"]));
    let r = app.post(&path, &Auth::Admin, json!({ "tags": [] })).await;
    assert!(error(&r, StatusCode::BAD_REQUEST).contains("at least one tag"));
    let r = app.post(&path, &Auth::Admin, json!({ "tags": ["server"] })).await;
    error(&r, StatusCode::BAD_REQUEST);
    let r = app.post(&path, &Auth::Admin, json!({ "tag": ["tag:x"] })).await;
    error(&r, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tags_must_be_defined_by_the_policy_s_tag_owners() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let (id, _) = enrol(&app, 1, Some("alice"), &[]).await;
    let policy = r#"{"tagOwners": {"tag:server": ["alice@keygate"]},
                     "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}"#;
    let saved = app
        .send(
            http::Request::post("/api/v2/tailnet/-/acl")
                .header(http::header::CONTENT_TYPE, "application/hujson")
                .extension(keygate_api::AdminChannel)
                .body(axum::body::Body::from(policy))
                .unwrap(),
        )
        .await;
    saved.assert_status(StatusCode::OK);
    let path = format!("{}/tags", device(&id));
    let r = app.post(&path, &Auth::Admin, json!({ "tags": ["tag:other"] })).await;
    let message = error(&r, StatusCode::BAD_REQUEST);
    assert!(
        message.starts_with("requested tags [tag:other] are invalid or not permitted"),
        "{message}"
    );
    let r = app.post(&path, &Auth::Admin, json!({ "tags": ["tag:server"] })).await;
    r.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn key_expiry_is_turned_off_and_on_and_expire_forces_a_new_login() {
    let app = TestApp::new().await;
    let (id, _) = enrol(&app, 1, None, &[]).await;
    let key = format!("{}/key", device(&id));

    let r = app.post(&key, &Auth::Admin, json!({ "keyExpiryDisabled": true })).await;
    r.assert_status(StatusCode::OK);
    assert_eq!((&r.json()["expires"], &r.json()["keyExpiryDisabled"]), (&json!(""), &json!(true)));

    app.clock.advance(DAY);
    let r = app.post(&key, &Auth::Admin, json!({ "keyExpiryDisabled": false })).await;
    let d = r.json();
    assert_eq!(d["expires"], time(181 * DAY), "a full lifetime from now");
    assert_eq!(d["keyExpiryDisabled"], false);
    error(&app.post(&key, &Auth::Admin, json!({})).await, StatusCode::BAD_REQUEST);

    let r = app.post(&format!("{}/expire", device(&id)), &Auth::Admin, json!({})).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json()["expires"], time(DAY), "expired now");

    // A tagged device has no expiry to turn on.
    let (tagged, _) = enrol(&app, 2, None, &["tag:ci"]).await;
    let path = format!("{}/key", device(&tagged));
    let r = app.post(&path, &Auth::Admin, json!({ "keyExpiryDisabled": false })).await;
    assert!(error(&r, StatusCode::BAD_REQUEST).contains("tagged"));
    app.post(&path, &Auth::Admin, json!({ "keyExpiryDisabled": true }))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn delete_removes_the_device_and_answers_with_it() {
    let app = TestApp::new().await;
    let (id, _) = enrol(&app, 1, None, &[]).await;
    let before = app.get(&device(&id), &Auth::Admin).await.json();
    let r = app.delete(&device(&id), &Auth::Admin).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json(), before);
    error(&app.get(&device(&id), &Auth::Admin).await, StatusCode::NOT_FOUND);
    error(&app.delete(&device(&id), &Auth::Admin).await, StatusCode::NOT_FOUND);
    assert_eq!(app.get(DEVICES, &Auth::Admin).await.json(), json!({ "devices": [] }));
}

#[tokio::test]
async fn a_user_token_sees_and_changes_only_its_own_devices() {
    let app = TestApp::new().await;
    let alice = Auth::Basic(app.user_with_token("alice").await);
    app.create_user("bob").await;
    let (mine, _) = enrol(&app, 1, Some("alice"), &[]).await;
    let (bobs, _) = enrol(&app, 2, Some("bob"), &[]).await;
    let (tagged, _) = enrol(&app, 3, None, &["tag:ci"]).await;

    let listed = app.get(DEVICES, &alice).await.json();
    let ids: Vec<&str> =
        listed["devices"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![mine.as_str()]);
    app.get(&device(&mine), &alice).await.assert_status(StatusCode::OK);
    for other in [&bobs, &tagged] {
        error(&app.get(&device(other), &alice).await, StatusCode::NOT_FOUND);
        error(&app.delete(&device(other), &alice).await, StatusCode::NOT_FOUND);
        let r = app.post(&format!("{}/expire", device(other)), &alice, json!({})).await;
        error(&r, StatusCode::NOT_FOUND);
        let body = json!({ "authorized": true });
        let r = app.post(&format!("{}/authorized", device(other)), &alice, body).await;
        error(&r, StatusCode::NOT_FOUND);
    }

    // Approval and key expiry are the administrator's.
    let r = app
        .post(&format!("{}/authorized", device(&mine)), &alice, json!({ "authorized": true }))
        .await;
    assert!(error(&r, StatusCode::FORBIDDEN).contains("administrator"));
    let r = app
        .post(&format!("{}/key", device(&mine)), &alice, json!({ "keyExpiryDisabled": true }))
        .await;
    error(&r, StatusCode::FORBIDDEN);
    app.post(&format!("{}/expire", device(&mine)), &alice, json!({}))
        .await
        .assert_status(StatusCode::OK);
    app.delete(&device(&mine), &alice).await.assert_status(StatusCode::OK);
    assert_eq!(app.get(DEVICES, &alice).await.json(), json!({ "devices": [] }));
}

#[tokio::test]
async fn oauth_scopes_decide_device_access_and_tags_must_be_the_client_s() {
    let app = TestApp::new().await;
    let (id, _) = enrol(&app, 1, None, &[]).await;
    let keys_only = oauth(&app, &["auth_keys"], &["tag:ci"]).await;
    let reader = oauth(&app, &["devices:core:read"], &[]).await;
    let writer = oauth(&app, &["devices:core"], &["tag:ci"]).await;

    let r = app.get(DEVICES, &keys_only).await;
    assert!(error(&r, StatusCode::FORBIDDEN).ends_with("requires scope devices:core:read"));
    error(&app.get(&device(&id), &keys_only).await, StatusCode::FORBIDDEN);
    for auth in [&reader, &writer] {
        let listed = app.get(DEVICES, auth).await.json();
        assert_eq!(listed["devices"].as_array().unwrap().len(), 1);
        app.get(&device(&id), auth).await.assert_status(StatusCode::OK);
    }
    let writes: [(Method, String, Option<Value>); 5] = [
        (Method::POST, format!("{}/authorized", device(&id)), Some(json!({ "authorized": true }))),
        (Method::POST, format!("{}/key", device(&id)), Some(json!({ "keyExpiryDisabled": true }))),
        (Method::POST, format!("{}/tags", device(&id)), Some(json!({ "tags": ["tag:ci"] }))),
        (Method::POST, format!("{}/expire", device(&id)), None),
        (Method::DELETE, device(&id), None),
    ];
    for (method, path, body) in &writes {
        let r = app.call(method.clone(), path, &reader, body.clone()).await;
        assert!(
            error(&r, StatusCode::FORBIDDEN).ends_with("requires scope devices:core"),
            "{path}"
        );
    }
    let r =
        app.post(&format!("{}/tags", device(&id)), &writer, json!({ "tags": ["tag:other"] })).await;
    assert!(error(&r, StatusCode::BAD_REQUEST).contains("only its own tags"));
    for (method, path, body) in writes {
        let r = app.call(method, &path, &writer, body).await;
        r.assert_status(StatusCode::OK);
    }
}

#[tokio::test]
async fn device_changes_and_key_uses_are_audited() {
    let app = TestApp::new().await;
    let (id, key_id) = enrol(&app, 1, None, &[]).await;
    let d = device(&id);
    app.post(&format!("{d}/authorized"), &Auth::Admin, json!({ "authorized": false })).await;
    app.post(&format!("{d}/key"), &Auth::Admin, json!({ "keyExpiryDisabled": true })).await;
    app.post(&format!("{d}/tags"), &Auth::Admin, json!({ "tags": ["tag:ci"] })).await;
    app.post(&format!("{d}/expire"), &Auth::Admin, json!({})).await;
    app.delete(&d, &Auth::Admin).await.assert_status(StatusCode::OK);

    let log = app.get("/api/v2/tailnet/-/audit", &Auth::Admin).await.json();
    let entries: Vec<(String, String, String)> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|e| e["action"].as_str().unwrap().starts_with("node.") || e["action"] == "key.use")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_owned();
            (s("actor"), s("action"), s("target"))
        })
        .collect();
    let admin = |action: &str| ("admin".to_owned(), action.to_owned(), id.clone());
    assert_eq!(
        entries,
        vec![
            (format!("node:{id}"), "key.use".to_owned(), key_id),
            admin("node.approve"),
            admin("node.expiry"),
            admin("node.tags"),
            admin("node.expiry"),
            admin("node.delete"),
        ]
    );
}
