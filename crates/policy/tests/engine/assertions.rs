//! The `tests` section: assertions checked by `Policy::check`, each failure named and placed.

use keygate_policy::{ErrorKind, Policy};

use crate::support::{parse, position_of};

fn policy_with_tests(tests: &str) -> String {
    format!(
        r#"{{
  "groups": {{"group:eng": ["alice"]}},
  "tagOwners": {{"tag:web": ["alice"], "tag:db": ["alice"]}},
  "hosts": {{"nas": "100.64.0.50", "lan": "192.168.1.0/24"}},
  "acls": [
    {{"action": "accept", "src": ["group:eng"], "dst": ["tag:web:443"]}},
    {{"action": "accept", "src": ["tag:web"], "dst": ["tag:db:5432"]}},
    {{"action": "accept", "src": ["lan"], "dst": ["nas:445"]}},
    {{"action": "accept", "src": ["bob"], "dst": ["100.64.0.0/10:22"]}},
  ],
  "tests": [
{tests}
  ],
}}"#
    )
}

#[test]
fn passing_tests_let_the_policy_through() {
    let text = policy_with_tests(
        r#"    {"src": "alice", "accept": ["tag:web:443"], "deny": ["tag:web:80", "tag:db:5432"]},
    {"src": "tag:web", "accept": ["tag:db:5432"], "deny": ["tag:web:443"]},
    {"src": "192.168.1.7", "accept": ["nas:445", "100.64.0.50:445"]},
    {"src": "bob", "accept": ["100.64.0.50:22"], "deny": ["tag:web:22"]},"#,
    );
    Policy::check(&text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_failing_accept_is_refused_naming_the_assertion() {
    let text =
        policy_with_tests(r#"    {"src": "alice", "accept": ["tag:web:443", "tag:db:5432"]},"#);
    // Parsing alone does not run the tests.
    let policy = parse(&text);
    let errors = policy.run_tests().unwrap_err();
    assert_eq!(Policy::check(&text).unwrap_err(), errors);
    assert!(errors.only_tests_failed());
    let [e] = errors.errors() else { panic!("one failure: {errors}") };
    // The second entry of the `accept` list: after `, `.
    let (line, column) = position_of(&text, ", \"tag:db:5432\"]},");
    assert_eq!((e.line, e.column), (line, column + 2));
    assert_eq!(e.path, "tests[0].accept[1]");
    assert_eq!(
        e.kind,
        ErrorKind::TestFailed {
            src: "alice".into(),
            dst: "tag:db:5432".into(),
            expected_accept: true,
            accepted_by: None
        }
    );
    let shown = e.to_string();
    assert!(
        shown.contains("test failed: alice should reach tag:db:5432, but no rule accepts it"),
        "{shown}"
    );
}

#[test]
fn a_failing_deny_names_the_rule_that_accepts() {
    let text = policy_with_tests(r#"    {"src": "tag:web", "deny": ["tag:db:5432"]},"#);
    let errors = Policy::check(&text).unwrap_err();
    let [e] = errors.errors() else { panic!("one failure: {errors}") };
    assert_eq!(e.path, "tests[0].deny[0]");
    assert!(
        e.to_string().contains("tag:web should not reach tag:db:5432, but acls[1] accepts it"),
        "{e}"
    );
}

#[test]
fn a_tagged_node_does_not_inherit_its_creators_access() {
    // alice (group:eng) reaches tag:web; a node tagged tag:db is not alice's.
    let text = policy_with_tests(r#"    {"src": "tag:db", "accept": ["tag:web:443"]},"#);
    let errors = Policy::check(&text).unwrap_err();
    assert!(errors.only_tests_failed(), "{errors}");
}

#[test]
fn addresses_match_only_rules_written_with_addresses() {
    // Rule 3 names bob, not an address: an address test cannot know it is bob's.
    let text = policy_with_tests(r#"    {"src": "100.64.0.7", "accept": ["100.64.0.50:22"]},"#);
    assert!(Policy::check(&text).unwrap_err().only_tests_failed());
}

#[test]
fn every_failure_is_reported() {
    let text = policy_with_tests(
        r#"    {"src": "alice", "accept": ["tag:db:1"], "deny": ["tag:web:443"]},
    {"src": "bob", "accept": ["nas:445"]},"#,
    );
    let errors = Policy::check(&text).unwrap_err();
    let paths: Vec<&str> = errors.errors().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, vec!["tests[0].accept[0]", "tests[0].deny[0]", "tests[1].accept[0]"]);
}
