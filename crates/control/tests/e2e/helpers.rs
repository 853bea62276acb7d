//! `TestServer` (the control router on a real socket) and `TestNode` (a minimal node client).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, StatusCode};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use keygate_control::{ControlConfig, ControlState};
use keygate_domain::{Pepper, Timestamp};
use keygate_noise::upgrade::{encode_handshake_header, HANDSHAKE_HEADER, UPGRADE_PROTOCOL};
use keygate_noise::{
    read_early_payload, read_response, Initiator, MachinePrivateKey, MachinePublicKey, NoiseStream,
};
use keygate_service::{
    Actor, ManualClock, NewKeyRequest, Service, ServiceConfig, Tailnet, TailnetConfig,
};
use keygate_tailcfg::{
    FrameDecoder, MapResponse, NodePublicKey, OverTLSPublicKeyResponse, RegisterResponse,
};
use rand::rngs::OsRng;
use rand::RngCore as _;
use serde_json::{json, Value};
use tokio::net::TcpStream;

/// Capability version the test node announces (tailscaled 1.96).
pub const CAPVER: u16 = 133;
/// How long any single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(10);
/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("debug").with_test_writer().init();
        }
    });
}

/// The control router served on 127.0.0.1:0 over a fresh SQLite file.
pub struct TestServer {
    pub addr: SocketAddr,
    pub service: Service,
    pub tailnet: Tailnet,
    pub clock: ManualClock,
    pub control: ControlState,
    db: PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(ControlConfig::default()).await
    }

    pub async fn start_with(config: ControlConfig) -> Self {
        init_logs();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let db = std::env::temp_dir().join(format!(
            "keygate-control-e2e-{}-{}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let store = keygate_store::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        // The wall clock at start, moved by hand when a test needs time to pass.
        let clock = ManualClock::new(Timestamp::from_unix_millis(T0));
        let service = Service::new(
            store,
            Pepper::from_bytes([3; 32]),
            Arc::new(clock.clone()),
            ServiceConfig::default(),
        );
        let tailnet = Tailnet::load(service.clone(), TailnetConfig::default()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ControlConfig { server_url: format!("http://{addr}"), ..config };
        let control =
            ControlState::new(tailnet.clone(), MachinePrivateKey::generate(&mut OsRng), config);
        let app = keygate_control::router(control.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, service, tailnet, clock, control, db }
    }

    /// A new key for the default user; returns the full secret.
    pub async fn key(&self, req: NewKeyRequest) -> String {
        self.service.create_auth_key(&Actor::Admin, req).await.unwrap().secret.expose()
    }

    /// Sends one HTTP/1.1 request on a fresh connection and reads the whole answer.
    pub async fn http1(
        &self,
        request: Request<Empty<Bytes>>,
    ) -> (StatusCode, http::HeaderMap, Bytes) {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
        tokio::spawn(conn);
        let response =
            tokio::time::timeout(STEP, sender.send_request(request)).await.unwrap().unwrap();
        let (parts, body) = response.into_parts();
        (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
    }

    /// The server's Noise key, as a node learns it.
    pub async fn fetch_key(&self) -> MachinePublicKey {
        let request = Request::get(format!("/key?v={CAPVER}"))
            .header(header::HOST, self.addr.to_string())
            .body(Empty::new())
            .unwrap();
        let (status, _, body) = self.http1(request).await;
        assert_eq!(status, StatusCode::OK);
        let parsed: OverTLSPublicKeyResponse = serde_json::from_slice(&body).unwrap();
        parsed.public_key
    }

    /// A node with fresh keys, connected over Noise.
    pub async fn node(&self, hostname: &str) -> TestNode {
        TestNode::connect(self, MachinePrivateKey::generate(&mut OsRng), hostname).await
    }
}

/// What happened to an upgrade attempt.
pub enum Upgrade {
    Noise(Box<NoiseStream<TokioIo<hyper::upgrade::Upgraded>>>),
    /// The server switched protocols, then sent an error frame.
    HandshakeError(String),
}

/// Runs the `/ts2021` upgrade as a node with `machine` and capability `version`.
pub async fn upgrade(server: &TestServer, machine: &MachinePrivateKey, version: u16) -> Upgrade {
    let server_key = server.fetch_key().await;
    let (initiator, init) = Initiator::new(machine, &server_key, version, &mut OsRng).unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn.with_upgrades());
    let request = Request::post("/ts2021")
        .header(header::HOST, server.addr.to_string())
        .header(header::UPGRADE, UPGRADE_PROTOCOL)
        .header(header::CONNECTION, "upgrade")
        .header(HANDSHAKE_HEADER, encode_handshake_header(&init))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = tokio::time::timeout(STEP, sender.send_request(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()[header::UPGRADE], UPGRADE_PROTOCOL);
    let mut io = TokioIo::new(hyper::upgrade::on(response).await.unwrap());
    let reply = match tokio::time::timeout(STEP, read_response(&mut io)).await.unwrap() {
        Ok(reply) => reply,
        Err(e) => return Upgrade::HandshakeError(e.to_string()),
    };
    let established = initiator.finish(&reply).unwrap();
    assert_eq!(established.session.peer, server_key);
    Upgrade::Noise(Box::new(NoiseStream::new(io, established.keys)))
}

/// A minimal node: machine key, node key, one Noise connection with HTTP/2 on top.
pub struct TestNode {
    pub machine: MachinePrivateKey,
    pub node_key: NodePublicKey,
    pub disco_key: String,
    pub hostname: String,
    pub h2: SendRequest<Full<Bytes>>,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl TestNode {
    pub async fn connect(server: &TestServer, machine: MachinePrivateKey, hostname: &str) -> Self {
        let Upgrade::Noise(mut stream) = upgrade(server, &machine, CAPVER).await else {
            panic!("the upgrade failed");
        };
        let early =
            tokio::time::timeout(STEP, read_early_payload(&mut stream)).await.unwrap().unwrap();
        assert!(early.is_some(), "keygate sends the early payload");
        let (h2, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(*stream))
                .await
                .unwrap();
        let connection = tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let mut disco = [0u8; 32];
        OsRng.fill_bytes(&mut disco);
        Self {
            machine,
            node_key: NodePublicKey::from_bytes(key),
            disco_key: format!("discokey:{}", hex(&disco)),
            hostname: hostname.to_owned(),
            h2,
            connection,
        }
    }

    /// A POST inside the Noise connection; the response with its body unread.
    pub async fn post(&self, path: &str, body: &Value) -> http::Response<Incoming> {
        let request = Request::post(format!("http://127.0.0.1{path}"))
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let mut sender = self.h2.clone();
        tokio::time::timeout(STEP, sender.send_request(request)).await.unwrap().unwrap()
    }

    /// A POST whose whole answer is read.
    pub async fn post_read(&self, path: &str, body: &Value) -> (StatusCode, Bytes) {
        let response = self.post(path, body).await;
        let status = response.status();
        (
            status,
            tokio::time::timeout(STEP, response.into_body().collect())
                .await
                .unwrap()
                .unwrap()
                .to_bytes(),
        )
    }

    /// The register body tailscaled 1.96 sends.
    pub fn register_body(&self, auth_key: Option<&str>) -> Value {
        let mut body = json!({
            "Version": CAPVER,
            "NodeKey": self.node_key.to_string(),
            "OldNodeKey": format!("nodekey:{}", "0".repeat(64)),
            "NLKey": format!("nlpub:{}", "ab".repeat(32)),
            "Expiry": "0001-01-01T00:00:00Z",
            "Followup": "",
            "Hostinfo": {"IPNVersion": "1.96.4-test", "OS": "linux", "Hostname": self.hostname,
                         "GoArch": "amd64", "Userspace": true},
            "NodeKeySignature": null
        });
        if let Some(key) = auth_key {
            body["Auth"] = json!({"AuthKey": key});
        }
        body
    }

    pub async fn register(&self, auth_key: Option<&str>) -> RegisterResponse {
        let (status, body) =
            self.post_read("/machine/register", &self.register_body(auth_key)).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    pub fn map_body(&self, stream: bool, compress: bool) -> Value {
        let mut body = json!({
            "Version": CAPVER,
            "NodeKey": self.node_key.to_string(),
            "DiscoKey": self.disco_key,
            "Hostinfo": {"OS": "linux", "Hostname": self.hostname},
            "KeepAlive": true,
        });
        if stream {
            body["Stream"] = json!(true);
        } else {
            body["OmitPeers"] = json!(true);
        }
        if compress {
            body["Compress"] = json!("zstd");
        }
        body
    }

    /// Opens the streaming map poll.
    pub async fn stream(&self, compress: bool) -> MapStream {
        let response = self.post("/machine/map", &self.map_body(true, compress)).await;
        assert_eq!(response.status(), StatusCode::OK);
        MapStream { body: response.into_body(), decoder: FrameDecoder::new(compress) }
    }
}

/// A map response body being read frame by frame.
pub struct MapStream {
    body: Incoming,
    decoder: FrameDecoder,
}

impl MapStream {
    /// The next message, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<MapResponse> {
        loop {
            if let Some(message) = self.decoder.next_map_response().unwrap() {
                return Some(message);
            }
            let frame =
                tokio::time::timeout(STEP, self.body.frame()).await.expect("a frame in time")?;
            if let Ok(data) = frame.ok()?.into_data() {
                self.decoder.push(&data);
            }
        }
    }

    /// Reads and drops messages until none arrives for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) {
        while let Ok(message) = tokio::time::timeout(quiet, self.next()).await {
            assert!(message.is_some(), "the stream stays open");
        }
    }

    /// The next message that is not a keep-alive.
    pub async fn next_update(&mut self) -> MapResponse {
        loop {
            let message = self.next().await.expect("the stream stays open");
            if !message.keep_alive {
                return message;
            }
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
