//! HTTP/2 over [`NoiseStream`] with hyper, the way keygate's server and node client use it:
//! header-borne initiation, raw 51-byte response, optional early payload, then cleartext h2
//! with prior knowledge and concurrent streams.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use keygate_noise::upgrade::{check_upgrade_request, encode_handshake_header, UPGRADE_PROTOCOL};
use keygate_noise::{
    accept, read_early_payload, read_response, ChallengePrivateKey, EarlyNoise, Initiator,
    MachinePrivateKey, MachinePublicKey, NoiseStream,
};
use rand::rngs::OsRng;
use tokio::io::{duplex, AsyncWriteExt, DuplexStream};

const VERSION: u16 = 130;

/// Echoes the request body, prefixed with the peer's machine key as the handler saw it.
async fn serve(peer: MachinePublicKey, stream: NoiseStream<DuplexStream>) {
    let service =
        hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| async move {
            let body = request.into_body().collect().await.expect("request body").to_bytes();
            let mut reply = peer.to_string().into_bytes();
            reply.extend_from_slice(&body);
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(reply))))
        });
    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await
        .expect("server connection");
}

/// Runs the server side of one `/ts2021` connection, given the upgrade request's headers and
/// the raw socket after the 101.
async fn server_side(
    server_key: MachinePrivateKey,
    upgrade: String,
    handshake: String,
    mut socket: DuplexStream,
    send_early_payload: bool,
) {
    let init = check_upgrade_request(Some(&upgrade), Some(&handshake)).expect("valid upgrade");
    let accepted = accept(&server_key, &init, &mut OsRng).expect("handshake");
    // (A real server writes the 101 first; here the socket is already "upgraded".)
    socket.write_all(&accepted.response).await.unwrap();
    let mut stream = NoiseStream::new(socket, accepted.keys);
    if send_early_payload {
        let challenge = ChallengePrivateKey::generate(&mut OsRng);
        stream
            .queue_early_payload(&EarlyNoise { node_key_challenge: challenge.public_key() })
            .unwrap();
    }
    serve(accepted.session.peer, stream).await;
}

async fn round_trip(send_early_payload: bool) {
    let server_key = MachinePrivateKey::generate(&mut OsRng);
    let client_key = MachinePrivateKey::generate(&mut OsRng);
    let (client_socket, server_socket) = duplex(16 * 1024);

    // Client: message 1 goes into the upgrade request's header.
    let (initiator, init) =
        Initiator::new(&client_key, &server_key.public_key(), VERSION, &mut OsRng).unwrap();
    let header = encode_handshake_header(&init);
    tokio::spawn(server_side(
        server_key.clone(),
        UPGRADE_PROTOCOL.to_owned(),
        header,
        server_socket,
        send_early_payload,
    ));

    let mut socket = client_socket;
    let response = read_response(&mut socket).await.unwrap();
    let established = initiator.finish(&response).unwrap();
    assert_eq!(established.session.peer, server_key.public_key());
    let mut stream = NoiseStream::new(socket, established.keys);
    let early = read_early_payload(&mut stream).await.unwrap();
    assert_eq!(early.is_some(), send_early_payload);

    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);

    // Concurrent requests of different sizes share the one connection.
    let requests = (0..16usize).map(|i| {
        let mut sender = sender.clone();
        tokio::spawn(async move {
            let body: Vec<u8> = (0..i * 13_001).map(|j| (j % 251) as u8).collect();
            let request = Request::post("http://127.0.0.1/machine/echo")
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap();
            let response = sender.send_request(request).await.expect("response");
            assert!(response.status().is_success());
            let reply = response.into_body().collect().await.unwrap().to_bytes();
            (body, reply)
        })
    });
    let prefix = client_key.public_key().to_string();
    for request in requests {
        let (body, reply) = request.await.unwrap();
        assert_eq!(&reply[..prefix.len()], prefix.as_bytes());
        assert!(reply[prefix.len()..] == body[..], "echo of {} bytes differs", body.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_runs_over_the_noise_stream_with_early_payload() {
    round_trip(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_runs_over_the_noise_stream_without_early_payload() {
    round_trip(false).await;
}
