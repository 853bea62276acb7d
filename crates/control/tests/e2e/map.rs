//! `POST /machine/map`: first map, deltas, online state, lite updates, keep-alives.

use std::net::Ipv4Addr;
use std::time::Duration;

use http::StatusCode;
use keygate_control::ControlConfig;
use keygate_service::{Actor, NewKeyRequest};
use serde_json::json;

use crate::helpers::*;

fn ipv4_of(node: &keygate_tailcfg::Node) -> Ipv4Addr {
    match node.addresses[0] {
        ipnet::IpNet::V4(net) => net.addr(),
        other => panic!("IPv4 first, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_reaches_the_first_as_a_delta_and_goes_offline_with_its_stream() {
    let server = TestServer::start().await;
    let key = server.key(NewKeyRequest { reusable: true, ..Default::default() }).await;

    let a = server.node("alpha").await;
    assert_eq!(a.register(Some(&key)).await.error, "");
    let mut a_stream = a.stream(true).await;
    let first = a_stream.next_update().await;
    let me = first.node.as_ref().expect("the first message carries the node");
    let v4 = ipv4_of(me);
    assert!("100.64.0.0/10".parse::<ipnet::Ipv4Net>().unwrap().contains(&v4), "{v4}");
    assert_eq!(me.addresses.len(), 2);
    assert_eq!(me.name, "alpha.keygate.internal.");
    assert!(me.machine_authorized);
    assert_eq!(me.machine.as_bytes(), a.identity.machine_public().as_bytes());
    assert_eq!(first.peers, Some(vec![]));
    assert_eq!(first.domain, "keygate.internal");
    assert!(
        first.derp_map.is_some() && first.packet_filter.is_some() && first.dns_config.is_some()
    );

    // B enrols: A gets exactly B, as a delta.
    let b = server.node("beta").await;
    assert_eq!(b.register(Some(&key)).await.error, "");
    let delta = a_stream.next_update().await;
    assert!(delta.peers.is_none() && delta.node.is_none(), "a delta, not a full map: {delta:?}");
    let changed = delta.peers_changed.expect("PeersChanged");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].name, "beta.keygate.internal.");
    assert_eq!(changed[0].key, b.identity.node_public());
    assert!(delta.user_profiles.iter().any(|p| p.id == changed[0].user));
    let b_id = changed[0].id;

    // B's map request carries its disco key and host info: A learns them.
    let mut b_stream = b.stream(true).await;
    let b_first = b_stream.next_update().await;
    assert_eq!(b_first.peers.as_ref().map(Vec::len), Some(1), "B sees A");
    let mut saw_disco = false;
    let mut saw_online = false;
    while !(saw_disco && saw_online) {
        let update = a_stream.next_update().await;
        for patch in update.peers_changed_patch.unwrap_or_default() {
            assert_eq!(patch.node_id, b_id);
            saw_disco |= patch.disco_key == Some(b.identity.disco_public());
            saw_online |= patch.online == Some(true);
        }
        for node in update.peers_changed.unwrap_or_default() {
            saw_disco |= node.disco_key == b.identity.disco_public();
            saw_online |= node.online == Some(true);
        }
    }

    // B goes away: A sees it offline.
    drop(b_stream);
    drop(b);
    let offline = a_stream.next_update().await;
    let patch = &offline.peers_changed_patch.expect("a patch")[0];
    assert_eq!((patch.node_id, patch.online), (b_id, Some(false)));
    assert!(patch.last_seen.is_some());
    let listed = server.tailnet.list_nodes(&Actor::Admin);
    assert!(listed.iter().any(|e| e.node.id.0 == b_id && !e.online));
}

#[tokio::test]
async fn a_lite_update_reaches_peers_as_a_patch() {
    let server = TestServer::start().await;
    let key = server.key(NewKeyRequest { reusable: true, ..Default::default() }).await;
    let a = server.node("alpha").await;
    a.register(Some(&key)).await;
    let b = server.node("beta").await;
    b.register(Some(&key)).await;
    let mut a_stream = a.stream(true).await;
    a_stream.next_update().await;

    // The first lite update brings a new Hostinfo: peers get the whole node.
    let (status, _) = b.post_read("/machine/map", &b.map_body(false, true)).await;
    assert_eq!(status, StatusCode::OK);
    let full = a_stream.next_update().await;
    assert_eq!(full.peers_changed.expect("PeersChanged")[0].disco_key, b.identity.disco_public());

    // Then only the endpoints change: peers get a patch.
    let mut lite = b.map_body(false, true);
    lite["Endpoints"] = json!(["192.0.2.7:41641", "[2001:db8::7]:41641"]);
    lite["EndpointTypes"] = json!([2, 1]);
    let (status, body) = b.post_read("/machine/map", &lite).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty(), "a lite update gets a bare 200");
    let update = a_stream.next_update().await;
    let patch = &update.peers_changed_patch.expect("a patch")[0];
    assert_eq!(patch.endpoints.len(), 2);
    assert_eq!(patch.endpoints[0].to_string(), "192.0.2.7:41641");
}

#[tokio::test]
async fn idle_streams_get_keep_alives_and_plain_frames_without_compress() {
    let config = ControlConfig {
        keepalive_interval: Duration::from_millis(150),
        keepalive_jitter: Duration::ZERO,
        ..ControlConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let key = server.key(NewKeyRequest::default()).await;
    let a = server.node("plain").await;
    a.register(Some(&key)).await;
    // No `Compress`, as tailscale-rs: plain JSON frames.
    let mut stream = a.stream(false).await;
    assert!(stream.message().await.unwrap().node.is_some());
    for _ in 0..2 {
        assert!(stream.message().await.unwrap().keep_alive);
    }
}

#[tokio::test]
async fn map_requests_must_come_from_the_node_s_machine() {
    let server = TestServer::start().await;
    let key = server.key(NewKeyRequest::default()).await;
    let a = server.node("alpha").await;
    a.register(Some(&key)).await;

    let unknown = server.node("stranger").await;
    let (status, body) = unknown.post_read("/machine/map", &unknown.map_body(true, true)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&body).contains("message"));

    // Another machine presenting A's node key.
    let (status, _) = unknown.post_read("/machine/map", &a.map_body(true, true)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn approval_reaches_the_waiting_node_and_its_peers() {
    let server = TestServer::start().await;
    server.service.set_device_approval(&Actor::Admin, true).await.unwrap();
    let pre = server.key(NewKeyRequest { preauthorized: true, ..Default::default() }).await;
    let plain = server.key(NewKeyRequest::default()).await;
    let a = server.node("alpha").await;
    a.register(Some(&pre)).await;
    let mut a_stream = a.stream(true).await;
    a_stream.next_update().await;

    let b = server.node("beta").await;
    let response = b.register(Some(&plain)).await;
    assert!(!response.machine_authorized, "waits for approval");
    let mut b_stream = b.stream(true).await;
    let waiting = b_stream.next_update().await;
    assert!(!waiting.node.unwrap().machine_authorized);
    assert_eq!(waiting.peers, Some(vec![]));

    let b_id = server
        .tailnet
        .list_nodes(&Actor::Admin)
        .iter()
        .find(|e| !e.node.authorized)
        .unwrap()
        .node
        .id;
    server.tailnet.set_node_authorized(&Actor::Admin, b_id, true).await.unwrap();
    let approved = b_stream.next_update().await;
    assert!(approved.node.unwrap().machine_authorized);
    assert_eq!(approved.peers.map(|p| p.len()), Some(1), "B now sees A");
    let delta = a_stream.next_update().await;
    assert_eq!(delta.peers_changed.unwrap()[0].id, b_id.0, "A now sees B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_sends_each_connected_node_one_small_delta() {
    let server = TestServer::start().await;
    let key = server.key(NewKeyRequest { reusable: true, ..Default::default() }).await;
    let mut nodes = Vec::new();
    for i in 0..12 {
        let node = server.node(&format!("node{i}")).await;
        node.register(Some(&key)).await;
        nodes.push(node);
    }
    let mut streams = Vec::new();
    for node in &nodes {
        let mut stream = node.stream(true).await;
        assert_eq!(stream.next_update().await.peers.map(|p| p.len()), Some(11));
        streams.push(stream);
    }
    // The later streams' disco keys and online states reach the earlier ones first.
    for stream in &mut streams {
        stream.drain(Duration::from_millis(300)).await;
    }

    let newcomer = server.node("newcomer").await;
    assert_eq!(newcomer.register(Some(&key)).await.error, "");
    for stream in &mut streams {
        let delta = stream.next_update().await;
        assert!(delta.peers.is_none() && delta.node.is_none(), "never a full map: {delta:?}");
        let changed = delta.peers_changed.expect("PeersChanged");
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].name, "newcomer.keygate.internal.");
    }
}

#[tokio::test]
async fn an_oversized_hostinfo_or_too_many_endpoints_is_refused_and_reaches_no_peer() {
    let server = TestServer::start().await;
    let key = server.key(NewKeyRequest { reusable: true, ..Default::default() }).await;
    let a = server.node("alpha").await;
    a.register(Some(&key)).await;
    let b = server.node("beta").await;
    b.register(Some(&key)).await;
    let mut a_stream = a.stream(true).await;
    a_stream.next_update().await;

    let refused = |body: serde_json::Value, needle: &'static str| {
        let b = &b;
        async move {
            let (status, bytes) = b.post_read("/machine/map", &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{needle}");
            let message = String::from_utf8_lossy(&bytes).into_owned();
            assert!(message.contains(needle), "{message}");
        }
    };
    // A Hostinfo over 64 KiB: 2,000 services with long descriptions.
    let mut huge = b.map_body(false, true);
    huge["Hostinfo"]["Services"] = json!((0..2000)
        .map(|port| json!({"Proto": "tcp", "Port": port, "Description": "x".repeat(40)}))
        .collect::<Vec<_>>());
    refused(huge, "keygate accepts at most 65536").await;
    // Unknown fields are kept for newer clients, but not without bound.
    let mut bloated = b.map_body(false, true);
    bloated["Hostinfo"]["SomeFutureField"] = json!("y".repeat(5000));
    refused(bloated, "unknown fields take").await;
    let mut many = b.map_body(false, true);
    for i in 0..33 {
        many["Hostinfo"][format!("Future{i}")] = json!(true);
    }
    refused(many, "33 unknown fields").await;
    let mut endpoints = b.map_body(false, true);
    endpoints["Endpoints"] =
        json!((0..65).map(|i| format!("192.0.2.{}:41641", i + 1)).collect::<Vec<_>>());
    refused(endpoints, "65 endpoints").await;
    // Also at registration.
    let mut register = b.register_body(Some(&key));
    register["Hostinfo"]["RoutableIPs"] =
        json!((0..1025).map(|i| format!("10.{}.{}.0/24", i / 256, i % 256)).collect::<Vec<_>>());
    let (status, bytes) = b.post_read("/machine/register", &register).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&bytes).contains("1025 advertised routes"));

    // Nothing of those reached the peer or the database: the next thing alpha hears is beta's
    // next valid Hostinfo, whose services are its own.
    let mut valid = b.map_body(false, true);
    valid["Hostinfo"]["Hostname"] = json!("beta-renamed");
    let (status, _) = b.post_read("/machine/map", &valid).await;
    assert_eq!(status, StatusCode::OK);
    let update = a_stream.next_update().await;
    let changed = &update.peers_changed.expect("PeersChanged")[0];
    let hostinfo = changed.hostinfo.as_ref().expect("the peer's Hostinfo");
    assert_eq!(hostinfo.hostname, "beta-renamed");
    assert!(hostinfo.services.is_empty() && hostinfo.extra.is_empty(), "{hostinfo:?}");
}
