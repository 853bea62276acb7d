//! Node lifecycle with the official client: device approval, ephemeral clean-up, deletion,
//! key expiry, revoked keys and tags, each driven through `keygate nodes …`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// The synthetic owner of tagged nodes, as clients see it (`render::TAGGED_DEVICES_ID`).
const TAGGED_DEVICES_ID: i64 = 2_147_455_555;

fn ok(out: &std::process::Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn node_id(node: &Value) -> String {
    node["id"].as_str().expect("id").to_owned()
}

/// Whether `client` has a peer with host name `host` in its status.
fn sees(client: &Tailscaled, host: &str) -> Option<Value> {
    client.peers().into_iter().find(|p| p["HostName"] == host)
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn with_approval_on_a_node_waits_until_nodes_approve_lets_it_in_without_enrolling_again() {
    let server = Server::start("approval");
    ok(&server.cli(&["settings", "set", "device-approval", "on"]), "settings set");
    let (_, preapproved) = server.create_key(&["--preauthorized"]);
    let (waiting_key_id, waiting_key) = server.create_key(&[]);

    // A pre-approved key: no wait.
    let first = Tailscaled::start("approved", &server);
    let up1 = first.up_in_background(&preapproved, "approved");
    first.wait_registered();
    assert_ne!(first.backend_state(), "NeedsMachineAuth");
    assert_eq!(node_named(&server.nodes(), "approved")["authorized"], true);

    // A plain key: the node registers, gets no peers, and waits.
    let second = Tailscaled::start("waiting", &server);
    let up2 = second.up_in_background(&waiting_key, "waiting");
    second.wait_state("NeedsMachineAuth");
    let waiting = node_named(&server.nodes(), "waiting").clone();
    assert_eq!(waiting["authorized"], false, "{waiting}");
    let listed = ok(&server.cli(&["nodes", "list"]), "nodes list");
    assert!(listed.contains("pending approval"), "{listed}");
    // A pre-approved witness enrols after it: once the first node sees the witness, the
    // server's fan-out is past the waiting node's registration (events go out in order, each
    // to every stream at once), so anything it sent about the waiting node has arrived.
    let (_, witness_key) = server.create_key(&["--preauthorized"]);
    let witness = Tailscaled::start("witness", &server);
    let up_witness = witness.up_in_background(&witness_key, "witness");
    witness.wait_registered();
    wait_for(REGISTER_DEADLINE, "the witness among the first node's peers", || {
        sees(&first, "witness")
    });
    assert!(sees(&first, "waiting").is_none(), "peers never see an unapproved node");
    assert!(second.peers().is_empty(), "an unapproved node sees no one");
    kill_child(up_witness);

    // Approval reaches the waiting client through its open map stream.
    let approved = ok(&server.cli(&["nodes", "approve", &node_id(&waiting)]), "nodes approve");
    assert!(approved.contains("approved node"), "{approved}");
    let (ip, _) = second.wait_registered();
    assert!(in_cgnat_range(&ip));
    wait_for(REGISTER_DEADLINE, "the approved node among its peer's peers", || {
        sees(&first, "waiting")
    });
    wait_for(REGISTER_DEADLINE, "the peer in the approved node's map", || {
        sees(&second, "approved")
    });

    // It was not enrolled again: the same node, and its one-off key was used once.
    let after = node_named(&server.nodes(), "waiting").clone();
    assert_eq!((&after["id"], &after["authorized"]), (&waiting["id"], &Value::Bool(true)));
    let key = server.cli_json(&["keys", "show", &waiting_key_id]);
    assert_eq!(key["useCount"], 1, "{key}");
    kill_child(up1);
    kill_child(up2);
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn a_killed_ephemeral_node_is_removed_after_the_timeout_and_its_address_not_reused() {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let server =
        Server::start_with_env("ephemeral", &[("KEYGATE_EPHEMERAL_INACTIVITY_TIMEOUT", "3s")]);
    let (_, key) = server.create_key(&["--ephemeral", "--reusable"]);
    let watcher_key = server.create_key(&["--reusable"]).1;
    let watcher = Tailscaled::start("watcher", &server);
    let up_w = watcher.up_in_background(&watcher_key, "watcher");
    watcher.wait_registered();

    let mut gone = Tailscaled::start("gone", &server);
    let up = gone.up_in_background(&key, "gone");
    let (ip, _) = gone.wait_registered();
    let node = node_named(&server.nodes(), "gone").clone();
    assert_eq!(node["isEphemeral"], true);
    wait_for(REGISTER_DEADLINE, "the ephemeral node among the watcher's peers", || {
        sees(&watcher, "gone")
    });
    kill_child(up);

    // Its machine dies: no logout, the connection just drops.
    gone.kill_hard();
    let killed = Instant::now();
    wait_for(Duration::from_secs(30), "the ephemeral node's removal", || {
        server.nodes().iter().all(|n| n["hostname"] != "gone").then_some(())
    });
    let after = killed.elapsed();
    assert!(
        after >= TIMEOUT - Duration::from_millis(500),
        "removed after {after:?}, before the timeout"
    );
    wait_for(REGISTER_DEADLINE, "the watcher to forget the removed peer", || {
        sees(&watcher, "gone").is_none().then_some(())
    });

    // Its address does not go to the next node (round-robin: docs/security.md, "Address reuse").
    let next = Tailscaled::start("next", &server);
    let up_next = next.up_in_background(&key, "next");
    let (next_ip, _) = next.wait_registered();
    assert_ne!(next_ip, ip, "a deleted node's address is not handed out again at once");
    kill_child(up_next);
    kill_child(up_w);
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn an_ephemeral_node_that_reconnects_within_the_timeout_is_kept() {
    let server =
        Server::start_with_env("ephemeral-back", &[("KEYGATE_EPHEMERAL_INACTIVITY_TIMEOUT", "6s")]);
    let (_, key) = server.create_key(&["--ephemeral"]);
    let mut client = Tailscaled::start("back", &server);
    let up = client.up_in_background(&key, "back");
    let (ip, _) = client.wait_registered();
    kill_child(up);
    let before = node_named(&server.nodes(), "back").clone();

    // Down and back up at once, from its state file: the same node.
    client.kill_hard();
    client.spawn();
    let (ip_again, _) = client.wait_registered();
    assert_eq!(ip, ip_again);
    wait_for(REGISTER_DEADLINE, "the node online again", || {
        node_named(&server.nodes(), "back")["online"].as_bool().filter(|o| *o)
    });
    // Well past the timeout counted from the disconnection, it is still there.
    std::thread::sleep(Duration::from_secs(8));
    let after = node_named(&server.nodes(), "back").clone();
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["online"], true);
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn nodes_delete_logs_the_running_client_out_and_its_peers_forget_it() {
    let server = Server::start("delete");
    let (_, key) = server.create_key(&["--reusable"]);
    let doomed = Tailscaled::start("doomed", &server);
    let up1 = doomed.up_in_background(&key, "doomed");
    doomed.wait_registered();
    let other = Tailscaled::start("other", &server);
    let up2 = other.up_in_background(&key, "other");
    other.wait_registered();
    wait_for(REGISTER_DEADLINE, "the peers to meet", || sees(&other, "doomed"));
    kill_child(up1);
    kill_child(up2);

    let id = node_id(node_named(&server.nodes(), "doomed"));
    let out = ok(&server.cli(&["nodes", "delete", "doomed"]), "nodes delete by name");
    assert!(out.contains(&format!("deleted node {id}")), "{out}");
    doomed.wait_state("NeedsLogin");
    wait_for(REGISTER_DEADLINE, "the peer to forget the deleted node", || {
        sees(&other, "doomed").is_none().then_some(())
    });
    assert!(server.nodes().iter().all(|n| n["hostname"] != "doomed"));
    let again = server.cli(&["nodes", "delete", &id]);
    assert!(!again.status.success(), "a deleted node is gone");
    // It stays logged out rather than coming back on its own: still logged out after the
    // server has answered another request, and it comes back only with a key, as a new node.
    assert_eq!(doomed.backend_state(), "NeedsLogin");

    // With a key, it enrols again: a new node.
    let up3 = doomed.up_in_background(&key, "doomed");
    doomed.wait_registered();
    kill_child(up3);
    let nodes = server.nodes();
    let back: Vec<&Value> = nodes.iter().filter(|n| n["hostname"] == "doomed").collect();
    assert_eq!(back.len(), 1, "{nodes:#?}");
    assert_ne!(node_id(back[0]), id, "enrolled again as a new node");
    let back = node_named(&server.nodes(), "doomed").clone();
    assert_ne!(node_id(&back), id);
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn key_expiry_can_be_disabled_and_an_expired_key_logs_the_client_out() {
    let server = Server::start("expiry");
    let (_, key) = server.create_key(&[]);
    let client = Tailscaled::start("expiring", &server);
    let up = client.up_in_background(&key, "expiring");
    let (_, status) = client.wait_registered();
    kill_child(up);
    assert!(status["Self"]["KeyExpiry"].is_string(), "a user's node has a key expiry: {status}");
    let id = node_id(node_named(&server.nodes(), "expiring"));

    let off = server.cli_json(&["nodes", "expiry", &id, "--disable"]);
    assert_eq!(
        (&off["keyExpiryDisabled"], &off["expires"]),
        (&Value::Bool(true), &Value::from(""))
    );
    wait_for(REGISTER_DEADLINE, "the client to see its key never expires", || {
        client.status()["Self"].get("KeyExpiry").is_none().then_some(())
    });
    let on = server.cli_json(&["nodes", "expiry", &id, "--enable"]);
    assert_eq!(on["keyExpiryDisabled"], false);
    assert!(!on["expires"].as_str().unwrap().is_empty());

    ok(&server.cli(&["nodes", "expire", &id]), "nodes expire");
    client.wait_state("NeedsLogin");
    let listed = ok(&server.cli(&["nodes", "list"]), "nodes list");
    assert!(listed.contains("expired"), "{listed}");
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn the_nodes_of_a_revoked_or_expired_key_keep_working() {
    let server = Server::start("revoked");
    let (key_id, key) = server.create_key(&["--reusable"]);
    let (one_off_id, one_off) = server.create_key(&[]);
    let mut client = Tailscaled::start("survivor", &server);
    let up = client.up_in_background(&key, "survivor");
    let (ip, _) = client.wait_registered();
    kill_child(up);
    let other = Tailscaled::start("one-off", &server);
    let up_other = other.up_in_background(&one_off, "one-off");
    other.wait_registered();
    kill_child(up_other);

    ok(&server.cli(&["keys", "revoke", &key_id]), "keys revoke");
    // The node keeps its map stream: a node that enrols after the revocation reaches it
    // through that stream.
    let (_, later_key) = server.create_key(&[]);
    let later = Tailscaled::start("later", &server);
    let up_later = later.up_in_background(&later_key, "later");
    later.wait_registered();
    kill_child(up_later);
    wait_for(REGISTER_DEADLINE, "the later node among the survivor's peers", || {
        sees(&client, "later")
    });
    assert_eq!(node_named(&server.nodes(), "survivor")["online"], true);
    assert!(sees(&client, "one-off").is_some());
    // …and comes back after a restart, as does one whose key expired meanwhile.
    client.restart();
    assert_eq!(client.wait_registered().0, ip);
    expire_key_in_database(&server.data_dir.join("keygate.db"), &key_id);
    client.restart();
    assert_eq!(client.wait_registered().0, ip);
    wait_for(REGISTER_DEADLINE, "the restarted node online", || {
        node_named(&server.nodes(), "survivor")["online"].as_bool().filter(|o| *o)
    });

    // A used one-off key counts as used up, like a revoked one, in `keys list`.
    let keys = server.cli_json(&["keys", "list"]);
    let used = keys["recentlyInvalid"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == one_off_id.as_str())
        .unwrap_or_else(|| panic!("the used one-off key is listed as invalid: {keys}"));
    assert_eq!((&used["state"], &used["invalid"]), (&Value::from("used"), &Value::Bool(true)));
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn a_tagged_key_makes_an_ownerless_node_and_nodes_tag_retags_a_users_node() {
    let server = Server::start("tags");
    ok(&server.cli(&["users", "create", "alice"]), "users create");
    let (_, tagged_key) = server.create_key(&["--tags", "tag:ci"]);
    let (_, alice_key) = server.create_key(&["--user", "alice"]);

    let tagged = Tailscaled::start("tagged", &server);
    let up1 = tagged.up_in_background(&tagged_key, "tagged");
    let (_, status) = tagged.wait_registered();
    kill_child(up1);
    assert_eq!(status["Self"]["Tags"], serde_json::json!(["tag:ci"]), "{status}");
    assert_eq!(status["Self"]["UserID"], TAGGED_DEVICES_ID);
    assert!(status["Self"].get("KeyExpiry").is_none(), "tagged nodes never expire: {status}");
    let node = node_named(&server.nodes(), "tagged").clone();
    assert_eq!(node["tags"], serde_json::json!(["tag:ci"]));
    assert_eq!((&node["user"], &node["expires"]), (&Value::from(""), &Value::from("")));
    assert_eq!(node["keyExpiryDisabled"], true);

    let mine = Tailscaled::start("alices", &server);
    let up2 = mine.up_in_background(&alice_key, "alices");
    mine.wait_registered();
    kill_child(up2);
    let peer = wait_for(REGISTER_DEADLINE, "the tagged peer", || sees(&mine, "tagged"));
    assert_eq!(peer["Tags"], serde_json::json!(["tag:ci"]), "peers see its tags: {peer}");
    assert_eq!(peer["UserID"], TAGGED_DEVICES_ID);

    // Re-tagging alice's node reaches the other node as a delta, and the node itself.
    let out = ok(&server.cli(&["nodes", "tag", "alices", "tag:web,tag:prod"]), "nodes tag");
    assert!(out.contains("tag:prod,tag:web"), "{out}");
    wait_for(REGISTER_DEADLINE, "the tagged node to see alice's node's new tags", || {
        sees(&tagged, "alices").filter(|p| p["Tags"] == serde_json::json!(["tag:prod", "tag:web"]))
    });
    wait_for(REGISTER_DEADLINE, "alice's node to see its own tags", || {
        let st = mine.status();
        (st["Self"]["Tags"] == serde_json::json!(["tag:prod", "tag:web"])).then_some(())
    });
    let retagged = node_named(&server.nodes(), "alices").clone();
    assert_eq!(
        (&retagged["user"], &retagged["keyExpiryDisabled"]),
        (&Value::from(""), &Value::Bool(true))
    );
}
