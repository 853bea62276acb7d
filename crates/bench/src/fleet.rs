//! `fleet`: N nodes enrol and hold their streaming map sessions; then M more join one by one.
//!
//! Setup enrols C nodes at a time and, after each batch, waits until every connected node
//! knows every other (the sum of their peer counts is k·(k−1)), so no node's server-side
//! queue overflows while the simulated nodes, all in this process, catch up. A real fleet
//! does not wait, but nor do its nodes share two cores.
//!
//! For each join the new node connects, registers and opens its stream; the join's time runs
//! from its first byte until the **last** connected node has decoded a map message carrying
//! the new peer. Its bytes are the map bytes (frame headers and zstd payloads, keep-alives
//! excluded) that all the other nodes received from the join's start until the stream went
//! quiet again, which includes the later "online" patch. The server's resident set per node is
//! its growth from start (no nodes) to the end of setup, divided by N.
//!
//! Two topologies. `mesh` (the default policy, allow-all): every node sees every other, so
//! setup costs O(N²) map entries in all (each of N nodes learns N peers) and the simulated
//! nodes, which share this machine's cores with the server, bound N. `hub`: the bench puts in
//! force a policy under which the N fleet nodes (`tag:fleet`) may reach the joiners
//! (`tag:join`) and nothing else, the shape of an IoT or CI fleet reaching its servers: fleet
//! nodes do not see each other, yet every one of them must learn of each joiner, so a join
//! still fans out to all N and its bytes and time grow with N, while setup stays O(N).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use keygate_node::{ConnectOptions, ControlClient, MapStream, NetMap, NodeIdentity, ServerUrl};
use keygate_tailcfg::{MapResponse, NodePublicKey};
use tokio::task::JoinSet;

use crate::admin::KeySpec;
use crate::nodes;
use crate::proc_stats;
use crate::progress::Progress;
use crate::report::Report;
use crate::server::{wait_until, Server, ServerArgs};
use crate::stats::{Counts, Samples};

/// Longest wait for the nodes to catch up after a setup batch.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// A join's bytes are counted until no map bytes arrived for this long.
const QUIET: Duration = Duration::from_millis(200);
/// ... or for at most this long after the join reached everyone.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

#[derive(Args)]
pub struct FleetArgs {
    /// Nodes that enrol first and hold their map streams.
    #[arg(long, default_value_t = 100)]
    pub nodes: u64,
    /// Nodes that then join one by one.
    #[arg(long, default_value_t = 10)]
    pub joins: u64,
    /// Setup enrolments in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Who sees whom: `mesh` (allow-all) or `hub` (fleet nodes see only the joiners; puts its
    /// own ACL policy in force, so only with a server the bench starts).
    #[arg(long, value_enum, default_value_t = Topology::Mesh)]
    pub topology: Topology,
    /// Longest wait for one join to reach every node, in seconds.
    #[arg(long, default_value_t = 30)]
    pub join_timeout_s: u64,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    Mesh,
    Hub,
}

/// Fleet nodes may reach the joiners; nothing else is allowed (see the module docs).
fn hub_policy() -> serde_json::Value {
    serde_json::json!({
        "tagOwners": {"tag:fleet": ["autogroup:member"], "tag:join": ["autogroup:member"]},
        "acls": [{"action": "accept", "src": ["tag:fleet"], "dst": ["tag:join:*"]}],
    })
}

/// What every receiving node reports to, and the join being watched.
#[derive(Default)]
struct Tracker {
    /// The watched node key and its generation (one per join).
    watch: Mutex<(u64, Option<NodePublicKey>)>,
    /// Receivers that have seen the watched key.
    seen: AtomicU64,
    /// When the latest of them saw it.
    last_arrival: Mutex<Option<Instant>>,
    /// Sum of every receiver's peer count.
    peers_total: AtomicI64,
    /// Map bytes received, keep-alives excluded.
    map_bytes: AtomicU64,
    keep_alive_bytes: AtomicU64,
    /// Streams that ended or failed, and how many were reopened.
    stream_ends: AtomicU64,
    resyncs: AtomicU64,
    /// Receivers that could not reopen their stream.
    dead: AtomicU64,
    first_error: Mutex<Option<String>>,
    stopping: AtomicBool,
}

impl Tracker {
    fn watch(&self, key: NodePublicKey) -> u64 {
        let mut watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        watch.0 += 1;
        watch.1 = Some(key);
        self.seen.store(0, Relaxed);
        *self.last_arrival.lock().unwrap_or_else(|e| e.into_inner()) = None;
        watch.0
    }

    /// Counts `message` once per receiver and join if it carries the watched peer.
    fn check(&self, message: &MapResponse, counted: &mut u64) {
        let (generation, key) = *self.watch.lock().unwrap_or_else(|e| e.into_inner());
        let Some(key) = key else { return };
        if *counted == generation {
            return;
        }
        let carries = |list: &Option<Vec<keygate_tailcfg::Node>>| {
            list.iter().flatten().any(|node| node.key == key)
        };
        if carries(&message.peers_changed) || carries(&message.peers) {
            *counted = generation;
            let now = Instant::now();
            let mut last = self.last_arrival.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|t| t < now) {
                *last = Some(now);
            }
            drop(last);
            self.seen.fetch_add(1, Relaxed);
        }
    }

    fn error(&self, e: impl ToString) {
        self.first_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e.to_string());
    }
}

/// A node that has enrolled and read its first map.
struct Joined {
    client: ControlClient,
    stream: MapStream,
    first: MapResponse,
}

async fn join(
    url: ServerUrl,
    options: ConnectOptions,
    secret: String,
    identity: NodeIdentity,
    index: u64,
) -> anyhow::Result<Joined> {
    let client =
        nodes::enrol(&url, &options, &identity, &secret, format!("fleet-{index}"), false).await?;
    let (stream, first) = nodes::open_map(&client).await?;
    Ok(Joined { client, stream, first })
}

/// Applies a node's first map and keeps reading its stream until the bench stops.
fn start_receiving(joined: Joined, tracker: Arc<Tracker>) {
    let Joined { client, mut stream, first } = joined;
    let mut netmap = NetMap::compact();
    let mut counted = 0;
    tracker.check(&first, &mut counted);
    netmap.apply(&first);
    tracker.peers_total.fetch_add(netmap.peer_count() as i64, Relaxed);
    tokio::spawn(async move {
        loop {
            let before = stream.stats().body_bytes;
            let next = stream.next().await;
            let bytes = stream.stats().body_bytes - before;
            let message = match next {
                Ok(Some(message)) if message.keep_alive => {
                    tracker.keep_alive_bytes.fetch_add(bytes, Relaxed);
                    continue;
                }
                Ok(Some(message)) => {
                    tracker.map_bytes.fetch_add(bytes, Relaxed);
                    message
                }
                ended => {
                    if tracker.stopping.load(Relaxed) {
                        return;
                    }
                    tracker.stream_ends.fetch_add(1, Relaxed);
                    match ended {
                        Err(e) => tracker.error(format!("map stream failed: {e}")),
                        _ => tracker.error("the server ended a map stream"),
                    }
                    // What tailscaled does: poll again, and start over from a full map.
                    match nodes::open_map(&client).await {
                        Ok((reopened, first)) => {
                            tracker.resyncs.fetch_add(1, Relaxed);
                            tracker.map_bytes.fetch_add(reopened.stats().body_bytes, Relaxed);
                            stream = reopened;
                            first
                        }
                        Err(e) => {
                            tracker.dead.fetch_add(1, Relaxed);
                            tracker.error(format!("reopening a map stream: {e}"));
                            tracker.peers_total.fetch_sub(netmap.peer_count() as i64, Relaxed);
                            return;
                        }
                    }
                }
            };
            tracker.check(&message, &mut counted);
            let before = netmap.peer_count() as i64;
            netmap.apply(&message);
            tracker.peers_total.fetch_add(netmap.peer_count() as i64 - before, Relaxed);
        }
    });
}

pub async fn run(args: FleetArgs) -> anyhow::Result<Report> {
    let hub = args.topology == Topology::Hub;
    if hub && args.server.server.is_some() {
        anyhow::bail!(
            "--topology hub replaces the tailnet's ACL policy, so it runs only against a server \
             the bench starts itself, not a --server"
        );
    }
    let server = Server::start(&args.server, &[]).await?;
    let (fleet_tags, join_tags): (&[&str], &[&str]) =
        if hub { (&["tag:fleet"], &["tag:join"]) } else { (&[], &[]) };
    if hub {
        server.admin.connect().await?.set_policy(&hub_policy()).await?;
    }
    let spec = |tags| KeySpec { reusable: true, ephemeral: false, tags };
    let key = server.admin.create_key(spec(fleet_tags)).await?;
    let join_key = server.admin.create_key(spec(join_tags)).await?;
    let url = ServerUrl::parse(&server.url)?;
    let server_key = keygate_node::fetch_server_key(&url).await?;
    let options = ConnectOptions { server_key: Some(server_key), ..ConnectOptions::default() };
    let tracker = Arc::new(Tracker::default());
    let mut errors = 0u64;
    let start_stats = server.stats();
    let client_before = proc_stats::read(std::process::id());

    // Setup: N nodes, C at a time, each batch caught up before the next.
    let setup_started = Instant::now();
    let mut progress = Progress::new("connecting", args.nodes);
    let mut connected = 0u64;
    let mut base: Option<i64> = None;
    let mut catch_up_timeouts = 0u64;
    let mut index = 0u64;
    while index < args.nodes {
        // The first node comes alone: its first map tells how many nodes were there before.
        let batch = if index == 0 { 1 } else { args.concurrency.max(1) as u64 };
        let batch = batch.min(args.nodes - index);
        let mut tasks = JoinSet::new();
        for _ in 0..batch {
            let identity = NodeIdentity::generate();
            tasks.spawn(join(url.clone(), options.clone(), key.secret.clone(), identity, index));
            index += 1;
        }
        while let Some(result) = tasks.join_next().await {
            match result.map_err(anyhow::Error::from).and_then(|r| r) {
                Ok(joined) => {
                    // Nodes already in the database before the run.
                    base.get_or_insert(joined.first.peers.as_ref().map_or(0, Vec::len) as i64);
                    start_receiving(joined, tracker.clone());
                    connected += 1;
                }
                Err(e) => {
                    errors += 1;
                    tracker.error(format!("setup: {e:#}"));
                }
            }
        }
        let k = connected as i64;
        // In a hub, fleet nodes see no one until the joins.
        let expected = if hub { 0 } else { k * (k - 1 + base.unwrap_or(0)) };
        if !wait_until(CATCH_UP_TIMEOUT, || tracker.peers_total.load(Relaxed) >= expected).await {
            catch_up_timeouts += 1;
        }
        progress.set(index);
    }
    progress.finish(index);
    let setup = setup_started.elapsed();
    let fleet = connected;
    // Let the last "online" patches land before reading memory.
    wait_quiet(&tracker, SETTLE_LIMIT).await;
    let setup_stats = server.stats();
    let client_after = proc_stats::read(std::process::id());

    // Joins, one by one.
    let mut join_times = Samples::default();
    let mut join_bytes = Counts::default();
    let mut first_map_bytes = Counts::default();
    let mut join_timeouts = 0u64;
    let mut progress = Progress::new("joining", args.joins);
    for j in 0..args.joins {
        // Joiners see each other only in a mesh.
        let receivers = if hub { fleet } else { connected };
        let identity = NodeIdentity::generate();
        tracker.watch(identity.node_public());
        let bytes_before = tracker.map_bytes.load(Relaxed);
        let t0 = Instant::now();
        let joined =
            join(url.clone(), options.clone(), join_key.secret.clone(), identity, args.nodes + j)
                .await;
        let joined = match joined {
            Ok(joined) => joined,
            Err(e) => {
                errors += 1;
                tracker.error(format!("join {j}: {e:#}"));
                continue;
            }
        };
        let limit = Duration::from_secs(args.join_timeout_s);
        let reached = wait_until(limit, || tracker.seen.load(Relaxed) >= receivers).await;
        let last = *tracker.last_arrival.lock().unwrap_or_else(|e| e.into_inner());
        if reached {
            join_times.push(last.map_or(t0.elapsed(), |t| t.duration_since(t0)));
        } else {
            join_timeouts += 1;
        }
        wait_quiet(&tracker, SETTLE_LIMIT).await;
        join_bytes.push(tracker.map_bytes.load(Relaxed) - bytes_before);
        first_map_bytes.push(joined.stream.stats().body_bytes);
        start_receiving(joined, tracker.clone());
        connected += 1;
        progress.set(j + 1);
    }
    progress.finish(args.joins);
    let end_stats = server.stats();

    let mut report = Report::new("fleet");
    report.value("database", server.backend);
    report.value("topology", if hub { "hub" } else { "mesh" });
    report.int("nodes", args.nodes, "");
    report.int("joins", args.joins, "");
    report.int("connected", connected, "");
    report.float("setup_s", setup.as_secs_f64(), "s");
    report.float("join_p50_ms", join_times.percentile_ms(50.0), "ms");
    report.float("join_p99_ms", join_times.percentile_ms(99.0), "ms");
    report.float("join_max_ms", join_times.max_ms(), "ms");
    report.float("bytes_per_join", join_bytes.mean(), "B");
    report.int("bytes_per_join_max", join_bytes.max(), "B");
    report.float("bytes_per_join_per_node", join_bytes.mean() / args.nodes.max(1) as f64, "B");
    report.float("joiner_first_map_bytes", first_map_bytes.mean(), "B");
    if let (Some(start), Some(setup)) = (start_stats, setup_stats) {
        let growth = setup.rss_bytes.saturating_sub(start.rss_bytes);
        report.int("server_rss_start_bytes", start.rss_bytes, "B");
        report.int("server_rss_connected_bytes", setup.rss_bytes, "B");
        report.int("server_rss_per_node_bytes", growth / args.nodes.max(1), "B");
        report.float("server_setup_cpu_s", setup.cpu_s - start.cpu_s, "s");
    }
    if let (Some(before), Some(after)) = (client_before, client_after) {
        let growth = after.rss_bytes.saturating_sub(before.rss_bytes);
        report.int("client_rss_per_node_bytes", growth / args.nodes.max(1), "B");
    }
    report.server_figures(start_stats, end_stats);
    // Entries in all the simulated nodes' peer lists: (N+M)(N+M−1) in a mesh, 2·N·M in a hub.
    report.int("peer_entries", tracker.peers_total.load(Relaxed).max(0) as u64, "");
    report.int("stream_ends", tracker.stream_ends.load(Relaxed), "");
    report.int("resyncs", tracker.resyncs.load(Relaxed), "");
    report.int("catch_up_timeouts", catch_up_timeouts, "");
    report.int("join_timeouts", join_timeouts, "");
    let dead = tracker.dead.load(Relaxed);
    report.int("errors", errors + join_timeouts + catch_up_timeouts + dead, "");
    if let Some(e) = tracker.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        report.value("first_error", e);
    }
    tracker.stopping.store(true, Relaxed);
    server.stop().await;
    Ok(report)
}

/// Waits until no map bytes arrived for [`QUIET`], or `limit` passed.
async fn wait_quiet(tracker: &Tracker, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = tracker.map_bytes.load(Relaxed);
    while Instant::now() < deadline {
        tokio::time::sleep(QUIET).await;
        let now = tracker.map_bytes.load(Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
}
