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

use keygate_domain::{AuthKey, AuthKeyId, Description, KeyRejected, TagSet, Timestamp, UserId};

use crate::conn::{Arg, Conn};
use crate::credentials::{self, parsed, secret_hash, CredentialTable, Revocable, Stored};
use crate::StoreError;

macro_rules! columns {
    () => {
        "id, creator, reusable, usage_limit, use_count, ephemeral, preauthorized, tags, \
         description, created_at, expires_at, revoked_at, last_used_at, secret_hash"
    };
}

/// The `auth_keys` table.
pub(crate) struct AuthKeys;

impl Stored for AuthKey {
    type Table = AuthKeys;
}

impl Revocable for AuthKeys {}

impl CredentialTable for AuthKeys {
    type Value = AuthKey;
    type Row = AuthKeyRow;
    const TABLE: &'static str = "auth_keys";
    const COLUMNS: &'static str = columns!();
    const WHAT: &'static str = "auth key";
    const REFERENCED: &'static str = "creator user";

    fn bind(key: &AuthKey) -> Vec<Arg<'_>> {
        vec![
            key.id.as_str().into(),
            key.creator.map(|u| u.0).into(),
            key.reusable.into(),
            key.usage_limit.map(i64::from).into(),
            i64::from(key.use_count).into(),
            key.ephemeral.into(),
            key.preauthorized.into(),
            key.tags.to_string().into(),
            key.description.as_str().into(),
            key.created.into(),
            key.expires.into(),
            key.revoked_at.into(),
            key.last_used_at.into(),
            key.secret_hash.0.as_slice().into(),
        ]
    }
}

/// An `auth_keys` row.
#[derive(sqlx::FromRow)]
pub(crate) struct AuthKeyRow {
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
        const WHAT: &str = AuthKeys::TABLE;
        Ok(AuthKey {
            id: AuthKeyId::from_stored(row.id),
            creator: row.creator.map(UserId),
            reusable: row.reusable,
            usage_limit: parsed(
                WHAT,
                "usage_limit",
                row.usage_limit.map(u32::try_from).transpose(),
            )?,
            use_count: parsed(WHAT, "use_count", u32::try_from(row.use_count))?,
            ephemeral: row.ephemeral,
            preauthorized: row.preauthorized,
            tags: parsed(WHAT, "tags", TagSet::parse_list(&row.tags))?,
            description: Description::from_stored(row.description),
            created: Timestamp::from_unix_millis(row.created_at),
            expires: Timestamp::from_unix_millis(row.expires_at),
            revoked_at: row.revoked_at.map(Timestamp::from_unix_millis),
            last_used_at: row.last_used_at.map(Timestamp::from_unix_millis),
            secret_hash: secret_hash(WHAT, &row.secret_hash)?,
        })
    }
}

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
    let key = credentials::find::<AuthKeys, C>(c, id)
        .await?
        .ok_or(StoreError::NotFound(AuthKeys::WHAT))?;
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
