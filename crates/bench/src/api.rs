//! `api`: auth-key create, list and revoke throughput through the REST API (`/api/v2`), over
//! the admin socket of a started server or with a token against a running one.
//!
//! Three phases, each with C keep-alive connections working through a share of the requests:
//! create K keys, list the keys L times, revoke every created key. Each phase reports
//! requests per second and latency p50/p99.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::admin::{AdminClient, KeySpec};
use crate::progress::Progress;
use crate::report::Report;
use crate::server::{Server, ServerArgs};
use crate::stats::Samples;

#[derive(Args)]
pub struct ApiArgs {
    /// Keys to create (and then revoke).
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Key lists to fetch.
    #[arg(long, default_value_t = 100)]
    pub lists: usize,
    /// Connections working at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// What a phase's requests do.
#[derive(Clone)]
enum Op {
    Create,
    List,
    /// Revokes the keys with these ids.
    Revoke(Arc<Vec<String>>),
}

/// One phase's results.
#[derive(Default)]
struct Phase {
    latencies: Samples,
    created: Vec<String>,
    errors: u64,
    first_error: Option<String>,
    wall: Duration,
}

pub async fn run(args: ApiArgs) -> anyhow::Result<Report> {
    let server = Server::start(&args.server, &[]).await?;
    let before = server.stats();
    let create = phase(&server.admin, Op::Create, args.keys, args.concurrency, "creating").await;
    let list = phase(&server.admin, Op::List, args.lists, args.concurrency, "listing").await;
    let ids = Arc::new(create.created.clone());
    let count = ids.len();
    let revoke = phase(&server.admin, Op::Revoke(ids), count, args.concurrency, "revoking").await;
    let after = server.stats();

    let mut report = Report::new("api");
    report.value("database", server.backend);
    report.int("keys", args.keys as u64, "");
    report.int("concurrency", args.concurrency as u64, "");
    for (name, phase) in [("create", &create), ("list", &list), ("revoke", &revoke)] {
        let ok = phase.latencies.len() as f64;
        report.float(&format!("{name}_per_s"), ok / phase.wall.as_secs_f64().max(1e-9), "/s");
        report.float(&format!("{name}_p50_ms"), phase.latencies.percentile_ms(50.0), "ms");
        report.float(&format!("{name}_p99_ms"), phase.latencies.percentile_ms(99.0), "ms");
    }
    report.int("errors", create.errors + list.errors + revoke.errors, "");
    if let Some(e) = [&create, &list, &revoke].iter().find_map(|p| p.first_error.clone()) {
        report.value("first_error", e);
    }
    report.server_figures(before, after);
    server.stop().await;
    Ok(report)
}

/// Runs `count` requests of kind `op` over `concurrency` connections.
async fn phase(
    admin: &AdminClient,
    op: Op,
    count: usize,
    concurrency: usize,
    label: &str,
) -> Phase {
    let result = Arc::new(Mutex::new(Phase::default()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (admin, result, next, op) = (admin.clone(), result.clone(), next.clone(), op.clone());
        workers.spawn(async move {
            let mut conn = match admin.connect().await {
                Ok(conn) => conn,
                Err(e) => {
                    let mut r = result.lock().await;
                    r.errors += 1;
                    r.first_error.get_or_insert(format!("{e:#}"));
                    return;
                }
            };
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let t0 = Instant::now();
                let outcome = match &op {
                    Op::Create => conn.create_key(KeySpec::default()).await.map(|k| Some(k.id)),
                    Op::List => conn.list_keys().await.map(|_| None),
                    Op::Revoke(ids) => conn.revoke_key(&ids[i]).await.map(|()| None),
                };
                let elapsed = t0.elapsed();
                let mut r = result.lock().await;
                match outcome {
                    Ok(id) => {
                        r.latencies.push(elapsed);
                        r.created.extend(id);
                    }
                    Err(e) => {
                        r.errors += 1;
                        r.first_error.get_or_insert(format!("{e:#}"));
                    }
                }
            }
        });
    }
    let mut progress = Progress::new(label, count as u64);
    while !workers.is_empty() {
        tokio::select! {
            _ = workers.join_next() => {}
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        progress.set(next.load(std::sync::atomic::Ordering::Relaxed).min(count) as u64);
    }
    progress.finish(count as u64);
    let mut phase = std::mem::take(&mut *result.lock().await);
    phase.wall = started.elapsed();
    phase
}
