//! `Fixture`: a service over a fresh SQLite file, its live tailnet, a manual clock, and
//! helpers to create keys and build registration requests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{MachineKey, NodeKey, Pepper, Timestamp};
use keygate_service::{
    Actor, Clock, ManualClock, NewKeyRequest, RegisterNode, RegisterOutcome, Service,
    ServiceConfig, Tailnet, TailnetConfig,
};
use keygate_store::Store;

/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;
pub const DAY: Duration = Duration::from_secs(86_400);

pub struct Fixture {
    pub service: Service,
    /// The store under the service, to check what was written (and to set up what no use
    /// case writes).
    pub store: Arc<dyn Store>,
    pub tailnet: Tailnet,
    pub clock: ManualClock,
    _db: TempDb,
}

/// Deletes the database files when the test ends.
pub struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_config(TailnetConfig::default()).await
    }

    pub async fn with_config(config: TailnetConfig) -> Self {
        Self::with_clock(ManualClock::new(Timestamp::from_unix_millis(T0)), config).await
    }

    /// A fixture whose tailnet's timers (ephemeral clean-up, key-expiry watcher, heartbeat)
    /// run only as `clock` is moved past them: no real time passes for them.
    pub async fn with_manual_timers(config: TailnetConfig) -> Self {
        let clock = ManualClock::with_manual_timers(Timestamp::from_unix_millis(T0));
        Self::with_clock(clock, config).await
    }

    async fn with_clock(clock: ManualClock, config: TailnetConfig) -> Self {
        let (service, store, db) = service_with_clock(Arc::new(clock.clone())).await;
        let tailnet = Tailnet::load(service.clone(), config).await.expect("tailnet loads");
        Self { service, store, tailnet, clock, _db: db }
    }

    /// The tailnet as a restarted server loads it from the same database, with `config`.
    pub async fn reload(&self, config: TailnetConfig) -> Tailnet {
        Tailnet::load(self.service.clone(), config).await.expect("tailnet reloads")
    }

    /// A fresh key for the default user, with `req`'s options; returns the full secret.
    pub async fn key(&self, req: NewKeyRequest) -> String {
        self.service.create_auth_key(&Actor::Admin, req).await.expect("key created").secret.expose()
    }

    pub async fn one_off_key(&self) -> String {
        self.key(NewKeyRequest::default()).await
    }

    pub async fn register(&self, req: RegisterNode) -> RegisterOutcome {
        self.tailnet.register(req).await.expect("registration does not fail internally")
    }

    pub fn now(&self) -> Timestamp {
        self.service.now()
    }
}

/// Lets the timers that the last move of a manual clock made due run to their end. A due
/// timer's task is ready to run at once; one yield of the test's task (on `#[tokio::test]`'s
/// single-threaded runtime) runs every ready task before the test goes on, and a timer that
/// keeps its node decides without waiting on anything (one that deletes it publishes
/// [`keygate_service::TailnetChange::Removed`], which tests wait for instead).
pub async fn let_due_timers_run() {
    tokio::task::yield_now().await;
}

/// The next event on `rx`, with a guard against a hang.
pub async fn next_event(
    rx: &mut tokio::sync::broadcast::Receiver<Arc<keygate_service::TailnetEvent>>,
) -> Arc<keygate_service::TailnetEvent> {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("an event")
        .expect("bus open")
}

/// A service over a fresh SQLite file, reading time from `clock`, and the store under it.
pub async fn service_with_clock(clock: Arc<dyn Clock>) -> (Service, Arc<dyn Store>, TempDb) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "keygate-service-nodes-{}-{}.db",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let db = TempDb(path.clone());
    let store = keygate_store::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("a fresh SQLite database opens");
    let service =
        Service::new(store.clone(), Pepper::from_bytes([7; 32]), clock, ServiceConfig::default());
    (service, store, db)
}

pub fn machine(n: u8) -> MachineKey {
    MachineKey([n; 32])
}

pub fn node_key(n: u8) -> NodeKey {
    NodeKey([0x80 | n; 32])
}

/// A first registration of machine `n` with node key `n`, host name `host<n>`.
pub fn request(n: u8, key: Option<&str>) -> RegisterNode {
    RegisterNode {
        machine_key: machine(n),
        node_key: node_key(n),
        old_node_key: NodeKey([0; 32]),
        auth_key: key.map(str::to_owned),
        expiry: None,
        hostname: format!("host{n}"),
        hostinfo_json: format!(r#"{{"Hostname":"host{n}","OS":"linux"}}"#),
        ephemeral: false,
        request_tags: Vec::new(),
    }
}

/// The node of a `Registered` outcome, or a panic naming what came instead.
#[track_caller]
pub fn registered(outcome: &RegisterOutcome) -> (keygate_domain::Node, bool) {
    match outcome {
        RegisterOutcome::Registered { entry, node_key_expired } => {
            (entry.node.clone(), *node_key_expired)
        }
        other => panic!("expected Registered, got {other:?}"),
    }
}

/// The refusal of a `Refused` outcome, or a panic.
#[track_caller]
pub fn refused(outcome: &RegisterOutcome) -> keygate_service::Refusal {
    match outcome {
        RegisterOutcome::Refused(r) => r.clone(),
        other => panic!("expected Refused, got {other:?}"),
    }
}
