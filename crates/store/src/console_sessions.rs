//! The `console_sessions` table: who is signed in to the admin console.
//!
//! A session is found by the SHA-256 of the secret in its cookie; the secret itself is never
//! stored. Signing out deletes the row, so a copied cookie stops working at once.

use keygate_domain::{SecretHash, Timestamp};

use crate::conn::Conn;
use crate::credentials::stored_hash;
use crate::{ConsoleAdminId, StoreError};

/// A signed-in session of the admin console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the session secret.
    pub id_hash: SecretHash,
    pub admin: ConsoleAdminId,
    pub created: Timestamp,
    /// Valid while `now < expires`.
    pub expires: Timestamp,
}

/// A `console_sessions` row.
#[derive(sqlx::FromRow)]
struct ConsoleSessionRow {
    id_hash: Vec<u8>,
    admin_id: i64,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<ConsoleSessionRow> for ConsoleSession {
    type Error = StoreError;

    fn try_from(row: ConsoleSessionRow) -> Result<Self, StoreError> {
        Ok(ConsoleSession {
            id_hash: stored_hash("console_sessions", "id_hash", &row.id_hash)?,
            admin: ConsoleAdminId(row.admin_id),
            created: Timestamp::from_unix_millis(row.created_at),
            expires: Timestamp::from_unix_millis(row.expires_at),
        })
    }
}

const INSERT: &str = "INSERT INTO console_sessions (id_hash, admin_id, created_at, expires_at) \
     VALUES ($1, $2, $3, $4)";
const SELECT_BY_HASH: &str = "SELECT id_hash, admin_id, created_at, expires_at \
     FROM console_sessions WHERE id_hash = $1";
const DELETE_BY_HASH: &str = "DELETE FROM console_sessions WHERE id_hash = $1";
const DELETE_EXPIRED: &str = "DELETE FROM console_sessions WHERE expires_at <= $1";

pub(crate) async fn insert<C: Conn>(c: &mut C, session: &ConsoleSession) -> Result<(), StoreError> {
    c.execute(
        INSERT,
        &[
            session.id_hash.0.as_slice().into(),
            session.admin.0.into(),
            session.created.into(),
            session.expires.into(),
        ],
    )
    .await
    .map_err(|e| StoreError::from_write(e, "console admin"))?;
    Ok(())
}

pub(crate) async fn find<C: Conn>(
    c: &mut C,
    id_hash: &SecretHash,
) -> Result<Option<ConsoleSession>, StoreError> {
    let row: Option<ConsoleSessionRow> =
        c.fetch_optional(SELECT_BY_HASH, &[id_hash.0.as_slice().into()]).await?;
    row.map(ConsoleSession::try_from).transpose()
}

pub(crate) async fn delete<C: Conn>(c: &mut C, id_hash: &SecretHash) -> Result<bool, StoreError> {
    Ok(c.execute(DELETE_BY_HASH, &[id_hash.0.as_slice().into()]).await? > 0)
}

pub(crate) async fn delete_expired<C: Conn>(c: &mut C, now: Timestamp) -> Result<u64, StoreError> {
    Ok(c.execute(DELETE_EXPIRED, &[now.into()]).await?)
}
