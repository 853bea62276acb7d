//! keygate's storage: the [`Store`] trait, and its SQLite and PostgreSQL implementations.
//!
//! The store persists domain values and guarantees atomicity where the rules need it (a key's
//! use is consumed together with the node it enrolls). It owns no business rules beyond the
//! guarded updates that make those rules race-free; deciding what to do is the service
//! layer's job. It knows nothing of HTTP, Noise or the service layer.
//!
//! Layout: one module per table (`users`, `nodes`, `settings`, `policies`, `audit_events`,
//! `console_admins`, `console_sessions`, `console_setup_tokens`, and the credential tables
//! `auth_keys`, `api_tokens`, `oauth_clients`, `oauth_tokens`) holds that table's row struct,
//! its conversion to and from the domain type, and its SQL, written once for both databases.
//! The credential tables share one implementation of insert, find, list, revoke, touch and
//! delete-expired (`credentials`); each says only its name, columns and row mapping
//! (`CredentialTable`), plus what is its own (the guarded consume of an auth key). The
//! interface of those shared operations is [`Credentials`] and [`RevocableCredentials`],
//! which [`Store`] has for every kind. `conn` is
//! the seam between that shared SQL and the two drivers; `error` turns driver errors into
//! [`StoreError`], naming violated unique constraints as [`Unique`]. `backend` implements
//! [`Store`] (and the credential traits, once for every kind) on top of the table modules; `sqlite` and `postgres` only open connections.
//! The schemas live in `migrations/sqlite` and `migrations/postgres`, kept column for column
//! alike (a conformance test checks).

mod address_cursor;
mod api_tokens;
mod audit_events;
mod auth_keys;
mod backend;
mod conn;
mod console_admins;
mod console_sessions;
mod console_setup_tokens;
mod credentials;
mod error;
mod hold;
mod nodes;
mod oauth_clients;
mod oauth_tokens;
mod policies;
mod postgres;
mod settings;
mod sqlite;
mod store;
mod users;

use std::sync::Arc;

pub use console_admins::{ConsoleAdmin, ConsoleAdminId, PasswordHash};
pub use console_sessions::ConsoleSession;
pub use console_setup_tokens::{SetupOutcome, SetupToken};
pub use error::{StoreError, Unique};
pub use hold::{lock_path, DatabaseHold, ADVISORY_KEY};
pub use policies::{NewPolicyRevision, PolicyRevision};
pub use postgres::PostgresStore;
pub use sqlite::{SqliteStore, SqliteSync};
pub use store::{ConsumeOutcome, Credentials, RevocableCredentials, RevokeOutcome, Store};

/// Opens the store that `url` names, and brings its schema up to date:
/// `sqlite://path`, `sqlite:path` or `sqlite::memory:` for SQLite (the file is created if
/// missing), `postgres://…` or `postgresql://…` for PostgreSQL.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    connect_with(url, SqliteSync::default()).await
}

/// [`connect`], with the durability of SQLite commits (PostgreSQL ignores it: its own
/// `synchronous_commit` setting decides).
pub async fn connect_with(
    url: &str,
    sqlite_sync: SqliteSync,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect_with(url, sqlite_sync).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        // Only the scheme is repeated: the rest of a URL may hold a password.
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        Err(StoreError::Database(sqlx::Error::Configuration(
            format!(
                "unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://…"
            )
            .into(),
        )))
    }
}
