//! An exclusive hold on the database for the life of one server process.
//!
//! A keygate server keeps the tailnet's node state in its own memory (the database is where
//! it is persisted, not how servers talk to each other). A second server on the same database
//! would not see the first one's live nodes: it would delete their ephemeral nodes as
//! "offline", hand out their addresses again and ignore their deletions and policy changes.
//! So one database has one server, and a second one refuses to start, naming the first.
//!
//! - **SQLite**: an exclusive `flock(2)` on `<database file>.lock`, a file beside the
//!   database holding the holder's process id, host and start time. A sidecar file rather
//!   than the database itself, because SQLite's own POSIX locks on the database file are
//!   released when *any* descriptor of that file is closed by the process. The kernel drops
//!   the lock when the process dies, however it dies, so a stale file never blocks a start.
//! - **PostgreSQL**: a session-level advisory lock ([`ADVISORY_KEY`]) on a connection of its
//!   own, whose `application_name` says who holds it. Advisory locks are scoped to one
//!   database, so several keygate databases on one PostgreSQL server do not collide.
//!   PostgreSQL releases the lock when the session ends, including when the server is killed.
//!   A task checks the connection every [`PING_INTERVAL`]; if the connection was lost (the
//!   database restarted) it reconnects and takes the lock again, and if another server took
//!   it meanwhile, [`DatabaseHold::lost`] resolves so that this server stops.
//! - An in-memory SQLite database is private to its process: there is nothing to hold.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::StoreError;

/// The advisory lock key every keygate server takes on its PostgreSQL database: the ASCII
/// bytes of "keygate1" as a big-endian 64-bit integer (advisory keys are an application's
/// own namespace; this one is unlikely to be used by anything else sharing the database).
pub const ADVISORY_KEY: i64 = i64::from_be_bytes(*b"keygate1");

/// How often the PostgreSQL hold checks that its connection (and so its lock) is alive.
const PING_INTERVAL: Duration = Duration::from_secs(10);

/// How long to wait between attempts to reconnect the PostgreSQL hold.
const RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// The `application_name` prefix that marks the holding session in `pg_stat_activity`.
const APPLICATION_NAME_PREFIX: &str = "keygate hold";

/// Proof that this process is the one server of its database; dropping it lets go.
pub struct DatabaseHold {
    held: Held,
}

enum Held {
    /// In-memory SQLite: nothing to hold.
    Nothing,
    /// The open lock file; closing it releases the `flock`.
    File { _file: File },
    /// The task that keeps the PostgreSQL session (and so the advisory lock) alive; `lost`
    /// says why it ended, if it did.
    Postgres { task: JoinHandle<()>, lost: watch::Receiver<Option<String>> },
}

impl std::fmt::Debug for DatabaseHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.held {
            Held::Nothing => "nothing",
            Held::File { .. } => "lock file",
            Held::Postgres { .. } => "advisory lock",
        };
        f.debug_struct("DatabaseHold").field("kind", &kind).finish()
    }
}

impl Drop for DatabaseHold {
    fn drop(&mut self) {
        if let Held::Postgres { task, .. } = &self.held {
            // Dropping the task's connection ends the session, which releases the lock.
            task.abort();
        }
    }
}

impl DatabaseHold {
    /// Takes the hold on the database that `url` names (the same URLs as
    /// [`crate::connect`]), or fails with [`StoreError::Held`] naming the current holder.
    /// Call it before opening the store, so that a refused server changes nothing.
    pub async fn take(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            if url.contains(":memory:") || url.contains("mode=memory") {
                return Ok(Self { held: Held::Nothing });
            }
            let file = lock_file(options.get_filename())?;
            Ok(Self { held: Held::File { _file: file } })
        } else {
            let options = PgConnectOptions::from_str(url)?;
            let connection = take_advisory_lock(&options).await?;
            let (lost_tx, lost) = watch::channel(None);
            let task = tokio::spawn(keep_advisory_lock(options, connection, lost_tx));
            Ok(Self { held: Held::Postgres { task, lost } })
        }
    }

    /// Resolves, with the reason, if the hold was lost: another server took the database
    /// while this one's PostgreSQL connection was down. Never resolves for SQLite.
    pub async fn lost(&mut self) -> String {
        match &mut self.held {
            Held::Postgres { lost, .. } => match lost.wait_for(Option::is_some).await {
                Ok(reason) => reason.clone().unwrap_or_default(),
                Err(_) => "the database hold's task ended".to_owned(),
            },
            Held::Nothing | Held::File { .. } => std::future::pending().await,
        }
    }
}

/// The lock file of the SQLite database at `database`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Opens the lock file of `database` (creating it, mode 0600), takes an exclusive `flock`
/// without waiting, and writes who holds it.
fn lock_file(database: &Path) -> Result<File, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = &lock_path(database);
    let io_error = |source: std::io::Error| StoreError::LockFile { path: path.to_owned(), source };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StoreError::Held {
                database: format!("sqlite at {}", database.display()),
                holder: if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    holder.to_owned()
                },
            });
        }
        Err(TryLockError::Error(e)) => return Err(io_error(e)),
    }
    file.set_len(0).map_err(io_error)?;
    file.rewind().map_err(io_error)?;
    writeln!(file, "{}", this_process()).map_err(io_error)?;
    Ok(file)
}

/// Connects a session of its own and takes [`ADVISORY_KEY`] without waiting.
async fn take_advisory_lock(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
    let application_name = format!("{APPLICATION_NAME_PREFIX}: {}", this_process());
    let mut connection = options.clone().application_name(&application_name).connect().await?;
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(ADVISORY_KEY)
        .fetch_one(&mut connection)
        .await?;
    if taken {
        return Ok(connection);
    }
    let holder = advisory_lock_holder(&mut connection).await.unwrap_or(None);
    let _ = connection.close().await;
    Err(StoreError::Held {
        database: format!(
            "postgres database {:?} at {}:{}",
            options.get_database().unwrap_or("postgres"),
            options.get_host(),
            options.get_port()
        ),
        holder: holder.unwrap_or_else(|| "another session".to_owned()),
    })
}

/// Who holds [`ADVISORY_KEY`] in the current database, from `pg_locks` (a bigint key is
/// stored as `classid` = high 32 bits, `objid` = low 32 bits, `objsubid` = 1).
async fn advisory_lock_holder(
    connection: &mut PgConnection,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>, Option<String>, i32)> = sqlx::query_as(
        "SELECT a.application_name, host(a.client_addr), a.pid \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1",
    )
    .bind(ADVISORY_KEY >> 32)
    .bind(ADVISORY_KEY & 0xffff_ffff)
    .fetch_optional(connection)
    .await?;
    Ok(row.map(|(name, client, pid)| {
        let name = name.unwrap_or_default();
        let who = name
            .strip_prefix(APPLICATION_NAME_PREFIX)
            .map_or(name.as_str(), |rest| rest.trim_start_matches(':').trim());
        let from = client.unwrap_or_else(|| "a local socket".to_owned());
        format!("{who} (backend pid {pid}, connected from {from})")
    }))
}

/// Keeps the hold's session alive; reconnects and re-takes the lock after losing it, and
/// reports through `lost` if another server took it meanwhile.
async fn keep_advisory_lock(
    options: PgConnectOptions,
    mut connection: PgConnection,
    lost: watch::Sender<Option<String>>,
) {
    loop {
        tokio::time::sleep(PING_INTERVAL).await;
        if connection.ping().await.is_ok() {
            continue;
        }
        tracing::warn!("lost the connection that holds the database; reconnecting");
        connection = loop {
            match take_advisory_lock(&options).await {
                Ok(connection) => {
                    tracing::info!("the database is held again");
                    break connection;
                }
                Err(StoreError::Held { holder, .. }) => {
                    let reason = format!("another server took the database: {holder}");
                    tracing::error!("{reason}");
                    let _ = lost.send(Some(reason));
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reconnecting the database hold failed; retrying");
                    tokio::time::sleep(RECONNECT_DELAY).await;
                }
            }
        };
    }
}

/// This process, for a holder's description: `pid 1234 on host vpn1 since 2026-12-06T07:00:00Z`.
fn this_process() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "an unknown host".to_owned());
    let since = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    format!("keygate pid {} on host {host} since {since}", std::process::id())
}
