//! `churn`: ephemeral nodes connect and disconnect continuously for a fixed time; the server
//! (started with a short `KEYGATE_EPHEMERAL_INACTIVITY_TIMEOUT`) must delete each one once it
//! has been offline for the timeout.
//!
//! A non-ephemeral watcher node holds a map stream and notes when each removal reaches it;
//! a removal's lag is that time minus the node's disconnect minus the timeout. After the run,
//! and the timeout plus a margin, the run checks that no ephemeral node is left: in the
//! watcher's netmap, and in the database (read-only, through the same store code as the
//! server) where every node's IPv4 and IPv6 address must also be unique.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use keygate_node::{ConnectOptions, NetMap, NodeIdentity, PeerSummary, ServerUrl};
use keygate_tailcfg::NodeID;
use tokio::task::JoinSet;

use crate::admin::KeySpec;
use crate::nodes;
use crate::progress::Progress;
use crate::report::Report;
use crate::server::{wait_until, Server, ServerArgs};
use crate::stats::Samples;

#[derive(Args)]
pub struct ChurnArgs {
    /// How long nodes keep coming and going, in seconds.
    #[arg(long, default_value_t = 30)]
    pub duration_s: u64,
    /// Nodes connected at any one time.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// How long each node stays connected, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub hold_ms: u64,
    /// The server's ephemeral inactivity timeout, in seconds (set on a started server; must
    /// match a running one's).
    #[arg(long, default_value_t = 2)]
    pub timeout_s: u64,
    /// Extra wait after the timeout before checking that every node is gone, in seconds.
    #[arg(long, default_value_t = 5)]
    pub margin_s: u64,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// What the workers and the watcher share.
#[derive(Default)]
struct Shared {
    /// Node id → when it disconnected.
    disconnected: Mutex<HashMap<NodeID, Instant>>,
    /// Node id → when its removal reached the watcher.
    removed: Mutex<HashMap<NodeID, Instant>>,
    connects: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, e: impl ToString) {
        self.errors.fetch_add(1, Relaxed);
        self.first_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e.to_string());
    }
}

pub async fn run(args: ChurnArgs) -> anyhow::Result<Report> {
    let timeout = Duration::from_secs(args.timeout_s.max(1));
    let env = [("KEYGATE_EPHEMERAL_INACTIVITY_TIMEOUT", format!("{}s", timeout.as_secs()))];
    let server = Server::start(&args.server, &env).await?;
    let ephemeral_key =
        server.admin.create_key(KeySpec { reusable: true, ephemeral: true, tags: &[] }).await?;
    let watcher_key =
        server.admin.create_key(KeySpec { reusable: false, ephemeral: false, tags: &[] }).await?;
    let url = ServerUrl::parse(&server.url)?;
    let server_key = keygate_node::fetch_server_key(&url).await?;
    let options = ConnectOptions { server_key: Some(server_key), ..ConnectOptions::default() };
    let shared = Arc::new(Shared::default());
    let before = server.stats();

    // The watcher: records when each removal arrives, and keeps a netmap for the final check.
    let watcher_identity = NodeIdentity::generate();
    let watcher = nodes::enrol(
        &url,
        &options,
        &watcher_identity,
        &watcher_key.secret,
        "churn-watcher".into(),
        false,
    )
    .await
    .context("enrolling the watcher")?;
    let (mut stream, first) = nodes::open_map(&watcher).await.context("the watcher's map")?;
    let netmap = Arc::new(Mutex::new(NetMap::<PeerSummary>::compact()));
    netmap.lock().unwrap_or_else(|e| e.into_inner()).apply(&first);
    let watch = {
        let (shared, netmap) = (shared.clone(), netmap.clone());
        tokio::spawn(async move {
            while let Ok(Some(message)) = stream.next().await {
                let now = Instant::now();
                let change = netmap.lock().unwrap_or_else(|e| e.into_inner()).apply(&message);
                let mut removed = shared.removed.lock().unwrap_or_else(|e| e.into_inner());
                for id in change.removed {
                    removed.entry(id).or_insert(now);
                }
            }
        })
    };

    // Churn: each worker connects a fresh ephemeral node, holds it, drops it, and again.
    let hold = Duration::from_millis(args.hold_ms);
    let run_for = Duration::from_secs(args.duration_s);
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for worker in 0..args.concurrency.max(1) {
        let (url, options, secret, shared) =
            (url.clone(), options.clone(), ephemeral_key.secret.clone(), shared.clone());
        workers.spawn(async move {
            let mut round = 0u64;
            while started.elapsed() < run_for {
                round += 1;
                let identity = NodeIdentity::generate();
                let hostname = format!("churn-{worker}-{round}");
                let client =
                    match nodes::enrol(&url, &options, &identity, &secret, hostname, true).await {
                        Ok(client) => client,
                        Err(e) => {
                            shared.error(format!("enrolling an ephemeral node: {e}"));
                            continue;
                        }
                    };
                let (stream, first) = match nodes::open_map(&client).await {
                    Ok(opened) => opened,
                    Err(e) => {
                        shared.error(format!("opening an ephemeral node's map: {e}"));
                        continue;
                    }
                };
                let Some(id) = first.node.as_ref().map(|n| n.id) else {
                    shared.error("the first map has no self node");
                    continue;
                };
                shared.connects.fetch_add(1, Relaxed);
                tokio::time::sleep(hold).await;
                // The earliest the server can learn of it: a lag measured from here is never
                // flattered by this task being scheduled late.
                let left = Instant::now();
                drop((stream, client));
                shared.disconnected.lock().unwrap_or_else(|e| e.into_inner()).insert(id, left);
            }
        });
    }
    let mut progress = Progress::new("churning (nodes)", 0);
    while !workers.is_empty() {
        tokio::select! {
            _ = workers.join_next() => {}
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        progress.set(shared.connects.load(Relaxed));
    }
    progress.finish(shared.connects.load(Relaxed));
    let churned = started.elapsed();

    // Every node that left must be gone by timeout + margin.
    let margin = Duration::from_secs(args.margin_s);
    let all_removed = || {
        let disconnected = shared.disconnected.lock().unwrap_or_else(|e| e.into_inner());
        let removed = shared.removed.lock().unwrap_or_else(|e| e.into_inner());
        disconnected.keys().all(|id| removed.contains_key(id))
    };
    wait_until(timeout + margin, all_removed).await;
    let after = server.stats();

    let disconnected = shared.disconnected.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let removed = shared.removed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut lags = Samples::default();
    let mut early = 0u64;
    for (id, left) in &disconnected {
        if let Some(gone) = removed.get(id) {
            let after_left = gone.saturating_duration_since(*left);
            if after_left < timeout {
                early += 1;
            }
            lags.push(after_left.saturating_sub(timeout));
        }
    }
    let missing = disconnected.keys().filter(|id| !removed.contains_key(id)).count() as u64;
    let ephemeral_ids: HashSet<NodeID> = disconnected.keys().copied().collect();
    let left_in_netmap = netmap
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .peers()
        .filter(|(id, _)| ephemeral_ids.contains(id))
        .count() as u64;
    watch.abort();

    let mut report = Report::new("churn");
    report.value("database", server.backend);
    report.float("duration_s", churned.as_secs_f64(), "s");
    report.int("concurrency", args.concurrency as u64, "");
    report.float("timeout_s", timeout.as_secs_f64(), "s");
    report.int("connects", shared.connects.load(Relaxed), "");
    report.float(
        "connects_per_s",
        shared.connects.load(Relaxed) as f64 / churned.as_secs_f64(),
        "/s",
    );
    report.int("removals", removed.len() as u64, "");
    report.int("removals_missing", missing, "");
    report.int("removals_early", early, "");
    report.float("removal_lag_p50_ms", lags.percentile_ms(50.0), "ms");
    report.float("removal_lag_p99_ms", lags.percentile_ms(99.0), "ms");
    report.float("removal_lag_max_ms", lags.max_ms(), "ms");
    report.int("ephemeral_left_in_netmap", left_in_netmap, "");
    let mut db_problems = 0;
    match &server.database_url {
        Some(url) => {
            let check = check_database(url).await?;
            report.value("database_checked", true);
            report.int("db_nodes", check.nodes, "");
            report.int("db_ephemeral_left", check.ephemeral, "");
            report.int("db_duplicate_addresses", check.duplicate_addresses, "");
            db_problems = check.ephemeral + check.duplicate_addresses;
        }
        None => report.value("database_checked", false),
    }
    report.server_figures(before, after);
    let errors = shared.errors.load(Relaxed) + missing + early + left_in_netmap + db_problems;
    report.int("errors", errors, "");
    if let Some(e) = shared.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        report.value("first_error", e);
    }
    drop(watcher);
    server.stop().await;
    Ok(report)
}

/// What the database holds after the run.
struct DatabaseCheck {
    nodes: u64,
    ephemeral: u64,
    duplicate_addresses: u64,
}

/// Reads every node through the store (the server's own data access code) and counts
/// ephemeral nodes left and addresses used twice.
async fn check_database(url: &str) -> anyhow::Result<DatabaseCheck> {
    let store = keygate_store::connect(url).await.context("opening the database to check it")?;
    let nodes = store.list_nodes().await.context("listing nodes")?;
    let mut v4 = HashSet::new();
    let mut v6 = HashSet::new();
    let mut duplicates = 0;
    for node in &nodes {
        duplicates += u64::from(!v4.insert(node.ipv4)) + u64::from(!v6.insert(node.ipv6));
    }
    Ok(DatabaseCheck {
        nodes: nodes.len() as u64,
        ephemeral: nodes.iter().filter(|n| n.ephemeral).count() as u64,
        duplicate_addresses: duplicates,
    })
}
