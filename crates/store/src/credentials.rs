//! The tables of secret-bearing credentials (`auth_keys`, `api_tokens`, `oauth_clients`,
//! `oauth_tokens`): insert, find by id, list, revoke, record a use and delete the expired,
//! written once for every kind and both databases.
//!
//! A kind's own module says only what differs: its table, its columns, and how a row maps to
//! and from its domain type ([`CredentialTable`]). What a kind does beyond these (consuming
//! one use of an auth key) stays in that module, as its own guarded statement.
//!
//! Every credential table has `id` (the public id, primary key), `created_at` and
//! `secret_hash`; [`revoke`] needs `revoked_at`, [`touch`] `last_used_at`, and
//! [`delete_expired`] `expires_at`. Times are unix milliseconds.

use keygate_domain::{Credential, CredentialId, Timestamp};

use crate::conn::{Arg, Conn, Record};
use crate::{RevokeOutcome, StoreError};

/// One kind's table.
pub(crate) trait CredentialTable {
    /// The domain type a row holds.
    type Value: Credential;
    /// A row as read, with [`CredentialTable::COLUMNS`] as its fields.
    type Row: Record + TryInto<Self::Value, Error = StoreError>;
    const TABLE: &'static str;
    /// Every column, `id` first, in the order of [`CredentialTable::bind`].
    const COLUMNS: &'static str;
    /// What [`StoreError::NotFound`] calls a missing row.
    const WHAT: &'static str;
    /// What a row refers to: [`StoreError::NotFound`] names it when an insert's reference
    /// fails (SQLite does not say which one did).
    const REFERENCED: &'static str;
    /// The values of a new row, in [`CredentialTable::COLUMNS`] order.
    fn bind(value: &Self::Value) -> Vec<Arg<'_>>;
}

/// A credential type the store keeps, and the table that holds it.
pub(crate) trait Stored: Credential {
    type Table: CredentialTable<Value = Self>;
}

/// A table whose credentials are revoked (`revoked_at`) and record their last use
/// (`last_used_at`): [`revoke`] and [`touch`] apply.
pub(crate) trait Revocable: CredentialTable {}

/// Stores a new credential; [`StoreError::Conflict`] if its id exists.
pub(crate) async fn insert<T: CredentialTable, C: Conn>(
    c: &mut C,
    value: &T::Value,
) -> Result<(), StoreError> {
    let args = T::bind(value);
    let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("${i}")).collect();
    let sql =
        format!("INSERT INTO {} ({}) VALUES ({})", T::TABLE, T::COLUMNS, placeholders.join(", "));
    c.execute(&sql, &args).await.map_err(|e| StoreError::from_write(e, T::REFERENCED))?;
    Ok(())
}

/// The `SELECT` of one row by id (`$1`).
pub(crate) fn select_by_id<T: CredentialTable>() -> String {
    format!("SELECT {} FROM {} WHERE id = $1", T::COLUMNS, T::TABLE)
}

pub(crate) async fn find<T: CredentialTable, C: Conn>(
    c: &mut C,
    id: &<T::Value as Credential>::Id,
) -> Result<Option<T::Value>, StoreError> {
    let row: Option<T::Row> = c.fetch_optional(&select_by_id::<T>(), &[id.as_str().into()]).await?;
    row.map(T::Row::try_into).transpose()
}

/// Every row, newest first; the id breaks ties between rows made in the same millisecond.
pub(crate) async fn list<T: CredentialTable, C: Conn>(
    c: &mut C,
) -> Result<Vec<T::Value>, StoreError> {
    let sql = format!("SELECT {} FROM {} ORDER BY created_at DESC, id DESC", T::COLUMNS, T::TABLE);
    let rows: Vec<T::Row> = c.fetch_all(&sql, &[]).await?;
    rows.into_iter().map(T::Row::try_into).collect()
}

/// Sets `revoked_at` unless it is set already. The guarded `UPDATE` decides, so of two
/// concurrent revocations exactly one reports [`RevokeOutcome::Revoked`]; the follow-up read
/// only tells "revoked before" from "never existed". Run it in a transaction so both
/// statements see one state.
pub(crate) async fn revoke<T: CredentialTable, C: Conn>(
    c: &mut C,
    id: &<T::Value as Credential>::Id,
    at: Timestamp,
) -> Result<RevokeOutcome<T::Value>, StoreError> {
    let sql = format!(
        "UPDATE {} SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING {}",
        T::TABLE,
        T::COLUMNS
    );
    let revoked: Option<T::Row> = c.fetch_optional(&sql, &[id.as_str().into(), at.into()]).await?;
    if let Some(row) = revoked {
        return Ok(RevokeOutcome::Revoked(row.try_into()?));
    }
    match find::<T, C>(c, id).await? {
        Some(value) => Ok(RevokeOutcome::AlreadyRevoked(value)),
        None => Err(StoreError::NotFound(T::WHAT)),
    }
}

/// Records a use at `at` (`last_used_at`); [`StoreError::NotFound`] for an unknown id.
pub(crate) async fn touch<T: CredentialTable, C: Conn>(
    c: &mut C,
    id: &<T::Value as Credential>::Id,
    at: Timestamp,
) -> Result<(), StoreError> {
    let sql = format!("UPDATE {} SET last_used_at = $2 WHERE id = $1", T::TABLE);
    match c.execute(&sql, &[id.as_str().into(), at.into()]).await? {
        0 => Err(StoreError::NotFound(T::WHAT)),
        _ => Ok(()),
    }
}

/// Deletes the rows whose expiry is at or before `now`; how many.
pub(crate) async fn delete_expired<T: CredentialTable, C: Conn>(
    c: &mut C,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let sql = format!("DELETE FROM {} WHERE expires_at <= $1", T::TABLE);
    Ok(c.execute(&sql, &[now.into()]).await?)
}

/// The peppered hash column, as every credential table stores it.
pub(crate) fn secret_hash(
    what: &'static str,
    bytes: &[u8],
) -> Result<keygate_domain::SecretHash, StoreError> {
    stored_hash(what, "secret_hash", bytes)
}

/// A stored SHA-256 of a secret (32 bytes) read back; any other length is
/// [`StoreError::Corrupt`], naming the table and the column.
pub(crate) fn stored_hash(
    what: &'static str,
    column: &str,
    bytes: &[u8],
) -> Result<keygate_domain::SecretHash, StoreError> {
    keygate_domain::SecretHash::from_slice(bytes)
        .ok_or_else(|| StoreError::corrupt(what, format_args!("{column} is not 32 bytes")))
}

/// A column's stored text parsed back into its domain value; a value that does not parse is
/// [`StoreError::Corrupt`], naming the table and the column.
pub(crate) fn parsed<V, E: std::fmt::Display>(
    table: &'static str,
    column: &str,
    value: Result<V, E>,
) -> Result<V, StoreError> {
    value.map_err(|e| StoreError::corrupt(table, format_args!("{column}: {e}")))
}
