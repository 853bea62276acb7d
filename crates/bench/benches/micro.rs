//! Micro-benchmarks of the hot paths of one enrolment and one map update:
//!
//! - `handshake`: the server's side of the Noise IK handshake (`keygate_noise::accept`);
//! - `record`: sealing and opening one transport record of 1 KiB and of the largest size
//!   (4,077 bytes of plaintext in a 4,096-byte record);
//! - `map_encode`: a full `MapResponse` with 10, 100 and 1,000 realistic peers, encoded as JSON
//!   and framed, with and without zstd (what a node's first map costs the server);
//! - `key_verify`: checking a pre-auth key with our peppered HMAC-SHA256 (`Pepper::verify`),
//!   and, in the same group so the ratio comes from one run, with bcrypt at cost 10 (how
//!   Headscale stores its pre-auth keys).
//!
//! `cargo bench -p keygate-bench --bench micro` (add `-- key_verify` to run one group).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use keygate_domain::{Pepper, SecretKind, SecretToken};
use keygate_noise::{accept, Initiator, MachinePrivateKey, RecordCipher};
use keygate_tailcfg::{encode_map_response, MapResponse, Node};
use rand::rngs::OsRng;

/// The capability version tailscaled 1.96 announces.
const CAPABILITY_VERSION: u16 = 133;

/// A peer as the server renders it for a tailscaled client (the shape of
/// `crates/control/tests/golden/first_map_response.json`, with the Hostinfo a Linux
/// tailscaled reports).
const PEER_JSON: &str = r#"{
  "ID": 2, "StableID": "n2", "Name": "host2.keygate.internal.", "User": 1,
  "Key": "nodekey:2222222222222222222222222222222222222222222222222222222222222222",
  "KeyExpiry": "2026-11-24T20:26:40Z",
  "Machine": "mkey:1212121212121212121212121212121212121212121212121212121212121212",
  "DiscoKey": "discokey:3232323232323232323232323232323232323232323232323232323232323232",
  "Addresses": ["100.64.0.2/32", "fd7a:115c:a1e0::2/128"],
  "AllowedIPs": ["100.64.0.2/32", "fd7a:115c:a1e0::2/128"],
  "Endpoints": ["192.0.2.1:41641", "[2001:db8::1]:41641"],
  "DERP": "127.3.3.40:900", "HomeDERP": 900,
  "Hostinfo": {
    "IPNVersion": "1.96.4-t5f3d1a2b3-gabcdef012", "BackendLogID": "b1e2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "OS": "linux", "OSVersion": "Debian GNU/Linux 13 (trixie); kernel=6.12.0-1-amd64",
    "Distro": "debian", "DistroVersion": "13", "DistroCodeName": "trixie",
    "Hostname": "host2", "GoArch": "amd64", "GoVersion": "go1.26.0",
    "NetInfo": {"MappingVariesByDestIP": false, "WorkingUDP": true, "PreferredDERP": 900,
                "DERPLatency": {"900-v4": 0.0123}}
  },
  "Created": "2026-05-28T20:25:40Z", "Cap": 133,
  "LastSeen": "2026-05-28T20:26:10Z", "Online": true, "MachineAuthorized": true
}"#;

/// The rest of a first map (self node, filter, profiles), as the golden file has it.
const MAP_JSON: &str = r#"{
  "ControlTime": "2026-05-28T20:26:40Z", "DERPMap": {"Regions": {}}, "DNSConfig": {},
  "Domain": "keygate.internal", "CollectServices": false,
  "PacketFilter": [{"SrcIPs": ["*"], "DstPorts": [{"IP": "*", "Ports": {"First": 0, "Last": 65535}}]}],
  "UserProfiles": [{"ID": 1, "LoginName": "alice@keygate", "DisplayName": "alice"}]
}"#;

fn peer(index: u32) -> Node {
    let mut node: Node = serde_json::from_str(PEER_JSON).expect("the peer template parses");
    let id = i64::from(index) + 2;
    node.id = id;
    node.stable_id = format!("n{id}");
    node.name = format!("host{id}.keygate.internal.");
    // Random-looking keys and distinct addresses, so zstd compresses what a real tailnet's map
    // holds (keys are incompressible), not repeated bytes.
    node.key = keygate_tailcfg::NodePublicKey::from_bytes(pseudo_random_key(index, 1));
    node.machine = keygate_tailcfg::MachinePublicKey::from_bytes(pseudo_random_key(index, 2));
    node.disco_key = keygate_tailcfg::DiscoPublicKey::from_bytes(pseudo_random_key(index, 3));
    let v4 = std::net::Ipv4Addr::from(0x6440_0000 + index + 2);
    let v6 = std::net::Ipv6Addr::from(0xfd7a_115c_a1e0_u128 << 80 | u128::from(index + 2));
    node.addresses = keygate_tailcfg::host_addresses(v4, v6);
    node.allowed_ips = Some(node.addresses.clone());
    if let Some(hostinfo) = node.hostinfo.as_mut() {
        hostinfo.hostname = format!("host{id}");
    }
    node
}

/// 32 bytes that look random (SplitMix64), the same on every run.
fn pseudo_random_key(index: u32, kind: u64) -> [u8; 32] {
    let mut state = u64::from(index) << 8 | kind;
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    key
}

fn full_map(peers: u32) -> MapResponse {
    let mut map: MapResponse = serde_json::from_str(MAP_JSON).expect("the map template parses");
    let mut me = peer(0);
    me.id = 1;
    map.node = Some(me);
    map.peers = Some((1..=peers).map(peer).collect());
    map
}

fn handshake(c: &mut Criterion) {
    let server = MachinePrivateKey::generate(&mut OsRng);
    let client = MachinePrivateKey::generate(&mut OsRng);
    let (_, initiation) =
        Initiator::new(&client, &server.public_key(), CAPABILITY_VERSION, &mut OsRng)
            .expect("an initiation");
    let mut group = c.benchmark_group("handshake");
    group.bench_function("responder_accept", |b| {
        b.iter(|| accept(black_box(&server), black_box(&initiation), &mut OsRng).expect("accepted"))
    });
    group.finish();
}

fn record(c: &mut Criterion) {
    let key = [7u8; 32];
    let mut group = c.benchmark_group("record");
    for (name, len) in [("1KiB", 1024), ("max_4077B", keygate_noise::frame::MAX_PLAINTEXT_SIZE)] {
        let plaintext = vec![0xabu8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::new("seal", name), |b| {
            let mut cipher = RecordCipher::new(&key);
            let mut out = Vec::with_capacity(len + 64);
            b.iter(|| {
                out.clear();
                cipher.seal(black_box(&plaintext), &mut out).expect("sealed");
            })
        });
        group.bench_function(BenchmarkId::new("open", name), |b| {
            b.iter_batched_ref(
                || {
                    let mut frame = Vec::with_capacity(len + 64);
                    RecordCipher::new(&key).seal(&plaintext, &mut frame).expect("sealed");
                    (RecordCipher::new(&key), frame)
                },
                |(cipher, frame)| {
                    black_box(cipher.open(frame).expect("opened").len());
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn map_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("map_encode");
    for peers in [10u32, 100, 1000] {
        let map = full_map(peers);
        let json = serde_json::to_vec(&map).expect("JSON").len();
        let zstd = encode_map_response(&map, true).expect("frame").len();
        eprintln!("map_encode: {peers} peers: {json} B of JSON, {zstd} B framed with zstd");
        group.throughput(Throughput::Elements(u64::from(peers)));
        group.bench_function(BenchmarkId::new("json_zstd", peers), |b| {
            b.iter(|| encode_map_response(black_box(&map), true).expect("frame"))
        });
        group.bench_function(BenchmarkId::new("json_only", peers), |b| {
            b.iter(|| encode_map_response(black_box(&map), false).expect("frame"))
        });
    }
    group.finish();
}

fn key_verify(c: &mut Criterion) {
    let pepper = Pepper::from_bytes([9u8; 32]);
    let token = SecretToken::new(SecretKind::Auth, "kQ3xT9mPzR7aB", &[42u8; 32]);
    let stored = pepper.hash(&token);
    let presented = token.expose();
    let bcrypt_hash = bcrypt::hash(&presented, 10).expect("a bcrypt hash");

    let mut group = c.benchmark_group("key_verify");
    // bcrypt takes tens of milliseconds per check: ten samples are plenty.
    group.sample_size(10);
    group.bench_function("keygate_hmac_sha256", |b| {
        b.iter(|| {
            let parsed = SecretToken::parse(black_box(&presented), SecretKind::Auth).expect("ok");
            assert!(pepper.verify(&parsed, black_box(&stored)));
        })
    });
    group.bench_function("headscale_bcrypt_cost10", |b| {
        b.iter(|| assert!(bcrypt::verify(black_box(&presented), &bcrypt_hash).expect("ok")))
    });
    group.finish();
}

fn config() -> Criterion {
    // The machine is shared with other builds: short runs, repeated when noisy.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = micro;
    config = config();
    targets = handshake, record, map_encode, key_verify
}
criterion_main!(micro);
