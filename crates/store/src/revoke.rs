//! Revoking something that can only be revoked once (pre-authentication keys, API tokens).

use keygate_domain::Timestamp;

use crate::conn::{Conn, Record};
use crate::{RevokeOutcome, StoreError};

/// The statements of one table's revocation, both taking the text id as `$1`.
pub(crate) struct RevokeSql {
    /// `UPDATE … SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING …`
    pub revoke: &'static str,
    /// `SELECT … WHERE id = $1`
    pub select: &'static str,
    /// What is revoked, for [`StoreError::NotFound`].
    pub what: &'static str,
}

/// Sets `revoked_at` unless it is set already. The guarded `UPDATE` decides, so of two
/// concurrent revocations exactly one reports [`RevokeOutcome::Revoked`]; the follow-up read
/// only tells "revoked before" from "never existed". Run it in a transaction so both
/// statements see one state.
pub(crate) async fn revoke_once<C, R, T>(
    c: &mut C,
    sql: RevokeSql,
    id: &str,
    at: Timestamp,
) -> Result<RevokeOutcome<T>, StoreError>
where
    C: Conn,
    R: Record + TryInto<T, Error = StoreError>,
{
    let revoked: Option<R> = c.fetch_optional(sql.revoke, &[id.into(), at.into()]).await?;
    if let Some(row) = revoked {
        return Ok(RevokeOutcome::Revoked(row.try_into()?));
    }
    let existing: Option<R> = c.fetch_optional(sql.select, &[id.into()]).await?;
    match existing {
        Some(row) => Ok(RevokeOutcome::AlreadyRevoked(row.try_into()?)),
        None => Err(StoreError::NotFound(sql.what)),
    }
}
