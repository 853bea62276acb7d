//! `POST /console/admins` on the admin socket (for `keygate admin create`).

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use keygate_console::admin_socket_router;
use tower::ServiceExt;

use crate::helpers::{TestConsole, PASSWORD};

/// The marker the server puts on admin-socket requests.
#[derive(Clone)]
struct Local;

async fn post(router: axum::Router, marked: bool, body: &str) -> (StatusCode, String) {
    let mut req = Request::post("/console/admins")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    if marked {
        req.extensions_mut().insert(Local);
    }
    let response = router.oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn create(name: &str, password: &str) -> String {
    serde_json::json!({ "name": name, "password": password }).to_string()
}

#[tokio::test]
async fn admins_are_created_only_on_the_admin_socket() {
    let console = TestConsole::new().await;
    let router = admin_socket_router::<Local>(console.service.clone());
    let (status, body) = post(router.clone(), false, &create("alice", PASSWORD)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(console.service.console_admin_count().await.unwrap(), 0);

    let (status, body) = post(router.clone(), true, &create("alice", PASSWORD)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: keygate_console::CreatedAdmin = serde_json::from_str(&body).unwrap();
    assert_eq!(created.name, "alice");
    assert!(!body.contains(PASSWORD));

    let (status, body) = post(router, true, &create("alice", PASSWORD)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains(r#"console admin \"alice\" already exists"#), "{body}");
}

#[tokio::test]
async fn bad_names_and_passwords_are_refused_with_a_message() {
    let console = TestConsole::new().await;
    let router = admin_socket_router::<Local>(console.service.clone());
    let (status, body) = post(router.clone(), true, &create("Alice Smith", PASSWORD)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid admin name"), "{body}");
    let (status, body) = post(router.clone(), true, &create("alice", "short")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("the password is too short: use at least 12 characters"), "{body}");
    let (status, _) = post(router, true, "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(console.service.console_admin_count().await.unwrap(), 0);
}
