//! `POST /machine/register` over the real transport.

use std::time::Duration;

use keygate_domain::KeyRejected;
use keygate_service::{Actor, NewKeyRequest};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_node_registers_with_a_key_and_again_after_a_restart() {
    let server = TestServer::start().await;
    let key = server.key(NewKeyRequest::default()).await;
    let node = server.node("laptop").await;
    let response = node.register(Some(&key)).await;
    assert_eq!(response.error, "");
    assert!(response.machine_authorized && !response.node_key_expired);
    assert_eq!(response.auth_url, "");
    assert_eq!(response.login.provider, "keygate");
    assert_eq!(response.login.login_name, "admin@keygate");
    assert_eq!(response.user.display_name, "admin");

    // A restarted node (new connection, same keys) re-sends its now spent one-off key.
    let restarted = server.connect(node.identity.clone(), "laptop").await;
    let again = restarted.register(Some(&key)).await;
    assert_eq!(again.error, "");
    assert_eq!(again.user.id, response.user.id);
    assert_eq!(server.tailnet.list_nodes(&Actor::Admin).len(), 1);
}

#[tokio::test]
async fn refusals_are_http_200_with_the_reason_in_error() {
    let server = TestServer::start().await;
    let expected = |r: KeyRejected| r.to_string();

    let unknown = format!("keygate-auth-kAAAAAAAAAAAA-{}", "1".repeat(64));
    let node = server.node("probe").await;
    assert_eq!(node.register(Some(&unknown)).await.error, expected(KeyRejected::Unknown));
    assert_eq!(node.register(Some("not-a-key")).await.error, expected(KeyRejected::Unknown));

    let spent = server.key(NewKeyRequest::default()).await;
    assert_eq!(server.node("first").await.register(Some(&spent)).await.error, "");
    assert_eq!(node.register(Some(&spent)).await.error, expected(KeyRejected::AlreadyUsed));

    let revoked = server.key(NewKeyRequest::default()).await;
    let id = revoked.split('-').nth(2).unwrap().to_owned();
    server.service.revoke_auth_key(&Actor::Admin, &id).await.unwrap();
    assert_eq!(node.register(Some(&revoked)).await.error, expected(KeyRejected::Revoked));

    let expiring = server.key(NewKeyRequest::default()).await;
    server.clock.advance(Duration::from_secs(91 * 86_400));
    assert_eq!(node.register(Some(&expiring)).await.error, expected(KeyRejected::Expired));

    let none = node.register(None).await;
    assert!(
        none.error.starts_with("no auth key: this server enrols nodes with auth keys only"),
        "{}",
        none.error
    );
    assert!(
        none.error.contains(&format!("--login-server http://{}", server.addr)),
        "{}",
        none.error
    );
    assert!(!none.machine_authorized);
    assert_eq!(server.tailnet.list_nodes(&Actor::Admin).len(), 1);
}

#[tokio::test]
async fn a_too_old_client_is_told_in_error() {
    let server = TestServer::start().await;
    let node = server.node("old").await;
    let mut body = node.register_body(Some("whatever"));
    body["Version"] = json!(60);
    let (status, bytes) = node.post_read("/machine/register", &body).await;
    assert_eq!(status, http::StatusCode::OK);
    let response: keygate_tailcfg::RegisterResponse = serde_json::from_slice(&bytes).unwrap();
    assert!(response.error.contains("unsupported client version 60"), "{}", response.error);
}

#[tokio::test]
async fn a_malformed_body_is_a_json_400() {
    let server = TestServer::start().await;
    let node = server.node("bad").await;
    let (status, bytes) =
        node.post_read("/machine/register", &json!(["not", "an", "object"])).await;
    assert_eq!(status, http::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(body["message"].as_str().unwrap().contains("RegisterRequest"));
}

/// Log lines of this thread's tracing, captured (a current-thread test runs the server's tasks
/// on this thread too).
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_malformed_body_is_never_echoed_into_the_log() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start().await;
    let node = server.node("leaky").await;
    // An auth key in a field of the wrong type: serde's error quotes the value.
    let secret = "keygate-auth-kLEAKLEAKLEAK-00112233445566778899aabbccddeeff";
    for path in ["/machine/register", "/machine/map"] {
        let (status, bytes) = node.post_read(path, &json!({ "Version": secret })).await;
        assert_eq!(status, http::StatusCode::BAD_REQUEST, "{path}");
        let body = String::from_utf8_lossy(&bytes);
        assert!(body.contains("JSON"), "the client is told what was wrong: {body}");
    }
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("control request refused"), "the refusals are logged: {text}");
    assert!(!text.contains("LEAKLEAK"), "no log line repeats the request: {text}");
}
