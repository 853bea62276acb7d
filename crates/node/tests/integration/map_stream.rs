//! The streaming map poll: decoding, keep-alives, deltas, bad frames.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use keygate_node::{ControlClient, MapOptions, MapStream, NetMap, NodeError, NodeIdentity};
use keygate_tailcfg::{encode_map_response, keep_alive_frame, FrameError};

use crate::fake_control::{
    delta, full_map, node, standard_frames, with_map, Behaviour, FakeControl, MapPlan, DOMAIN,
    SELF_ID,
};

/// Connects a fresh node to `server` and opens its map stream with `options`.
async fn open(server: &FakeControl, options: MapOptions) -> (ControlClient, MapStream) {
    let identity = NodeIdentity::generate();
    let client = ControlClient::connect(&server.url, &identity).await.unwrap();
    let stream = client.map_stream(options).await.unwrap();
    (client, stream)
}

/// A server whose streams carry exactly `chunks`, then end.
async fn serving(chunks: Vec<Bytes>) -> FakeControl {
    FakeControl::start_with(with_map(move |_, _| MapPlan::Stream {
        chunks: chunks.clone(),
        end: true,
    }))
    .await
}

/// Frames `bytes` with the 4-byte little-endian length.
fn raw_frame(bytes: &[u8]) -> Bytes {
    let mut frame = (bytes.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(bytes);
    frame.into()
}

#[tokio::test]
async fn full_map_then_delta_are_decoded_and_applied() {
    let server = FakeControl::start().await;
    let identity = NodeIdentity::generate();
    let client = ControlClient::connect(&server.url, &identity).await.unwrap();
    let mut stream = client.map_stream(MapOptions::default()).await.unwrap();

    let mut netmap = NetMap::new();
    let first = stream.next().await.unwrap().expect("full map");
    let change = netmap.apply(&first);
    assert!(change.full && change.self_changed);
    let self_node = netmap.self_node().unwrap();
    assert_eq!(self_node.id, SELF_ID);
    assert_eq!(self_node.key, identity.node_public());
    assert_eq!(self_node.machine, identity.machine_public());
    assert_eq!(
        netmap.addresses().iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"]
    );
    assert_eq!(netmap.domain(), DOMAIN);
    assert_eq!(netmap.peers().map(|(id, _)| id).collect::<Vec<_>>(), [2]);

    // The keep-alive between the two is skipped.
    let second = stream.next().await.unwrap().expect("delta");
    let change = netmap.apply(&second);
    assert_eq!(change.added, [3]);
    assert_eq!(netmap.peers().map(|(id, _)| id).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(netmap.peer(3).unwrap().name, node(3).name);

    let stats = stream.stats();
    assert_eq!((stats.messages, stats.keep_alives, stats.compressed), (3, 1, 3));
    assert!(stats.body_bytes > 0 && stats.json_bytes > stats.body_bytes, "{stats:?}");

    let maps = server.seen.maps.lock().unwrap();
    let request = &maps[0].1;
    assert!(request.stream && request.keep_alive && request.wants_zstd());
    assert_eq!(request.version, 133);
    assert_eq!(request.node_key, identity.node_public());
    assert_eq!(request.disco_key, identity.disco_public());
}

#[tokio::test]
async fn keep_alives_are_returned_when_asked() {
    let server = FakeControl::start().await;
    let options = MapOptions { report_keep_alives: true, ..MapOptions::default() };
    let (_client, mut stream) = open(&server, options).await;
    let kinds: Vec<bool> = [
        stream.next().await.unwrap().unwrap(),
        stream.next().await.unwrap().unwrap(),
        stream.next().await.unwrap().unwrap(),
    ]
    .iter()
    .map(|m| m.keep_alive)
    .collect();
    assert_eq!(kinds, [false, true, false]);
}

#[tokio::test]
async fn plain_json_frames_are_accepted_when_zstd_was_asked_and_the_reverse() {
    // The server ignores the request's wish: first plain, then compressed frames.
    let server = FakeControl::start_with(with_map(|request, peer| MapPlan::Stream {
        chunks: vec![
            encode_map_response(&full_map(request, peer), false).unwrap(),
            encode_map_response(&delta(), true).unwrap(),
        ],
        end: true,
    }))
    .await;
    for compress_zstd in [true, false] {
        let options = MapOptions { compress_zstd, ..MapOptions::default() };
        let (_client, mut stream) = open(&server, options).await;
        let mut netmap = NetMap::compact();
        while let Some(message) = stream.next().await.unwrap() {
            netmap.apply(&message);
        }
        assert_eq!(netmap.peer_count(), 2, "compress_zstd={compress_zstd}");
        assert_eq!(stream.stats().compressed, 1);
    }
    let maps = server.seen.maps.lock().unwrap();
    assert!(maps[0].1.wants_zstd() && !maps[1].1.wants_zstd());
}

#[tokio::test]
async fn frames_split_at_any_byte_are_reassembled() {
    let server = FakeControl::start_with(with_map(|request, peer| {
        let all: Vec<u8> = standard_frames(request, peer).concat();
        // Uneven pieces, including ones that split the 4-byte headers.
        let mut chunks = Vec::new();
        let mut rest = &all[..];
        for size in [1usize, 2, 3, 5, 8, 13, 21, 34, 55].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at((*size).min(rest.len()));
            chunks.push(Bytes::copy_from_slice(head));
            rest = tail;
        }
        MapPlan::Stream { chunks, end: true }
    }))
    .await;
    let (_client, mut stream) = open(&server, MapOptions::default()).await;
    let mut netmap = NetMap::new();
    while let Some(message) = stream.next().await.unwrap() {
        netmap.apply(&message);
    }
    assert_eq!(netmap.peer_count(), 2);
    assert_eq!(stream.stats().messages, 3);
}

#[tokio::test]
async fn a_clean_end_of_stream_is_none() {
    let server = serving(vec![keep_alive_frame(true).unwrap()]).await;
    let (_client, mut stream) = open(&server, MapOptions::default()).await;
    assert!(stream.next().await.unwrap().is_none());
    assert_eq!(stream.stats().keep_alives, 1);
}

#[tokio::test]
async fn garbage_json_is_a_frame_error() {
    let server = serving(vec![raw_frame(b"this is not json")]).await;
    let (_client, mut stream) = open(&server, MapOptions::default()).await;
    let err = stream.next().await.unwrap_err();
    assert!(matches!(err, NodeError::Frame(FrameError::Json(_))), "{err:?}");
}

#[tokio::test]
async fn corrupt_zstd_is_a_frame_error() {
    let server = serving(vec![raw_frame(&[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5, 6, 7])]).await;
    let (_client, mut stream) = open(&server, MapOptions::default()).await;
    let err = stream.next().await.unwrap_err();
    assert!(matches!(err, NodeError::Frame(FrameError::Zstd(_))), "{err:?}");
}

#[tokio::test]
async fn an_oversized_frame_header_fails_before_its_body() {
    let server = serving(vec![Bytes::from_static(&[0xff, 0xff, 0xff, 0x7f])]).await;
    let options = MapOptions { max_frame_len: 1 << 20, ..MapOptions::default() };
    let (_client, mut stream) = open(&server, options).await;
    let err = stream.next().await.unwrap_err();
    assert!(matches!(err, NodeError::Frame(FrameError::TooLarge { max, .. }) if max == 1 << 20));
}

#[tokio::test]
async fn a_stream_ending_mid_frame_is_truncated() {
    let mut frame = encode_map_response(&delta(), true).unwrap().to_vec();
    frame.truncate(frame.len() - 2);
    let server = serving(vec![frame.into()]).await;
    let (_client, mut stream) = open(&server, MapOptions::default()).await;
    let err = stream.next().await.unwrap_err();
    assert!(matches!(err, NodeError::TruncatedFrame { .. }), "{err:?}");
}

#[tokio::test]
async fn a_silent_stream_hits_the_idle_timeout() {
    let server =
        FakeControl::start_with(with_map(|_, _| MapPlan::Stream { chunks: vec![], end: false }))
            .await;
    let limit = Duration::from_millis(200);
    let options = MapOptions { idle_timeout: Some(limit), ..MapOptions::default() };
    let (_client, mut stream) = open(&server, options).await;
    let err = stream.next().await.unwrap_err();
    assert!(matches!(err, NodeError::MapIdle(after) if after == limit), "{err:?}");
}

#[tokio::test]
async fn a_refused_poll_reports_status_and_body() {
    let server = FakeControl::start_with(Behaviour {
        map: std::sync::Arc::new(|_, _| MapPlan::Status(StatusCode::NOT_FOUND, "node not found")),
        ..Behaviour::default()
    })
    .await;
    let identity = NodeIdentity::generate();
    let client = ControlClient::connect(&server.url, &identity).await.unwrap();
    let err = client.map_stream(MapOptions::default()).await.unwrap_err();
    assert!(
        matches!(&err, NodeError::Status { status, body, .. }
            if *status == StatusCode::NOT_FOUND && body == "node not found"),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_stream_outlives_its_client() {
    let server = FakeControl::start().await;
    let (client, mut stream) = open(&server, MapOptions::default()).await;
    drop(client);
    assert!(stream.next().await.unwrap().is_some());
    assert!(stream.next().await.unwrap().is_some());
}
