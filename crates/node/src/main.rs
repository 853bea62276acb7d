//! `keygate-node`: register a node with a keygate (or any Tailscale-compatible) control server
//! over plain HTTP, print its addresses, and optionally stay connected printing peer changes.
//!
//! ```text
//! keygate-node up --login-server http://127.0.0.1:8080 --authkey KEY [--hostname H]
//!                 [--state FILE] [--ephemeral] [--json] [--stay] [--timeout SECS]
//! ```
//!
//! Output on stdout: the node's addresses, one per line (`--json`: the self node as one line
//! of JSON); with `--stay`, one line per peer change (`--json`: one JSON object per line).
//! Refusals and errors go to stderr with exit status 1.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use keygate_node::{
    ConnectOptions, ControlClient, MapOptions, NetMap, NetMapChange, NodeError, NodeIdentity,
    RegisterOptions, ServerUrl,
};
use keygate_tailcfg::{Node, NodeID};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "keygate-node",
    version,
    about = "A small Tailscale node client (control plane only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register with the control server and print this node's addresses.
    Up(UpArgs),
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Control server URL; only http:// is supported so far.
    #[arg(long, value_name = "URL")]
    login_server: String,
    /// Pre-auth key. Optional when --state holds an already registered node.
    #[arg(long, value_name = "KEY", env = "TS_AUTHKEY", hide_env_values = true)]
    authkey: Option<String>,
    /// Hostname to report (default: this machine's hostname).
    #[arg(long)]
    hostname: Option<String>,
    /// JSON file holding the node's keys, created (mode 0600) if missing; without it the node
    /// gets fresh keys on every run.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Ask to be an ephemeral node (removed by the server once disconnected).
    #[arg(long)]
    ephemeral: bool,
    /// Print the self node (and, with --stay, each change) as JSON.
    #[arg(long)]
    json: bool,
    /// Keep the map stream open and print peer changes until interrupted.
    #[arg(long)]
    stay: bool,
    /// Seconds allowed for connecting, registering and receiving the first map.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("keygate-node: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Up(args) => runtime.block_on(up(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keygate-node: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let url = ServerUrl::parse(&args.login_server)?;
    let mut identity = match &args.state {
        Some(path) => NodeIdentity::load_or_generate(path)?.0,
        None => NodeIdentity::generate(),
    };
    let hostname = args.hostname.clone().unwrap_or_else(system_hostname);
    let limit = Duration::from_secs(args.timeout);

    let (client, mut stream, first) = tokio::time::timeout(limit, async {
        let options = ConnectOptions { timeout: limit, ..ConnectOptions::default() };
        let mut client = ControlClient::connect_with(&url, &identity, &options).await?;
        let register = |old_node_key| RegisterOptions {
            auth_key: args.authkey.clone(),
            hostname: hostname.clone(),
            ephemeral: args.ephemeral,
            old_node_key,
            ..RegisterOptions::default()
        };
        let mut response = client.login(register(None)).await?;
        if response.node_key_expired {
            // As Go does: a new node key, registered with the old one as OldNodeKey.
            let old = identity.rotate_node_key();
            if let Some(path) = &args.state {
                identity.save(path)?;
            }
            client.set_node_keys(&identity);
            response = client.login(register(Some(old))).await?;
        }
        if !response.machine_authorized {
            eprintln!("keygate-node: registered; the device still needs approval");
        }
        let mut stream = client.map_stream(MapOptions::default()).await?;
        let first = stream.next().await?.ok_or(NodeError::MapStreamEnded)?;
        Ok::<_, NodeError>((client, stream, first))
    })
    .await
    .map_err(|_| NodeError::Timeout { step: "registering", after: limit })??;

    let mut netmap = NetMap::new();
    let initial = netmap.apply(&first);
    let self_node = netmap.self_node().ok_or(NodeError::MissingSelfNode)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(self_node)?)?;
    } else {
        for address in &self_node.addresses {
            writeln!(out, "{}", address.addr())?;
        }
    }
    out.flush()?;
    if !args.stay {
        return Ok(());
    }

    print_change(&mut out, &netmap, &initial, args.json)?;
    // The client must live as long as the stream only for its counters; dropping it would
    // not close the connection, but keeping it makes the lifetime obvious.
    let _client = client;
    loop {
        let message = tokio::select! {
            message = stream.next() => message?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(message) = message else {
            eprintln!("keygate-node: the server ended the map stream");
            return Ok(());
        };
        let change = netmap.apply(&message);
        print_change(&mut out, &netmap, &change, args.json)?;
    }
}

/// Prints one line per changed peer: `added|updated ID NAME ADDRESSES…` / `removed ID`, or the
/// JSON equivalent `{"event":…,"id":…,"node":…}`. A changed self node prints as `self`.
fn print_change(
    out: &mut impl std::io::Write,
    netmap: &NetMap,
    change: &NetMapChange,
    json: bool,
) -> anyhow::Result<()> {
    let mut line = |event: &str, id: NodeID, node: Option<&Node>| -> anyhow::Result<()> {
        if json {
            let value = json!({ "event": event, "id": id, "node": node });
            writeln!(out, "{value}")?;
        } else {
            let mut text = format!("{event} {id}");
            if let Some(node) = node {
                text.push(' ');
                text.push_str(if node.name.is_empty() { "-" } else { &node.name });
                for address in &node.addresses {
                    text.push(' ');
                    text.push_str(&address.addr().to_string());
                }
                if let Some(online) = node.online {
                    text.push_str(if online { " online" } else { " offline" });
                }
            }
            writeln!(out, "{text}")?;
        }
        Ok(())
    };
    if change.self_changed && !change.full {
        if let Some(node) = netmap.self_node() {
            line("self", node.id, Some(node))?;
        }
    }
    for id in &change.added {
        line("added", *id, netmap.peer(*id))?;
    }
    for id in &change.updated {
        line("updated", *id, netmap.peer(*id))?;
    }
    for id in &change.removed {
        line("removed", *id, None)?;
    }
    out.flush().context("writing to stdout")
}

/// This machine's hostname, or `keygate-node` if it cannot be read.
fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "keygate-node".to_owned())
}
