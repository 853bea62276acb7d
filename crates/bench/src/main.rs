//! `keygate-bench`: load scenarios against a real keygate server, with simulated nodes that
//! speak the real protocol (`/key`, the TS2021 Noise handshake, HTTP/2, zstd map frames)
//! through our node client, `keygate-node`.
//!
//! The server is a child `keygate serve` (found next to this executable, or `--keygate PATH`)
//! with a fresh data directory, so its resident set and CPU time can be read from `/proc`; or
//! an already running server (`--server URL` with `--token`, or `--socket` on this machine).
//!
//! Scenarios: `enroll` (enrolment throughput and latency), `fleet` (N nodes holding map
//! streams, then joins one by one: propagation time and bytes), `churn` (ephemeral nodes
//! coming and going, their deletion after the inactivity timeout, and the database's state
//! afterwards), `api` (key create/list/revoke throughput), `flood` (floods of bogus setup
//! posts and wrong sign-ins: the server's memory and `/health` latency meanwhile). Each prints a table, or one JSON
//! object with `--json`; a progress line goes to stderr when it is a terminal.
//!
//! This crate stays independent of the server's code paths: it talks to the server only over
//! the network and the admin API, and reads the database only after the churn scenario, to
//! check it.

mod admin;
mod api;
mod churn;
mod enroll;
mod fd_limit;
mod fleet;
mod flood;
mod nodes;
mod proc_stats;
mod progress;
mod report;
mod server;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::server::ServerArgs;

/// Load scenarios for keygate over the real control protocol.
#[derive(Parser)]
#[command(name = "keygate-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N distinct nodes enrol with one reusable key, C at a time.
    Enroll(enroll::EnrollArgs),
    /// N nodes hold their map streams; then M more join one by one.
    Fleet(fleet::FleetArgs),
    /// Ephemeral nodes connect and disconnect for a while; they must be deleted after the
    /// inactivity timeout.
    Churn(churn::ChurnArgs),
    /// Auth-key create, list and revoke through the REST API.
    Api(api::ApiArgs),
    /// Bogus setup posts and wrong sign-ins, all at once, while `/health` is polled.
    Flood(flood::FloodArgs),
}

impl Scenario {
    fn server_args(&self) -> &ServerArgs {
        match self {
            Scenario::Enroll(a) => &a.server,
            Scenario::Fleet(a) => &a.server,
            Scenario::Churn(a) => &a.server,
            Scenario::Api(a) => &a.server,
            Scenario::Flood(a) => &a.server,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.scenario.server_args().json;
    match run(cli) {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
            if report.errors() > 0 {
                eprintln!("keygate-bench: {} errors (see the report)", report.errors());
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<report::Report> {
    // Before the runtime and the child server exist: both inherit the raised limit.
    let files = fd_limit::raise()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let mut report = match cli.scenario {
            Scenario::Enroll(args) => enroll::run(args).await?,
            Scenario::Fleet(args) => fleet::run(args).await?,
            Scenario::Churn(args) => churn::run(args).await?,
            Scenario::Api(args) => api::run(args).await?,
            Scenario::Flood(args) => flood::run(args).await?,
        };
        report.int("open_file_limit", files, "");
        anyhow::Ok(report)
    })?;
    // Don't wait for node tasks still winding down.
    runtime.shutdown_background();
    Ok(report)
}
