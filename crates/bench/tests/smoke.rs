//! Each scenario once, at a tiny size, against a real `keygate serve` started by the bench:
//! zero errors and a sane JSON report. Timing is not checked (CI machines vary).
//!
//! Needs the `keygate` binary beside `keygate-bench` (target/<profile>/), which
//! `cargo test --workspace` builds; alone, run `cargo build -p keygate-cli` first.

use std::process::Command;

use serde_json::Value;

/// Runs `keygate-bench ARGS --json` and returns its report.
fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_keygate-bench"))
        .args(args)
        .arg("--json")
        .env_remove("KEYGATE_BENCH_DATABASE")
        .output()
        .expect("keygate-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "keygate-bench {args:?} failed:\n{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["database"], "sqlite", "{report}");
    report
}

fn number(report: &Value, field: &str) -> f64 {
    report[field].as_f64().unwrap_or_else(|| panic!("{field} is not a number in {report}"))
}

#[test]
fn enroll_twenty_nodes_without_errors() {
    let r = bench(&["enroll", "--nodes", "20", "--concurrency", "4"]);
    assert_eq!(r["scenario"], "enroll");
    assert_eq!(r["enrolled"], 20);
    assert!(number(&r, "enrolments_per_s") > 0.0, "{r}");
    assert!(number(&r, "p50_ms") > 0.0 && number(&r, "p99_ms") >= number(&r, "p50_ms"), "{r}");
    assert!(number(&r, "server_peak_rss_bytes") > 1_000_000.0, "{r}");
    // Twenty Noise handshakes and registrations cost the server CPU time, and the figure per
    // enrolment is that time shared out (both rounded to three decimals in the report).
    let cpu_s = number(&r, "server_cpu_s");
    assert!(cpu_s > 0.0, "{r}");
    let per_enrolment_ms = number(&r, "server_cpu_per_enrolment_ms");
    assert!((per_enrolment_ms * 20.0 - cpu_s * 1000.0).abs() < 1.0, "{r}");
}

#[test]
fn fleet_of_ten_with_three_joins_reaches_everyone() {
    let r = bench(&["fleet", "--nodes", "10", "--joins", "3", "--concurrency", "4"]);
    assert_eq!(r["scenario"], "fleet");
    assert_eq!(r["connected"], 13);
    assert_eq!(r["join_timeouts"], 0);
    assert_eq!(r["peer_entries"], 13 * 12, "everyone knows everyone: {r}");
    assert!(number(&r, "join_p99_ms") > 0.0, "{r}");
    // Each join reaches at least the ten first nodes, with a whole Node each.
    assert!(number(&r, "bytes_per_join") > 10.0 * 100.0, "{r}");
    // The per-node figure is the growth from start to connected, shared among the ten nodes.
    let start = number(&r, "server_rss_start_bytes");
    let connected = number(&r, "server_rss_connected_bytes");
    assert!(start > 1_000_000.0 && connected > 1_000_000.0, "{r}");
    let growth_per_node = ((connected - start).max(0.0) / 10.0).floor();
    assert_eq!(number(&r, "server_rss_per_node_bytes"), growth_per_node, "{r}");
}

#[test]
fn hub_fleet_joins_reach_every_fleet_node_and_only_them() {
    let r = bench(&["fleet", "--nodes", "10", "--joins", "3", "--topology", "hub"]);
    assert_eq!((r["topology"].as_str(), r["connected"].as_u64()), (Some("hub"), Some(13)), "{r}");
    assert_eq!(r["join_timeouts"], 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    // Fleet nodes learn of the three joiners and joiners of the ten fleet nodes, nothing more.
    assert_eq!(r["peer_entries"], 2 * 10 * 3, "{r}");
    let per_receiver = number(&r, "bytes_per_join_per_node");
    assert!(per_receiver > 100.0 && per_receiver < 4_000.0, "{r}");
    assert!(number(&r, "joiner_first_map_bytes") > 10.0 * 100.0, "{r}");
}

#[test]
fn churned_ephemeral_nodes_are_all_removed() {
    let r = bench(&[
        "churn",
        "--duration-s",
        "5",
        "--concurrency",
        "2",
        "--hold-ms",
        "200",
        "--timeout-s",
        "1",
        "--margin-s",
        "5",
    ]);
    assert_eq!(r["scenario"], "churn");
    assert!(number(&r, "connects") >= 2.0, "{r}");
    assert_eq!(r["removals"], r["connects"], "{r}");
    assert_eq!(r["database_checked"], true);
    assert_eq!(r["db_ephemeral_left"], 0);
    assert_eq!(r["db_duplicate_addresses"], 0);
    assert_eq!(r["db_nodes"], 1, "only the watcher is left: {r}");
}

#[test]
fn api_keys_are_created_listed_and_revoked() {
    let r = bench(&["api", "--keys", "20", "--lists", "5", "--concurrency", "2"]);
    assert_eq!(r["scenario"], "api");
    for field in ["create_per_s", "list_per_s", "revoke_per_s"] {
        assert!(number(&r, field) > 0.0, "{field}: {r}");
    }
}

#[test]
fn a_flood_of_setup_posts_and_wrong_sign_ins_hashes_little_and_health_answers() {
    let r = bench(&["flood", "--setup-posts", "30", "--sign-ins", "30"]);
    assert_eq!(r["scenario"], "flood");
    assert_eq!(r["admin_created"], true, "{r}");
    // Every post was answered with one of the expected statuses (else `errors` counts it).
    let setup: f64 =
        ["setup_refused", "setup_limited", "setup_busy"].iter().map(|f| number(&r, f)).sum();
    assert_eq!(setup, 30.0, "{r}");
    let sign_in: f64 = ["sign_in_guesses_checked", "sign_in_limited", "sign_in_busy"]
        .iter()
        .map(|f| number(&r, f))
        .sum();
    assert_eq!(sign_in, 30.0, "{r}");
    // The limiter admits five failures per address; the rest were refused before any check.
    assert!(number(&r, "sign_in_guesses_checked") <= 5.0, "{r}");
    assert!(number(&r, "setup_refused") <= 5.0, "{r}");
    assert!(number(&r, "health_checks") >= 1.0, "{r}");
    assert!(number(&r, "server_peak_rss_growth_bytes") >= 0.0, "{r}");
}

#[test]
fn a_hub_fleet_refuses_to_replace_the_policy_of_a_running_server() {
    // Nothing listens there: the refusal must come before any connection is tried.
    let output = Command::new(env!("CARGO_BIN_EXE_keygate-bench"))
        .args(["fleet", "--topology", "hub", "--server", "http://127.0.0.1:9", "--token", "t"])
        .output()
        .expect("keygate-bench runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("replaces the tailnet's ACL policy"), "{stderr}");
}
