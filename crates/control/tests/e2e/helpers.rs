//! `TestServer` (the control router on a real socket) and `TestNode` (a `keygate-node` client
//! with the hostname it enrols under), with the request bodies the tests send by hand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use keygate_control::{ControlConfig, ControlState};
use keygate_domain::{Pepper, Timestamp};
use keygate_node::{
    ConnectOptions, ControlClient, MapOptions, MapStream, NodeError, NodeIdentity, RegisterOptions,
    ServerUrl,
};
use keygate_noise::MachinePrivateKey;
use keygate_service::{
    Actor, ManualClock, NewKeyRequest, Service, ServiceConfig, Tailnet, TailnetConfig,
};
use keygate_tailcfg::{MapResponse, RegisterResponse};
use rand::rngs::OsRng;
use serde_json::{json, Value};

/// Capability version the test node announces (tailscaled 1.96's).
pub const CAPVER: u16 = keygate_node::CAPABILITY_VERSION;
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

    /// The server's URL, as a node is given it.
    pub fn url(&self) -> ServerUrl {
        ServerUrl::parse(&format!("http://{}", self.addr)).unwrap()
    }

    /// A node with fresh keys, connected over Noise.
    pub async fn node(&self, hostname: &str) -> TestNode {
        self.connect(NodeIdentity::generate(), hostname).await
    }

    /// A node with `identity`'s keys on a new connection (a restart, when they are reused).
    pub async fn connect(&self, identity: NodeIdentity, hostname: &str) -> TestNode {
        let options = ConnectOptions { timeout: STEP, ..ConnectOptions::default() };
        let client = ControlClient::connect_with(&self.url(), &identity, &options).await.unwrap();
        assert!(client.early_payload().is_some(), "keygate sends the early payload");
        TestNode { identity, hostname: hostname.to_owned(), client }
    }
}

/// A `keygate-node` client and the identity and hostname it enrols with.
pub struct TestNode {
    pub identity: NodeIdentity,
    pub hostname: String,
    pub client: ControlClient,
}

impl TestNode {
    /// A POST inside the Noise connection, whatever its status, with its whole answer.
    pub async fn post_read(&self, path: &str, body: &Value) -> (StatusCode, Bytes) {
        let request = self.client.post_raw(path, body.to_string());
        tokio::time::timeout(STEP, request).await.unwrap().unwrap()
    }

    /// The register body tailscaled 1.96 sends, for requests the client would not send.
    pub fn register_body(&self, auth_key: Option<&str>) -> Value {
        let mut body = json!({
            "Version": CAPVER,
            "NodeKey": self.identity.node_public().to_string(),
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

    /// `POST /machine/register` with `auth_key` and this node's hostname; the response must
    /// be a 200 (a refusal is one, with `Error` set).
    pub async fn register(&self, auth_key: Option<&str>) -> RegisterResponse {
        let options = RegisterOptions {
            auth_key: auth_key.map(str::to_owned),
            hostname: self.hostname.clone(),
            ..RegisterOptions::default()
        };
        tokio::time::timeout(STEP, self.client.register(options)).await.unwrap().unwrap()
    }

    /// A map request body as tailscaled sends it: a stream, or a lite update with new
    /// Hostinfo.
    pub fn map_body(&self, stream: bool, compress: bool) -> Value {
        let mut body = json!({
            "Version": CAPVER,
            "NodeKey": self.identity.node_public().to_string(),
            "DiscoKey": self.identity.disco_public().to_string(),
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

    /// Opens the streaming map poll; keep-alives are returned too, and a frame must arrive
    /// within [`STEP`].
    pub async fn stream(&self, compress: bool) -> MapStream {
        let options = MapOptions {
            compress_zstd: compress,
            report_keep_alives: true,
            idle_timeout: Some(STEP),
            ..MapOptions::default()
        };
        tokio::time::timeout(STEP, self.client.map_stream(options)).await.unwrap().unwrap()
    }
}

/// How the tests read a [`MapStream`].
pub trait ReadMap {
    /// The next message (keep-alives included), or `None` when the server ended or reset the
    /// stream; panics on a bad frame or when no frame arrives in time.
    async fn message(&mut self) -> Option<MapResponse>;

    /// Reads and drops messages until none arrives for `quiet`.
    async fn drain(&mut self, quiet: Duration);

    /// The next message that is not a keep-alive.
    async fn next_update(&mut self) -> MapResponse;
}

impl ReadMap for MapStream {
    async fn message(&mut self) -> Option<MapResponse> {
        match self.next().await {
            Ok(message) => message,
            Err(NodeError::Http2 { .. }) => None,
            Err(NodeError::MapIdle(_)) => panic!("no frame in time"),
            Err(e) => panic!("a bad map stream: {e}"),
        }
    }

    async fn drain(&mut self, quiet: Duration) {
        while let Ok(message) = tokio::time::timeout(quiet, self.message()).await {
            assert!(message.is_some(), "the stream stays open");
        }
    }

    async fn next_update(&mut self) -> MapResponse {
        loop {
            let message = self.message().await.expect("the stream stays open");
            if !message.keep_alive {
                return message;
            }
        }
    }
}
