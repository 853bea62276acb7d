//! Enrolment with auth keys: addresses, peers, refusals, restarts.

use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn official_client_enrols_and_sees_a_second_node_with_the_same_reusable_key() {
    let server = Server::start("enrol");
    server.cli(&["users", "create", "alice"]);
    let (key_id, key) = server.create_key(&["--user", "alice", "--reusable"]);

    let first = Tailscaled::start("first", &server);
    let up1 = first.up_in_background(&key, "first-node");
    let (ip1, _) = first.wait_registered();
    assert!(in_cgnat_range(&ip1), "{ip1} is not in 100.64.0.0/10");

    let nodes = server.nodes();
    let n = node_named(&nodes, "first-node");
    assert_eq!(n["authKeyId"], key_id.as_str(), "the node records the key that enrolled it: {n}");
    assert!(
        n["user"].as_str().is_some_and(|u| u == "alice" || u.starts_with("alice@")),
        "owned by the key's user: {n}"
    );
    assert!(n["addresses"].as_array().unwrap().iter().any(|a| a == ip1.as_str()), "{n}");

    let second = Tailscaled::start("second", &server);
    let up2 = second.up_in_background(&key, "second-node");
    let (ip2, _) = second.wait_registered();
    assert_ne!(ip1, ip2);

    // The first node learns about the second through its open map stream.
    let deadline = Instant::now() + REGISTER_DEADLINE;
    loop {
        let st = first.status();
        let peers: Vec<String> = st["Peer"]
            .as_object()
            .map(|m| m.values().filter_map(|p| p["HostName"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        if peers.iter().any(|h| h == "second-node") {
            break;
        }
        assert!(Instant::now() < deadline, "first node never saw the second as a peer: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    kill_child(up1);
    kill_child(up2);
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn refused_keys_show_our_message_in_tailscale_up() {
    let server = Server::start("refuse");
    let (revoked_id, revoked) = server.create_key(&[]);
    assert!(server.cli(&["keys", "revoke", &revoked_id]).status.success());
    let (_, spent) = server.create_key(&[]);
    let (expired_id, expired) = server.create_key(&["--expiry", "1d"]);
    // Move the key's expiry into the past directly in the database (the server reads it per
    // registration), as waiting a day is not an option.
    expire_key_in_database(&server.data_dir.join("keygate.db"), &expired_id);
    let unknown = format!("keygate-auth-kAAAAAAAAAAAA-{}", "0".repeat(64));

    // Spend the one-off key.
    let user = Tailscaled::start("spender", &server);
    let up = user.up_in_background(&spent, "spender");
    user.wait_registered();
    kill_child(up);

    let cases = [
        (unknown.as_str(), "no such key"),
        (expired.as_str(), "expired"),
        (revoked.as_str(), "revoked"),
        (spent.as_str(), "already been used"),
    ];
    for (i, (key, needle)) in cases.iter().enumerate() {
        let client = Tailscaled::start(&format!("refused{i}"), &server);
        let (ok, output) = client.up_and_wait(key, &format!("refused-{i}"));
        assert!(!ok, "tailscale up with a bad key must fail; output: {output}");
        assert!(output.contains(needle), "tailscale up output lacks {needle:?}: {output}");
    }
    let nodes = server.nodes();
    assert_eq!(nodes.len(), 1, "only the spender enrolled: {nodes:#?}");

    // After keys were created, used and refused, neither the database nor the server's debug
    // log holds any secret.
    let mut haystack = Vec::new();
    for file in ["keygate.db", "keygate.db-wal", "keygate.db-shm"] {
        haystack.extend(std::fs::read(server.data_dir.join(file)).unwrap_or_default());
    }
    haystack.extend(
        std::fs::read(server.data_dir.parent().unwrap().join("server.log")).expect("server log"),
    );
    for secret in [&revoked, &spent, &expired] {
        let hex_part = &secret[secret.len() - 64..];
        assert!(
            !contains(&haystack, secret.as_bytes()) && !contains(&haystack, hex_part.as_bytes()),
            "a secret leaked into the database or log"
        );
    }
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn a_restarted_client_with_a_spent_one_off_key_comes_back_as_the_same_node() {
    let server = Server::start("restart");
    let (key_id, key) = server.create_key(&[]);
    let mut client = Tailscaled::start("restarter", &server);
    let up = client.up_in_background(&key, "restarter");
    let (ip, _) = client.wait_registered();
    kill_child(up);
    let before = server.nodes();
    assert_eq!(before.len(), 1);

    // tailscaled restarts from its state file (a container restart).
    client.restart();
    let (ip_again, _) = client.wait_registered();
    assert_eq!(ip, ip_again);

    // …and a container entrypoint that runs `tailscale up --authkey` again with the spent key:
    // the node is already logged in, so this is no new enrolment and no second use of the
    // key; it succeeds (a new machine with the key is refused: `refused_keys_show_…`).
    let (succeeded, output) = client.up_and_wait(&key, "restarter");
    assert!(succeeded, "tailscale up again with the spent key: {output}");
    let (ip_third, st) = client.wait_registered();
    assert_eq!(ip, ip_third, "{st}");
    let used = server.cli_json(&["keys", "show", &key_id]);
    assert_eq!(used["useCount"], 1, "the spent key is not used again: {used}");

    let after = server.nodes();
    assert_eq!(after.len(), 1, "still one node: {after:#?}");
    assert_eq!(after[0]["id"], before[0]["id"]);
}
