//! Parsing: every construct of the file, and every error with its line and column.

use keygate_domain::{Tag, UserName};
use keygate_policy::{Endpoint, ErrorKind, OwnerRef, Policy, DEFAULT_POLICY};
use serde_json::json;

use crate::support::{errors, only_error, parse, position_of};

/// Every section and every way of naming sources, destinations and ports, with comments and
/// trailing commas everywhere HuJSON allows them.
const FULL: &str = r#"
// A policy using everything keygate implements.
{
  /* Groups of users; users with or without keygate's domain. */
  "groups": {
    "group:eng": ["alice", "bob@keygate",],
    "group:ext": ["carol@example.com"], // trailing comma below
  },
  "tagOwners": {
    "tag:web": ["group:eng"],
    "tag:db": ["alice", "tag:web"],
    "tag:ci": ["autogroup:member"],
  },
  "hosts": {
    "nas": "100.64.0.50",
    "office": "192.0.2.0/24",
    "v6-box": "fd7a:115c:a1e0::99",
  },
  "acls": [
    {"action": "accept", "src": ["*"], "dst": ["tag:web:80,443"]},
    {"action": "accept", "src": ["alice", "bob@keygate", "carol@example.com"], "dst": ["nas:*"]},
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:db:5432", "office:1000-2000"]},
    {"action": "accept", "src": ["tag:web"], "dst": ["tag:db:22,5432,6000-6010"]},
    {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:tagged:22"]},
    {"action": "accept", "src": ["autogroup:tagged"], "dst": ["autogroup:member:*"]},
    {"action": "accept", "src": ["office", "100.64.0.0/10", "10.1.2.3"], "dst": ["*:8080"]},
    {"action": "accept", "src": ["fd7a:115c:a1e0::/48", "v6-box"], "dst": ["[fd7a:115c:a1e0::7]:22", "fd7a:115c:a1e0::8:23"]},
    {"action": "accept", "src": ["group:ext"], "dst": ["100.64.0.0/16:443", "100.64.1.1:*"]},
  ],
  "tests": [
    {"src": "alice", "accept": ["tag:db:5432", "nas:445"], "deny": ["tag:db:23"]},
    {"src": "tag:web", "accept": ["tag:db:6005"],},
    {"src": "10.1.2.3", "accept": ["tag:ci:8080"]},
  ],
}
"#;

#[test]
fn a_policy_with_every_section_and_construct_parses() {
    let policy = Policy::check(FULL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.rule_count(), 9);
    assert!(policy.has_tag_owners());
    assert_eq!(policy.text(), FULL, "the text is kept as written, comments and all");

    let json = policy.to_json();
    assert_eq!(json["groups"]["group:eng"], json!(["alice", "bob@keygate"]));
    assert_eq!(json["hosts"]["office"], json!("192.0.2.0/24"));
    assert_eq!(json["acls"].as_array().map(Vec::len), Some(9));
}

#[test]
fn users_may_be_written_with_or_without_keygates_domain() {
    let policy = parse(FULL);
    let alice = Endpoint::User(UserName::parse("alice").unwrap());
    let bob = Endpoint::User(UserName::parse("bob").unwrap());
    let carol = Endpoint::User(UserName::parse("carol@example.com").unwrap());
    let nas = Endpoint::Ip("100.64.0.50".parse().unwrap());
    for who in [&alice, &bob, &carol] {
        assert_eq!(policy.allows(who, &nas, 445), Some(1), "{who:?}");
    }
    // `bob@keygate` in a group is user `bob`.
    let db = Endpoint::Tags(std::iter::once(Tag::parse("tag:db").unwrap()).collect());
    assert_eq!(policy.allows(&bob, &db, 5432), Some(2));
}

#[test]
fn the_default_policy_allows_everything_and_lets_everyone_own_every_tag() {
    let policy = Policy::check(DEFAULT_POLICY).unwrap();
    assert_eq!(policy.text(), DEFAULT_POLICY);
    assert!(!policy.has_tag_owners());
    let anyone = UserName::parse("anyone").unwrap();
    assert!(policy.may_own_tag(&OwnerRef::User(&anyone), &Tag::parse("tag:anything").unwrap()));
    let ip = Endpoint::Ip("192.0.2.1".parse().unwrap());
    assert_eq!(policy.allows(&Endpoint::User(anyone), &ip, 1), Some(0));
}

#[test]
fn an_empty_policy_is_valid_and_allows_nothing() {
    let policy = parse("{}");
    assert_eq!(policy.rule_count(), 0);
    let alice = Endpoint::User(UserName::parse("alice").unwrap());
    assert_eq!(policy.allows(&alice, &alice, 22), None);
}

/// Asserts that `text` fails with exactly one error, at the first occurrence of `at`, about
/// entry `path`, with a message containing `says`.
#[track_caller]
fn assert_error(text: &str, at: &str, path: &str, says: &str) {
    let e = only_error(text);
    assert_eq!((e.line, e.column), position_of(text, at), "position of {e}");
    assert_eq!(e.path, path, "{e}");
    let shown = e.to_string();
    assert!(shown.contains(says), "{shown:?} should contain {says:?}");
    assert!(shown.starts_with(&format!("line {}, column {}: ", e.line, e.column)), "{shown}");
}

/// A policy with one rule, `src` to `dst`, and `tag:web` defined.
fn rule(src: &str, dst: &str) -> String {
    format!(
        "{{\n  \"tagOwners\": {{\"tag:web\": [\"alice\"]}},\n  \"groups\": {{\"group:eng\": [\"alice\"]}},\n  \"acls\": [\n    {{\"action\": \"accept\", \"src\": [{src}], \"dst\": [{dst}]}},\n  ],\n}}\n"
    )
}

#[test]
fn syntax_errors_have_serdes_message_at_their_position() {
    let text = "{\n  \"acls\" [],\n}";
    assert_error(text, "[]", "", "expected `:`");
    let text = "{\n  \"acls\": [\n    {\"action\": \"accept\",, }\n  ]\n}";
    assert_eq!(only_error(text).line, 3);
    let text = "{\n  \"acls\": {}\n}";
    assert_error(text, "{}", "", "invalid type: map, expected a sequence");
    let e = only_error("");
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.to_string().contains("EOF"), "{e}");
}

#[test]
fn unknown_sections_and_fields_are_errors_at_their_key() {
    let text = "{\n  // Tailscale SSH is not implemented\n  \"ssh\": [],\n}";
    assert_error(text, "\"ssh\"", "", "unknown field `ssh`");
    let text = rule("\"*\"", "\"*:*\"").replace("\"dst\"", "\"proto\": \"tcp\", \"dst\"");
    assert_error(
        &text,
        "\"proto\"",
        "",
        "unknown field `proto`, expected one of `action`, `src`, `dst`",
    );
    let text = "{\"tests\": [{\"src\": \"alice\", \"allow\": [\"bob:22\"]}]}";
    assert_error(text, "\"allow\"", "", "unknown field `allow`");
}

#[test]
fn duplicate_keys_are_errors() {
    let text = "{\"hosts\": {\"a\": \"10.0.0.1\",\n \"a\": \"10.0.0.2\"}}";
    assert_error(text, "\"a\": \"10.0.0.2\"", "", "duplicate key \"a\"");
}

#[test]
fn an_unclosed_block_comment_is_an_error_where_it_opens() {
    assert_error("{\n  \"acls\": [] /* forever\n}", "/*", "", "never closed");
}

#[test]
fn group_errors_name_the_group_or_member() {
    let text = "{\"groups\": {\n  \"eng\": [\"alice\"]\n}}";
    assert_error(text, "\"eng\"", "groups.eng", "invalid group name \"eng\"");
    let text = "{\"groups\": {\n  \"group:a\": [\"alice\", \"group:b\"],\n  \"group:b\": []\n}}";
    assert_error(text, "\"group:b\"", "groups[\"group:a\"][1]", "groups contain users only");
    let text = "{\"groups\": {\"group:a\": [\"Alice\"]}}";
    assert_error(text, "\"Alice\"", "groups[\"group:a\"][0]", "invalid user \"Alice\"");
    assert_error(
        &rule("\"group:ops\"", "\"*:*\""),
        "\"group:ops\"",
        "acls[0].src[0]",
        "unknown group \"group:ops\"",
    );
}

#[test]
fn tag_errors_name_the_tag() {
    assert_error(
        &rule("\"tag:db\"", "\"*:*\""),
        "\"tag:db\"",
        "acls[0].src[0]",
        "tag \"tag:db\" is not defined",
    );
    assert_error(
        &rule("\"*\"", "\"tag:db:22\""),
        "\"tag:db:22\"",
        "acls[0].dst[0]",
        "tag \"tag:db\" is not defined",
    );
    // Without a tagOwners section no tag is defined.
    let text = "{\"acls\": [{\"action\": \"accept\", \"src\": [\"tag:web\"], \"dst\": [\"*:*\"]}]}";
    assert_error(text, "\"tag:web\"", "acls[0].src[0]", "list it under \"tagOwners\"");
    let text = "{\"tagOwners\": {\n  \"tag:Web\": [\"alice\"]\n}}";
    assert_error(text, "\"tag:Web\"", "tagOwners[\"tag:Web\"]", "invalid tag \"tag:Web\"");
    assert_error(&rule("\"tag:We b\"", "\"*:*\""), "\"tag:We b\"", "acls[0].src[0]", "invalid tag");
}

#[test]
fn tag_owner_errors_name_the_owner() {
    for owner in ["autogroup:tagged", "*", "100.64.0.1", "autogroup:admin"] {
        let text = format!("{{\"tagOwners\": {{\"tag:web\": [\"alice\", \"{owner}\"]}}}}");
        assert_error(
            &text,
            &format!("\"{owner}\""),
            "tagOwners[\"tag:web\"][1]",
            "cannot own tags",
        );
    }
    let text = "{\"tagOwners\": {\"tag:web\": [\"group:nope\"]}}";
    assert_error(text, "\"group:nope\"", "tagOwners[\"tag:web\"][0]", "unknown group");
    let text = "{\"tagOwners\": {\"tag:web\": [\"tag:nope\"]}}";
    assert_error(
        text,
        "\"tag:nope\"",
        "tagOwners[\"tag:web\"][0]",
        "tag \"tag:nope\" is not defined",
    );
}

#[test]
fn host_errors_name_the_host() {
    let text = "{\"hosts\": {\n  \"Web_1\": \"10.0.0.1\"\n}}";
    assert_error(text, "\"Web_1\"", "hosts[\"Web_1\"]", "invalid host name \"Web_1\"");
    let text = "{\"hosts\": {\n  \"web\": \"10.0.0.300\"\n}}";
    assert_error(text, "\"10.0.0.300\"", "hosts.web", "invalid address \"10.0.0.300\"");
}

#[test]
fn source_errors_name_the_source() {
    assert_error(
        &rule("\"Web-Server\"", "\"*:*\""),
        "\"Web-Server\"",
        "acls[0].src[0]",
        "neither a host defined under \"hosts\" nor a user name",
    );
    assert_error(
        &rule("\"10.0.0.0/33\"", "\"*:*\""),
        "\"10.0.0.0/33\"",
        "acls[0].src[0]",
        "invalid address",
    );
    assert_error(
        &rule("\"autogroup:admin\"", "\"*:*\""),
        "\"autogroup:admin\"",
        "acls[0].src[0]",
        "unsupported autogroup",
    );
    assert_error(
        &rule("\"Bob@keygate\"", "\"*:*\""),
        "\"Bob@keygate\"",
        "acls[0].src[0]",
        "invalid user",
    );
}

#[test]
fn destination_errors_name_the_destination_and_the_port() {
    assert_error(&rule("\"*\"", "\"tag:web\""), "\"tag:web\"]", "acls[0].dst[0]", "has no ports");
    assert_error(
        &rule("\"*\"", "\"alice:99999\""),
        "\"alice:99999\"",
        "acls[0].dst[0]",
        "bad port \"99999\" in \"alice:99999\"",
    );
    assert_error(
        &rule("\"*\"", "\"alice:30-20\""),
        "\"alice:30-20\"",
        "acls[0].dst[0]",
        "from the lower port to the higher",
    );
    assert_error(
        &rule("\"*\"", "\"alice:ssh\""),
        "\"alice:ssh\"",
        "acls[0].dst[0]",
        "bad port \"ssh\"",
    );
    assert_error(
        &rule("\"*\"", "\"autogroup:self:22\""),
        "\"autogroup:self:22\"",
        "acls[0].dst[0]",
        "unsupported autogroup \"autogroup:self\"",
    );
}

#[test]
fn rule_errors_name_the_field() {
    let text = rule("\"*\"", "\"*:*\"").replace("\"accept\"", "\"deny\"");
    assert_error(&text, "\"deny\"", "acls[0].action", "the only action is \"accept\"");
    assert_error(&rule("", "\"*:*\""), "[]", "acls[0].src", "at least one entry in \"src\"");
    assert_error(&rule("\"*\"", ""), "[]", "acls[0].dst", "at least one entry in \"dst\"");
}

#[test]
fn test_entry_errors_name_the_entry() {
    let test = |t: &str| {
        format!("{{\"groups\": {{\"group:eng\": []}}, \"tagOwners\": {{\"tag:web\": []}},\n \"tests\": [{t}]}}")
    };
    assert_error(
        &test("{\"src\": \"group:eng\", \"accept\": []}"),
        "\"group:eng\", \"accept\"",
        "tests[0].src",
        "cannot be a test source",
    );
    assert_error(&test("{\"src\": \"*\"}"), "\"*\"", "tests[0].src", "cannot be a test source");
    assert_error(
        &test("{\"src\": \"alice\", \"accept\": [\"tag:web:80-90\"]}"),
        "\"tag:web:80-90\"",
        "tests[0].accept[0]",
        "cannot be a test destination",
    );
    assert_error(
        &test("{\"src\": \"alice\", \"deny\": [\"bob:22\", \"group:eng:22\"]}"),
        "\"group:eng:22\"",
        "tests[0].deny[1]",
        "cannot be a test destination",
    );
    assert_error(
        &test("{\"src\": \"alice\", \"deny\": [\"tag:db:22\"]}"),
        "\"tag:db:22\"",
        "tests[0].deny[0]",
        "not defined",
    );
}

#[test]
fn every_error_is_reported_in_file_order() {
    let text = "{\n  \"acls\": [\n    {\"action\": \"accept\", \"src\": [\"group:x\"], \"dst\": [\"a:b\"]},\n    {\"action\": \"drop\", \"src\": [\"*\"], \"dst\": [\"*:*\"]},\n  ],\n}";
    let errors = errors(text);
    let found: Vec<(usize, &str)> =
        errors.errors().iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(found, vec![(3, "acls[0].src[0]"), (3, "acls[0].dst[0]"), (4, "acls[1].action")]);
    assert!(matches!(errors.errors()[0].kind, ErrorKind::UnknownGroup(_)));
    assert!(!errors.only_tests_failed());
    let shown = errors.to_string();
    assert_eq!(shown.matches("; line ").count(), 2, "{shown}");
}

#[test]
fn the_example_in_the_documentation_is_valid_and_its_tests_pass() {
    let doc = include_str!("../../../../docs/policy.md");
    let start =
        doc.find("```jsonc\n").expect("docs/policy.md has a jsonc example") + "```jsonc\n".len();
    let end = start + doc[start..].find("```").expect("the example ends");
    let policy = Policy::check(&doc[start..end]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.rule_count(), 2);
}

#[test]
fn a_file_that_is_not_an_object_is_refused_at_its_position() {
    for text in ["[]", "[{}]", "\"acls\"", "42", "null"] {
        let err = Policy::parse(text).expect_err(text);
        let shown = err.to_string();
        assert!(shown.contains("line 1"), "{text}: {shown}");
    }
    // With comments in front, the position still points at the array.
    let err = Policy::parse("// header\n[]").unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
}
