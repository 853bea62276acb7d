//! The `users` table: people who own keys, tokens and untagged nodes.

use keygate_domain::{Timestamp, User, UserId, UserName};

use crate::conn::Conn;
use crate::StoreError;

/// A `users` row.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    name: String,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId(row.id),
            name: UserName::from_stored(row.name),
            created: Timestamp::from_unix_millis(row.created_at),
        }
    }
}

macro_rules! columns {
    () => {
        "id, name, created_at"
    };
}

const INSERT: &str =
    concat!("INSERT INTO users (name, created_at) VALUES ($1, $2) RETURNING ", columns!());
const SELECT_BY_ID: &str = concat!("SELECT ", columns!(), " FROM users WHERE id = $1");
const SELECT_BY_NAME: &str = concat!("SELECT ", columns!(), " FROM users WHERE name = $1");
const SELECT_ALL: &str = concat!("SELECT ", columns!(), " FROM users ORDER BY id");

pub(crate) async fn insert<C: Conn>(
    c: &mut C,
    name: &UserName,
    created: Timestamp,
) -> Result<User, StoreError> {
    let row: UserRow = c
        .fetch_one(INSERT, &[name.as_str().into(), created.into()])
        .await
        .map_err(|e| StoreError::from_write(e, "user"))?;
    Ok(row.into())
}

pub(crate) async fn get<C: Conn>(c: &mut C, id: UserId) -> Result<User, StoreError> {
    let row: Option<UserRow> = c.fetch_optional(SELECT_BY_ID, &[id.0.into()]).await?;
    row.map(User::from).ok_or(StoreError::NotFound("user"))
}

pub(crate) async fn find_by_name<C: Conn>(
    c: &mut C,
    name: &UserName,
) -> Result<Option<User>, StoreError> {
    let row: Option<UserRow> = c.fetch_optional(SELECT_BY_NAME, &[name.as_str().into()]).await?;
    Ok(row.map(User::from))
}

pub(crate) async fn list<C: Conn>(c: &mut C) -> Result<Vec<User>, StoreError> {
    let rows: Vec<UserRow> = c.fetch_all(SELECT_ALL, &[]).await?;
    Ok(rows.into_iter().map(User::from).collect())
}
