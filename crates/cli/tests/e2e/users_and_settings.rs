//! `keygate users` and `keygate settings`.

use crate::helpers::{create_key, text, Server};

#[test]
fn users_are_created_listed_and_own_the_keys_made_for_them() {
    let server = Server::start("users");
    assert_eq!(server.cli(&["users", "create", "alice"]).ok(), "created user alice (id 1)\n");
    let bob = server.cli(&["users", "create", "bob", "--json"]).json();
    assert_eq!(bob["name"], "bob");
    assert_eq!(bob["loginName"], "bob@keygate");

    let run = server.cli(&["users", "create", "alice"]);
    assert_eq!(run.error_line(), "error: user \"alice\" already exists");
    let run = server.cli(&["users", "create", "Alice"]);
    assert!(run.error_line().contains("invalid user name \"Alice\""), "{run:?}");

    let list = server.cli(&["users", "list"]);
    let list = list.ok();
    assert!(list.lines().next().unwrap().starts_with("ID  NAME"), "{list}");
    assert!(list.contains("alice") && list.contains("bob@keygate"), "{list}");
    let json = server.cli(&["users", "list", "--json"]).json();
    assert_eq!(json["users"].as_array().unwrap().len(), 2);

    let key = create_key(&server, &["--user", "alice"]);
    assert_eq!(key["user"], "alice");
    let table = server.cli(&["keys", "list"]);
    let row = table.ok().lines().find(|l| l.starts_with(text(&key, "id"))).unwrap().to_owned();
    assert!(row.contains("alice"), "{row}");
}

#[test]
fn settings_are_read_and_changed() {
    let server = Server::start("settings");
    assert_eq!(
        server.cli(&["settings", "get"]).ok(),
        "device approval:  off\nnode key expiry:  180 days\n"
    );
    let on = server.cli(&["settings", "set", "device-approval", "on"]);
    assert!(on.ok().contains("device approval:  on"), "{on:?}");
    let json = server.cli(&["settings", "set", "node-key-expiry", "30", "--json"]).json();
    assert_eq!(json, serde_json::json!({"devicesApprovalOn": true, "devicesKeyDurationDays": 30}));
    let run = server.cli(&["settings", "set", "node-key-expiry", "0"]);
    assert!(run.error_line().contains("out of range: choose from 1 to 180 days"), "{run:?}");
    assert_eq!(server.cli(&["settings", "get", "--json"]).json()["devicesKeyDurationDays"], 30);

    let usage = server.cli(&["settings", "set", "device-approval", "maybe"]);
    assert_eq!(usage.status.code(), Some(2), "a usage error exits 2, as clap does");
}
