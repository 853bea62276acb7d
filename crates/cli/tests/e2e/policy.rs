//! `keygate policy get|set|check` against a running server, over the admin socket.

use crate::helpers::Server;

/// A policy with comments and a trailing comma, whose own test passes.
const POLICY: &str = r#"// Engineers reach the web servers.
{
  "groups": {"group:eng": ["alice"]},
  "tagOwners": {"tag:web": ["alice"]},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:web:443"]}, // HTTPS only
  ],
  "tests": [{"src": "alice", "accept": ["tag:web:443"], "deny": ["tag:web:22"]}],
}
"#;

#[test]
fn the_policy_is_checked_saved_and_read_back_with_its_comments() {
    let server = Server::start("policy");
    let default = server.cli(&["policy", "get"]);
    assert!(default.ok().starts_with("// keygate's default policy"), "{default:?}");
    let json = server.cli(&["policy", "get", "--json"]).json();
    assert_eq!(json["acls"][0]["dst"], serde_json::json!(["*:*"]));

    let file = server.dir.path().join("policy.hujson");
    std::fs::write(&file, POLICY).unwrap();
    let file = file.to_str().unwrap();
    let check = server.cli(&["policy", "check", file]);
    assert!(check.ok().ends_with("the policy is valid and its tests pass\n"), "{check:?}");
    let set = server.cli(&["policy", "set", file]);
    assert!(set.ok().starts_with("policy saved from "), "{set:?}");
    assert_eq!(server.cli(&["policy", "get"]).ok(), POLICY);
}

#[test]
fn a_broken_or_failing_policy_is_refused_with_its_position() {
    let server = Server::start("policy-bad");
    let broken = server.dir.path().join("broken.hujson");
    std::fs::write(&broken, "{\n  \"acls\": [\n    {\"action\": \"accept\", \"src\": [\"group:x\"], \"dst\": [\"*:*\"]},\n  ],\n}\n").unwrap();
    let broken = broken.to_str().unwrap();
    let run = server.cli(&["policy", "check", broken]);
    assert!(
        run.error_line().contains("line 3, column 34: acls[0].src[0]: unknown group \"group:x\""),
        "{run:?}"
    );
    let run = server.cli(&["policy", "set", broken]);
    assert!(run.error_line().contains("was not saved: line 3, column 34"), "{run:?}");

    let failing = server.dir.path().join("failing.hujson");
    std::fs::write(
        &failing,
        POLICY.replace("\"deny\": [\"tag:web:22\"]", "\"deny\": [\"tag:web:443\"]"),
    )
    .unwrap();
    let run = server.cli(&["policy", "set", failing.to_str().unwrap()]);
    assert!(run.error_line().contains("test(s) failed"), "{run:?}");
    assert!(
        run.error_line().contains("alice should not reach tag:web:443, but acls[0] accepts it"),
        "{run:?}"
    );
    assert!(server.cli(&["policy", "get"]).ok().starts_with("// keygate's default policy"));
}
