//! The SQLite backend: one database file, one writer connection, several readers.
//!
//! SQLite allows one writer at a time. Many pooled connections all writing would contend for
//! the lock: a deferred transaction that reads first and then writes cannot wait for the lock
//! (upgrading it could deadlock, so SQLite fails it with SQLITE_BUSY at once, busy timeout or
//! not). So every write and transaction goes through a pool of exactly one connection, where
//! writes queue in the pool instead of in the database, and reads use a separate pool of
//! read-only connections that WAL mode lets run alongside the writer.
//!
//! An in-memory database (`sqlite::memory:`) exists only within its connections, so it gets a
//! single connection for reads and writes alike, kept open for the store's lifetime.

use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::backend::Backend;
use crate::StoreError;

/// The schema's migrations, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another process's lock before failing with SQLITE_BUSY
/// (within this process, the single writer connection already serialises writes).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections of a file database: enough for concurrent map requests and API listings
/// to not queue behind each other on a small machine.
const READERS: u32 = 4;

/// A [`crate::Store`] on SQLite.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Read-only connections (for an in-memory database, the writer pool again).
    reader: SqlitePool,
    /// The one connection that writes.
    writer: SqlitePool,
}

/// A SQLite connection is a file handle in this process: it cannot go stale the way a
/// network connection can, so sqlx's ping on every acquire (a round trip to the connection's
/// worker thread, ~2 % of the server's CPU per enrolment in the `enroll` profile) buys nothing.
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().test_before_acquire(false)
}

/// When a committed transaction is on disk: SQLite's `synchronous` setting in WAL mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// Every commit is flushed to disk (`fsync` of the WAL) before it is acknowledged: an
    /// enrolment a node was told about survives a power loss. The default.
    #[default]
    Full,
    /// Commits are flushed at WAL checkpoints only: faster, and the database stays consistent
    /// after a power loss, but the last transactions before it may be gone (an acknowledged
    /// enrolment included). A process crash loses nothing either way.
    Normal,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url` (`sqlite://path`, `sqlite:path`
    /// or `sqlite::memory:`) and brings its schema up to date; commits are durable
    /// ([`SqliteSync::Full`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, SqliteSync::default()).await
    }

    /// [`SqliteStore::connect`] with the given durability of commits.
    pub async fn connect_with(url: &str, sync: SqliteSync) -> Result<Self, StoreError> {
        let synchronous = match sync {
            SqliteSync::Full => SqliteSynchronous::Full,
            SqliteSync::Normal => SqliteSynchronous::Normal,
        };
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .synchronous(synchronous)
            .busy_timeout(BUSY_TIMEOUT);
        // Keeping the writer connection open for good keeps an in-memory database alive, and
        // spares a file database re-opening it (and re-preparing statements) after idling.
        let single = || {
            pool_options()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        };

        if is_in_memory(url) {
            let pool = single().connect_with(options).await?;
            MIGRATOR.run(&pool).await?;
            tracing::info!(backend = "sqlite", "opened an in-memory database");
            return Ok(Self { reader: pool.clone(), writer: pool });
        }

        // WAL lets readers run while the writer writes. It is a property of the file, set
        // once by the writer; readers then open the file read-only.
        let writer =
            single().connect_with(options.clone().journal_mode(SqliteJournalMode::Wal)).await?;
        MIGRATOR.run(&writer).await?;
        let reader =
            pool_options().max_connections(READERS).connect_with(options.read_only(true)).await?;
        tracing::info!(backend = "sqlite", file = %writer.connect_options().get_filename().display(), "opened");
        Ok(Self { reader, writer })
    }

    /// Closes every connection, waiting for those in use; a file database is checkpointed.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Whether `url` names an in-memory database rather than a file.
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl Backend for SqliteStore {
    const NAME: &'static str = "sqlite";
    type Conn = SqliteConnection;
    type Pooled = PoolConnection<Sqlite>;
    type Tx = Transaction<'static, Sqlite>;

    async fn reader(&self) -> Result<Self::Pooled, sqlx::Error> {
        self.reader.acquire().await
    }

    async fn writer(&self) -> Result<Self::Pooled, sqlx::Error> {
        self.writer.acquire().await
    }

    async fn begin(&self) -> Result<Self::Tx, sqlx::Error> {
        // IMMEDIATE takes the write lock at once, so a transaction that reads before it writes
        // never has to upgrade its lock (which SQLite cannot wait for) should another process
        // write to the file.
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    async fn commit(tx: Self::Tx) -> Result<(), sqlx::Error> {
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `PRAGMA synchronous` of the writer connection: 2 is FULL, 1 is NORMAL.
    async fn writer_synchronous(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous").fetch_one(&store.writer).await.unwrap()
    }

    #[tokio::test]
    async fn commits_are_durable_unless_told_otherwise() {
        let dir = std::env::temp_dir().join(format!("keygate-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("k.db").display());

        let store = SqliteStore::connect(&url).await.unwrap();
        assert_eq!(writer_synchronous(&store).await, 2, "FULL by default");
        store.close().await;

        let store = SqliteStore::connect_with(&url, SqliteSync::Normal).await.unwrap();
        assert_eq!(writer_synchronous(&store).await, 1, "NORMAL when asked");
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
