//! Getting from a URL to an encrypted byte stream: `GET /key`, then `POST /ts2021` with the
//! Noise initiation in a header, the `101`, the Noise response and the optional early payload
//! (protocol.md §2, §3). Each uses its own short-lived HTTP/1.1 connection over plain TCP, as
//! Go's client does.
//!
//! ```text
//! client                                   server
//!   GET /key?v=133              ──►
//!                               ◄──  200 {"publicKey":"mkey:…"}          (connection closed)
//!   POST /ts2021                ──►   (new connection)
//!     Upgrade: tailscale-control-protocol
//!     X-Tailscale-Handshake: <base64 of the 101-byte initiation>
//!                               ◄──  101 Switching Protocols, then the 51-byte response
//!                               ◄──  [early payload]  then HTTP/2 inside Noise records
//! ```

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, UPGRADE};
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use keygate_noise::upgrade::{encode_handshake_header, HANDSHAKE_HEADER, UPGRADE_PROTOCOL};
use keygate_noise::{read_early_payload, read_response, EarlyNoise, Initiator, NoiseStream};
use keygate_tailcfg::{MachinePublicKey, OverTLSPublicKeyResponse};
use rand::rngs::OsRng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::{body_snippet, NodeError, BODY_SNIPPET_LEN};
use crate::identity::NodeIdentity;
use crate::server_url::ServerUrl;
use crate::CAPABILITY_VERSION;

/// Largest `/key` body read (Go: 64 KiB).
pub const MAX_KEY_BODY_LEN: usize = 64 << 10;

/// The byte stream under HTTP/2: Noise records over the upgraded TCP connection, counted.
pub(crate) type ControlStream = NoiseStream<CountingIo<TokioIo<Upgraded>>>;

/// Fetches the server's Noise public key with `GET /key?v=<capver>`.
///
/// The key is the same for every node of a server, so a benchmark fetches it once and passes
/// it in [`crate::ConnectOptions::server_key`].
pub async fn fetch_server_key(url: &ServerUrl) -> Result<MachinePublicKey, NodeError> {
    const STEP: &str = "GET /key";
    let http1 = |source| NodeError::Http1 { step: STEP, source };
    let tcp = dial(url).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(http1)?;
    // Ends by itself once the response is read and `sender` is dropped.
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "/key connection ended with an error");
        }
    });
    let request = Request::get(format!("/key?v={CAPABILITY_VERSION}"))
        .header(HOST, url.authority())
        .body(Empty::<Bytes>::new())
        .map_err(|_| NodeError::InvalidUrl { url: url.to_string(), reason: "unusable host" })?;
    let response = sender.send_request(request).await.map_err(http1)?;
    let status = response.status();
    if status != StatusCode::OK {
        let body = read_snippet(response.into_body()).await;
        return Err(NodeError::KeyStatus { status, body });
    }
    let body = read_body(response.into_body(), MAX_KEY_BODY_LEN, STEP, http1).await?;
    // Go falls back to a bare legacy hex key when the body is not JSON, and then fails for
    // lack of a Noise key: skip straight to that failure.
    let keys: OverTLSPublicKeyResponse =
        serde_json::from_slice(&body).map_err(NodeError::KeyJson)?;
    if keys.public_key.is_zero() {
        return Err(NodeError::NoNoiseKey);
    }
    Ok(keys.public_key)
}

/// Opens `/ts2021`, runs the Noise handshake as `identity`'s machine key towards
/// `server_key`, and reads the early payload if the server sends one.
pub(crate) async fn open_noise(
    url: &ServerUrl,
    identity: &NodeIdentity,
    server_key: &MachinePublicKey,
) -> Result<(ControlStream, Option<EarlyNoise>, Arc<ConnectionCounters>), NodeError> {
    const STEP: &str = "POST /ts2021";
    let http1 = |source| NodeError::Http1 { step: STEP, source };
    let noise_server_key = *server_key;
    let (initiator, initiation) =
        Initiator::new(identity.machine_key(), &noise_server_key, CAPABILITY_VERSION, &mut OsRng)?;

    let tcp = dial(url).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(http1)?;
    // `with_upgrades` makes the connection future hand the socket to `upgrade::on` after the
    // 101 instead of closing it.
    tokio::spawn(async move {
        if let Err(err) = connection.with_upgrades().await {
            tracing::debug!(error = %err, "/ts2021 connection ended with an error");
        }
    });
    let request = Request::post(keygate_noise::upgrade::UPGRADE_PATH)
        .header(HOST, url.authority())
        .header(UPGRADE, UPGRADE_PROTOCOL)
        .header(CONNECTION, "upgrade")
        .header(HANDSHAKE_HEADER, encode_handshake_header(&initiation))
        .header(CONTENT_LENGTH, "0")
        .body(Empty::<Bytes>::new())
        .map_err(|_| NodeError::InvalidUrl { url: url.to_string(), reason: "unusable host" })?;
    let response = sender.send_request(request).await.map_err(http1)?;

    let status = response.status();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let body = read_snippet(response.into_body()).await;
        return Err(NodeError::UpgradeRefused { status, body });
    }
    // Go compares the value exactly.
    let protocol = response.headers().get(UPGRADE).map(|v| v.as_bytes());
    if protocol != Some(UPGRADE_PROTOCOL.as_bytes()) {
        let got = protocol.map(|v| String::from_utf8_lossy(v).into_owned());
        return Err(NodeError::WrongUpgradeProtocol { got });
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|source| NodeError::Http1 { step: "switching to the control protocol", source })?;

    let counters = Arc::new(ConnectionCounters::default());
    let mut io = CountingIo { inner: TokioIo::new(upgraded), counters: Arc::clone(&counters) };
    let reply = read_response(&mut io).await?;
    let established = initiator.finish(&reply)?;
    let mut stream = NoiseStream::new(io, established.keys);
    let early = read_early_payload(&mut stream).await?;
    Ok((stream, early, counters))
}

/// Opens a TCP connection to the server, with Nagle off as Go does.
async fn dial(url: &ServerUrl) -> Result<TcpStream, NodeError> {
    let connect_error = |source| NodeError::Connect { addr: url.dial_addr().to_owned(), source };
    let tcp = TcpStream::connect(url.dial_addr()).await.map_err(connect_error)?;
    tcp.set_nodelay(true).map_err(connect_error)?;
    Ok(tcp)
}

/// Reads a whole body, failing with [`NodeError::BodyTooLarge`] past `limit` bytes.
pub(crate) async fn read_body(
    mut body: Incoming,
    limit: usize,
    endpoint: &'static str,
    on_error: impl Fn(hyper::Error) -> NodeError,
) -> Result<Bytes, NodeError> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(&on_error)?.into_data() {
            if buf.len() + data.len() > limit {
                return Err(NodeError::BodyTooLarge { endpoint, limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// The start of an error response's body, for messages; errors and the rest are ignored.
pub(crate) async fn read_snippet(mut body: Incoming) -> String {
    let mut buf = Vec::new();
    while buf.len() < BODY_SNIPPET_LEN {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    body_snippet(&buf)
}

/// Bytes moved over one control connection, Noise records and HTTP/1.1 upgrade leftovers
/// included (not the `/key` request or the upgrade request itself).
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    read: AtomicU64,
    written: AtomicU64,
}

impl ConnectionCounters {
    /// Bytes received from the server so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Bytes sent to the server so far.
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// An `AsyncRead + AsyncWrite` that counts the bytes going through it.
pub(crate) struct CountingIo<T> {
    inner: T,
    counters: Arc<ConnectionCounters>,
}

impl<T: AsyncRead + Unpin> AsyncRead for CountingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.counters.read.fetch_add(read as u64, Ordering::Relaxed);
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountingIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = result {
            self.counters.written.fetch_add(written as u64, Ordering::Relaxed);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(written)) = result {
            self.counters.written.fetch_add(written as u64, Ordering::Relaxed);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
