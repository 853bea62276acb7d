//! `/key`, the `/ts2021` upgrade, and the HTTP/2 router inside Noise.

use bytes::Bytes;
use http::{header, Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use keygate_noise::upgrade::{encode_handshake_header, HANDSHAKE_HEADER, UPGRADE_PROTOCOL};
use keygate_noise::{read_response, Initiator, MachinePrivateKey};
use rand::rngs::OsRng;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Sends one HTTP/1.1 request on a fresh connection and reads the whole answer.
async fn http1(
    server: &TestServer,
    request: Request<Empty<Bytes>>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let response = tokio::time::timeout(STEP, sender.send_request(request)).await.unwrap().unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

/// Runs the `/ts2021` upgrade as a node with `machine` announcing capability `version` (which
/// `keygate-node` cannot: it always announces its own), and returns the handshake error the
/// server sent after switching protocols, or `None` if the handshake succeeded.
async fn upgrade_error(
    server: &TestServer,
    machine: &MachinePrivateKey,
    version: u16,
) -> Option<String> {
    let server_key = keygate_node::fetch_server_key(&server.url()).await.unwrap();
    let (initiator, init) = Initiator::new(machine, &server_key, version, &mut OsRng).unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn.with_upgrades());
    let request = Request::post("/ts2021")
        .header(header::HOST, server.addr.to_string())
        .header(header::UPGRADE, UPGRADE_PROTOCOL)
        .header(header::CONNECTION, "upgrade")
        .header(HANDSHAKE_HEADER, encode_handshake_header(&init))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = tokio::time::timeout(STEP, sender.send_request(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()[header::UPGRADE], UPGRADE_PROTOCOL);
    let mut io = TokioIo::new(hyper::upgrade::on(response).await.unwrap());
    let reply = match tokio::time::timeout(STEP, read_response(&mut io)).await.unwrap() {
        Ok(reply) => reply,
        Err(e) => return Some(e.to_string()),
    };
    let established = initiator.finish(&reply).unwrap();
    assert_eq!(established.session.peer, server_key);
    None
}

#[tokio::test]
async fn key_serves_the_noise_key_as_json_even_for_absolute_form_targets() {
    let server = TestServer::start().await;
    for target in [format!("/key?v={CAPVER}"), format!("http://{}/key?v=130", server.addr)] {
        // tailscale-rs: absolute-form target and a Host without the port.
        let request = Request::get(target.as_str())
            .header(header::HOST, "127.0.0.1")
            .body(Empty::new())
            .unwrap();
        let (status, headers, body) = http1(&server, request).await;
        assert_eq!(status, StatusCode::OK, "{target}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["legacyPublicKey"], format!("mkey:{}", "0".repeat(64)));
        assert_eq!(body["publicKey"], server.control.public_key().to_string());
    }
    let request = Request::get("/key").header(header::HOST, "x").body(Empty::new()).unwrap();
    let (status, _, body) = http1(&server, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["message"].is_string());
}

#[tokio::test]
async fn ts2021_without_upgrade_is_a_400() {
    let server = TestServer::start().await;
    let request = Request::post("/ts2021").header(header::HOST, "x").body(Empty::new()).unwrap();
    let (status, _, body) = http1(&server, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["message"], "missing next protocol");
}

#[tokio::test]
async fn a_client_older_than_capver_68_gets_an_error_frame() {
    let server = TestServer::start().await;
    match upgrade_error(&server, &MachinePrivateKey::generate(&mut OsRng), 60).await {
        Some(message) => {
            assert!(message.contains("unsupported client version"), "{message}")
        }
        None => panic!("an old client must be refused"),
    }
}

#[tokio::test]
async fn other_machine_endpoints_are_501_and_a_mismatched_host_is_tolerated() {
    let server = TestServer::start().await;
    let node = server.node("probe").await;
    let (status, body) = node.post_read("/machine/update-health", &json!({"Subsys": "x"})).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["message"], "not implemented: /machine/update-health");

    // tailscale-rs sends a `host` header that disagrees with `:authority`.
    let request = Request::post(format!("http://{}/machine/register", server.addr))
        .header(header::HOST, "127.0.0.1")
        .body(Bytes::from(node.register_body(None).to_string()))
        .unwrap();
    let response = node.client.send_raw(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let server = TestServer::start().await;
    let node = server.node("big").await;
    let mut body = node.register_body(None);
    body["Hostinfo"]["Padding"] = json!("x".repeat(keygate_control::BODY_LIMIT));
    let (status, _) = node.post_read("/machine/register", &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}
