//! How fast the engine is on a large tailnet: a policy of 1,000 rules over 1,000 users in 100
//! groups, 200 tags and 50 hosts, applied to 1k, 5k and 10k nodes (70 % user-owned, 30 %
//! tagged).
//!
//! `cargo bench -p keygate-policy` measures:
//! - `compile`: parsing and compiling the policy file;
//! - `network_new/N`: indexing N nodes;
//! - `filter_one_node/N`: one node's packet filter, source lists already cached (the steady
//!   state while nodes stream maps);
//! - `filters_full_tailnet/N`: every node's filter from a fresh network (cold caches: what a
//!   policy change costs);
//! - `peers_one_node/N`: one node's peers;
//! - `join_and_leave/N`: a node joining then leaving, with the affected sets computed.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use keygate_domain::{NodeId, TagSet, UserName};
use keygate_policy::{Network, NodeIdentity, NodeInfo, Policy};

const USERS: usize = 1_000;
const GROUPS: usize = 100;
const TAGS: usize = 200;
const HOSTS: usize = 50;
const RULES: usize = 1_000;
const SIZES: [usize; 3] = [1_000, 5_000, 10_000];

/// A deterministic pseudo-random sequence (an LCG), so every run measures the same policy.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

fn policy_text() -> String {
    let mut rng = Lcg(7);
    let mut t = String::from("{\n\"groups\": {\n");
    for g in 0..GROUPS {
        let members: Vec<String> =
            (0..USERS / GROUPS).map(|i| format!("\"u{}\"", g * (USERS / GROUPS) + i)).collect();
        writeln!(t, "  \"group:g{g}\": [{}],", members.join(", ")).unwrap();
    }
    t.push_str("},\n\"tagOwners\": {\n");
    for i in 0..TAGS {
        writeln!(t, "  \"tag:t{i}\": [\"group:g{}\"],", i % GROUPS).unwrap();
    }
    t.push_str("},\n\"hosts\": {\n");
    for h in 0..HOSTS {
        writeln!(t, "  \"h{h}\": \"100.{}.0.0/24\",", 64 + h % 64).unwrap();
    }
    t.push_str("},\n\"acls\": [\n");
    for _ in 0..RULES {
        let (src, dst) = match rng.below(20) {
            0..=7 => (
                format!("group:g{}", rng.below(GROUPS)),
                format!("tag:t{}:{}", rng.below(TAGS), 1 + rng.below(9000)),
            ),
            8..=13 => {
                (format!("tag:t{}", rng.below(TAGS)), format!("tag:t{}:8000-8999", rng.below(TAGS)))
            }
            14..=16 => {
                (format!("u{}", rng.below(USERS)), format!("group:g{}:22", rng.below(GROUPS)))
            }
            17..=18 => ("autogroup:member".to_owned(), format!("h{}:443", rng.below(HOSTS))),
            _ => (format!("tag:t{}", rng.below(TAGS)), "autogroup:member:80,443".to_owned()),
        };
        writeln!(t, "  {{\"action\": \"accept\", \"src\": [\"{src}\"], \"dst\": [\"{dst}\"]}},")
            .unwrap();
    }
    t.push_str("],\n}\n");
    t
}

fn node(i: usize) -> NodeInfo {
    let n = u32::try_from(i + 1).unwrap();
    let identity = if i % 10 < 7 {
        NodeIdentity::User(UserName::parse(&format!("u{}", i % USERS)).unwrap())
    } else {
        NodeIdentity::Tags(TagSet::parse_list(&format!("tag:t{}", i % TAGS)).unwrap())
    };
    NodeInfo {
        id: NodeId(i64::from(n)),
        identity,
        ipv4: Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + n),
        ipv6: Ipv6Addr::from(
            u128::from(Ipv6Addr::new(0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 0, 0)) + u128::from(n),
        ),
    }
}

fn nodes(count: usize) -> Vec<NodeInfo> {
    (0..count).map(node).collect()
}

fn benches(c: &mut Criterion) {
    let text = policy_text();
    c.bench_function("compile", |b| b.iter(|| Policy::parse(black_box(&text)).unwrap()));
    let policy = Arc::new(Policy::parse(&text).unwrap());
    assert_eq!(policy.rule_count(), RULES);

    let mut group = c.benchmark_group("network_new");
    for size in SIZES {
        let list = nodes(size);
        group.bench_with_input(BenchmarkId::from_parameter(size), &list, |b, list| {
            b.iter_batched(
                || list.clone(),
                |l| Network::new(policy.clone(), l),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("filter_one_node");
    for size in SIZES {
        let network = Network::new(policy.clone(), nodes(size));
        // Warm the shared source lists, as a running server has.
        let _ = network.packet_filters().count();
        let probe = NodeId(i64::try_from(size / 2).unwrap());
        group.bench_with_input(BenchmarkId::from_parameter(size), &network, |b, network| {
            b.iter(|| network.packet_filter(black_box(probe)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("filters_full_tailnet");
    group.sample_size(10);
    for size in SIZES {
        let list = nodes(size);
        group.bench_with_input(BenchmarkId::from_parameter(size), &list, |b, list| {
            b.iter_batched(
                || Network::new(policy.clone(), list.clone()),
                |network| network.packet_filters().map(|(_, f)| f.len()).sum::<usize>(),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("peers_one_node");
    for size in SIZES {
        let network = Network::new(policy.clone(), nodes(size));
        let probe = NodeId(i64::try_from(size / 2).unwrap());
        group.bench_with_input(BenchmarkId::from_parameter(size), &network, |b, network| {
            b.iter(|| network.peers(black_box(probe)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("join_and_leave");
    for size in SIZES {
        let mut network = Network::new(policy.clone(), nodes(size));
        let newcomer = node(size);
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                let joined = network.upsert(newcomer.clone());
                let left = network.remove(newcomer.id);
                (joined.filters.len(), left.filters.len())
            })
        });
    }
    group.finish();
}

criterion_group!(filters, benches);
criterion_main!(filters);
