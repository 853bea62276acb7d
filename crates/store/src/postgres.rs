//! The PostgreSQL backend: one ordinary connection pool for reads and writes.
//!
//! Transactions run at PostgreSQL's default isolation, READ COMMITTED; the guarded updates
//! in [`crate::auth_keys`] are race-free there (see that module's docs).

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::backend::Backend;
use crate::StoreError;

/// The schema's migrations, embedded in the binary. sqlx holds an advisory lock while it
/// migrates; a server also holds the database for its whole life (`crate::DatabaseHold`), so
/// one database is migrated and served by one server at a time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Pool size: plenty for one control server; PostgreSQL's default limit is 100 in total.
const MAX_CONNECTIONS: u32 = 16;

/// A [`crate::Store`] on PostgreSQL.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…` or `postgresql://…`) and brings the schema up to
    /// date. The URL may hold a password; it is never logged.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new().max_connections(MAX_CONNECTIONS).connect(url).await?;
        MIGRATOR.run(&pool).await?;
        tracing::info!(backend = "postgres", "connected");
        Ok(Self { pool })
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl Backend for PostgresStore {
    const NAME: &'static str = "postgres";
    type Conn = PgConnection;
    type Pooled = PoolConnection<Postgres>;
    type Tx = Transaction<'static, Postgres>;

    async fn reader(&self) -> Result<Self::Pooled, sqlx::Error> {
        self.pool.acquire().await
    }

    async fn writer(&self) -> Result<Self::Pooled, sqlx::Error> {
        self.pool.acquire().await
    }

    async fn begin(&self) -> Result<Self::Tx, sqlx::Error> {
        self.pool.begin().await
    }

    async fn commit(tx: Self::Tx) -> Result<(), sqlx::Error> {
        tx.commit().await
    }
}
