//! End-to-end tests with the **official, unmodified tailscaled 1.96.4** enrolling in a real
//! `keygate serve`.
//!
//! They are `#[ignore]`d because they need two things a plain `cargo test` does not have:
//! - the Tailscale binaries, in the folder named by `TSBIN` (`scripts/fetch-tailscale.sh`
//!   downloads and checks them);
//! - a network namespace with nothing but loopback, so that no Tailscale client can ever reach
//!   the internet. Each test refuses to start a client anywhere else.
//!
//! `scripts/test.sh` runs them as
//! `unshare -n sh -c 'ip link set lo up; cargo test -p keygate-cli --test real_tailscaled -- --ignored'`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a client may take to register.
const REGISTER_DEADLINE: Duration = Duration::from_secs(30);

/// Ports handed to servers in this process (inside a private namespace, nothing else uses them).
static NEXT_PORT: AtomicU16 = AtomicU16::new(18100);

fn keygate_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keygate")
}

fn tsbin() -> PathBuf {
    let dir = PathBuf::from(std::env::var("TSBIN").expect(
        "TSBIN must name the folder with tailscale and tailscaled (scripts/fetch-tailscale.sh)",
    ));
    assert!(dir.join("tailscaled").is_file(), "no tailscaled in {}", dir.display());
    dir
}

/// Panics unless this process is in a network namespace whose only interface is `lo`.
fn require_loopback_only_namespace() {
    let interfaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("read /sys/class/net")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        interfaces,
        vec!["lo".to_owned()],
        "refusing to run Tailscale clients outside a loopback-only network namespace (run under `unshare -n`)"
    );
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "keygate-real-{}-{}-{}",
        name,
        std::process::id(),
        NEXT_PORT.load(Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A running `keygate serve`.
struct Server {
    child: Child,
    port: u16,
    data_dir: PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        require_loopback_only_namespace();
        let port = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        let dir = scratch_dir(name);
        let data_dir = dir.join("data");
        let log = std::fs::File::create(dir.join("server.log")).expect("server log");
        let child = Command::new(keygate_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&data_dir)
            .env("KEYGATE_LOG", "debug")
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("start keygate serve");
        let server = Server { child, port, data_dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.healthy() {
            assert!(
                Instant::now() < deadline,
                "keygate serve did not become healthy; see {}",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn healthy(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.starts_with("HTTP/1.1 200")
    }

    /// Runs `keygate ARGS --json` against this server and parses the output.
    fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args.iter().copied().chain(["--json"]).collect::<Vec<_>>().as_slice());
        assert!(
            out.status.success(),
            "keygate {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "keygate {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(keygate_bin())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .output()
            .expect("run keygate")
    }

    /// Creates a key and returns (id, secret).
    fn create_key(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["keys", "create"];
        all.extend_from_slice(args);
        let key = self.cli_json(&all);
        (key["id"].as_str().expect("id").to_owned(), key["key"].as_str().expect("key").to_owned())
    }

    fn nodes(&self) -> Vec<Value> {
        let v = self.cli_json(&["nodes", "list"]);
        v.as_array()
            .cloned()
            .or_else(|| v["devices"].as_array().cloned())
            .expect("nodes list is an array or {devices: [...]}")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running official tailscaled with its own state, talking to one keygate server.
struct Tailscaled {
    child: Option<Child>,
    dir: PathBuf,
    login_server: String,
}

impl Tailscaled {
    fn start(name: &str, server: &Server) -> Tailscaled {
        require_loopback_only_namespace();
        let dir = scratch_dir(&format!("tsd-{name}"));
        let mut t = Tailscaled { child: None, dir, login_server: server.url() };
        t.spawn();
        t
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("tsd.sock")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tailscaled.out"))
            .expect("log");
        let _ = std::fs::remove_file(self.socket());
        let child = Command::new(tsbin().join("tailscaled"))
            .args(["--tun=userspace-networking", "--no-logs-no-support", "--port=0"])
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--statedir={}", self.dir.display()))
            .arg(format!("--state={}", self.dir.join("tailscaled.state").display()))
            // A namespace with only lo looks offline; without this the client never dials.
            .env("TS_ASSUME_NETWORK_UP_FOR_TEST", "1")
            // Crash rather than ever contact Tailscale's own control plane.
            .env("TS_PANIC_IF_HIT_MAIN_CONTROL", "1")
            .env("TS_NO_LOGS_NO_SUPPORT", "true")
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .spawn()
            .expect("start tailscaled");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.socket().exists() {
            assert!(
                Instant::now() < deadline,
                "tailscaled socket never appeared; see {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn tailscale(&self) -> Command {
        let mut c = Command::new(tsbin().join("tailscale"));
        c.arg(format!("--socket={}", self.socket().display()));
        c
    }

    /// Starts `tailscale up` in the background (it waits for Running, which needs DERP).
    fn up_in_background(&self, authkey: &str, hostname: &str) -> Child {
        self.tailscale()
            .args([
                "up",
                &format!("--login-server={}", self.login_server),
                &format!("--authkey={authkey}"),
                &format!("--hostname={hostname}"),
                "--timeout=60s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tailscale up")
    }

    /// Runs `tailscale up` to completion and returns its combined output.
    fn up_and_wait(&self, authkey: &str, hostname: &str) -> (bool, String) {
        let out = self
            .tailscale()
            .args([
                "up",
                &format!("--login-server={}", self.login_server),
                &format!("--authkey={authkey}"),
                &format!("--hostname={hostname}"),
                "--timeout=20s",
            ])
            .output()
            .expect("tailscale up");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn status(&self) -> Value {
        let out = self.tailscale().args(["status", "--json"]).output().expect("tailscale status");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Waits until the client is registered: Starting or Running with a tailnet IPv4.
    fn wait_registered(&self) -> (String, Value) {
        let deadline = Instant::now() + REGISTER_DEADLINE;
        loop {
            let st = self.status();
            let state = st["BackendState"].as_str().unwrap_or_default();
            let v4 = st["Self"]["TailscaleIPs"].as_array().and_then(|ips| {
                ips.iter().filter_map(Value::as_str).find(|ip| !ip.contains(':')).map(str::to_owned)
            });
            if let (true, Some(ip)) = (state == "Starting" || state == "Running", v4) {
                return (ip, st);
            }
            assert!(
                Instant::now() < deadline,
                "tailscaled did not register (state {state:?}); see {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tailscaled {
    fn drop(&mut self) {
        self.stop();
    }
}

fn in_cgnat_range(ip: &str) -> bool {
    let a: std::net::Ipv4Addr = ip.parse().expect("an IPv4 address");
    let o = a.octets();
    o[0] == 100 && (64..128).contains(&o[1])
}

fn node_named<'a>(nodes: &'a [Value], hostname: &str) -> &'a Value {
    nodes
        .iter()
        .find(|n| n["hostname"] == hostname)
        .unwrap_or_else(|| panic!("no node {hostname} in {nodes:#?}"))
}

fn kill_child(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

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
    assert_eq!(n["user"], "alice", "owned by the key's user: {n}");
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
    haystack.extend(std::fs::read(server.data_dir.parent().unwrap().join("server.log")).expect("server log"));
    for secret in [&revoked, &spent, &expired] {
        let hex_part = &secret[secret.len() - 64..];
        assert!(!contains(&haystack, secret.as_bytes()) && !contains(&haystack, hex_part.as_bytes()), "a secret leaked into the database or log");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
#[ignore = "needs TSBIN and a loopback-only network namespace; run by scripts/test.sh"]
fn a_restarted_client_with_a_spent_one_off_key_comes_back_as_the_same_node() {
    let server = Server::start("restart");
    let (_, key) = server.create_key(&[]);
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

    // …and a container entrypoint that runs `tailscale up --authkey` again with the spent key.
    let up = client.up_in_background(&key, "restarter");
    std::thread::sleep(Duration::from_secs(2));
    let (ip_third, st) = client.wait_registered();
    assert_eq!(ip, ip_third, "{st}");
    kill_child(up);

    let after = server.nodes();
    assert_eq!(after.len(), 1, "still one node: {after:#?}");
    assert_eq!(after[0]["id"], before[0]["id"]);
}

fn expire_key_in_database(db: &Path, key_id: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .connect()
            .await
            .expect("open the server's database");
        let done = sqlx::query("UPDATE auth_keys SET expires_at = 1 WHERE id = $1")
            .bind(key_id)
            .execute(&mut conn)
            .await
            .expect("update");
        assert_eq!(done.rows_affected(), 1);
    });
}
