//! Relayed packets per second through a loopback relay (the axum router, as keygate mounts it),
//! with 1 KiB packets: one sender → one receiver, and eight such pairs at once.
//!
//! Each sender keeps at most `WINDOW` packets in flight (sent but not yet received), the
//! relay's default per-client queue depth: like a congestion-controlled flow, it never makes
//! the relay drop, so every packet sent is counted once received.
//!
//! Run: `cargo bench -p keygate-derp --bench relay`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keygate_derp::client::{DerpClient, DerpReceiver, DerpSender, Received};
use keygate_derp::{AdmitAll, DerpConfig, DerpServer, NodePrivateKey, PublicKey};
use rand::rngs::OsRng;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

const PACKET_LEN: usize = 1024;
const WINDOW: u64 = 32;

/// One sender and one receiver. The unused halves are kept: dropping a client's sending half
/// closes its connection.
struct Pair {
    sender: DerpSender,
    receiver: DerpReceiver,
    receiver_key: PublicKey,
    _unused: (DerpReceiver, DerpSender),
}

async fn start_relay() -> SocketAddr {
    let server = DerpServer::new(
        NodePrivateKey::generate(&mut OsRng),
        Arc::new(AdmitAll),
        DerpConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, server.router()).await;
    });
    addr
}

async fn connect_pair(addr: SocketAddr) -> Pair {
    let (sender_key, receiver_key) =
        (NodePrivateKey::generate(&mut OsRng), NodePrivateKey::generate(&mut OsRng));
    let (sender, sender_rx) =
        DerpClient::connect(addr, &sender_key).await.expect("connect").split();
    let (receiver_tx, receiver) =
        DerpClient::connect(addr, &receiver_key).await.expect("connect").split();
    Pair {
        sender,
        receiver,
        receiver_key: receiver_key.public_key(),
        _unused: (sender_rx, receiver_tx),
    }
}

/// Sends `count` packets through one pair and waits until all arrived.
async fn run_pair(mut pair: Pair, count: u64) -> Pair {
    let received = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Notify::new());
    let receiving = {
        let (received, progress) = (received.clone(), progress.clone());
        let mut receiver = pair.receiver;
        tokio::spawn(async move {
            let mut n = 0;
            while n < count {
                match receiver.recv().await.expect("receive") {
                    Received::Packet { .. } => {
                        n += 1;
                        received.store(n, Ordering::Release);
                        progress.notify_one();
                    }
                    _ => continue,
                }
            }
            receiver
        })
    };
    let packet = [0x5a; PACKET_LEN];
    for sent in 0..count {
        while sent - received.load(Ordering::Acquire) >= WINDOW {
            progress.notified().await;
        }
        pair.sender.send(&pair.receiver_key, &packet).await.expect("send");
    }
    pair.receiver = receiving.await.expect("receiver task");
    pair
}

/// Runs `iters` packets spread over all pairs; returns the elapsed time.
fn measure(runtime: &Runtime, pairs: &mut Vec<Pair>, iters: u64) -> Duration {
    let per_pair = iters.div_ceil(pairs.len() as u64).max(1);
    let taken = std::mem::take(pairs);
    let start = Instant::now();
    let done = runtime.block_on(async {
        let tasks: Vec<_> =
            taken.into_iter().map(|p| tokio::spawn(run_pair(p, per_pair))).collect();
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await.expect("pair task"));
        }
        done
    });
    let elapsed = start.elapsed();
    *pairs = done;
    elapsed
}

fn relay(c: &mut Criterion) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let addr = runtime.block_on(start_relay());
    let mut group = c.benchmark_group("relay_1KiB");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for pair_count in [1usize, 8] {
        let mut pairs = runtime.block_on(connect_pairs(addr, pair_count));
        group.bench_function(format!("{pair_count}_pairs"), |b| {
            b.iter_custom(|iters| measure(&runtime, &mut pairs, iters));
        });
    }
    group.finish();
}

async fn connect_pairs(addr: SocketAddr, count: usize) -> Vec<Pair> {
    let mut pairs = Vec::with_capacity(count);
    for _ in 0..count {
        pairs.push(connect_pair(addr).await);
    }
    pairs
}

criterion_group!(benches, relay);
criterion_main!(benches);
