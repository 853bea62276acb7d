//! The `console_admins` table: the accounts that sign in to the admin web console.
//!
//! These are not tailnet [`keygate_domain::User`]s: a user owns keys and nodes, an admin
//! account only opens the console. The types live here rather than in the domain because
//! they carry no rules of their own; password checks and hashing are the service's.

use std::fmt;

use keygate_domain::{Timestamp, UserName};

use crate::conn::Conn;
use crate::StoreError;

/// A console admin's database id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsoleAdminId(pub i64);

impl fmt::Display for ConsoleAdminId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A password hash in PHC string form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). Not the
/// password, but still only for the verifier: `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// An account of the admin console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleAdmin {
    pub id: ConsoleAdminId,
    /// Sign-in name, with the syntax of user names.
    pub name: UserName,
    pub password_hash: PasswordHash,
    pub created: Timestamp,
}

/// A `console_admins` row.
#[derive(sqlx::FromRow)]
struct ConsoleAdminRow {
    id: i64,
    name: String,
    password_hash: String,
    created_at: i64,
}

impl From<ConsoleAdminRow> for ConsoleAdmin {
    fn from(row: ConsoleAdminRow) -> Self {
        ConsoleAdmin {
            id: ConsoleAdminId(row.id),
            name: UserName::from_stored(row.name),
            password_hash: PasswordHash(row.password_hash),
            created: Timestamp::from_unix_millis(row.created_at),
        }
    }
}

macro_rules! columns {
    () => {
        "id, name, password_hash, created_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO console_admins (name, password_hash, created_at) VALUES ($1, $2, $3) RETURNING ",
    columns!()
);
const SELECT_BY_ID: &str = concat!("SELECT ", columns!(), " FROM console_admins WHERE id = $1");
const SELECT_BY_NAME: &str = concat!("SELECT ", columns!(), " FROM console_admins WHERE name = $1");
const SELECT_ALL: &str = concat!("SELECT ", columns!(), " FROM console_admins ORDER BY id");
const COUNT: &str = "SELECT COUNT(*) FROM console_admins";

pub(crate) async fn insert<C: Conn>(
    c: &mut C,
    name: &UserName,
    password_hash: &PasswordHash,
    created: Timestamp,
) -> Result<ConsoleAdmin, StoreError> {
    let row: ConsoleAdminRow = c
        .fetch_one(INSERT, &[name.as_str().into(), password_hash.as_str().into(), created.into()])
        .await
        .map_err(|e| StoreError::from_write(e, "console admin"))?;
    Ok(row.into())
}

pub(crate) async fn get<C: Conn>(
    c: &mut C,
    id: ConsoleAdminId,
) -> Result<ConsoleAdmin, StoreError> {
    let row: Option<ConsoleAdminRow> = c.fetch_optional(SELECT_BY_ID, &[id.0.into()]).await?;
    row.map(ConsoleAdmin::from).ok_or(StoreError::NotFound("console admin"))
}

pub(crate) async fn find_by_name<C: Conn>(
    c: &mut C,
    name: &UserName,
) -> Result<Option<ConsoleAdmin>, StoreError> {
    let row: Option<ConsoleAdminRow> =
        c.fetch_optional(SELECT_BY_NAME, &[name.as_str().into()]).await?;
    Ok(row.map(ConsoleAdmin::from))
}

pub(crate) async fn list<C: Conn>(c: &mut C) -> Result<Vec<ConsoleAdmin>, StoreError> {
    let rows: Vec<ConsoleAdminRow> = c.fetch_all(SELECT_ALL, &[]).await?;
    Ok(rows.into_iter().map(ConsoleAdmin::from).collect())
}

pub(crate) async fn count<C: Conn>(c: &mut C) -> Result<u64, StoreError> {
    let (n,): (i64,) = c.fetch_one(COUNT, &[]).await?;
    u64::try_from(n).map_err(|e| StoreError::corrupt("console_admins", format_args!("count: {e}")))
}
