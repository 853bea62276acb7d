//! What the router answers by itself: unknown routes, wrong methods, bad bodies. Every error
//! body is JSON.

use axum::body::Body;
use http::header::CONTENT_TYPE;
use http::{Method, Request, StatusCode};
use keygate_api::{AdminChannel, REQUEST_BODY_LIMIT};

use crate::helpers::{Auth, TestApp};

#[tokio::test]
async fn unknown_routes_under_api_v2_are_a_json_404() {
    let app = TestApp::new().await;
    for path in [
        "/api/v2/nope",
        "/api/v2/tailnet/-/webhooks",
        "/api/v2/tailnet/-/keys/k1/extra",
        "/api/v2/",
        "/api/v2",
    ] {
        for auth in [Auth::Admin, Auth::Anonymous] {
            let r = app.get(path, &auth).await;
            r.assert_status(StatusCode::NOT_FOUND);
            assert_eq!(r.message(), "not found", "{path}");
            assert_eq!(r.headers[CONTENT_TYPE], "application/json");
        }
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_with_allow() {
    let app = TestApp::new().await;
    let r = app.call(Method::PUT, "/api/v2/tailnet/-/keys", &Auth::Admin, None).await;
    r.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.message(), "method not allowed");
    assert_eq!(r.headers[CONTENT_TYPE], "application/json");
    let allow = r.headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    let r =
        app.call(Method::GET, "/api/v2/tailnet/-/tokens/tAAAAAAAAAAAA", &Auth::Admin, None).await;
    r.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    r.message();
}

async fn post_raw(
    app: &TestApp,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> crate::helpers::TestResponse {
    let mut builder = Request::builder().method(Method::POST).uri("/api/v2/tailnet/-/keys");
    if let Some(ct) = content_type {
        builder = builder.header(CONTENT_TYPE, ct);
    }
    let mut request = builder.body(body.into()).unwrap();
    request.extensions_mut().insert(AdminChannel);
    app.send(request).await
}

#[tokio::test]
async fn malformed_json_is_a_400_saying_where() {
    let app = TestApp::new().await;
    let r = post_raw(&app, Some("application/json"), r#"{"capabilities": {"devices": {}"#).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    let msg = r.message();
    assert!(msg.contains("EOF while parsing") && msg.contains("line 1"), "{msg}");

    let r = post_raw(&app, Some("application/json"), "not json").await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("expected"), "{}", r.message());

    let r = post_raw(&app, Some("application/json"), "").await;
    r.assert_status(StatusCode::BAD_REQUEST);
    r.message();
}

#[tokio::test]
async fn a_body_without_the_json_content_type_is_a_json_415() {
    let app = TestApp::new().await;
    let body = r#"{"capabilities":{"devices":{}}}"#;
    for ct in [None, Some("application/x-www-form-urlencoded"), Some("text/plain")] {
        let r = post_raw(&app, ct, body).await;
        r.assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(r.message().contains("application/json"), "{}", r.message());
    }
    post_raw(&app, Some("application/json; charset=utf-8"), body)
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn an_oversize_body_is_a_json_413() {
    let app = TestApp::new().await;
    let padding = "x".repeat(REQUEST_BODY_LIMIT);
    let body = format!(r#"{{"capabilities":{{"devices":{{}}}},"description":"{padding}"}}"#);
    let r = post_raw(&app, Some("application/json"), body).await;
    r.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    r.message();
}
