//! Storage errors, and the one place where database errors are turned into them.
//!
//! Callers branch on [`StoreError::Conflict`] and [`StoreError::NotFound`], so constraint
//! violations are recognised here from the driver's error rather than left as opaque database
//! errors. Everything else keeps the `sqlx` error attached as the source.

use sqlx::error::ErrorKind;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness constraint refused the write; the string names the constraint's subject
    /// (for example `user name`, `node ipv4`, `node given_name`, `node machine_key`).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A stored value could not be turned back into a domain value.
    #[error("corrupt stored value in {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Another server already holds the database (see [`crate::DatabaseHold`]).
    #[error("{database} is already in use by {holder}: one keygate server serves one database; stop that server first")]
    Held { database: String, holder: String },
    /// The SQLite lock file could not be opened or written.
    #[error("cannot use the database lock file {}", path.display())]
    LockFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A unique constraint of the schema and the subject it names in [`StoreError::Conflict`].
struct Unique {
    /// How SQLite names it: `table.column`, as in "UNIQUE constraint failed: nodes.ipv4".
    sqlite_column: &'static str,
    /// How PostgreSQL names it: the constraint name the migration gives it explicitly.
    postgres_constraint: &'static str,
    subject: &'static str,
}

/// Every unique constraint in `migrations/*/0001_initial.sql`. A conformance test provokes
/// each one on both backends, so a renamed constraint cannot silently turn a conflict into
/// an opaque database error.
const UNIQUES: &[Unique] = &[
    Unique {
        sqlite_column: "users.name",
        postgres_constraint: "users_name_key",
        subject: "user name",
    },
    Unique {
        sqlite_column: "auth_keys.id",
        postgres_constraint: "auth_keys_pkey",
        subject: "auth key id",
    },
    Unique {
        sqlite_column: "api_tokens.id",
        postgres_constraint: "api_tokens_pkey",
        subject: "api token id",
    },
    Unique {
        sqlite_column: "oauth_clients.id",
        postgres_constraint: "oauth_clients_pkey",
        subject: "oauth client id",
    },
    Unique {
        sqlite_column: "oauth_tokens.id",
        postgres_constraint: "oauth_tokens_pkey",
        subject: "oauth token id",
    },
    Unique {
        sqlite_column: "nodes.machine_key",
        postgres_constraint: "nodes_machine_key_key",
        subject: "node machine_key",
    },
    Unique {
        sqlite_column: "nodes.node_key",
        postgres_constraint: "nodes_node_key_key",
        subject: "node node_key",
    },
    Unique {
        sqlite_column: "nodes.ipv4",
        postgres_constraint: "nodes_ipv4_key",
        subject: "node ipv4",
    },
    Unique {
        sqlite_column: "nodes.ipv6",
        postgres_constraint: "nodes_ipv6_key",
        subject: "node ipv6",
    },
    Unique {
        sqlite_column: "nodes.given_name",
        postgres_constraint: "nodes_given_name_key",
        subject: "node given_name",
    },
    Unique {
        sqlite_column: "policies.parent",
        postgres_constraint: "policies_parent_key",
        subject: "policy revision",
    },
];

/// SQLite's message for a violated UNIQUE or PRIMARY KEY constraint, before the columns.
const SQLITE_UNIQUE_PREFIX: &str = "UNIQUE constraint failed: ";

impl StoreError {
    /// Classifies the error of a write: a unique violation becomes [`StoreError::Conflict`]
    /// naming its subject, a foreign-key violation becomes [`StoreError::NotFound`]`(referenced)`
    /// (SQLite does not say which reference failed, so the caller names what the row refers
    /// to), anything else stays a database error.
    pub(crate) fn from_write(error: sqlx::Error, referenced: &'static str) -> Self {
        let sqlx::Error::Database(db) = &error else {
            return Self::Database(error);
        };
        match db.kind() {
            ErrorKind::UniqueViolation => {
                let sqlite_columns = db.message().strip_prefix(SQLITE_UNIQUE_PREFIX);
                let postgres_constraint = db.constraint();
                let known = UNIQUES.iter().find(|u| {
                    sqlite_columns == Some(u.sqlite_column)
                        || postgres_constraint == Some(u.postgres_constraint)
                });
                match known {
                    Some(u) => Self::Conflict(u.subject),
                    None => Self::Database(error),
                }
            }
            ErrorKind::ForeignKeyViolation => Self::NotFound(referenced),
            _ => Self::Database(error),
        }
    }

    /// A stored value that does not make a valid domain value.
    pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt { what, detail: detail.to_string() }
    }
}
