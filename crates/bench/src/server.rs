//! The server under test: a child `keygate serve` with a fresh data directory (the default),
//! or a running server given by URL.
//!
//! The child gets `--listen 127.0.0.1:0`, so runs never collide on a port; its first stdout
//! line, `listening on http://ADDR`, says where it is. It inherits this process's raised
//! open-file limit, none of our `KEYGATE_*` variables (a stray one would change what is
//! measured, or stop it: the server refuses unknown ones), and logs at `warn` to
//! `server.log` beside its data directory.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command};

use anyhow::{bail, Context as _};
use clap::Args;

use crate::admin::{authority_of, AdminClient, AdminTarget};
use crate::proc_stats::{self, ProcStats};

/// How long the child may take to print where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the child may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Which server to measure. (No `Debug`: it may hold a token or a database password.)
#[derive(Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// The `keygate` binary to start [default: `keygate` next to this executable]
    #[arg(long, value_name = "PATH")]
    pub keygate: Option<PathBuf>,
    /// Database for the started server: postgres://… or sqlite://PATH [default: SQLite in a
    /// fresh data directory]. Use an empty database: the server loads every node in it.
    #[arg(long, value_name = "URL", env = "KEYGATE_BENCH_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// `sqlite_synchronous` of the started server: `full` (its default: every commit on disk)
    /// or `normal`, to measure what durability costs.
    #[arg(long, value_name = "MODE")]
    pub sqlite_synchronous: Option<String>,
    /// Measure a running server instead of starting one (its CPU and memory are then not
    /// reported). Needs --token, or --socket on the server's machine, to create keys.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// API token for --server.
    #[arg(long, env = "KEYGATE_BENCH_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Admin socket of the --server, instead of a token.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Keep the started server's data directory and log (printed on stderr).
    #[arg(long)]
    pub keep_data: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A server ready for load.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub admin: AdminClient,
    /// The database the server uses, when known (for read-only checks).
    pub database_url: Option<String>,
    /// `sqlite` or `postgres` (or `unknown` for a running server given by URL).
    pub backend: &'static str,
    child: Option<Child>,
    pid: Option<u32>,
    scratch: Option<PathBuf>,
    keep: bool,
}

impl Server {
    /// Starts the child server (with `extra_env`, e.g. the ephemeral timeout) or connects to
    /// the one in `args`.
    pub async fn start(args: &ServerArgs, extra_env: &[(&str, String)]) -> anyhow::Result<Self> {
        if let Some(url) = &args.server {
            let target = match (&args.socket, &args.token) {
                (Some(socket), _) => AdminTarget::Socket(socket.clone()),
                (None, Some(token)) => {
                    AdminTarget::Tcp { authority: authority_of(url)?, token: token.clone() }
                }
                (None, None) => bail!("--server needs --token (or --socket) to create keys"),
            };
            return Ok(Self {
                url: url.trim_end_matches('/').to_owned(),
                admin: AdminClient::new(target),
                database_url: args.database.clone(),
                backend: args.database.as_deref().map_or("unknown", backend_of),
                child: None,
                pid: None,
                scratch: None,
                keep: true,
            });
        }
        let binary = match &args.keygate {
            Some(path) => path.clone(),
            None => default_keygate()?,
        };
        let scratch = scratch_dir()?;
        let data_dir = scratch.join("data");
        let log_path = scratch.join("server.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;

        let mut command = Command::new(&binary);
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| !k.starts_with("KEYGATE_")))
            .env("KEYGATE_DATA_DIR", &data_dir)
            .env("KEYGATE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if let Some(url) = &args.database {
            // Through the environment, not argv: the URL may hold a password.
            command.env("KEYGATE_DATABASE", url);
        }
        if let Some(mode) = &args.sqlite_synchronous {
            command.env("KEYGATE_SQLITE_SYNCHRONOUS", mode);
        }
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut child =
            command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id();
        // From here on, `Server`'s `Drop` kills the child whatever happens.
        let mut server = Self {
            url: String::new(),
            admin: AdminClient::new(AdminTarget::Socket(data_dir.join("admin.sock"))),
            database_url: None,
            backend: "sqlite",
            child: None,
            pid: Some(pid),
            scratch: Some(scratch),
            keep: args.keep_data,
        };
        let stdout = child.stdout.take().context("the child's stdout")?;
        server.child = Some(child);
        // A thread reads the banner, then drains stdout so the child never blocks on a pipe.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let first = tokio::time::timeout(START_TIMEOUT, rx).await;
        server.url = match first {
            Ok(Ok(Some(Ok(line)))) => match line.strip_prefix("listening on ") {
                Some(url) => url.trim().to_owned(),
                None => bail!("unexpected first line from keygate serve: {line:?}"),
            },
            _ => {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("keygate serve did not start; its log:\n{log}");
            }
        };

        let database_url = Some(
            args.database
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("keygate.db").display())),
        );
        server.backend = database_url.as_deref().map_or("sqlite", backend_of);
        server.database_url = database_url;
        Ok(server)
    }

    /// The child's memory and CPU now; `None` for a server given by URL.
    pub fn stats(&self) -> Option<ProcStats> {
        self.pid.and_then(proc_stats::read)
    }

    /// Stops the child (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]) and removes its data
    /// directory unless asked to keep it. Returns its last reading, taken just before.
    pub async fn stop(mut self) -> Option<ProcStats> {
        let last = self.stats();
        if let (Some(mut child), Some(pid)) = (self.child.take(), self.pid) {
            let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.cleanup();
        last
    }

    fn cleanup(&mut self) {
        if let Some(dir) = self.scratch.take() {
            if self.keep {
                eprintln!("keygate-bench: server data and log kept in {}", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}

impl Drop for Server {
    /// A run that fails half-way still leaves no server behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.cleanup();
    }
}

/// `keygate` next to this executable: `target/<profile>/keygate` beside
/// `target/<profile>/keygate-bench`.
fn default_keygate() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("finding this executable")?;
    let dir = me.parent().context("this executable's directory")?;
    // Integration tests run from target/<profile>/deps.
    for candidate in [dir.join("keygate"), dir.join("../keygate")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no keygate binary next to {}: build it (`cargo build --release -p keygate-cli`) or pass --keygate PATH",
        me.display()
    )
}

/// A fresh directory for the child's data and log, mode 0700 (the server warns otherwise).
fn scratch_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("keygate-bench-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn backend_of(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "postgres"
    } else if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "unknown"
    }
}

/// Polls `check` every 20 ms until it holds or `limit` passes; returns whether it held.
pub async fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
