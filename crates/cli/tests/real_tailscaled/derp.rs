//! The embedded DERP relay: `tailscale up` succeeds (state Running) and two nodes reach each
//! other through it.
//!
//! The namespace needs one more thing than the enrolment tests: tailscaled treats a machine
//! whose only addresses are loopback ones as offline and never dials DERP, so `scripts/test.sh`
//! adds the documentation address 192.0.2.1/32 to `lo` (still loopback only; nothing routes).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

/// Waits until `tailscale status --json` says Running.
fn wait_running(node: &Tailscaled) -> serde_json::Value {
    let deadline = Instant::now() + REGISTER_DEADLINE;
    loop {
        let st = node.status();
        if st["BackendState"] == "Running" {
            return st;
        }
        assert!(Instant::now() < deadline, "never Running: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn tailscale_up_succeeds_and_two_nodes_talk_through_the_embedded_relay() {
    let server = Server::start("derp");
    let (_, key) = server.create_key(&["--reusable"]);

    let a = Tailscaled::start("derp-a", &server);
    let (ok, output) = a.up_and_wait(&key, "alpha");
    assert!(ok, "`tailscale up --authkey` must exit 0 once the relay is reachable: {output}");
    wait_running(&a);

    let b = Tailscaled::start("derp-b", &server);
    let (ok, output) = b.up_and_wait(&key, "beta");
    assert!(ok, "{output}");
    let st_b = wait_running(&b);
    let ip_b = st_b["Self"]["TailscaleIPs"][0].as_str().expect("beta has an address").to_owned();

    // `tailscale ping` (disco, then TSMP) reaches beta through the relay.
    let deadline = Instant::now() + REGISTER_DEADLINE;
    loop {
        let out = a
            .tailscale()
            .args(["ping", "--tsmp", "-c", "1", "--timeout=5s", &ip_b])
            .output()
            .expect("ping");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if text.contains("pong from") {
            break;
        }
        assert!(Instant::now() < deadline, "alpha never got a pong from beta: {text}");
        std::thread::sleep(Duration::from_millis(500));
    }

    // A TCP connection through the tailnet: beta's userspace network stack forwards
    // connections to its tailnet address to this loopback listener.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().unwrap().port();
    let server_thread = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).expect("read");
        conn.write_all(b"pong:").expect("write");
        conn.write_all(&buf).expect("write");
    });
    let mut nc = a
        .tailscale()
        .args(["nc", &ip_b, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tailscale nc");
    nc.stdin.as_mut().unwrap().write_all(b"hello").expect("send");
    let mut got = Vec::new();
    let mut stdout = nc.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut chunk = [0u8; 64];
    while got.len() < 10 && Instant::now() < deadline {
        match stdout.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    kill_child(nc);
    assert_eq!(String::from_utf8_lossy(&got), "pong:hello", "the TCP exchange through the tailnet");
    server_thread.join().expect("listener thread");
}
