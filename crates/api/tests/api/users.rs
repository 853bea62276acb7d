//! `/api/v2/tailnet/{tailnet}/users`.

use http::StatusCode;
use serde_json::json;

use crate::helpers::{Auth, TestApp, T0};

const USERS: &str = "/api/v2/tailnet/-/users";

#[tokio::test]
async fn create_returns_the_user_object() {
    let app = TestApp::new().await;
    let user = app.create_user("alice").await;
    let id = user["id"].as_str().expect("id is a string").to_owned();
    assert!(id.parse::<i64>().is_ok(), "{id}");
    assert_eq!(
        user,
        json!({
            "id": id,
            "displayName": "alice",
            "loginName": "alice@keygate",
            "name": "alice",
            "created": T0,
            "role": "member",
            "status": "active",
            "type": "member",
        })
    );
    let typed: keygate_api::User = serde_json::from_value(user).unwrap();
    assert_eq!(typed.kind, "member");
}

#[tokio::test]
async fn list_has_the_users_envelope() {
    let app = TestApp::new().await;
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob@example.com").await;
    assert_eq!(bob["loginName"], "bob@example.com");

    let r = app.get(USERS, &Auth::Admin).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json(), json!({ "users": [alice, bob] }));
}

#[tokio::test]
async fn a_user_token_lists_only_its_own_user() {
    let app = TestApp::new().await;
    let alice = Auth::Basic(app.user_with_token("alice").await);
    app.create_user("bob").await;
    let body = app.get(USERS, &alice).await.assert_status(StatusCode::OK).json();
    let names: Vec<&str> =
        body["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["alice"]);
}

#[tokio::test]
async fn a_taken_name_is_409_and_a_bad_one_400() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    let r = app.post(USERS, &Auth::Admin, json!({ "name": "alice" })).await;
    r.assert_status(StatusCode::CONFLICT);
    assert_eq!(r.message(), "user \"alice\" already exists");

    let r = app.post(USERS, &Auth::Admin, json!({ "name": "Alice Smith" })).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("invalid user name \"Alice Smith\""), "{}", r.message());

    let r = app.post(USERS, &Auth::Admin, json!({})).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("missing field `name`"), "{}", r.message());
}
