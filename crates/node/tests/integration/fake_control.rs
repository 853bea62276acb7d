//! A small fake control server: just enough of `/key`, `/ts2021` (Noise responder from
//! `keygate-noise`) and HTTP/2 `/machine/register` + `/machine/map` to drive the client, with
//! switches for misbehaviour. It records what it received so tests can check the requests.

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::UPGRADE;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use keygate_noise::upgrade::{check_upgrade_request, HANDSHAKE_HEADER, UPGRADE_PROTOCOL};
use keygate_noise::{accept, ChallengePrivateKey, EarlyNoise, MachinePrivateKey, NoiseStream};
use keygate_tailcfg::{
    allow_all, encode_map_response, from_slice_case_insensitive, host_addresses, keep_alive_frame,
    DERPMap, Login, MachinePublicKey, MapRequest, MapResponse, Node, NodeID,
    OverTLSPublicKeyResponse, RegisterRequest, RegisterResponse, User,
};
use rand::rngs::OsRng;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// An auth key the fake server accepts.
pub const GOOD_AUTH_KEY: &str = "keygate-auth-good";
/// An auth key the fake server refuses with [`REFUSAL_MESSAGE`].
pub const REFUSED_AUTH_KEY: &str = "keygate-auth-spent";
/// The `RegisterResponse.Error` for [`REFUSED_AUTH_KEY`].
pub const REFUSAL_MESSAGE: &str = "authkey already used";
/// The tailnet domain in map responses.
pub const DOMAIN: &str = "tail.test";
/// The registering node's ID in map responses.
pub const SELF_ID: NodeID = 1;

/// What `/ts2021` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeMode {
    /// Switch protocols and run the Noise responder.
    Accept,
    /// Answer 400 with a Go-style text body.
    BadRequest,
    /// Answer 101 naming another protocol.
    WrongProtocol,
    /// Switch protocols, then send a `0x03` error frame instead of the handshake response.
    ErrorFrame,
}

/// What one streaming `/machine/map` answers.
pub enum MapPlan {
    /// Status 200, these body chunks in order; then end the body (`end`) or keep it open
    /// until the client goes away.
    Stream { chunks: Vec<Bytes>, end: bool },
    /// A non-200 status with a text body.
    Status(StatusCode, &'static str),
}

/// Builds the plan for a streaming map request from the request and the Noise peer key.
pub type MapScript = Arc<dyn Fn(&MapRequest, MachinePublicKey) -> MapPlan + Send + Sync>;

/// The fake server's switches.
#[derive(Clone)]
pub struct Behaviour {
    pub upgrade: UpgradeMode,
    pub early_payload: bool,
    /// Serve the zero key on `/key`.
    pub zero_key: bool,
    pub map: MapScript,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            upgrade: UpgradeMode::Accept,
            early_payload: true,
            zero_key: false,
            map: Arc::new(|request, peer| MapPlan::Stream {
                chunks: standard_frames(request, peer),
                end: false,
            }),
        }
    }
}

/// What the server has seen.
#[derive(Default)]
pub struct Seen {
    pub key_fetches: AtomicUsize,
    pub noise_connections: AtomicUsize,
    pub registers: Mutex<Vec<(MachinePublicKey, RegisterRequest)>>,
    pub maps: Mutex<Vec<(MachinePublicKey, MapRequest)>>,
}

/// A running fake server on 127.0.0.1 (stopped when the test's runtime ends).
pub struct FakeControl {
    pub url: String,
    pub key: MachinePrivateKey,
    pub seen: Arc<Seen>,
}

impl FakeControl {
    /// Starts a server with default behaviour.
    pub async fn start() -> Self {
        Self::start_with(Behaviour::default()).await
    }

    /// Starts a server with the given behaviour.
    pub async fn start_with(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("binding");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let key = MachinePrivateKey::generate(&mut OsRng);
        let seen = Arc::new(Seen::default());
        let server = Server { key: key.clone(), behaviour, seen: Arc::clone(&seen) };
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.http1(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Self { url, key, seen }
    }

    /// The server key as the client types it.
    pub fn public_key(&self) -> MachinePublicKey {
        self.key.public_key()
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    response
}

#[derive(Clone)]
struct Server {
    key: MachinePrivateKey,
    behaviour: Behaviour,
    seen: Arc<Seen>,
}

impl Server {
    /// The plain HTTP/1.1 side: `/key` and `/ts2021`.
    async fn http1(&self, mut request: Request<Incoming>) -> Response<Body> {
        match request.uri().path() {
            "/key" => {
                self.seen.key_fetches.fetch_add(1, Ordering::SeqCst);
                let key = if self.behaviour.zero_key {
                    keygate_tailcfg::MachinePublicKey::ZERO
                } else {
                    self.key.public_key()
                };
                let body = serde_json::to_vec(&OverTLSPublicKeyResponse::noise_only(key)).unwrap();
                full(StatusCode::OK, body)
            }
            "/ts2021" => {
                let header = |name| {
                    request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
                };
                let checked = check_upgrade_request(
                    header(UPGRADE.as_str()).as_deref(),
                    header(HANDSHAKE_HEADER).as_deref(),
                );
                let init = match (self.behaviour.upgrade, checked) {
                    (UpgradeMode::BadRequest, _) => {
                        return full(StatusCode::BAD_REQUEST, "unknown next protocol")
                    }
                    (_, Err(err)) => return full(StatusCode::BAD_REQUEST, err.to_string()),
                    (_, Ok(init)) => init,
                };
                let on_upgrade = hyper::upgrade::on(&mut request);
                let protocol = match self.behaviour.upgrade {
                    UpgradeMode::WrongProtocol => "websocket",
                    _ => UPGRADE_PROTOCOL,
                };
                let server = self.clone();
                tokio::spawn(async move {
                    if let Ok(upgraded) = on_upgrade.await {
                        server.noise(TokioIo::new(upgraded), &init).await;
                    }
                });
                Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header(UPGRADE, protocol)
                    .header("connection", "upgrade")
                    .body(Empty::new().boxed())
                    .unwrap()
            }
            _ => full(StatusCode::NOT_FOUND, "not found"),
        }
    }

    /// The raw connection after the 101: handshake, early payload, HTTP/2.
    async fn noise(&self, mut io: TokioIo<hyper::upgrade::Upgraded>, init: &[u8]) {
        if self.behaviour.upgrade == UpgradeMode::ErrorFrame {
            let frame = keygate_noise::handshake::error_frame("unexpected handshake message type");
            let _ = io.write_all(&frame).await;
            return;
        }
        // A wrong key (or any other failure) closes the connection without a word, as Go does.
        let Ok(accepted) = accept(&self.key, init, &mut OsRng) else { return };
        if io.write_all(&accepted.response).await.is_err() {
            return;
        }
        self.seen.noise_connections.fetch_add(1, Ordering::SeqCst);
        let peer = accepted.session.peer;
        let mut stream = NoiseStream::new(io, accepted.keys);
        if self.behaviour.early_payload {
            let challenge = ChallengePrivateKey::generate(&mut OsRng).public_key();
            stream.queue_early_payload(&EarlyNoise { node_key_challenge: challenge }).unwrap();
        }
        let server = self.clone();
        let service = service_fn(move |request| {
            let server = server.clone();
            async move { Ok::<_, Infallible>(server.http2(request, peer).await) }
        });
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service)
            .await;
    }

    /// `/machine/*` inside Noise.
    async fn http2(&self, request: Request<Incoming>, peer: MachinePublicKey) -> Response<Body> {
        let path = request.uri().path().to_owned();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        match path.as_str() {
            "/machine/register" => {
                let register: RegisterRequest = from_slice_case_insensitive(&body).unwrap();
                let refused =
                    register.auth.as_ref().is_some_and(|a| a.auth_key == REFUSED_AUTH_KEY);
                self.seen.registers.lock().unwrap().push((peer, register));
                let response =
                    if refused { RegisterResponse::error(REFUSAL_MESSAGE) } else { registered() };
                full(StatusCode::OK, serde_json::to_vec(&response).unwrap())
            }
            "/machine/map" => {
                let map: MapRequest = from_slice_case_insensitive(&body).unwrap();
                self.seen.maps.lock().unwrap().push((peer, map.clone()));
                if !map.stream {
                    return full(StatusCode::OK, Bytes::new());
                }
                match (self.behaviour.map)(&map, peer) {
                    MapPlan::Status(status, text) => full(status, text),
                    MapPlan::Stream { chunks, end } => {
                        let (tx, rx) = mpsc::channel(chunks.len().max(1));
                        tokio::spawn(async move {
                            for chunk in chunks {
                                if tx.send(chunk).await.is_err() {
                                    return;
                                }
                            }
                            if !end {
                                // Hold the body open until the client goes away.
                                tx.closed().await;
                            }
                        });
                        Response::new(ChannelBody(rx).boxed())
                    }
                }
            }
            _ => full(StatusCode::NOT_IMPLEMENTED, "not implemented"),
        }
    }
}

/// A response body fed by a channel: each message is one DATA frame, flushed at once.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|data| Ok(Frame::data(data))))
    }
}

/// A successful registration.
fn registered() -> RegisterResponse {
    RegisterResponse {
        user: User { id: 1, display_name: "probe".into(), ..User::default() },
        login: Login {
            id: 1,
            login_name: "probe@example.test".into(),
            display_name: "probe".into(),
            ..Login::default()
        },
        machine_authorized: true,
        ..RegisterResponse::default()
    }
}

/// A node with ID `id`: addresses 100.64.0.<id> and fd7a:115c:a1e0::<id>.
pub fn node(id: NodeID) -> Node {
    let byte = u8::try_from(id).expect("small test IDs");
    Node {
        id,
        stable_id: format!("n{id}"),
        name: format!("node{id}.{DOMAIN}."),
        user: 1,
        key: keygate_tailcfg::NodePublicKey::from_bytes([byte; 32]),
        addresses: host_addresses(
            Ipv4Addr::new(100, 64, 0, byte),
            std::net::Ipv6Addr::new(0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 0, u16::from(byte)),
        ),
        machine_authorized: true,
        online: Some(true),
        ..Node::default()
    }
}

/// The first message of a poll: self node (with the request's keys) and peer 2.
pub fn full_map(request: &MapRequest, peer: MachinePublicKey) -> MapResponse {
    let mut self_node = node(SELF_ID);
    self_node.key = request.node_key;
    self_node.disco_key = request.disco_key;
    self_node.machine = peer;
    MapResponse {
        node: Some(self_node),
        domain: DOMAIN.into(),
        derp_map: Some(DERPMap::default()),
        peers: Some(vec![node(2)]),
        packet_filter: Some(allow_all()),
        ..MapResponse::default()
    }
}

/// The delta that follows: peer 3 joined.
pub fn delta() -> MapResponse {
    MapResponse { peers_changed: Some(vec![node(3)]), ..MapResponse::default() }
}

/// Full map, keep-alive, delta; compressed iff the request asked for zstd.
pub fn standard_frames(request: &MapRequest, peer: MachinePublicKey) -> Vec<Bytes> {
    let zstd = request.wants_zstd();
    vec![
        encode_map_response(&full_map(request, peer), zstd).unwrap(),
        keep_alive_frame(zstd).unwrap(),
        encode_map_response(&delta(), zstd).unwrap(),
    ]
}

/// A behaviour whose map streams are built by `script`.
pub fn with_map(
    script: impl Fn(&MapRequest, MachinePublicKey) -> MapPlan + Send + Sync + 'static,
) -> Behaviour {
    Behaviour { map: Arc::new(script), ..Behaviour::default() }
}
