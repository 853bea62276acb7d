//! [`NodeError`]: everything that can go wrong between "connect to this URL" and "here is the
//! next map message".
//!
//! Variants say which step failed; the underlying error stays attached as the `source`, so
//! printing the chain (`{:#}` with anyhow, or walking `Error::source`) gives the whole story.
//! Bad server input always ends up here, never in a panic.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use http::StatusCode;
use keygate_noise::{EarlyPayloadError, HandshakeError};
use keygate_tailcfg::FrameError;

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The login server URL is not `http://host[:port]`.
    #[error("invalid login server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An `https://` login server was given; only plain `http://` is supported so far.
    #[error("https login servers are not supported yet (use an http:// URL)")]
    HttpsUnsupported,
    /// Opening the TCP connection to the login server failed.
    #[error("connecting to {addr}")]
    Connect {
        /// `host:port` dialled.
        addr: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// A step did not finish within the configured time.
    #[error("timed out after {after:?} while {step}")]
    Timeout {
        /// What was being done (e.g. "fetching the server key").
        step: &'static str,
        /// The limit that was hit.
        after: Duration,
    },
    /// The plain HTTP/1.1 exchange (`GET /key` or `POST /ts2021`) failed.
    #[error("HTTP/1.1 {step}")]
    Http1 {
        /// The request that failed.
        step: &'static str,
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// `GET /key` did not answer 200.
    #[error("GET /key answered HTTP {status}: {body}")]
    KeyStatus {
        /// The status received.
        status: StatusCode,
        /// The start of the body, for the message.
        body: String,
    },
    /// The `/key` body is not an `OverTLSPublicKeyResponse`.
    #[error("decoding the /key response")]
    KeyJson(#[source] serde_json::Error),
    /// The `/key` response has no Noise key (Go: "control server is too old; no noise key").
    #[error("control server is too old; no noise key")]
    NoNoiseKey,
    /// `POST /ts2021` was answered with something other than `101 Switching Protocols`.
    #[error("upgrade to the control protocol refused: HTTP {status}: {body}")]
    UpgradeRefused {
        /// The status received.
        status: StatusCode,
        /// The start of the body (servers explain refusals there).
        body: String,
    },
    /// The `101` did not name `tailscale-control-protocol` in its `Upgrade` header.
    #[error("the server switched to protocol {got:?}, want \"tailscale-control-protocol\"")]
    WrongUpgradeProtocol {
        /// The `Upgrade` header value received, if any.
        got: Option<String>,
    },
    /// The server closed the connection instead of answering the Noise initiation; usually it
    /// does not hold the private half of the server key the client used (a stale key).
    #[error("the server closed the connection during the Noise handshake (wrong server key?)")]
    HandshakeClosed,
    /// The Noise handshake failed (server error frame, bad response, wrong key).
    #[error("Noise handshake")]
    Handshake(#[source] HandshakeError),
    /// The server's early payload was malformed.
    #[error("reading the early payload")]
    EarlyPayload(#[from] EarlyPayloadError),
    /// The HTTP/2 connection inside Noise failed (handshake, or a request on it).
    #[error("HTTP/2 inside Noise: {step}")]
    Http2 {
        /// The request that failed.
        step: &'static str,
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// A `/machine/*` endpoint answered a non-200 status.
    #[error("{endpoint} answered HTTP {status}: {body}")]
    Status {
        /// The endpoint, e.g. `/machine/register`.
        endpoint: &'static str,
        /// The status received.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// A response body exceeded its limit.
    #[error("{endpoint} response body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The endpoint.
        endpoint: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// A request could not be encoded or a response could not be decoded as JSON.
    #[error("JSON of {endpoint}")]
    Json {
        /// The endpoint.
        endpoint: &'static str,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
    /// A map-stream frame was malformed, too large or not a `MapResponse`.
    #[error("map stream frame")]
    Frame(#[from] FrameError),
    /// The map stream ended in the middle of a frame.
    #[error("map stream ended in the middle of a frame ({buffered} bytes pending)")]
    TruncatedFrame {
        /// Bytes received of the unfinished frame.
        buffered: usize,
    },
    /// No map message (keep-alives included) arrived for this long: the server or the path is
    /// gone (Go's client gives up after 120 s too).
    #[error("no map message for {0:?}")]
    MapIdle(Duration),
    /// The first map message had no `Node` (Go: "initial MapResponse lacked node").
    #[error("initial MapResponse lacked node")]
    MissingSelfNode,
    /// The map stream ended before any message arrived.
    #[error("the map stream ended before the first message")]
    MapStreamEnded,
    /// The server refused the registration (`RegisterResponse.Error`, sent with HTTP 200).
    #[error("registration refused: {0}")]
    Refused(String),
    /// The server wants an interactive login (`RegisterResponse.AuthURL`), which this client
    /// cannot do.
    #[error("interactive login required: {0}")]
    NeedsInteractiveLogin(String),
    /// Reading or writing the identity state file failed.
    #[error("state file {path}")]
    State {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: StateError,
    },
}

/// Why an identity state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read, written or renamed.
    #[error("file i/o")]
    Io(#[from] io::Error),
    /// The file is not the expected JSON.
    #[error("decoding JSON")]
    Json(#[from] serde_json::Error),
    /// A key in the file is not `privkey:<64 hex>`.
    #[error("key {field}")]
    Key {
        /// The JSON field holding the bad key.
        field: &'static str,
        /// The parse error (never includes the key text).
        #[source]
        source: keygate_noise::KeyParseError,
    },
}

impl From<HandshakeError> for NodeError {
    fn from(err: HandshakeError) -> Self {
        // A server that cannot decrypt the initiation closes without an error frame (Go does
        // the same), so an EOF while waiting for the response is worth a hint.
        match &err {
            HandshakeError::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
                Self::HandshakeClosed
            }
            _ => Self::Handshake(err),
        }
    }
}

/// The start of a response body as text, for error messages: at most [`BODY_SNIPPET_LEN`]
/// bytes, lossy UTF-8, trimmed.
pub(crate) fn body_snippet(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_SNIPPET_LEN)];
    String::from_utf8_lossy(cut).trim().to_owned()
}

/// How much of an error body is kept in a [`NodeError`].
pub(crate) const BODY_SNIPPET_LEN: usize = 512;
