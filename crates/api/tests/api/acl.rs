//! `/api/v2/tailnet/{tailnet}/acl`: the policy file in HuJSON and JSON, ETag / If-Match, and
//! validation in Tailscale's shapes.

use axum::body::Body;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH};
use http::{Method, Request, StatusCode};
use keygate_api::AdminChannel;
use keygate_policy::DEFAULT_POLICY;
use serde_json::{json, Value};

use crate::helpers::{Auth, TestApp, TestResponse};

const ACL: &str = "/api/v2/tailnet/-/acl";
const VALIDATE: &str = "/api/v2/tailnet/-/acl/validate";
const HUJSON: &str = "application/hujson";

/// A policy with a comment and trailing commas, as an admin would write it.
const POLICY: &str = r#"// Engineers reach the web servers.
{
  "groups": {"group:eng": ["alice", "bob"],},
  "tagOwners": {"tag:web": ["alice"]},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:web:443"]},
  ],
  "tests": [{"src": "alice", "accept": ["tag:web:443"]}],
}
"#;

/// A request to the API as an admin (admin socket) with the given headers and body.
fn request(method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(Body::from(body.to_owned())).expect("request builds");
    request.extensions_mut().insert(AdminChannel);
    request
}

async fn get_acl(app: &TestApp, accept: Option<&str>) -> TestResponse {
    let headers: Vec<(&str, &str)> = accept.map(|a| (ACCEPT.as_str(), a)).into_iter().collect();
    app.send(request(Method::GET, ACL, &headers, "")).await
}

async fn post_acl(app: &TestApp, text: &str, if_match: Option<&str>) -> TestResponse {
    let mut headers = vec![(CONTENT_TYPE.as_str(), HUJSON), (ACCEPT.as_str(), HUJSON)];
    if let Some(tag) = if_match {
        headers.push((IF_MATCH.as_str(), tag));
    }
    app.send(request(Method::POST, ACL, &headers, text)).await
}

async fn validate(app: &TestApp, text: &str) -> Value {
    let r =
        app.send(request(Method::POST, VALIDATE, &[(CONTENT_TYPE.as_str(), HUJSON)], text)).await;
    r.assert_status(StatusCode::OK);
    r.json()
}

fn etag(r: &TestResponse) -> String {
    r.headers[ETAG].to_str().expect("ETag is text").to_owned()
}

#[tokio::test]
async fn get_returns_the_default_policy_as_hujson_or_json_with_an_etag() {
    let app = TestApp::new().await;
    let r = get_acl(&app, Some(HUJSON)).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.headers[CONTENT_TYPE], HUJSON);
    assert_eq!(r.text, DEFAULT_POLICY);
    assert_eq!(etag(&r), "\"0\"");

    for accept in [None, Some("application/json")] {
        let r = get_acl(&app, accept).await;
        r.assert_status(StatusCode::OK);
        assert_eq!(r.headers[CONTENT_TYPE], "application/json");
        assert_eq!(r.json(), json!({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}));
        assert_eq!(etag(&r), "\"0\"");
    }
}

#[tokio::test]
async fn details_carry_the_file_in_base64_as_tailscales_go_client_reads_it() {
    let app = TestApp::new().await;
    let r = app
        .send(request(Method::GET, &format!("{ACL}?details=1"), &[(ACCEPT.as_str(), HUJSON)], ""))
        .await;
    r.assert_status(StatusCode::OK);
    let body = r.json();
    assert_eq!(body["warnings"], json!([]));
    let acl = STANDARD.decode(body["acl"].as_str().expect("acl")).expect("base64");
    assert_eq!(String::from_utf8(acl).unwrap(), DEFAULT_POLICY);
    assert_eq!(etag(&r), "\"0\"");
}

#[tokio::test]
async fn a_saved_policy_comes_back_verbatim_with_a_new_etag() {
    let app = TestApp::new().await;
    let r = post_acl(&app, POLICY, None).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.text, POLICY);
    let saved = etag(&r);
    assert_ne!(saved, "\"0\"");

    let r = get_acl(&app, Some(HUJSON)).await;
    assert_eq!((r.text.as_str(), etag(&r)), (POLICY, saved.clone()));
    let r = get_acl(&app, None).await;
    assert_eq!(r.json()["groups"], json!({"group:eng": ["alice", "bob"]}));
    assert_eq!(etag(&r), saved);
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::new().await;
    let first = post_acl(&app, POLICY, Some("\"0\"")).await;
    first.assert_status(StatusCode::OK);
    let first_tag = etag(&first);

    // Another editor who read the default policy.
    let r = post_acl(&app, "{}", Some("\"0\"")).await;
    r.assert_status(StatusCode::PRECONDITION_FAILED);
    assert!(r.message().contains("precondition failed"), "{}", r.message());
    let r = post_acl(&app, "{}", Some("ts-default")).await;
    r.assert_status(StatusCode::PRECONDITION_FAILED);
    let r = get_acl(&app, Some(HUJSON)).await;
    assert_eq!((r.text.as_str(), etag(&r)), (POLICY, first_tag.clone()));

    // With the current ETag the save goes through.
    let r = post_acl(&app, "{}", Some(&first_tag)).await;
    r.assert_status(StatusCode::OK);
    assert_ne!(etag(&r), first_tag);
}

#[tokio::test]
async fn an_invalid_policy_is_400_naming_the_line_and_column() {
    let app = TestApp::new().await;
    let text = "{\n  \"acls\": [\n    {\"action\": \"accept\", \"src\": [\"group:nope\"], \"dst\": [\"*:*\"]},\n  ],\n}";
    let r = post_acl(&app, text, None).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json(),
        json!({"message": "line 3, column 34: acls[0].src[0]: unknown group \"group:nope\": define it under \"groups\""})
    );
    let r = post_acl(&app, "{\n  \"ssh\": [],\n}", None).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().starts_with("line 2, column 3: unknown field `ssh`"), "{}", r.message());
    assert_eq!(etag(&get_acl(&app, None).await), "\"0\"", "nothing was saved");
}

#[tokio::test]
async fn failing_tests_are_400_in_tailscales_data_shape() {
    let app = TestApp::new().await;
    let text = POLICY.replace(r#""src": "alice""#, r#""src": "carol""#);
    let r = post_acl(&app, &text, None).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    let body = r.json();
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("test(s) failed: line 8, column "), "{message}");
    assert!(message.contains("carol should reach tag:web:443"), "{message}");
    assert_eq!(body["data"][0]["user"], "carol");
    assert_eq!(body["data"][0]["errors"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn validate_answers_200_with_an_empty_object_or_the_problems() {
    let app = TestApp::new().await;
    assert_eq!(validate(&app, POLICY).await, json!({}));

    let body = validate(&app, "{\"acls\": [}").await;
    assert!(body["message"].as_str().unwrap().starts_with("line 1, column 11:"), "{body}");
    assert!(body.get("data").is_none());

    let failing = POLICY.replace(r#""accept": ["tag:web:443"]"#, r#""deny": ["tag:web:443"]"#);
    let body = validate(&app, &failing).await;
    assert_eq!(body["data"][0]["user"], "alice", "{body}");
    assert!(
        body["data"][0]["errors"][0].as_str().unwrap().contains("but acls[0] accepts it"),
        "{body}"
    );

    // Nothing was saved by validating.
    assert_eq!(etag(&get_acl(&app, None).await), "\"0\"");
}

#[tokio::test]
async fn validate_runs_a_tests_array_against_the_policy_in_force() {
    let app = TestApp::new().await;
    post_acl(&app, POLICY, None).await.assert_status(StatusCode::OK);
    assert_eq!(validate(&app, r#"[{"src": "bob", "accept": ["tag:web:443"]}]"#).await, json!({}));
    let body = validate(&app, r#"[{"src": "bob", "deny": ["tag:web:443"]}]"#).await;
    assert_eq!(body["data"][0]["user"], "bob", "{body}");
}

#[tokio::test]
async fn only_admins_and_oauth_scope_all_may_use_the_policy() {
    let app = TestApp::new().await;
    let alice = app.user_with_token("alice").await;
    let anonymous = app.get(ACL, &Auth::Anonymous).await;
    anonymous.assert_status(StatusCode::UNAUTHORIZED);
    let r = app.get(ACL, &Auth::Bearer(alice.clone())).await;
    r.assert_status(StatusCode::FORBIDDEN);

    let mut post = Request::builder()
        .method(Method::POST)
        .uri(ACL)
        .header(CONTENT_TYPE, HUJSON)
        .header(AUTHORIZATION, format!("Bearer {alice}"))
        .body(Body::from("{}"))
        .unwrap();
    let r = app.send(post).await;
    r.assert_status(StatusCode::FORBIDDEN);

    let all = app.create_oauth_client(&["all"], &["tag:ci"]).await;
    let token = app.access_token(all["key"].as_str().unwrap()).await;
    app.get(ACL, &Auth::Bearer(token.clone())).await.assert_status(StatusCode::OK);
    post = Request::builder()
        .method(Method::POST)
        .uri(ACL)
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from("{}"))
        .unwrap();
    app.send(post).await.assert_status(StatusCode::OK);

    let keys_only = app.create_oauth_client(&["auth_keys"], &["tag:ci"]).await;
    let token = app.access_token(keys_only["key"].as_str().unwrap()).await;
    app.get(ACL, &Auth::Bearer(token)).await.assert_status(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_body_that_is_not_hujson_or_json_is_415() {
    let app = TestApp::new().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = app
            .send(request(Method::POST, ACL, &[(CONTENT_TYPE.as_str(), content_type)], "{}"))
            .await;
        r.assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let r = app.send(request(Method::POST, ACL, &[], "{}")).await;
    r.assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = app
        .send(request(
            Method::POST,
            ACL,
            &[(CONTENT_TYPE.as_str(), "application/hujson; charset=utf-8")],
            "{}",
        ))
        .await;
    r.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn a_policy_larger_than_the_general_body_limit_is_accepted() {
    let app = TestApp::new().await;
    let rules: Vec<String> = (0..2_000)
        .map(|i| format!("    {{\"action\": \"accept\", \"src\": [\"user{i}\"], \"dst\": [\"user{i}:22\"]}},"))
        .collect();
    let text = format!("{{\n  \"acls\": [\n{}\n  ],\n}}\n", rules.join("\n"));
    assert!(text.len() > keygate_api::REQUEST_BODY_LIMIT);
    let r = post_acl(&app, &text, None).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.text, text);
}

#[tokio::test]
async fn keys_with_tags_their_user_does_not_own_are_refused_naming_the_tag() {
    let app = TestApp::new().await;
    app.create_user("alice").await;
    app.create_user("bob").await;
    post_acl(&app, POLICY, None).await.assert_status(StatusCode::OK);
    let key = |user: &str| json!({"user": user, "capabilities": {"devices": {"create": {"tags": ["tag:web"]}}}});
    let r = app.post("/api/v2/tailnet/-/keys", &Auth::Admin, key("bob")).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("tag:web") && r.message().contains("bob"), "{}", r.message());
    app.create_key(&Auth::Admin, key("alice")).await;
}
