//! Broken input closes the connection with a precise error and never panics. Sessions run on
//! in-memory streams straight into `DerpServer::serve_upgraded`, so the error is observable.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use keygate_derp::client::{DerpClient, DerpSender, Received};
use keygate_derp::frame::{put_frame, FrameType, MAX_CLIENT_FRAME_LEN};
use keygate_derp::{AdmitAll, DerpConfig, DerpServer, FrameError, SessionError};
use rand::rngs::OsRng;
use tokio::io::{AsyncWriteExt as _, DuplexStream};
use tokio::task::JoinHandle;

use crate::support::{new_key, DEADLINE};

type Session = JoinHandle<Result<(), SessionError>>;

fn server(config: DerpConfig) -> DerpServer {
    DerpServer::new(new_key(), Arc::new(AdmitAll), config)
}

/// Starts a session on an in-memory stream; returns the client end.
fn start_session(server: &DerpServer) -> (DuplexStream, Session) {
    let (client_end, server_end) = tokio::io::duplex(1 << 20);
    let server = server.clone();
    let session = tokio::spawn(async move { server.serve_upgraded(server_end, &[], None).await });
    (client_end, session)
}

/// A session past the handshake, and the client's sending half.
async fn handshaken(
    server: &DerpServer,
) -> (DerpSender, keygate_derp::client::DerpReceiver, Session) {
    let (client_end, session) = start_session(server);
    let client = DerpClient::handshake_on(client_end, &new_key()).await.expect("handshake");
    let (tx, rx) = client.split();
    (tx, rx, session)
}

/// The session's outcome; panics (failing the test) if the session panicked or hung.
async fn outcome(session: Session) -> Result<(), SessionError> {
    tokio::time::timeout(DEADLINE, session)
        .await
        .expect("the session ends")
        .expect("the session does not panic")
}

fn frame(frame_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    put_frame(&mut out, FrameType::from_byte(frame_type), &[payload]);
    out.to_vec()
}

async fn send_then_close(tx: &mut DerpSender, bytes: &[u8]) {
    tx.send_raw(bytes).await.unwrap();
    tx.shutdown().await.unwrap();
}

#[tokio::test]
async fn truncated_frame_closes_with_a_clear_error() {
    let server = server(DerpConfig::default());
    let (mut tx, _rx, session) = handshaken(&server).await;
    send_then_close(&mut tx, &[0x04, 0, 0, 0, 40, 1, 2, 3]).await;
    let err = outcome(session).await.unwrap_err();
    assert!(
        matches!(err, SessionError::Frame(FrameError::Truncated { got: 8, want: 45 })),
        "{err}"
    );
    assert_eq!(err.to_string(), "the connection closed in the middle of a frame (8 of 45 bytes)");
    assert_eq!(server.stats().protocol_errors, 1);
}

#[tokio::test]
async fn truncated_header_closes_with_a_clear_error() {
    let server = server(DerpConfig::default());
    let (mut tx, _rx, session) = handshaken(&server).await;
    send_then_close(&mut tx, &[0x04, 0]).await;
    let err = outcome(session).await.unwrap_err();
    assert!(matches!(err, SessionError::Frame(FrameError::Truncated { got: 2, want: 5 })), "{err}");
}

#[tokio::test]
async fn oversize_frame_is_refused_before_its_payload() {
    let server = server(DerpConfig::default());
    let (mut tx, _rx, session) = handshaken(&server).await;
    let len = (MAX_CLIENT_FRAME_LEN + 1) as u32;
    let mut header = vec![0x04];
    header.extend_from_slice(&len.to_be_bytes());
    tx.send_raw(&header).await.unwrap(); // no payload follows: the header alone must end it
    let err = outcome(session).await.unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Frame(FrameError::TooLong { frame_type: 0x04, len: 65569, max: 65568 })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn oversize_unknown_frame_is_refused_too() {
    let server = server(DerpConfig::default());
    let (mut tx, _rx, session) = handshaken(&server).await;
    tx.send_raw(&[0x7f, 0xff, 0xff, 0xff, 0xff]).await.unwrap();
    let err = outcome(session).await.unwrap_err();
    assert!(
        matches!(err, SessionError::Frame(FrameError::TooLong { frame_type: 0x7f, .. })),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_known_frames_close_the_connection() {
    let cases: [(&[u8], &str); 4] = [
        (&frame(0x04, &[1; 31]), "malformed SendPacket frame (31 bytes): shorter than a key"),
        (&frame(0x07, &[]), "malformed NotePreferred frame (0 bytes): must be one byte"),
        (&frame(0x12, &[1; 7]), "malformed Ping frame (7 bytes): must be 8 to 1000 bytes"),
        (&frame(0x12, &[1; 1001]), "malformed Ping frame (1001 bytes): must be 8 to 1000 bytes"),
    ];
    let server = server(DerpConfig::default());
    for (bytes, message) in cases {
        let (mut tx, _rx, session) = handshaken(&server).await;
        tx.send_raw(bytes).await.unwrap();
        let err = outcome(session).await.unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[tokio::test]
async fn mesh_frames_close_the_connection() {
    let server = server(DerpConfig::default());
    for (ty, payload, name) in [
        (0x0a, vec![0; 64], "ForwardPacket"),
        (0x10, vec![], "WatchConns"),
        (0x11, vec![0; 32], "ClosePeer"),
    ] {
        let (mut tx, _rx, session) = handshaken(&server).await;
        tx.send_raw(&frame(ty, &payload)).await.unwrap();
        let err = outcome(session).await.unwrap_err();
        assert!(matches!(err, SessionError::MeshFrame { frame } if frame == name), "{err}");
    }
}

#[tokio::test]
async fn unknown_frame_types_are_skipped() {
    let server = server(DerpConfig::default());
    let (mut tx, mut rx, session) = handshaken(&server).await;
    // Unknown types, and types only a server sends, within the size limit.
    for ty in [0x7f, 0xff, 0x05, 0x06, 0x13] {
        tx.send_raw(&frame(ty, &[9; 100])).await.unwrap();
    }
    tx.ping(*b"stillok!").await.unwrap();
    let pong = tokio::time::timeout(DEADLINE, rx.recv()).await.unwrap().unwrap();
    assert_eq!(pong, Received::Pong(*b"stillok!"));
    tx.shutdown().await.unwrap();
    assert!(outcome(session).await.is_ok(), "a clean hang-up is not an error");
}

#[tokio::test]
async fn first_frame_must_be_client_info() {
    let server = server(DerpConfig::default());
    let (mut client_end, session) = start_session(&server);
    client_end.write_all(&frame(0x04, &[0; 40])).await.unwrap();
    let err = outcome(session).await.unwrap_err();
    assert_eq!(err.to_string(), "expected a ClientInfo frame, got frame type 0x04");
}

#[tokio::test]
async fn oversize_client_info_is_refused() {
    let server = server(DerpConfig::default());
    let (mut client_end, session) = start_session(&server);
    client_end.write_all(&[0x02, 0, 1, 0, 0]).await.unwrap();
    let err = outcome(session).await.unwrap_err();
    assert!(
        matches!(err, SessionError::Frame(FrameError::TooLong { frame_type: 0x02, .. })),
        "{err}"
    );
}

#[tokio::test]
async fn client_info_sealed_with_another_key_is_refused() {
    let server = server(DerpConfig::default());
    let (claimed, impostor) = (new_key(), new_key());
    let sealed = keygate_derp::naclbox::seal(
        &impostor,
        &server.public_key(),
        b"{\"version\":2}",
        &mut OsRng,
    );
    let (mut client_end, session) = start_session(&server);
    let mut payload = claimed.public_key().0.to_vec();
    payload.extend_from_slice(&sealed);
    client_end.write_all(&frame(0x02, &payload)).await.unwrap();
    let err = outcome(session).await.unwrap_err();
    assert!(matches!(err, SessionError::ClientInfoBox), "{err}");
    assert!(!server.is_connected(&claimed.public_key()));
}

#[tokio::test]
async fn zero_client_key_is_refused_before_opening_the_box() {
    let server = server(DerpConfig::default());
    let (mut client_end, session) = start_session(&server);
    client_end.write_all(&frame(0x02, &[0; 32 + 24 + 16 + 2])).await.unwrap();
    let err = outcome(session).await.unwrap_err();
    assert!(matches!(err, SessionError::InvalidClientKey), "{err}");
}

#[tokio::test]
async fn client_info_that_is_not_json_is_refused() {
    let server = server(DerpConfig::default());
    let key = new_key();
    let sealed = keygate_derp::naclbox::seal(&key, &server.public_key(), b"not json", &mut OsRng);
    let (mut client_end, session) = start_session(&server);
    let mut payload = key.public_key().0.to_vec();
    payload.extend_from_slice(&sealed);
    client_end.write_all(&frame(0x02, &payload)).await.unwrap();
    let err = outcome(session).await.unwrap_err();
    assert!(matches!(err, SessionError::ClientInfoJson(_)), "{err}");
}

#[tokio::test]
async fn silent_client_times_out_in_the_handshake() {
    let server = server(DerpConfig {
        handshake_timeout: Duration::from_millis(100),
        ..DerpConfig::default()
    });
    let (_client_end, session) = start_session(&server);
    let err = outcome(session).await.unwrap_err();
    assert!(matches!(err, SessionError::HandshakeTimeout), "{err}");
}

/// A tiny deterministic generator: many shapes of garbage, reproducible from the seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Random bytes, often shaped like frames (known type bytes, small lengths).
    fn garbage(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..(self.next() % 8) {
            if self.next().is_multiple_of(3) {
                let len = (self.next() % 80) as usize;
                out.push(
                    [0x02, 0x04, 0x07, 0x12, 0x13, 0x0a, 0x10, 0x99][(self.next() % 8) as usize],
                );
                out.extend_from_slice(&(len as u32).to_be_bytes());
                out.extend((0..len).map(|_| self.next() as u8));
            } else {
                out.extend((0..self.next() % 40).map(|_| self.next() as u8));
            }
        }
        out
    }
}

#[tokio::test]
async fn random_garbage_never_panics_before_or_after_the_handshake() {
    let server =
        server(DerpConfig { handshake_timeout: Duration::from_secs(2), ..DerpConfig::default() });
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..300 {
        let garbage = rng.garbage();
        let session = if round % 2 == 0 {
            let (mut client_end, session) = start_session(&server);
            client_end.write_all(&garbage).await.unwrap();
            client_end.shutdown().await.unwrap();
            session
        } else {
            let (mut tx, _rx, session) = handshaken(&server).await;
            send_then_close(&mut tx, &garbage).await;
            session
        };
        // Ok (clean end) or a clear error: either way no panic and no hang.
        let _ = outcome(session).await;
    }
    assert_eq!(server.stats().clients, 0);
}
