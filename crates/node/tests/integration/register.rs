//! Registration over a real Noise + HTTP/2 connection.

use std::sync::atomic::Ordering;

use keygate_node::{
    ControlClient, LiteUpdate, MapOptions, NetMap, NodeError, NodeIdentity, RegisterOptions,
};

use crate::fake_control::{FakeControl, GOOD_AUTH_KEY, REFUSAL_MESSAGE, REFUSED_AUTH_KEY};

#[tokio::test]
async fn login_sends_the_node_keys_and_the_auth_key_over_noise() {
    let server = FakeControl::start().await;
    let identity = NodeIdentity::generate();
    let client = ControlClient::connect(&server.url, &identity).await.unwrap();
    assert_eq!(client.server_key(), server.public_key());
    assert!(client.early_payload().is_some(), "the fake server sends an early payload");

    let response = client
        .login(RegisterOptions {
            ephemeral: true,
            ..RegisterOptions::with_auth_key(GOOD_AUTH_KEY, "probe")
        })
        .await
        .unwrap();
    assert!(response.machine_authorized);
    assert_eq!(response.login.login_name, "probe@example.test");

    let registers = server.seen.registers.lock().unwrap();
    let (peer, request) = &registers[0];
    assert_eq!(*peer, identity.machine_public(), "the server sees our machine key");
    assert_eq!(request.version, 133);
    assert_eq!(request.node_key, identity.node_public());
    assert!(request.old_node_key.is_zero());
    assert_eq!(request.auth.as_ref().unwrap().auth_key, GOOD_AUTH_KEY);
    assert!(request.ephemeral);
    assert_eq!(request.expiry, None);
    let hostinfo = request.hostinfo.as_ref().unwrap();
    assert_eq!(hostinfo.hostname, "probe");
    assert!(hostinfo.ipn_version.starts_with("keygate-node/"));
}

#[tokio::test]
async fn a_refusal_is_returned_by_register_and_is_an_error_from_login() {
    let server = FakeControl::start().await;
    let identity = NodeIdentity::generate();
    let client = ControlClient::connect(&server.url, &identity).await.unwrap();

    let response =
        client.register(RegisterOptions::with_auth_key(REFUSED_AUTH_KEY, "probe")).await.unwrap();
    assert_eq!(response.error, REFUSAL_MESSAGE);

    let err =
        client.login(RegisterOptions::with_auth_key(REFUSED_AUTH_KEY, "probe")).await.unwrap_err();
    assert!(matches!(&err, NodeError::Refused(message) if message == REFUSAL_MESSAGE), "{err:?}");
    assert_eq!(err.to_string(), format!("registration refused: {REFUSAL_MESSAGE}"));
}

#[tokio::test]
async fn register_map_and_lite_update_share_one_noise_connection() {
    let server = FakeControl::start().await;
    let identity = NodeIdentity::generate();
    let client = ControlClient::connect(&server.url, &identity).await.unwrap();
    client.login(RegisterOptions::with_auth_key(GOOD_AUTH_KEY, "probe")).await.unwrap();
    let mut stream = client.map_stream(MapOptions::default()).await.unwrap();
    let mut netmap = NetMap::new();
    netmap.apply(&stream.next().await.unwrap().unwrap());

    // A lite update while the poll is open, as Go clients send them.
    let endpoint = "192.0.2.1:41641".parse().unwrap();
    client
        .lite_update(LiteUpdate { endpoints: vec![endpoint], ..LiteUpdate::default() })
        .await
        .unwrap();
    netmap.apply(&stream.next().await.unwrap().unwrap());
    assert!(netmap.has_peer(3));

    assert_eq!(server.seen.key_fetches.load(Ordering::SeqCst), 1);
    assert_eq!(server.seen.noise_connections.load(Ordering::SeqCst), 1);
    let maps = server.seen.maps.lock().unwrap();
    assert_eq!(maps.len(), 2);
    let lite = &maps[1].1;
    assert!(lite.omit_peers && !lite.stream && lite.is_lite_update());
    assert_eq!(lite.endpoints, [endpoint]);
    assert_eq!(lite.node_key, identity.node_public());
    assert!(client.counters().bytes_read() > 0 && client.counters().bytes_written() > 0);
}

#[tokio::test]
async fn a_known_server_key_skips_the_key_fetch_and_logout_sends_unix_123() {
    let server = FakeControl::start().await;
    let identity = NodeIdentity::generate();
    let url = server.url.parse().unwrap();
    let options = keygate_node::ConnectOptions {
        server_key: Some(server.public_key()),
        ..Default::default()
    };
    let client = ControlClient::connect_with(&url, &identity, &options).await.unwrap();
    client.logout().await.unwrap();
    assert_eq!(server.seen.key_fetches.load(Ordering::SeqCst), 0);
    let registers = server.seen.registers.lock().unwrap();
    let request = &registers[0].1;
    assert!(request.auth.is_none());
    assert_eq!(request.expiry.unwrap().unix_timestamp(), 123);
}

#[tokio::test]
async fn fetch_server_key_reads_the_noise_key() {
    let server = FakeControl::start().await;
    let key = keygate_node::fetch_server_key(&server.url.parse().unwrap()).await.unwrap();
    assert_eq!(key, server.public_key());
}

#[tokio::test]
async fn raw_requests_return_any_status_and_the_whole_body() {
    let server = FakeControl::start().await;
    let client = ControlClient::connect(&server.url, &NodeIdentity::generate()).await.unwrap();
    let (status, body) = client.post_raw("/machine/other", "{}").await.unwrap();
    assert_eq!(status, http::StatusCode::NOT_IMPLEMENTED);
    assert_eq!(body, "not implemented");
    // A lite update's bare 200, which `lite_update` reads and drops.
    let lite = format!(r#"{{"Version":133,"OmitPeers":true,"NodeKey":"{}"}}"#, client.node_key());
    assert_eq!(
        client.post_raw("/machine/map", lite).await.unwrap(),
        (http::StatusCode::OK, "".into())
    );
    assert!(matches!(
        client.post_raw("no path", "").await,
        Err(NodeError::InvalidUrl { reason: "not a valid request path", .. })
    ));
}
