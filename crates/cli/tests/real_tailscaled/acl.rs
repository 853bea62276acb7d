//! The ACL policy with the official client: a tagged node's netmap carries the filter the
//! policy gives it, an allowed pair talks, and the other direction of the same pair (peers,
//! but not allowed by the receiver's filter) cannot open a TCP connection.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

/// `tag:web` may reach `tag:db` on every port; nothing else is allowed.
const WEB_TO_DB: &str = r#"{
  "tagOwners": {"tag:web": ["autogroup:member"], "tag:db": ["autogroup:member"]},
  "acls": [{"action": "accept", "src": ["tag:web"], "dst": ["tag:db:*"]}],
}"#;

fn wait_running(node: &Tailscaled) -> serde_json::Value {
    wait_for(REGISTER_DEADLINE, "state Running", || {
        let st = node.status();
        (st["BackendState"] == "Running").then_some(st)
    })
}

fn first_ip(status: &serde_json::Value) -> String {
    status["Self"]["TailscaleIPs"][0].as_str().expect("an address").to_owned()
}

/// Sends "hello" from `from` to `ip:port` with `tailscale nc`, answered by a loopback listener
/// (the receiver's userspace stack forwards its tailnet address there). What came back within
/// `within`.
fn tcp_exchange(from: &Tailscaled, ip: &str, within: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().unwrap().port();
    let deadline = Instant::now() + within;
    let server_thread = std::thread::spawn(move || {
        while Instant::now() < deadline {
            if let Ok((mut conn, _)) = listener.accept() {
                conn.set_nonblocking(false).expect("blocking");
                let mut buf = [0u8; 5];
                if conn.read_exact(&mut buf).is_ok() {
                    let _ = conn.write_all(b"pong:");
                    let _ = conn.write_all(&buf);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut nc = from
        .tailscale()
        .args(["nc", ip, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tailscale nc");
    let _ = nc.stdin.as_mut().unwrap().write_all(b"hello");
    let mut stdout = nc.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut chunk = [0u8; 64];
        while got.len() < 10 {
            match stdout.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
        got
    });
    while !reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    kill_child(nc);
    let got = reader.join().expect("reader");
    let _ = server_thread.join();
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn the_policy_decides_who_may_connect_and_the_netmap_carries_the_filter() {
    let server = Server::start("acl");
    let policy = scratch_dir("acl-policy").join("policy.hujson");
    std::fs::write(&policy, WEB_TO_DB).expect("policy file");
    let out = server.cli(&["policy", "set", policy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, web_key) = server.create_key(&["--tags", "tag:web"]);
    let (_, db_key) = server.create_key(&["--tags", "tag:db"]);

    let web = Tailscaled::start("acl-web", &server);
    let (ok, output) = web.up_and_wait(&web_key, "web");
    assert!(ok, "{output}");
    let web_ip = first_ip(&wait_running(&web));
    let db = Tailscaled::start("acl-db", &server);
    let (ok, output) = db.up_and_wait(&db_key, "db");
    assert!(ok, "{output}");
    let db_ip = first_ip(&wait_running(&db));

    // The database's netmap: one rule, from the web node's addresses to its own, every port.
    let netmap = wait_for(REGISTER_DEADLINE, "the filter in db's netmap", || {
        let out = db.tailscale().args(["debug", "netmap"]).output().ok()?;
        let netmap: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (!netmap["PacketFilterRules"].as_array()?.is_empty()).then_some(netmap)
    });
    let rules = netmap["PacketFilterRules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{netmap}");
    let sources: Vec<&str> =
        rules[0]["SrcIPs"].as_array().unwrap().iter().filter_map(|s| s.as_str()).collect();
    assert!(sources.contains(&web_ip.as_str()) && sources.len() == 2, "{sources:?}");
    let dsts = rules[0]["DstPorts"].as_array().unwrap();
    assert!(dsts.iter().any(|d| d["IP"] == db_ip.as_str()), "{dsts:?}");
    assert!(
        dsts.iter().all(|d| d["Ports"]["First"] == 0 && d["Ports"]["Last"] == 65535),
        "{dsts:?}"
    );

    // The allowed direction: TSMP ping and a TCP exchange work.
    wait_for(REGISTER_DEADLINE, "a pong from db", || {
        let out = web
            .tailscale()
            .args(["ping", "--tsmp", "-c", "1", "--timeout=5s", &db_ip])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).contains("pong from").then_some(())
    });
    assert_eq!(tcp_exchange(&web, &db_ip, Duration::from_secs(20)), "pong:hello");

    // The other direction: db sees web (a peer) but web's filter admits nothing.
    assert_eq!(tcp_exchange(&db, &web_ip, Duration::from_secs(8)), "", "web must refuse db");
}
