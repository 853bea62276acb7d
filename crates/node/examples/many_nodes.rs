//! Connects many nodes from one process and reports the memory each one costs:
//! `cargo run --release -p keygate-node --example many_nodes -- URL [NODES] [AUTHKEY]`.
//!
//! Every node gets its own identity and Noise connection, logs in, opens its map stream,
//! applies the first message to a compact netmap and then idles with the stream open, which is
//! the steady state of a benchmark. The resident-set growth (Linux `/proc/self/statm`) divided
//! by the node count is printed; run the server in another process so it is not counted.

use std::time::Instant;

use keygate_node::{
    fetch_server_key, ConnectOptions, ControlClient, MapOptions, MapStream, NetMap, NodeIdentity,
    PeerSummary, RegisterOptions, ServerUrl,
};
use tokio::task::JoinSet;

/// Nodes connecting at the same time.
const CONCURRENCY: usize = 64;

struct Connected {
    _client: ControlClient,
    _stream: MapStream,
    _netmap: NetMap<PeerSummary>,
}

async fn connect(
    url: ServerUrl,
    options: ConnectOptions,
    auth_key: String,
    index: usize,
) -> Connected {
    let identity = NodeIdentity::generate();
    let client = ControlClient::connect_with(&url, &identity, &options).await.expect("connect");
    client
        .login(RegisterOptions::with_auth_key(auth_key, format!("bench-{index}")))
        .await
        .expect("login");
    let mut stream = client.map_stream(MapOptions::default()).await.expect("map stream");
    let mut netmap = NetMap::compact();
    netmap.apply(&stream.next().await.expect("first map").expect("stream open"));
    Connected { _client: client, _stream: stream, _netmap: netmap }
}

async fn connect_many(
    url: &ServerUrl,
    options: &ConnectOptions,
    auth_key: &str,
    count: usize,
) -> Vec<Connected> {
    let mut nodes = Vec::with_capacity(count);
    let mut tasks = JoinSet::new();
    for index in 0..count {
        if tasks.len() >= CONCURRENCY {
            nodes.push(tasks.join_next().await.expect("a task").expect("node task"));
        }
        tasks.spawn(connect(url.clone(), options.clone(), auth_key.to_owned(), index));
    }
    while let Some(node) = tasks.join_next().await {
        nodes.push(node.expect("node task"));
    }
    nodes
}

/// Resident set size in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = ServerUrl::parse(&args.next().expect("usage: many_nodes URL [NODES] [AUTHKEY]"))
        .expect("login server URL");
    let count: usize = args.next().map_or(1000, |n| n.parse().expect("node count"));
    let auth_key = args.next().unwrap_or_else(|| "keygate-auth-good".to_owned());

    let server_key = fetch_server_key(&url).await.expect("server key");
    let options = ConnectOptions { server_key: Some(server_key), ..ConnectOptions::default() };
    // Warm up: runtime, allocator arenas and zstd tables are one-off costs.
    let warm = connect_many(&url, &options, &auth_key, CONCURRENCY).await;
    let before = rss();
    let started = Instant::now();
    let nodes = connect_many(&url, &options, &auth_key, count).await;
    let elapsed = started.elapsed();
    let after = rss();
    let per_node = after.saturating_sub(before) / count as u64;
    println!(
        "{count} nodes connected in {elapsed:.2?}; RSS {} -> {} MiB; {:.1} KiB per node",
        before >> 20,
        after >> 20,
        per_node as f64 / 1024.0
    );
    drop((warm, nodes));
}
