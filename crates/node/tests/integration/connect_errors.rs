//! Connection setup failures: each gives a precise error, none panics or hangs.

use std::net::Ipv4Addr;
use std::time::Duration;

use http::StatusCode;
use keygate_node::{ConnectOptions, ControlClient, NodeError, NodeIdentity, ServerUrl};
use keygate_noise::HandshakeError;
use keygate_tailcfg::MachinePublicKey;
use tokio::net::TcpListener;

use crate::fake_control::{Behaviour, FakeControl, UpgradeMode};

async fn connect_to(behaviour: Behaviour) -> NodeError {
    let server = FakeControl::start_with(behaviour).await;
    ControlClient::connect(&server.url, &NodeIdentity::generate()).await.unwrap_err()
}

#[tokio::test]
async fn an_upgrade_answered_with_400_is_refused_with_the_body() {
    let err =
        connect_to(Behaviour { upgrade: UpgradeMode::BadRequest, ..Behaviour::default() }).await;
    assert!(
        matches!(&err, NodeError::UpgradeRefused { status, body }
            if *status == StatusCode::BAD_REQUEST && body == "unknown next protocol"),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTTP 400"), "{err}");
}

#[tokio::test]
async fn a_101_to_another_protocol_is_refused() {
    let err =
        connect_to(Behaviour { upgrade: UpgradeMode::WrongProtocol, ..Behaviour::default() }).await;
    assert!(
        matches!(&err, NodeError::WrongUpgradeProtocol { got: Some(p) } if p == "websocket"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_handshake_error_frame_is_shown() {
    let err =
        connect_to(Behaviour { upgrade: UpgradeMode::ErrorFrame, ..Behaviour::default() }).await;
    assert!(
        matches!(&err, NodeError::Handshake(HandshakeError::ServerError(text))
            if text == "unexpected handshake message type"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wrong_server_key_ends_in_a_closed_handshake() {
    let server = FakeControl::start().await;
    let url = ServerUrl::parse(&server.url).unwrap();
    let options = ConnectOptions {
        server_key: Some(MachinePublicKey::from_bytes([9; 32])),
        ..ConnectOptions::default()
    };
    let err =
        ControlClient::connect_with(&url, &NodeIdentity::generate(), &options).await.unwrap_err();
    assert!(matches!(err, NodeError::HandshakeClosed), "{err:?}");
    assert!(err.to_string().contains("wrong server key"), "{err}");
}

#[tokio::test]
async fn a_server_without_a_noise_key_is_too_old() {
    let err = connect_to(Behaviour { zero_key: true, ..Behaviour::default() }).await;
    assert!(matches!(err, NodeError::NoNoiseKey), "{err:?}");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = ControlClient::connect(&format!("http://{addr}"), &NodeIdentity::generate())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NodeError::Connect { addr: a, .. } if *a == addr.to_string()),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let url = ServerUrl::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    // Accept and hold connections without answering.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let options =
        ConnectOptions { timeout: Duration::from_millis(300), ..ConnectOptions::default() };
    let err =
        ControlClient::connect_with(&url, &NodeIdentity::generate(), &options).await.unwrap_err();
    assert!(matches!(err, NodeError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn https_is_not_supported_yet() {
    let err = ControlClient::connect("https://control.example", &NodeIdentity::generate())
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::HttpsUnsupported), "{err:?}");
}
