//! keygate's storage: the [`Store`] trait, and its SQLite and PostgreSQL implementations.
//!
//! The store persists domain values and guarantees atomicity where the rules need it (a key's
//! use is consumed together with the node it enrolls). It owns no business rules beyond the
//! guarded updates that make those rules race-free; deciding what to do is the service
//! layer's job. It knows nothing of HTTP, Noise or the service layer.
//!
//! Layout: one module per table (`users`, `auth_keys`, `api_tokens`, `nodes`, `settings`)
//! holds that table's row struct, its conversion to and from the domain type, and its SQL,
//! written once for both databases. `backend` implements [`Store`] once on top of them;
//! `sqlite` and `postgres` only open connections. The schemas live in `migrations/sqlite`
//! and `migrations/postgres`, kept column for column alike (a conformance test checks).

mod address_cursor;
mod api_tokens;
mod audit_events;
mod auth_keys;
mod backend;
mod conn;
mod console_admins;
mod console_sessions;
mod console_setup_tokens;
mod error;
mod nodes;
mod oauth_clients;
mod oauth_tokens;
mod policies;
mod postgres;
mod revoke;
mod settings;
mod sqlite;
mod store;
mod users;

use std::sync::Arc;

pub use console_admins::{ConsoleAdmin, ConsoleAdminId, PasswordHash};
pub use console_sessions::ConsoleSession;
pub use console_setup_tokens::{SetupOutcome, SetupToken};
pub use error::StoreError;
pub use policies::{NewPolicyRevision, PolicyRevision};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use store::{ConsumeOutcome, RevokeOutcome, Store};

/// Opens the store that `url` names, and brings its schema up to date:
/// `sqlite://path`, `sqlite:path` or `sqlite::memory:` for SQLite (the file is created if
/// missing), `postgres://…` or `postgresql://…` for PostgreSQL.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
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
