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
    /// A uniqueness constraint refused the write.
    #[error("{0} already exists")]
    Conflict(Unique),
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

/// The unique constraints of the schema (`migrations/*`), as [`StoreError::Conflict`] names
/// them. A conformance test provokes each one on both backends, so a renamed constraint cannot
/// silently turn a conflict into an opaque database error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unique {
    UserName,
    AuthKeyId,
    ApiTokenId,
    OAuthClientId,
    OAuthTokenId,
    NodeMachineKey,
    NodeNodeKey,
    NodeIpv4,
    NodeIpv6,
    NodeGivenName,
    /// Two policy revisions saved on the same parent (see `policies.rs`).
    PolicyRevision,
    ConsoleAdminName,
}

impl Unique {
    /// Every constraint, as [`StoreError::from_write`] looks them up.
    const ALL: [Unique; 12] = [
        Unique::UserName,
        Unique::AuthKeyId,
        Unique::ApiTokenId,
        Unique::OAuthClientId,
        Unique::OAuthTokenId,
        Unique::NodeMachineKey,
        Unique::NodeNodeKey,
        Unique::NodeIpv4,
        Unique::NodeIpv6,
        Unique::NodeGivenName,
        Unique::PolicyRevision,
        Unique::ConsoleAdminName,
    ];

    /// What the constraint keeps unique, in words (the start of the error message).
    pub fn subject(self) -> &'static str {
        match self {
            Unique::UserName => "user name",
            Unique::AuthKeyId => "auth key id",
            Unique::ApiTokenId => "api token id",
            Unique::OAuthClientId => "oauth client id",
            Unique::OAuthTokenId => "oauth token id",
            Unique::NodeMachineKey => "node machine_key",
            Unique::NodeNodeKey => "node node_key",
            Unique::NodeIpv4 => "node ipv4",
            Unique::NodeIpv6 => "node ipv6",
            Unique::NodeGivenName => "node given_name",
            Unique::PolicyRevision => "policy revision",
            Unique::ConsoleAdminName => "console admin name",
        }
    }

    /// How SQLite names it: `table.column`, as in "UNIQUE constraint failed: nodes.ipv4".
    fn sqlite_column(self) -> &'static str {
        match self {
            Unique::UserName => "users.name",
            Unique::AuthKeyId => "auth_keys.id",
            Unique::ApiTokenId => "api_tokens.id",
            Unique::OAuthClientId => "oauth_clients.id",
            Unique::OAuthTokenId => "oauth_tokens.id",
            Unique::NodeMachineKey => "nodes.machine_key",
            Unique::NodeNodeKey => "nodes.node_key",
            Unique::NodeIpv4 => "nodes.ipv4",
            Unique::NodeIpv6 => "nodes.ipv6",
            Unique::NodeGivenName => "nodes.given_name",
            Unique::PolicyRevision => "policies.parent",
            Unique::ConsoleAdminName => "console_admins.name",
        }
    }

    /// How PostgreSQL names it: the constraint name the migration gives it explicitly.
    fn postgres_constraint(self) -> &'static str {
        match self {
            Unique::UserName => "users_name_key",
            Unique::AuthKeyId => "auth_keys_pkey",
            Unique::ApiTokenId => "api_tokens_pkey",
            Unique::OAuthClientId => "oauth_clients_pkey",
            Unique::OAuthTokenId => "oauth_tokens_pkey",
            Unique::NodeMachineKey => "nodes_machine_key_key",
            Unique::NodeNodeKey => "nodes_node_key_key",
            Unique::NodeIpv4 => "nodes_ipv4_key",
            Unique::NodeIpv6 => "nodes_ipv6_key",
            Unique::NodeGivenName => "nodes_given_name_key",
            Unique::PolicyRevision => "policies_parent_key",
            Unique::ConsoleAdminName => "console_admins_name_key",
        }
    }
}

impl std::fmt::Display for Unique {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.subject())
    }
}

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
                let known = Unique::ALL.into_iter().find(|u| {
                    sqlite_columns == Some(u.sqlite_column())
                        || postgres_constraint == Some(u.postgres_constraint())
                });
                match known {
                    Some(u) => Self::Conflict(u),
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
