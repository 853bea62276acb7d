//! [`ControlClient`]: one Noise connection to the control server carrying HTTP/2, over which
//! the node registers, polls its map and sends lite updates, multiplexed like Go's client
//! (protocol.md §4, §5).
//!
//! ```no_run
//! # async fn demo() -> Result<(), keygate_node::NodeError> {
//! use keygate_node::{ControlClient, MapOptions, NetMap, NodeIdentity, RegisterOptions};
//!
//! let identity = NodeIdentity::generate();
//! let client = ControlClient::connect("http://127.0.0.1:8080", &identity).await?;
//! client.login(RegisterOptions::with_auth_key("keygate-auth-…", "laptop")).await?;
//! let mut stream = client.map_stream(MapOptions::default()).await?;
//! let mut netmap = NetMap::new();
//! while let Some(message) = stream.next().await? {
//!     netmap.apply(&message);
//!     println!("{} peers", netmap.peer_count());
//! }
//! # Ok(()) }
//! ```
//!
//! [`ControlClient::send_raw`] and [`ControlClient::post_raw`] send arbitrary requests on the
//! same channel and return any status, for tests of the server's refusals.
//!
//! Cost per client: two tokio tasks (hyper's HTTP/2 connection driver) and the connection's
//! buffers; no threads. Dropping the client and every [`MapStream`] it opened closes the
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use keygate_noise::EarlyNoise;
use keygate_tailcfg::{
    from_slice_case_insensitive, DiscoPublicKey, EndpointType, Hostinfo, MachinePublicKey,
    MapRequest, NodePublicKey, RegisterAuth, RegisterRequest, RegisterResponse, COMPRESS_ZSTD,
};
use time::OffsetDateTime;

use crate::error::NodeError;
use crate::identity::NodeIdentity;
use crate::map_stream::{MapOptions, MapStream};
use crate::server_url::ServerUrl;
use crate::transport::{self, read_body, read_snippet, ConnectionCounters};
use crate::CAPABILITY_VERSION;

/// Default limit for connecting (key fetch, upgrade, handshake, HTTP/2 setup): Go's dial
/// budget without a dial plan.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest register response read (Go: 1 MiB).
pub const MAX_REGISTER_BODY_LEN: usize = 1 << 20;

/// Largest body read by [`ControlClient::send_raw`] (the server's own request limit).
pub const MAX_RAW_BODY_LEN: usize = 1 << 20;

/// Largest lite-update response read; the client discards it anyway.
const MAX_LITE_BODY_LEN: usize = 1 << 20;

/// The `Expiry` Go sends to log out: Unix time 123 (`1970-01-01T00:02:03Z`).
pub const LOGOUT_EXPIRY_UNIX: i64 = 123;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The server's Noise key if already known (from [`transport::fetch_server_key`] or an
    /// earlier client): skips `GET /key`.
    pub server_key: Option<MachinePublicKey>,
    /// Limit for the whole connection setup.
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self { server_key: None, timeout: DEFAULT_CONNECT_TIMEOUT }
    }
}

/// What to put in a `/machine/register` request.
///
/// `Debug` redacts the auth key.
#[derive(Clone, Default)]
pub struct RegisterOptions {
    /// The pre-auth key (`Auth.AuthKey`); `None` re-confirms an existing login (restart) or,
    /// with `expiry` in the past, logs out.
    pub auth_key: Option<String>,
    /// `Hostinfo.Hostname`; ignored when `hostinfo` is given.
    pub hostname: String,
    /// Ask to be ephemeral (`RegisterRequest.Ephemeral`).
    pub ephemeral: bool,
    /// The previous node key when rotating (`OldNodeKey`); `None` sends the zero key.
    pub old_node_key: Option<NodePublicKey>,
    /// Requested key expiry; `None` = server default, a past time = log out.
    pub expiry: Option<OffsetDateTime>,
    /// A complete Hostinfo to send instead of [`default_hostinfo`]`(hostname)`.
    pub hostinfo: Option<Hostinfo>,
}

impl RegisterOptions {
    /// A first login with a pre-auth key.
    pub fn with_auth_key(auth_key: impl Into<String>, hostname: impl Into<String>) -> Self {
        Self { auth_key: Some(auth_key.into()), hostname: hostname.into(), ..Self::default() }
    }

    /// A logout: no credentials, `Expiry` = Unix time 123, as Go sends it.
    pub fn logout() -> Self {
        let expiry = OffsetDateTime::from_unix_timestamp(LOGOUT_EXPIRY_UNIX)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Self { expiry: Some(expiry), ..Self::default() }
    }
}

impl std::fmt::Debug for RegisterOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterOptions")
            .field("auth_key", &self.auth_key.as_ref().map(|_| "<redacted>"))
            .field("hostname", &self.hostname)
            .field("ephemeral", &self.ephemeral)
            .field("old_node_key", &self.old_node_key)
            .field("expiry", &self.expiry)
            .field("hostinfo", &self.hostinfo.is_some())
            .finish()
    }
}

/// What to send in a lite update (`OmitPeers: true`, no stream): new endpoints and/or Hostinfo.
#[derive(Debug, Clone, Default)]
pub struct LiteUpdate {
    /// The node's UDP endpoints.
    pub endpoints: Vec<SocketAddr>,
    /// The type of each endpoint (parallel to `endpoints`; may be empty).
    pub endpoint_types: Vec<EndpointType>,
    /// New Hostinfo, if it changed.
    pub hostinfo: Option<Hostinfo>,
}

/// The Hostinfo this client reports: its version, OS and architecture, and `hostname`.
pub fn default_hostinfo(hostname: &str) -> Hostinfo {
    Hostinfo {
        ipn_version: concat!("keygate-node/", env!("CARGO_PKG_VERSION")).to_owned(),
        app: "keygate-node".to_owned(),
        os: std::env::consts::OS.to_owned(),
        go_arch: std::env::consts::ARCH.to_owned(),
        hostname: hostname.to_owned(),
        ..Hostinfo::default()
    }
}

/// A connected node: one Noise connection with HTTP/2 inside.
///
/// Requests take `&self` and may run concurrently (they become HTTP/2 streams). The node
/// keys sent in requests are the identity's at connect time; after
/// [`NodeIdentity::rotate_node_key`] call [`ControlClient::set_node_keys`].
#[derive(Debug)]
pub struct ControlClient {
    url: ServerUrl,
    sender: SendRequest<Full<Bytes>>,
    server_key: MachinePublicKey,
    node_key: NodePublicKey,
    disco_key: DiscoPublicKey,
    early_payload: Option<EarlyNoise>,
    counters: Arc<ConnectionCounters>,
}

impl ControlClient {
    /// Connects to `server_url` (`http://host[:port]`) as `identity`, fetching the server key
    /// first. See [`ControlClient::connect_with`].
    pub async fn connect(server_url: &str, identity: &NodeIdentity) -> Result<Self, NodeError> {
        let url = ServerUrl::parse(server_url)?;
        Self::connect_with(&url, identity, &ConnectOptions::default()).await
    }

    /// Connects: `GET /key` (unless `options.server_key` is set), `/ts2021` upgrade, Noise
    /// handshake, early payload, HTTP/2 handshake. The HTTP/2 connection is driven by a
    /// spawned task, so this must run inside a tokio runtime.
    pub async fn connect_with(
        url: &ServerUrl,
        identity: &NodeIdentity,
        options: &ConnectOptions,
    ) -> Result<Self, NodeError> {
        let timeout = options.timeout;
        tokio::time::timeout(timeout, Self::connect_inner(url, identity, options.server_key))
            .await
            .map_err(|_| NodeError::Timeout {
                step: "connecting to the control server",
                after: timeout,
            })?
    }

    async fn connect_inner(
        url: &ServerUrl,
        identity: &NodeIdentity,
        server_key: Option<MachinePublicKey>,
    ) -> Result<Self, NodeError> {
        let server_key = match server_key {
            Some(key) => key,
            None => transport::fetch_server_key(url).await?,
        };
        let (stream, early_payload, counters) =
            transport::open_noise(url, identity, &server_key).await?;
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|source| NodeError::Http2 { step: "handshake", source })?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "control connection ended with an error");
            }
        });
        Ok(Self {
            url: url.clone(),
            sender,
            server_key,
            node_key: identity.node_public(),
            disco_key: identity.disco_public(),
            early_payload,
            counters,
        })
    }

    /// The server's Noise key (reuse it in [`ConnectOptions::server_key`]).
    pub fn server_key(&self) -> MachinePublicKey {
        self.server_key
    }

    /// The early payload the server sent, if any.
    pub fn early_payload(&self) -> Option<&EarlyNoise> {
        self.early_payload.as_ref()
    }

    /// Byte counters of the Noise connection.
    pub fn counters(&self) -> &ConnectionCounters {
        &self.counters
    }

    /// The node key sent in requests.
    pub fn node_key(&self) -> NodePublicKey {
        self.node_key
    }

    /// Uses `identity`'s current node and disco keys in later requests (after a rotation).
    /// The machine key of a connection cannot change.
    pub fn set_node_keys(&mut self, identity: &NodeIdentity) {
        self.node_key = identity.node_public();
        self.disco_key = identity.disco_public();
    }

    /// Whether the connection has closed (later requests would fail).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// `POST /machine/register`. Returns the response even when its `Error` is set: a refusal
    /// is HTTP 200 with `Error` (see [`ControlClient::login`] for the usual checks).
    pub async fn register(&self, options: RegisterOptions) -> Result<RegisterResponse, NodeError> {
        const ENDPOINT: &str = "/machine/register";
        let hostinfo = options.hostinfo.unwrap_or_else(|| default_hostinfo(&options.hostname));
        let request = RegisterRequest {
            version: CAPABILITY_VERSION.into(),
            node_key: self.node_key,
            old_node_key: options.old_node_key.unwrap_or(NodePublicKey::ZERO),
            auth: options.auth_key.map(|auth_key| RegisterAuth { auth_key, oauth2_token: None }),
            expiry: options.expiry,
            hostinfo: Some(hostinfo),
            ephemeral: options.ephemeral,
            ..RegisterRequest::default()
        };
        let response = self.post_json(ENDPOINT, &request).await?;
        let body = read_body(response.into_body(), MAX_REGISTER_BODY_LEN, ENDPOINT, |source| {
            NodeError::Http2 { step: ENDPOINT, source }
        })
        .await?;
        // Lenient like Go's decoder: key case does not matter, missing fields are zero.
        from_slice_case_insensitive(&body)
            .map_err(|source| NodeError::Json { endpoint: ENDPOINT, source })
    }

    /// [`ControlClient::register`], then: a non-empty `Error` becomes
    /// [`NodeError::Refused`], a non-empty `AuthURL` [`NodeError::NeedsInteractiveLogin`].
    /// `NodeKeyExpired` and `MachineAuthorized: false` are left to the caller.
    pub async fn login(&self, options: RegisterOptions) -> Result<RegisterResponse, NodeError> {
        let response = self.register(options).await?;
        if !response.error.is_empty() {
            return Err(NodeError::Refused(response.error));
        }
        if !response.auth_url.is_empty() {
            return Err(NodeError::NeedsInteractiveLogin(response.auth_url));
        }
        Ok(response)
    }

    /// Logs out ([`RegisterOptions::logout`]); the server expires the node key, or deletes an
    /// ephemeral node.
    pub async fn logout(&self) -> Result<RegisterResponse, NodeError> {
        self.register(RegisterOptions::logout()).await
    }

    /// Opens the streaming map poll (`POST /machine/map`, `Stream: true`). The returned
    /// stream works on after this client is dropped.
    pub async fn map_stream(&self, options: MapOptions) -> Result<MapStream, NodeError> {
        const ENDPOINT: &str = "/machine/map";
        let request = MapRequest {
            version: CAPABILITY_VERSION.into(),
            compress: if options.compress_zstd { COMPRESS_ZSTD.to_owned() } else { String::new() },
            keep_alive: options.keep_alive,
            node_key: self.node_key,
            disco_key: self.disco_key,
            stream: true,
            hostinfo: options.hostinfo.clone(),
            endpoints: options.endpoints.clone(),
            ..MapRequest::default()
        };
        let response = self.post_json(ENDPOINT, &request).await?;
        Ok(MapStream::new(response.into_body(), &options))
    }

    /// Sends a lite update (`OmitPeers: true`, not streaming) and waits for its bare 200.
    pub async fn lite_update(&self, update: LiteUpdate) -> Result<(), NodeError> {
        const ENDPOINT: &str = "/machine/map";
        let request = MapRequest {
            version: CAPABILITY_VERSION.into(),
            // Go sends these on lite updates too.
            compress: COMPRESS_ZSTD.to_owned(),
            keep_alive: true,
            node_key: self.node_key,
            disco_key: self.disco_key,
            omit_peers: true,
            hostinfo: update.hostinfo,
            endpoints: update.endpoints,
            endpoint_types: update.endpoint_types,
            ..MapRequest::default()
        };
        let response = self.post_json(ENDPOINT, &request).await?;
        read_body(response.into_body(), MAX_LITE_BODY_LEN, ENDPOINT, |source| NodeError::Http2 {
            step: ENDPOINT,
            source,
        })
        .await?;
        Ok(())
    }

    /// POSTs `body` as JSON and returns the response if it is a 200.
    async fn post_json<T: serde::Serialize>(
        &self,
        endpoint: &'static str,
        body: &T,
    ) -> Result<Response<Incoming>, NodeError> {
        let json =
            serde_json::to_vec(body).map_err(|source| NodeError::Json { endpoint, source })?;
        let request = Request::post(self.url.uri(endpoint))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(json)))
            .map_err(|_| NodeError::InvalidUrl {
                url: self.url.to_string(),
                reason: "unusable host",
            })?;
        let response = self.send(endpoint, request).await?;
        let status = response.status();
        if status != StatusCode::OK {
            let body = read_snippet(response.into_body()).await;
            return Err(NodeError::Status { endpoint, status, body });
        }
        Ok(response)
    }

    /// Sends `request` over this connection's HTTP/2 channel as it is, and reads the whole
    /// answer whatever its status (up to [`MAX_RAW_BODY_LEN`] bytes).
    ///
    /// The typed methods turn anything but a 200 into [`NodeError::Status`]; this is for the
    /// callers that need what they hide: tests posting malformed bodies or calling other
    /// endpoints, and diagnostics wanting the exact status and body of a refusal. The URI
    /// must be absolute (`http://host/path`), as HTTP/2 carries scheme and authority in every
    /// request; [`ControlClient::post_raw`] builds it from the server URL.
    ///
    /// Not for a streaming map poll (`Stream: true` answered 200): its body does not end
    /// until the server closes it. Use [`ControlClient::map_stream`].
    pub async fn send_raw(&self, request: Request<Bytes>) -> Result<Response<Bytes>, NodeError> {
        const STEP: &str = "raw request";
        let response = self.send(STEP, request.map(Full::new)).await?;
        let (parts, body) = response.into_parts();
        let body = read_body(body, MAX_RAW_BODY_LEN, STEP, |source| NodeError::Http2 {
            step: STEP,
            source,
        })
        .await?;
        Ok(Response::from_parts(parts, body))
    }

    /// POSTs `body` (sent as it is, with `Content-Type: application/json`) to `path` on the
    /// server, and returns the status and the whole body whatever the status. See
    /// [`ControlClient::send_raw`].
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<Bytes>,
    ) -> Result<(StatusCode, Bytes), NodeError> {
        let invalid = |reason| NodeError::InvalidUrl { url: format!("{}{path}", self.url), reason };
        let uri = self.url.try_uri(path).map_err(|_| invalid("not a valid request path"))?;
        let request = Request::post(uri)
            .header(CONTENT_TYPE, "application/json")
            .body(body.into())
            .map_err(|_| invalid("unusable request"))?;
        let response = self.send_raw(request).await?;
        Ok((response.status(), response.into_body()))
    }

    /// Sends one request as a new HTTP/2 stream; the response's body is left unread.
    async fn send(
        &self,
        step: &'static str,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, NodeError> {
        self.sender
            .clone()
            .send_request(request)
            .await
            .map_err(|source| NodeError::Http2 { step, source })
    }
}
