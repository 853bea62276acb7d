//! The `api_tokens` table: credentials for the REST API, stored as hashes.

use keygate_domain::{ApiToken, Description, Timestamp, TokenId, UserId};

use crate::conn::Arg;
use crate::credentials::{secret_hash, CredentialTable, Revocable, Stored};
use crate::StoreError;

/// The `api_tokens` table.
pub(crate) struct ApiTokens;

impl Stored for ApiToken {
    type Table = ApiTokens;
}

impl Revocable for ApiTokens {}

impl CredentialTable for ApiTokens {
    type Value = ApiToken;
    type Row = ApiTokenRow;
    const TABLE: &'static str = "api_tokens";
    const COLUMNS: &'static str =
        "id, user_id, description, created_at, expires_at, revoked_at, last_used_at, secret_hash";
    const WHAT: &'static str = "api token";
    const REFERENCED: &'static str = "user";

    fn bind(token: &ApiToken) -> Vec<Arg<'_>> {
        vec![
            token.id.as_str().into(),
            token.user.0.into(),
            token.description.as_str().into(),
            token.created.into(),
            token.expires.into(),
            token.revoked_at.into(),
            token.last_used_at.into(),
            token.secret_hash.0.as_slice().into(),
        ]
    }
}

/// An `api_tokens` row.
#[derive(sqlx::FromRow)]
pub(crate) struct ApiTokenRow {
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
            secret_hash: secret_hash(ApiTokens::TABLE, &row.secret_hash)?,
        })
    }
}
