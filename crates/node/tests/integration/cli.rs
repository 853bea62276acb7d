//! The `keygate-node` binary against the fake server.

use std::path::PathBuf;
use std::process::Output;

use crate::fake_control::{
    delta, full_map, with_map, FakeControl, MapPlan, GOOD_AUTH_KEY, REFUSAL_MESSAGE,
    REFUSED_AUTH_KEY,
};

/// Runs the binary with `args` without blocking the runtime that serves the fake server.
async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_keygate-node"))
            .args(args)
            .env_remove("TS_AUTHKEY")
            .output()
            .expect("running keygate-node")
    })
    .await
    .unwrap()
}

fn up(server: &FakeControl, auth_key: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["up", "--login-server", &server.url, "--authkey", auth_key, "--hostname", "cli-probe"]
            .map(String::from)
            .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A fresh directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir()
            .join(format!("keygate-node-cli-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn up_prints_the_addresses() {
    let server = FakeControl::start().await;
    let output = run(up(&server, GOOD_AUTH_KEY, &[])).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "100.64.0.1\nfd7a:115c:a1e0::1\n");
    let registers = server.seen.registers.lock().unwrap();
    assert_eq!(registers[0].1.hostinfo.as_ref().unwrap().hostname, "cli-probe");
}

#[tokio::test]
async fn up_json_prints_the_self_node() {
    let server = FakeControl::start().await;
    let output = run(up(&server, GOOD_AUTH_KEY, &["--json", "--ephemeral"])).await;
    assert!(output.status.success(), "{output:?}");
    let node: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(node["ID"], 1);
    assert_eq!(node["Addresses"], serde_json::json!(["100.64.0.1/32", "fd7a:115c:a1e0::1/128"]));
    let registers = server.seen.registers.lock().unwrap();
    assert!(registers[0].1.ephemeral);
    assert_eq!(node["Machine"], registers[0].0.to_string());
}

#[tokio::test]
async fn a_refused_key_exits_non_zero_with_the_server_message() {
    let server = FakeControl::start().await;
    let output = run(up(&server, REFUSED_AUTH_KEY, &[])).await;
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim(), format!("keygate-node: registration refused: {REFUSAL_MESSAGE}"));
}

#[tokio::test]
async fn an_https_login_server_is_refused_clearly() {
    let output = run(["up", "--login-server", "https://control.example", "--authkey", "k"]
        .map(String::from)
        .to_vec())
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("https login servers are not supported yet"), "{stderr}");
}

#[tokio::test]
async fn the_state_file_keeps_the_machine_across_runs() {
    let server = FakeControl::start().await;
    let dir = TempDir::new("state");
    let state = dir.0.join("node.json");
    let state_arg = state.to_str().unwrap();
    for _ in 0..2 {
        let output = run(up(&server, GOOD_AUTH_KEY, &["--state", state_arg])).await;
        assert!(output.status.success(), "{output:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let registers = server.seen.registers.lock().unwrap();
    assert_eq!(registers.len(), 2);
    assert_eq!(registers[0].0, registers[1].0, "same machine key");
    assert_eq!(registers[0].1.node_key, registers[1].1.node_key, "same node key");
}

#[tokio::test]
async fn stay_prints_peers_as_they_arrive() {
    let server = FakeControl::start_with(with_map(|request, peer| MapPlan::Stream {
        chunks: vec![
            keygate_tailcfg::encode_map_response(&full_map(request, peer), true).unwrap(),
            keygate_tailcfg::encode_map_response(&delta(), true).unwrap(),
            keygate_tailcfg::encode_map_response(
                &keygate_tailcfg::MapResponse {
                    peers_removed: Some(vec![2]),
                    ..Default::default()
                },
                true,
            )
            .unwrap(),
        ],
        // Ending the stream ends `--stay`.
        end: true,
    }))
    .await;
    let output = run(up(&server, GOOD_AUTH_KEY, &["--stay"])).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output),
        "100.64.0.1\nfd7a:115c:a1e0::1\n\
         added 2 node2.tail.test. 100.64.0.2 fd7a:115c:a1e0::2 online\n\
         added 3 node3.tail.test. 100.64.0.3 fd7a:115c:a1e0::3 online\n\
         removed 2\n"
    );

    let output = run(up(&server, GOOD_AUTH_KEY, &["--stay", "--json"])).await;
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<serde_json::Value> =
        stdout(&output).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["event"], "added");
    assert_eq!(lines[2]["node"]["Name"], "node3.tail.test.");
    assert_eq!(lines[3], serde_json::json!({"event": "removed", "id": 2, "node": null}));
}
