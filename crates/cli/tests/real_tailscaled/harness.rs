//! Starting `keygate serve` and official tailscaled processes for the real-client tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a client may take to register.
pub const REGISTER_DEADLINE: Duration = Duration::from_secs(30);

/// Ports handed to servers in this process (inside a private namespace, nothing else uses them).
pub static NEXT_PORT: AtomicU16 = AtomicU16::new(18100);

pub fn keygate_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keygate")
}

pub fn tsbin() -> PathBuf {
    let dir = PathBuf::from(std::env::var("TSBIN").expect(
        "TSBIN must name the folder with tailscale and tailscaled (scripts/fetch-tailscale.sh)",
    ));
    assert!(dir.join("tailscaled").is_file(), "no tailscaled in {}", dir.display());
    dir
}

/// Panics unless this process is in a network namespace whose only interface is `lo`.
pub fn require_loopback_only_namespace() {
    // `/proc/self/net/dev` lists the interfaces of this process's namespace; `/sys/class/net`
    // would list those of whoever mounted `/sys`, which `unshare -n` alone does not change.
    let dev = std::fs::read_to_string("/proc/self/net/dev").expect("read /proc/self/net/dev");
    let interfaces: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|line| line.split_once(':').map(|(name, _)| name.trim().to_owned()))
        .collect();
    assert_eq!(
        interfaces,
        vec!["lo".to_owned()],
        "refusing to run Tailscale clients outside a loopback-only network namespace (run under `unshare -n`)"
    );
}

pub fn scratch_dir(name: &str) -> PathBuf {
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
pub struct Server {
    child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
}

impl Server {
    pub fn start(name: &str) -> Server {
        Self::start_with_env(name, &[])
    }

    /// Starts `keygate serve` with extra environment variables (`KEYGATE_*` settings).
    pub fn start_with_env(name: &str, env: &[(&str, &str)]) -> Server {
        require_loopback_only_namespace();
        let port = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        let dir = scratch_dir(name);
        let data_dir = dir.join("data");
        let log = std::fs::File::create(dir.join("server.log")).expect("server log");
        let child = Command::new(keygate_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&data_dir)
            .env("KEYGATE_LOG", "debug")
            .envs(env.iter().copied())
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

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn healthy(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.starts_with("HTTP/1.1 200")
    }

    /// Runs `keygate ARGS --json` against this server and parses the output.
    pub fn cli_json(&self, args: &[&str]) -> Value {
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

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(keygate_bin())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .output()
            .expect("run keygate")
    }

    /// Creates a key and returns (id, secret).
    pub fn create_key(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["keys", "create"];
        all.extend_from_slice(args);
        let key = self.cli_json(&all);
        (key["id"].as_str().expect("id").to_owned(), key["key"].as_str().expect("key").to_owned())
    }

    pub fn nodes(&self) -> Vec<Value> {
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
pub struct Tailscaled {
    child: Option<Child>,
    dir: PathBuf,
    login_server: String,
}

impl Tailscaled {
    pub fn start(name: &str, server: &Server) -> Tailscaled {
        require_loopback_only_namespace();
        let dir = scratch_dir(&format!("tsd-{name}"));
        let mut t = Tailscaled { child: None, dir, login_server: server.url() };
        t.spawn();
        t
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("tsd.sock")
    }

    pub fn spawn(&mut self) {
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
            // keygate's embedded DERP relay is plain http on the server's port in these tests.
            .env("TS_DEBUG_USE_DERP_HTTP", "1")
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

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills tailscaled with SIGKILL: it logs nothing out and closes no stream cleanly, as
    /// when its machine dies.
    pub fn kill_hard(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `BackendState` from `tailscale status` (`NeedsLogin`, `NeedsMachineAuth`, `Starting`…).
    pub fn backend_state(&self) -> String {
        self.status()["BackendState"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until `BackendState` is `state`; the last status.
    pub fn wait_state(&self, state: &str) -> Value {
        let deadline = Instant::now() + REGISTER_DEADLINE;
        loop {
            let st = self.status();
            if st["BackendState"] == state {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "tailscaled never reached {state} (now {}); see {}",
                st["BackendState"],
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The peers in `tailscale status`, by host name.
    pub fn peers(&self) -> Vec<Value> {
        self.status()["Peer"].as_object().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    pub fn stop(&mut self) {
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

    pub fn tailscale(&self) -> Command {
        let mut c = Command::new(tsbin().join("tailscale"));
        c.arg(format!("--socket={}", self.socket().display()));
        c
    }

    /// Starts `tailscale up` in the background (it waits for Running, which needs DERP).
    pub fn up_in_background(&self, authkey: &str, hostname: &str) -> Child {
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
    pub fn up_and_wait(&self, authkey: &str, hostname: &str) -> (bool, String) {
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

    pub fn status(&self) -> Value {
        let out = self.tailscale().args(["status", "--json"]).output().expect("tailscale status");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Waits until the client is registered: Starting or Running with a tailnet IPv4.
    pub fn wait_registered(&self) -> (String, Value) {
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

pub fn in_cgnat_range(ip: &str) -> bool {
    let a: std::net::Ipv4Addr = ip.parse().expect("an IPv4 address");
    let o = a.octets();
    o[0] == 100 && (64..128).contains(&o[1])
}

pub fn node_named<'a>(nodes: &'a [Value], hostname: &str) -> &'a Value {
    nodes
        .iter()
        .find(|n| n["hostname"] == hostname)
        .unwrap_or_else(|| panic!("no node {hostname} in {nodes:#?}"))
}

/// Polls `check` every 200 ms until it gives `Some`, or panics naming `what` after `within`.
pub fn wait_for<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn kill_child(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub fn expire_key_in_database(db: &Path, key_id: &str) {
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
