//! `enroll`: N distinct nodes enrol with one reusable key, C at a time.
//!
//! One enrolment is what a fresh tailscaled does: `GET /key`, the `/ts2021` upgrade and Noise
//! handshake, HTTP/2, and `POST /machine/register` with the key; its latency runs from the
//! first byte to the register response. The node then disconnects. Reported: enrolments per
//! second over the whole run and its slowest whole second, latency p50/p99/max, errors, and
//! the server's peak resident set and the CPU time it spent during the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use keygate_node::{ConnectOptions, NodeIdentity, ServerUrl};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::admin::KeySpec;
use crate::nodes;
use crate::progress::Progress;
use crate::report::Report;
use crate::server::{Server, ServerArgs};
use crate::stats::Samples;

#[derive(Args)]
pub struct EnrollArgs {
    /// Nodes to enrol.
    #[arg(long, default_value_t = 1000)]
    pub nodes: u64,
    /// Enrolments in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Reuse the server key from one `GET /key` instead of fetching it per node.
    #[arg(long)]
    pub cached_server_key: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// What the workers share.
#[derive(Default)]
struct Outcome {
    latencies: Samples,
    /// Completion time of each success, from the start.
    finished_at: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(args: EnrollArgs) -> anyhow::Result<Report> {
    let server = Server::start(&args.server, &[]).await?;
    let key =
        server.admin.create_key(KeySpec { reusable: true, ephemeral: false, tags: &[] }).await?;
    let url = ServerUrl::parse(&server.url)?;
    let server_key = if args.cached_server_key {
        Some(keygate_node::fetch_server_key(&url).await?)
    } else {
        None
    };
    let options = ConnectOptions { server_key, ..ConnectOptions::default() };
    let before = server.stats();

    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let mut progress = Progress::new("enrolling", args.nodes);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let mut launched = 0u64;
    let mut done = 0u64;
    while done < args.nodes {
        while launched < args.nodes && tasks.len() < args.concurrency.max(1) {
            let (url, options, secret, outcome) =
                (url.clone(), options.clone(), key.secret.clone(), outcome.clone());
            let index = launched;
            tasks.spawn(async move {
                let identity = NodeIdentity::generate();
                let t0 = Instant::now();
                let result = nodes::enrol(
                    &url,
                    &options,
                    &identity,
                    &secret,
                    format!("bench-{index}"),
                    false,
                )
                .await;
                let elapsed = t0.elapsed();
                let mut outcome = outcome.lock().await;
                match result {
                    Ok(_client) => {
                        outcome.latencies.push(elapsed);
                        outcome.finished_at.push(started.elapsed());
                    }
                    Err(e) => {
                        outcome.errors += 1;
                        outcome.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            });
            launched += 1;
        }
        if tasks.join_next().await.is_some() {
            done += 1;
            progress.set(done);
        }
    }
    let wall = started.elapsed();
    progress.finish(done);
    let after = server.stats();

    let outcome = outcome.lock().await;
    let ok = outcome.latencies.len() as u64;
    let mut report = Report::new("enroll");
    report.value("database", server.backend);
    report.int("nodes", args.nodes, "");
    report.int("concurrency", args.concurrency as u64, "");
    report.int("enrolled", ok, "");
    report.int("errors", outcome.errors, "");
    if let Some(e) = &outcome.first_error {
        report.value("first_error", e.clone());
    }
    report.float("wall_s", wall.as_secs_f64(), "s");
    report.float("enrolments_per_s", ok as f64 / wall.as_secs_f64(), "/s");
    report.int("slowest_second_enrolments", slowest_second(&outcome.finished_at, wall), "");
    report.float("p50_ms", outcome.latencies.percentile_ms(50.0), "ms");
    report.float("p99_ms", outcome.latencies.percentile_ms(99.0), "ms");
    report.float("max_ms", outcome.latencies.max_ms(), "ms");
    drop(outcome);
    report.server_figures(before, after);
    report.server_cpu_per(before, after, "server_cpu_per_enrolment_ms", ok);
    server.stop().await;
    Ok(report)
}

/// Successes in the whole second with the fewest (0 for runs shorter than two seconds: the
/// first and last seconds ramp up and down and are left out).
fn slowest_second(finished_at: &[Duration], wall: Duration) -> u64 {
    let seconds = wall.as_secs() as usize;
    if seconds < 3 {
        return 0;
    }
    let mut per_second = vec![0u64; seconds + 1];
    for t in finished_at {
        per_second[(t.as_secs() as usize).min(seconds)] += 1;
    }
    per_second[1..seconds].iter().copied().min().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowest_second_skips_the_ramps() {
        let ms = |v: u64| Duration::from_millis(v);
        let done = [ms(100), ms(1100), ms(1200), ms(2100), ms(3100), ms(3200), ms(3300)];
        assert_eq!(slowest_second(&done, ms(3500)), 1);
        assert_eq!(slowest_second(&done, ms(1500)), 0);
    }
}
