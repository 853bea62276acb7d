//! Fixtures: servers on loopback port 0, a configurable admission policy, receive helpers with
//! deadlines.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keygate_derp::client::{DerpClient, DerpReceiver, Received};
use keygate_derp::{Admission, DerpConfig, DerpServer, NodePrivateKey, PublicKey};
use rand::rngs::OsRng;

/// How long a test waits for something that should happen.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// How long a test waits to be reasonably sure something does not happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// A relay serving on loopback.
pub struct TestRelay {
    pub server: DerpServer,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.server.shutdown();
        self.task.abort();
    }
}

/// A relay mounted as keygate mounts it: the axum router on `axum::serve`.
pub async fn start_router(admission: Arc<dyn Admission>, config: DerpConfig) -> TestRelay {
    init_logs();
    let server = DerpServer::new(NodePrivateKey::generate(&mut OsRng), admission, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let app = server.router().into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestRelay { server, addr, task }
}

/// A relay on its own listener ([`keygate_derp::standalone`]).
pub async fn start_standalone(admission: Arc<dyn Admission>, config: DerpConfig) -> TestRelay {
    init_logs();
    let server = DerpServer::new(NodePrivateKey::generate(&mut OsRng), admission, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let task = tokio::spawn({
        let server = server.clone();
        async move {
            let _ = keygate_derp::standalone::serve(listener, server).await;
        }
    });
    TestRelay { server, addr, task }
}

/// Logs only when `TEST_LOG` is set.
fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter("keygate_derp=debug").try_init();
    }
}

pub fn new_key() -> NodePrivateKey {
    NodePrivateKey::generate(&mut OsRng)
}

/// An admission policy tests can change: admitted keys, and pairs refused in either direction.
#[derive(Default)]
pub struct Policy {
    admitted: Mutex<HashSet<PublicKey>>,
    denied_pairs: Mutex<HashSet<(PublicKey, PublicKey)>>,
}

impl Policy {
    pub fn admitting(keys: &[&NodePrivateKey]) -> Arc<Self> {
        let policy = Self::default();
        for key in keys {
            policy.admit(key);
        }
        Arc::new(policy)
    }

    pub fn admit(&self, key: &NodePrivateKey) {
        self.admitted.lock().unwrap().insert(key.public_key());
    }

    pub fn deny_pair(&self, a: &NodePrivateKey, b: &NodePrivateKey) {
        let (a, b) = (a.public_key(), b.public_key());
        let mut denied = self.denied_pairs.lock().unwrap();
        denied.insert((a, b));
        denied.insert((b, a));
    }
}

impl Admission for Policy {
    fn may_connect(&self, node_key: &PublicKey) -> bool {
        self.admitted.lock().unwrap().contains(node_key)
    }

    fn may_send(&self, from: &PublicKey, to: &PublicKey) -> bool {
        !self.denied_pairs.lock().unwrap().contains(&(*from, *to))
    }
}

/// The next message other than a keep-alive, within [`DEADLINE`].
pub async fn next_message(receiver: &mut DerpReceiver) -> Received {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match receiver.recv().await.expect("receive from the relay") {
                Received::KeepAlive => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("a message within the deadline")
}

/// Asserts that no message other than keep-alives arrives within [`QUIET`].
pub async fn assert_quiet(receiver: &mut DerpReceiver) {
    let outcome = tokio::time::timeout(QUIET, async {
        loop {
            match receiver.recv().await {
                Ok(Received::KeepAlive) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(outcome.is_err(), "expected nothing, got {outcome:?}");
}

/// Connects a client and splits it.
pub async fn connect(relay: &TestRelay, key: &NodePrivateKey) -> DerpClient {
    DerpClient::connect(relay.addr, key).await.expect("connect to the relay")
}

/// Polls `condition` until it holds or [`DEADLINE`] passes.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
