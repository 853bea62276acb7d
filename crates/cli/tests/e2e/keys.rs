//! `keygate keys` through the admin socket.

use serde_json::Value;

use crate::helpers::{create_key, field, text, Server};

/// The `capabilities.devices.create` object of a key.
fn caps(key: &Value) -> &Value {
    &key["capabilities"]["devices"]["create"]
}

/// The stdout line of a table that holds `id`.
fn row<'a>(table: &'a str, id: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("no row for {id} in:\n{table}"))
}

#[test]
fn every_kind_of_key_is_created_and_listed_with_its_kind_and_flags() {
    let server = Server::start("kinds");
    let one_off = create_key(&server, &[]);
    let reusable = create_key(&server, &["--reusable"]);
    let five = create_key(&server, &["--uses", "5"]);
    let ephemeral = create_key(&server, &["--ephemeral"]);
    let pre = create_key(&server, &["--preauthorized"]);
    let tagged = create_key(
        &server,
        &["--tags", "tag:web,tag:ci", "--description", "ci runners", "--expiry", "30d"],
    );

    assert_eq!(caps(&one_off)["reusable"], false);
    assert_eq!(caps(&reusable)["reusable"], true);
    assert_eq!(reusable["usageLimit"], Value::Null);
    assert_eq!(caps(&five)["reusable"], true, "--uses implies --reusable");
    assert_eq!(five["usageLimit"], 5);
    assert_eq!(caps(&ephemeral)["ephemeral"], true);
    assert_eq!(caps(&pre)["preauthorized"], true);
    assert_eq!(caps(&tagged)["tags"], serde_json::json!(["tag:ci", "tag:web"]));
    assert_eq!(tagged["description"], "ci runners");
    assert_eq!(tagged["expirySeconds"], 30 * 86_400);

    let list = server.cli(&["keys", "list"]);
    let table = list.ok();
    let header = table.lines().next().unwrap();
    for column in [
        "ID",
        "DESCRIPTION",
        "KIND",
        "FLAGS",
        "TAGS",
        "CREATOR",
        "CREATED",
        "EXPIRES",
        "USES",
        "LAST USED",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(row(table, text(&one_off, "id")).contains("one-off"));
    assert!(row(table, text(&reusable, "id")).contains("reusable"));
    assert!(row(table, text(&five, "id")).contains("reusable 0/5"));
    assert!(row(table, text(&ephemeral, "id")).contains("ephemeral"));
    assert!(row(table, text(&pre, "id")).contains("pre-approved"));
    let tagged_row = row(table, text(&tagged, "id"));
    assert!(
        tagged_row.contains("ci runners") && tagged_row.contains("tag:ci,tag:web"),
        "{tagged_row}"
    );
    assert!(tagged_row.contains("admin"), "the default user is the creator: {tagged_row}");
    assert!(!table.contains("Recently revoked or expired"), "nothing is invalid yet:\n{table}");

    let shown = server.cli(&["keys", "show", text(&five, "id")]);
    let shown = shown.ok();
    assert_eq!(field(shown, "id"), text(&five, "id"));
    assert_eq!(field(shown, "kind"), "reusable 0/5");
    assert_eq!(field(shown, "uses"), "0 of 5");
    assert_eq!(field(shown, "state"), "valid");
    assert!(field(shown, "expires").ends_with("UTC (in 90 days)"), "{shown}");
}

#[test]
fn create_json_is_the_api_key_object_and_only_create_carries_the_secret() {
    let server = Server::start("json");
    let key = create_key(&server, &["--ephemeral", "--tags", "tag:web", "--expiry", "7d"]);
    let id = text(&key, "id");
    let secret = text(&key, "key");
    assert!(secret.starts_with(&format!("keygate-auth-{id}-")), "{secret}");
    assert_eq!(secret.rsplit('-').next().unwrap().len(), 64);
    assert_eq!(key["keyType"], "auth");
    assert_eq!(key["expirySeconds"].as_u64(), Some(7 * 86_400), "an integer number of seconds");
    assert_eq!(key["invalid"], false);
    assert_eq!(key["state"], "valid");
    let c = caps(&key);
    assert_eq!(
        (c["reusable"].as_bool(), c["ephemeral"].as_bool(), c["preauthorized"].as_bool()),
        (Some(false), Some(true), Some(false))
    );
    assert_eq!(c["tags"], serde_json::json!(["tag:web"]));
    for field in ["created", "expires", "userId", "useCount"] {
        assert!(key.get(field).is_some(), "{field} in {key}");
    }

    let shown = server.cli(&["keys", "show", id, "--json"]).json();
    assert!(shown.get("key").is_none(), "the secret is shown only once: {shown}");
    assert_eq!(shown["id"], id);

    let listed = server.cli(&["--json", "keys", "list"]).json();
    let keys = listed["keys"].as_array().expect("a keys array");
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("key").is_none());
    assert_eq!(listed["recentlyInvalid"], serde_json::json!([]));

    // The human form: the secret alone on the first line, then the facts and the warning.
    let human = server.cli(&["keys", "create", "--reusable"]);
    let human = human.ok();
    let first = human.lines().next().unwrap();
    assert!(first.starts_with("keygate-auth-") && !first.contains(' '), "{human}");
    assert!(
        human.contains("kind:     reusable") && human.contains("This key is shown only once."),
        "{human}"
    );
}

#[test]
fn revoking_twice_is_idempotent_and_the_key_moves_to_recently_revoked() {
    let server = Server::start("revoke");
    let keep = create_key(&server, &["--description", "keep"]);
    let gone = create_key(&server, &["--description", "gone"]);
    let gone_id = text(&gone, "id");

    assert_eq!(server.cli(&["keys", "revoke", gone_id]).ok(), format!("revoked key {gone_id}\n"));
    assert_eq!(
        server.cli(&["keys", "revoke", gone_id]).ok(),
        format!("key {gone_id} was already revoked\n")
    );
    let again = server.cli(&["keys", "revoke", gone_id, "--json"]).json();
    assert_eq!(again["alreadyRevoked"], true);
    assert_eq!(again["state"], "revoked");

    let list = server.cli(&["keys", "list"]);
    let table = list.ok();
    let (valid, recent) =
        table.split_once("Recently revoked or expired\n").expect("a recently-invalid section");
    assert!(valid.contains(text(&keep, "id")) && !valid.contains(gone_id), "{table}");
    let revoked_row = row(recent, gone_id);
    assert!(revoked_row.contains("revoked") && revoked_row.contains("gone"), "{revoked_row}");
    assert!(recent.lines().next().unwrap().contains("SINCE"), "{recent}");

    let listed = server.cli(&["keys", "list", "--json"]).json();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
    let invalid = &listed["recentlyInvalid"][0];
    assert_eq!(invalid["id"], gone_id);
    assert_eq!(
        (invalid["invalid"].as_bool(), invalid["state"].as_str()),
        (Some(true), Some("revoked"))
    );
    assert!(invalid["revoked"].is_string());

    let shown = server.cli(&["keys", "show", gone_id]);
    assert_eq!(field(shown.ok(), "state"), "revoked");
    assert!(field(shown.ok(), "invalid since").ends_with("(just now)"), "{}", shown.stdout);
}

#[test]
fn bad_key_requests_fail_with_one_error_line() {
    let server = Server::start("badkeys");
    let run = server.cli(&["keys", "create", "--expiry", "0d"]);
    assert!(run.error_line().contains("1 to 90 days"), "{run:?}");
    let run = server.cli(&["keys", "create", "--expiry", "91d"]);
    assert!(
        run.error_line().contains("91 days is out of range: choose from 1 to 90 days"),
        "{run:?}"
    );
    let run = server.cli(&["keys", "create", "--tags", "tag:Bad"]);
    assert!(run.error_line().contains("invalid tag \"tag:Bad\""), "{run:?}");
    let run = server.cli(&["keys", "show", "kUnknownKey00"]);
    assert_eq!(run.error_line(), "error: auth key \"kUnknownKey00\" not found");
    let run = server.cli(&["keys", "revoke", "kUnknownKey00"]);
    assert!(run.error_line().contains("not found"), "{run:?}");
    let run = server.cli(&["keys", "create", "--user", "nobody"]);
    assert!(run.error_line().contains("unknown user \"nobody\""), "{run:?}");
    // Nothing was created by the refused requests.
    assert_eq!(server.cli(&["keys", "list", "--json"]).json()["keys"], serde_json::json!([]));
}
