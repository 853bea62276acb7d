//! The `api_tokens` table: credentials for the REST API, stored as hashes.

use keygate_domain::{ApiToken, Description, SecretHash, Timestamp, TokenId, UserId};

use crate::conn::Conn;
use crate::revoke::{revoke_once, RevokeSql};
use crate::{RevokeOutcome, StoreError};

/// An `api_tokens` row.
#[derive(sqlx::FromRow)]
struct ApiTokenRow {
    id: String,
    user_id: i64,
    description: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    secret_hash: Vec<u8>,
}

impl TryFrom<ApiTokenRow> for ApiToken {
    type Error = StoreError;

    fn try_from(row: ApiTokenRow) -> Result<Self, StoreError> {
        Ok(ApiToken {
            id: TokenId::from_stored(row.id),
            user: UserId(row.user_id),
            description: Description::from_stored(row.description),
            created: Timestamp::from_unix_millis(row.created_at),
            expires: Timestamp::from_unix_millis(row.expires_at),
            revoked_at: row.revoked_at.map(Timestamp::from_unix_millis),
            last_used_at: row.last_used_at.map(Timestamp::from_unix_millis),
            secret_hash: SecretHash::from_slice(&row.secret_hash)
                .ok_or_else(|| StoreError::corrupt("api_tokens", "secret_hash is not 32 bytes"))?,
        })
    }
}

macro_rules! columns {
    () => {
        "id, user_id, description, created_at, expires_at, revoked_at, last_used_at, secret_hash"
    };
}

const INSERT: &str =
    concat!("INSERT INTO api_tokens (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
const SELECT_BY_ID: &str = concat!("SELECT ", columns!(), " FROM api_tokens WHERE id = $1");
/// Newest first; the id breaks ties between tokens made in the same millisecond.
const SELECT_ALL: &str =
    concat!("SELECT ", columns!(), " FROM api_tokens ORDER BY created_at DESC, id DESC");
const REVOKE: &str = concat!(
    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING ",
    columns!()
);
const TOUCH: &str = "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1";

pub(crate) async fn insert<C: Conn>(c: &mut C, token: &ApiToken) -> Result<(), StoreError> {
    c.execute(
        INSERT,
        &[
            token.id.as_str().into(),
            token.user.0.into(),
            token.description.as_str().into(),
            token.created.into(),
            token.expires.into(),
            token.revoked_at.into(),
            token.last_used_at.into(),
            token.secret_hash.0.as_slice().into(),
        ],
    )
    .await
    .map_err(|e| StoreError::from_write(e, "user"))?;
    Ok(())
}

pub(crate) async fn find<C: Conn>(c: &mut C, id: &TokenId) -> Result<Option<ApiToken>, StoreError> {
    let row: Option<ApiTokenRow> = c.fetch_optional(SELECT_BY_ID, &[id.as_str().into()]).await?;
    row.map(ApiToken::try_from).transpose()
}

pub(crate) async fn list<C: Conn>(c: &mut C) -> Result<Vec<ApiToken>, StoreError> {
    let rows: Vec<ApiTokenRow> = c.fetch_all(SELECT_ALL, &[]).await?;
    rows.into_iter().map(ApiToken::try_from).collect()
}

pub(crate) async fn revoke<C: Conn>(
    c: &mut C,
    id: &TokenId,
    at: Timestamp,
) -> Result<RevokeOutcome<ApiToken>, StoreError> {
    let sql = RevokeSql { revoke: REVOKE, select: SELECT_BY_ID, what: "api token" };
    revoke_once::<_, ApiTokenRow, _>(c, sql, id.as_str(), at).await
}

pub(crate) async fn touch<C: Conn>(
    c: &mut C,
    id: &TokenId,
    at: Timestamp,
) -> Result<(), StoreError> {
    match c.execute(TOUCH, &[id.as_str().into(), at.into()]).await? {
        0 => Err(StoreError::NotFound("api token")),
        _ => Ok(()),
    }
}
