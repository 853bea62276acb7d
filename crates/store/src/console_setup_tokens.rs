//! The `console_setup_tokens` table: one-time links that create the first console admin.
//!
//! A token is used by one guarded `UPDATE … WHERE used_at IS NULL AND expires_at > now`, in the
//! same transaction that checks that no admin exists yet and inserts the admin; as with
//! pre-authentication keys (see `auth_keys`), concurrent uses of one token cannot both match.

use keygate_domain::{SecretHash, Timestamp, UserName};

use crate::conn::Conn;
use crate::credentials::stored_hash;
use crate::{console_admins, ConsoleAdmin, PasswordHash, StoreError};

/// A setup link's token, as stored (only its SHA-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupToken {
    pub token_hash: SecretHash,
    pub created: Timestamp,
    /// Usable while `now < expires` and unused.
    pub expires: Timestamp,
    pub used_at: Option<Timestamp>,
}

impl SetupToken {
    /// Whether the token may create the first admin at `now`.
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.used_at.is_none() && now < self.expires
    }
}

/// The result of creating the first admin with a setup token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupOutcome {
    /// The token was used and the admin created.
    Created(ConsoleAdmin),
    /// The token is unknown, used or expired; nothing was written.
    TokenRejected,
    /// An admin exists already (setup is for the first one only); nothing was written.
    AdminExists,
}

/// A `console_setup_tokens` row.
#[derive(sqlx::FromRow)]
struct SetupTokenRow {
    token_hash: Vec<u8>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TryFrom<SetupTokenRow> for SetupToken {
    type Error = StoreError;

    fn try_from(row: SetupTokenRow) -> Result<Self, StoreError> {
        Ok(SetupToken {
            token_hash: stored_hash("console_setup_tokens", "token_hash", &row.token_hash)?,
            created: Timestamp::from_unix_millis(row.created_at),
            expires: Timestamp::from_unix_millis(row.expires_at),
            used_at: row.used_at.map(Timestamp::from_unix_millis),
        })
    }
}

const INSERT: &str =
    "INSERT INTO console_setup_tokens (token_hash, created_at, expires_at, used_at) \
     VALUES ($1, $2, $3, $4)";
const SELECT_BY_HASH: &str = "SELECT token_hash, created_at, expires_at, used_at \
     FROM console_setup_tokens WHERE token_hash = $1";
/// The compare-and-set of the token's one use.
const USE: &str = "UPDATE console_setup_tokens SET used_at = $2 \
     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2";

pub(crate) async fn insert<C: Conn>(c: &mut C, token: &SetupToken) -> Result<(), StoreError> {
    c.execute(
        INSERT,
        &[
            token.token_hash.0.as_slice().into(),
            token.created.into(),
            token.expires.into(),
            token.used_at.into(),
        ],
    )
    .await
    .map_err(|e| StoreError::from_write(e, "setup token"))?;
    Ok(())
}

pub(crate) async fn find<C: Conn>(
    c: &mut C,
    token_hash: &SecretHash,
) -> Result<Option<SetupToken>, StoreError> {
    let row: Option<SetupTokenRow> =
        c.fetch_optional(SELECT_BY_HASH, &[token_hash.0.as_slice().into()]).await?;
    row.map(SetupToken::try_from).transpose()
}

/// Uses the token and inserts the first admin. Run it in a transaction and commit only on
/// [`SetupOutcome::Created`]: on the other outcomes the token's use must not stick.
pub(crate) async fn create_first_admin<C: Conn>(
    c: &mut C,
    token_hash: &SecretHash,
    now: Timestamp,
    name: &UserName,
    password_hash: &PasswordHash,
) -> Result<SetupOutcome, StoreError> {
    if c.execute(USE, &[token_hash.0.as_slice().into(), now.into()]).await? == 0 {
        return Ok(SetupOutcome::TokenRejected);
    }
    if console_admins::count(c).await? > 0 {
        return Ok(SetupOutcome::AdminExists);
    }
    let admin = console_admins::insert(c, name, password_hash, now).await?;
    Ok(SetupOutcome::Created(admin))
}
