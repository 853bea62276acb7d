//! The plain-HTTP front door: `GET /key` and the `/ts2021` upgrade into Noise and HTTP/2.
//!
//! ```text
//! node                                          keygate
//!  GET /key?v=133                          ->
//!                                          <-   200 {"legacyPublicKey":"mkey:000…","publicKey":"mkey:…"}
//!  POST /ts2021                            ->   check Upgrade + X-Tailscale-Handshake,
//!    Upgrade: tailscale-control-protocol        run the Noise IK responder on the initiation
//!    X-Tailscale-Handshake: <base64 msg 1>
//!                                          <-   101 Switching Protocols (Upgrade, Connection)
//!                                          <-   51-byte handshake response (or a 0x03 error frame)
//!                                          <-   [Noise] early payload {"nodeKeyChallenge":…}
//!  [Noise] HTTP/2 preface, requests        <->  HTTP/2 server: /machine/register, /machine/map
//! ```
//!
//! Routing uses only the URI path, so absolute-form targets (`POST http://host:port/ts2021`,
//! tailscale-rs) work, and nothing depends on `Host`. `Upgrade` is compared
//! case-insensitively. The client's capability version is read from the initiation header
//! before anything else: clients older than [`MIN_CAPABILITY_VERSION`] get a `0x03` error
//! frame that they print as `server error: "…"`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use keygate_noise::handshake::error_frame;
use keygate_noise::upgrade::{check_upgrade_request, HANDSHAKE_HEADER, UPGRADE_PROTOCOL};
use keygate_noise::{accept, ChallengePrivateKey, EarlyNoise, NoiseStream};
use keygate_tailcfg::OverTLSPublicKeyResponse;
use rand::rngs::OsRng;
use tokio::io::AsyncWriteExt as _;

use crate::error::{error_response, MIN_CAPABILITY_VERSION};
use crate::machine;
use crate::peer::NoisePeer;
use crate::state::ControlState;

/// The 0x03 frame text for clients below [`MIN_CAPABILITY_VERSION`].
const TOO_OLD: &str =
    "unsupported client version: keygate needs Tailscale capability version 68 or later; upgrade the client";

/// Interval and timeout of the HTTP/2 PINGs that detect a silently dead connection (a node
/// whose network vanished, which keep-alive writes alone would notice only once TCP gives up).
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Concurrent requests on one Noise connection: the map stream, lite updates and the odd
/// register; the Go client never has more than a few open.
const H2_MAX_STREAMS: u32 = 32;

/// `GET /key?v=<capability version>`: the server's Noise public key.
pub(crate) async fn key(State(state): State<ControlState>, request: Request) -> Response {
    let version = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("v=")))
        .and_then(|v| v.parse::<i64>().ok());
    if version.is_none() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "missing or invalid v parameter: ask for /key?v=<capability version>",
        );
    }
    let public = state.public_key();
    Json(OverTLSPublicKeyResponse::noise_only(public)).into_response()
}

/// `POST /ts2021` (and `GET` with the same headers): switch protocols and serve Noise.
pub(crate) async fn upgrade(State(state): State<ControlState>, mut request: Request) -> Response {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let upgrade_value = header(header::UPGRADE.as_str());
    if upgrade_value.is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket")) {
        return error_response(
            StatusCode::NOT_IMPLEMENTED,
            "the WebSocket transport (browser clients) is not supported",
        );
    }
    let initiation = match check_upgrade_request(upgrade_value, header(HANDSHAKE_HEADER)) {
        Ok(initiation) => initiation,
        Err(e) => {
            if upgrade_value.is_none() {
                tracing::info!("/ts2021 without an Upgrade header: a reverse proxy in front of keygate probably drops it");
            }
            return error_response(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "this connection cannot be upgraded (HTTP/1.1 only)",
        );
    };

    // What to write after the 101: the handshake response, or an error frame.
    let version = initiation.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let first_write: Result<_, Option<Vec<u8>>> = if i64::from(version) < MIN_CAPABILITY_VERSION {
        tracing::info!(
            version,
            "refusing a client older than capability version {MIN_CAPABILITY_VERSION}"
        );
        Err(Some(error_frame(TOO_OLD)))
    } else {
        accept(&state.shared.machine_key, &initiation, &mut OsRng).map_err(|e| {
            tracing::debug!(error = %e, "Noise handshake failed");
            e.error_frame()
        })
    };

    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "/ts2021 upgrade did not complete");
                return;
            }
        };
        let mut io = TokioIo::new(upgraded);
        let accepted = match first_write {
            Ok(accepted) => accepted,
            Err(frame) => {
                if let Some(frame) = frame {
                    let _ = io.write_all(&frame).await;
                    let _ = io.flush().await;
                }
                return;
            }
        };
        if let Err(e) = io.write_all(&accepted.response).await {
            tracing::debug!(error = %e, "writing the handshake response failed");
            return;
        }
        let peer = NoisePeer {
            machine_key: accepted.session.peer,
            version: i64::from(accepted.session.version),
        };
        let mut stream = NoiseStream::new(io, accepted.keys);
        // The early payload rides with the HTTP/2 server preface in the first flush.
        let challenge = ChallengePrivateKey::generate(&mut OsRng).public_key();
        if let Err(e) = stream.queue_early_payload(&EarlyNoise { node_key_challenge: challenge }) {
            tracing::debug!(error = %e, "queueing the early payload failed");
            return;
        }
        serve_http2(state, peer, stream).await;
    });

    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, UPGRADE_PROTOCOL)
        .header(header::CONNECTION, "upgrade")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Serves HTTP/2 (cleartext, prior knowledge) over the Noise stream until the node hangs up.
async fn serve_http2<S>(state: ControlState, peer: NoisePeer, stream: NoiseStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tracing::debug!(machine = ?peer.machine_key, version = peer.version, "Noise session established");
    let machine_key = peer.machine_key;
    let router = machine::router(state, peer);
    let result = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(H2_PING_INTERVAL))
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_concurrent_streams(H2_MAX_STREAMS)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router))
        .await;
    match result {
        Ok(()) => tracing::debug!(machine = ?machine_key, "Noise session closed"),
        Err(e) => tracing::debug!(machine = ?machine_key, error = %e, "Noise session ended"),
    }
}
