//! The HTTP surface: probes, and what `/derp` answers when it cannot upgrade.

use std::net::SocketAddr;
use std::sync::Arc;

use keygate_derp::{AdmitAll, DerpConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{start_router, start_standalone, DEADLINE};

/// Sends one request and returns the response, read until the server closes or, for an
/// upgrade that keeps the connection open, until `enough` bytes arrived.
async fn request_with(addr: SocketAddr, head: &str, enough: usize) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = head.replace("\n", "\r\n");
    stream.write_all(format!("{head}Host: derp.test\r\n\r\n").as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        let mut chunk = [0u8; 1024];
        while response.len() < enough {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            response.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("a response within the deadline");
    String::from_utf8_lossy(&response).to_lowercase()
}

/// A request whose response ends with the connection (`Connection: close`).
async fn request(addr: SocketAddr, head: &str) -> String {
    request_with(addr, &format!("{head}Connection: close\n"), usize::MAX).await
}

/// Length of the 101 head plus the ServerKey frame that follows it (5 + 8 + 32).
fn upgraded_len(response: &str) -> usize {
    response.find("\r\n\r\n").map_or(usize::MAX, |end| end + 4 + 45)
}

async fn check_surface(addr: SocketAddr, fast_start_status: &str) {
    for path in ["/derp/probe", "/derp/latency-check"] {
        for method in ["GET", "HEAD"] {
            let response = request(addr, &format!("{method} {path} HTTP/1.1\n")).await;
            assert!(response.starts_with("http/1.1 200"), "{method} {path}: {response}");
            assert!(response.contains("access-control-allow-origin: *"), "{response}");
            assert!(response.contains("content-length: 0"), "{response}");
        }
        let response = request(addr, &format!("POST {path} HTTP/1.1\nContent-Length: 0\n")).await;
        assert!(response.starts_with("http/1.1 405"), "{response}");
    }
    let response = request(addr, "GET /derp HTTP/1.1\n").await;
    assert!(response.starts_with("http/1.1 426"), "{response}");
    assert!(response.contains("derp requires connection upgrade"), "{response}");
    let response = request(addr, "GET /derp HTTP/1.1\nUpgrade: websocket\n").await;
    assert!(response.starts_with("http/1.1 501"), "{response}");
    let response = request_with(addr, "GET /derp HTTP/1.1\nUpgrade: DERP\n", 200).await;
    assert!(response.starts_with("http/1.1 101"), "{response}");
    assert!(
        response.contains("derp-version: 2") && response.contains("derp-public-key: "),
        "{response}"
    );
    assert!(response.len() >= upgraded_len(&response), "the ServerKey frame follows: {response:?}");
    let response =
        request_with(addr, "GET /derp HTTP/1.1\nUpgrade: DERP\nDerp-Fast-Start: 1\n", 13).await;
    assert!(response.starts_with(fast_start_status), "{response:?}");
}

#[tokio::test]
async fn router_serves_probes_and_explains_refused_upgrades() {
    let relay = start_router(Arc::new(AdmitAll), DerpConfig::default()).await;
    // hyper cannot skip the 101 head, so the router explains instead of breaking the stream.
    check_surface(relay.addr, "http/1.1 400").await;
}

#[tokio::test]
async fn standalone_listener_serves_the_same_surface() {
    let relay = start_standalone(Arc::new(AdmitAll), DerpConfig::default()).await;
    // Fast start: no HTTP response, the first bytes are the ServerKey frame (type 0x01, 40
    // bytes, then the magic).
    check_surface(relay.addr, "\u{1}\0\0\0(derp").await;
}
