//! Fixtures: the real `keygate` binary as a server (`keygate serve` on port 0 with a fresh data
//! directory) and as the CLI, with their output captured.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const KEYGATE: &str = env!("CARGO_BIN_EXE_keygate");
/// How long a server may take to print its address and answer `/health`.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// A directory removed when dropped (kept when `KEEP_TEST_DIRS` is set, for debugging).
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        // Short: the admin socket's path must stay under the kernel's 107-byte limit.
        let dir = std::env::temp_dir().join(format!("kgc-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `keygate` run in `dir`, with none of the caller's `KEYGATE_*` or `RUST_LOG` variables.
pub fn keygate(dir: &Path) -> Command {
    let mut cmd = Command::new(KEYGATE);
    cmd.current_dir(dir).stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("KEYGATE_") || n == "RUST_LOG") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A finished CLI run.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(cmd: &mut Command) -> Self {
        let out = cmd.output().expect("keygate runs");
        Self {
            status: out.status,
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert!(
            self.status.success(),
            "keygate failed ({}): {}{}",
            self.status,
            self.stderr,
            self.stdout
        );
        &self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Asserts exit status 1 with exactly one stderr line, `error: …`, and returns that line.
    #[track_caller]
    pub fn error_line(&self) -> &str {
        assert_eq!(self.status.code(), Some(1), "expected a failure: {self:?}");
        let line = self.stderr.trim_end_matches('\n');
        assert!(!line.contains('\n'), "one line on stderr, got: {:?}", self.stderr);
        assert!(line.starts_with("error: "), "{line:?}");
        assert!(!line.contains("panicked"), "{line:?}");
        line
    }
}

/// A running `keygate serve`, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Option<Child>,
    pub dir: TestDir,
    pub url: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl Server {
    pub fn start(name: &str) -> Self {
        let dir = TestDir::new(name);
        let data_dir = dir.path().join("data");
        let log = dir.path().join("server.log");
        let mut child = keygate(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .env("KEYGATE_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the log file can be created"))
            .spawn()
            .expect("keygate serve starts");

        // The first stdout line is `listening on http://ADDR`; keep draining the rest.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let mut server = Self { child: Some(child), dir, url: String::new(), data_dir, log };
        match rx.recv_timeout(STARTUP_DEADLINE) {
            Ok(url) => server.url = url,
            Err(_) => panic!("keygate serve printed no address; its log:\n{}", server.log_text()),
        }
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let addr = self.url.strip_prefix("http://").expect("an http URL").to_owned();
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                let _ =
                    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                let mut response = String::new();
                let _ = s.read_to_string(&mut response);
                if response.starts_with("HTTP/1.1 200") && response.ends_with(r#"{"status":"ok"}"#)
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "keygate serve never became healthy; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The CLI on this machine, through the admin socket.
    pub fn cli(&self, args: &[&str]) -> Run {
        Run::of(keygate(self.dir.path()).arg("--data-dir").arg(&self.data_dir).args(args))
    }

    /// The CLI in remote mode, with `token` as `--token`.
    pub fn remote(&self, token: &str, args: &[&str]) -> Run {
        Run::of(keygate(self.dir.path()).args(["--server", &self.url, "--token", token]).args(args))
    }

    pub fn socket(&self) -> PathBuf {
        self.data_dir.join("admin.sock")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            if let Some(status) = child.try_wait().expect("the server can be waited for") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("keygate serve did not stop within {STOP_DEADLINE:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Creates a key through the socket with `args` and returns its JSON.
pub fn create_key(server: &Server, args: &[&str]) -> Value {
    let mut all = vec!["keys", "create", "--json"];
    all.extend_from_slice(args);
    server.cli(&all).json()
}

/// A string field of a JSON object.
#[track_caller]
pub fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_else(|| panic!("no string {field:?} in {value}"))
}

/// The value on the `label:` line of a key-value block such as `keygate keys show` prints.
#[track_caller]
pub fn field<'a>(block: &'a str, label: &str) -> &'a str {
    let prefix = format!("{label}:");
    block
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} in:\n{block}"))
}
