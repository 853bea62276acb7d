//! The `auth_keys` table: pre-authentication keys, and the guarded update that consumes one
//! use of a key.
//!
//! # Why one guarded `UPDATE` is enough
//!
//! A key's use is counted by a single `UPDATE … WHERE <the key is still usable> RETURNING`
//! (compare-and-set): the condition and the increment are one statement, so no caller can
//! act on a stale read of `use_count`.
//! - SQLite: every write goes through the store's one writer connection, and the database
//!   lock serialises writers from other processes; the statement runs alone.
//! - PostgreSQL, under the default READ COMMITTED isolation: the `UPDATE` takes the row lock.
//!   A concurrent `UPDATE` of the same key blocks on that lock; when the first transaction
//!   commits, PostgreSQL re-evaluates the `WHERE` clause against the newly committed row
//!   version (EvalPlanQual) and updates it only if it still matches. If the first transaction
//!   rolls back instead (say its node insert conflicted), the waiter evaluates the original
//!   row and may take the use. So fifty concurrent callers on a one-off key produce exactly
//!   one matching `UPDATE`, without SERIALIZABLE and without retries.
//!
//! When the `UPDATE` matches nothing, the key is read back and the domain's
//! [`AuthKey::check_usable`] names the reason. Uses only grow and revocation is final, so a
//! key that failed the guard cannot look usable on that second read.

use keygate_domain::{
    AuthKey, AuthKeyId, Description, KeyRejected, SecretHash, TagSet, Timestamp, UserId,
};

use crate::conn::Conn;
use crate::revoke::{revoke_once, RevokeSql};
use crate::{RevokeOutcome, StoreError};

/// An `auth_keys` row.
#[derive(sqlx::FromRow)]
struct AuthKeyRow {
    id: String,
    creator: Option<i64>,
    reusable: bool,
    usage_limit: Option<i64>,
    use_count: i64,
    ephemeral: bool,
    preauthorized: bool,
    tags: String,
    description: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    secret_hash: Vec<u8>,
}

impl TryFrom<AuthKeyRow> for AuthKey {
    type Error = StoreError;

    fn try_from(row: AuthKeyRow) -> Result<Self, StoreError> {
        const WHAT: &str = "auth_keys";
        Ok(AuthKey {
            id: AuthKeyId::from_stored(row.id),
            creator: row.creator.map(UserId),
            reusable: row.reusable,
            usage_limit: row
                .usage_limit
                .map(u32::try_from)
                .transpose()
                .map_err(|e| StoreError::corrupt(WHAT, format_args!("usage_limit: {e}")))?,
            use_count: u32::try_from(row.use_count)
                .map_err(|e| StoreError::corrupt(WHAT, format_args!("use_count: {e}")))?,
            ephemeral: row.ephemeral,
            preauthorized: row.preauthorized,
            tags: TagSet::parse_list(&row.tags)
                .map_err(|e| StoreError::corrupt(WHAT, format_args!("tags: {e}")))?,
            description: Description::from_stored(row.description),
            created: Timestamp::from_unix_millis(row.created_at),
            expires: Timestamp::from_unix_millis(row.expires_at),
            revoked_at: row.revoked_at.map(Timestamp::from_unix_millis),
            last_used_at: row.last_used_at.map(Timestamp::from_unix_millis),
            secret_hash: SecretHash::from_slice(&row.secret_hash)
                .ok_or_else(|| StoreError::corrupt(WHAT, "secret_hash is not 32 bytes"))?,
        })
    }
}

macro_rules! columns {
    () => {
        "id, creator, reusable, usage_limit, use_count, ephemeral, preauthorized, tags, \
         description, created_at, expires_at, revoked_at, last_used_at, secret_hash"
    };
}

const INSERT: &str = "INSERT INTO auth_keys (id, creator, reusable, usage_limit, use_count, \
     ephemeral, preauthorized, tags, description, created_at, expires_at, revoked_at, \
     last_used_at, secret_hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
const SELECT_BY_ID: &str = concat!("SELECT ", columns!(), " FROM auth_keys WHERE id = $1");
/// Newest first; the id breaks ties between keys made in the same millisecond.
const SELECT_ALL: &str =
    concat!("SELECT ", columns!(), " FROM auth_keys ORDER BY created_at DESC, id DESC");
const REVOKE: &str = concat!(
    "UPDATE auth_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING ",
    columns!()
);

/// The compare-and-set of one use (see the module docs). The condition mirrors
/// [`AuthKey::check_usable`]: not revoked, `now` before the expiry, and a one-off key unused
/// or a reusable key under its limit (if it has one).
const CONSUME: &str = concat!(
    "UPDATE auth_keys SET use_count = use_count + 1, last_used_at = $2 \
     WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 \
       AND ((NOT reusable AND use_count = 0) \
         OR (reusable AND (usage_limit IS NULL OR use_count < usage_limit))) \
     RETURNING ",
    columns!()
);

pub(crate) async fn insert<C: Conn>(c: &mut C, key: &AuthKey) -> Result<(), StoreError> {
    let tags = key.tags.to_string();
    c.execute(
        INSERT,
        &[
            key.id.as_str().into(),
            key.creator.map(|u| u.0).into(),
            key.reusable.into(),
            key.usage_limit.map(i64::from).into(),
            i64::from(key.use_count).into(),
            key.ephemeral.into(),
            key.preauthorized.into(),
            tags.as_str().into(),
            key.description.as_str().into(),
            key.created.into(),
            key.expires.into(),
            key.revoked_at.into(),
            key.last_used_at.into(),
            key.secret_hash.0.as_slice().into(),
        ],
    )
    .await
    .map_err(|e| StoreError::from_write(e, "creator user"))?;
    Ok(())
}

pub(crate) async fn find<C: Conn>(
    c: &mut C,
    id: &AuthKeyId,
) -> Result<Option<AuthKey>, StoreError> {
    let row: Option<AuthKeyRow> = c.fetch_optional(SELECT_BY_ID, &[id.as_str().into()]).await?;
    row.map(AuthKey::try_from).transpose()
}

pub(crate) async fn list<C: Conn>(c: &mut C) -> Result<Vec<AuthKey>, StoreError> {
    let rows: Vec<AuthKeyRow> = c.fetch_all(SELECT_ALL, &[]).await?;
    rows.into_iter().map(AuthKey::try_from).collect()
}

pub(crate) async fn revoke<C: Conn>(
    c: &mut C,
    id: &AuthKeyId,
    at: Timestamp,
) -> Result<RevokeOutcome<AuthKey>, StoreError> {
    let sql = RevokeSql { revoke: REVOKE, select: SELECT_BY_ID, what: "auth key" };
    revoke_once::<_, AuthKeyRow, _>(c, sql, id.as_str(), at).await
}

/// Counts one use of the key at `now`: the key as updated, or why it cannot be used.
/// [`StoreError::NotFound`] for an unknown id.
pub(crate) async fn consume<C: Conn>(
    c: &mut C,
    id: &AuthKeyId,
    now: Timestamp,
) -> Result<Result<AuthKey, KeyRejected>, StoreError> {
    let updated: Option<AuthKeyRow> =
        c.fetch_optional(CONSUME, &[id.as_str().into(), now.into()]).await?;
    if let Some(row) = updated {
        return Ok(Ok(row.try_into()?));
    }
    let key = find(c, id).await?.ok_or(StoreError::NotFound("auth key"))?;
    Ok(Err(rejection(&key, now)))
}

/// Why `key`, which failed the guarded update at `now`, is unusable.
fn rejection(key: &AuthKey, now: Timestamp) -> KeyRejected {
    match key.check_usable(now) {
        Err(rejected) => rejected,
        // Unreachable while uses only grow and revocation is final (module docs); should a
        // future method break that, refusing is the safe answer.
        Ok(()) => {
            tracing::warn!(key = %key.id, "auth key failed the guarded update but reads as usable");
            if key.reusable {
                KeyRejected::UsageLimitReached
            } else {
                KeyRejected::AlreadyUsed
            }
        }
    }
}
