//! The `oauth_tokens` table: access tokens obtained by OAuth clients, stored as hashes and
//! deleted once expired.

use keygate_domain::{OAuthToken, ScopeSet, SecretHash, TagSet, Timestamp, TokenId};

use crate::conn::Conn;
use crate::StoreError;

/// An `oauth_tokens` row.
#[derive(sqlx::FromRow)]
struct OAuthTokenRow {
    id: String,
    client_id: String,
    scopes: String,
    tags: String,
    created_at: i64,
    expires_at: i64,
    secret_hash: Vec<u8>,
}

impl TryFrom<OAuthTokenRow> for OAuthToken {
    type Error = StoreError;

    fn try_from(row: OAuthTokenRow) -> Result<Self, StoreError> {
        const WHAT: &str = "oauth_tokens";
        Ok(OAuthToken {
            id: TokenId::from_stored(row.id),
            client: TokenId::from_stored(row.client_id),
            scopes: ScopeSet::parse_list(&row.scopes)
                .map_err(|e| StoreError::corrupt(WHAT, format_args!("scopes: {e}")))?,
            tags: TagSet::parse_list(&row.tags)
                .map_err(|e| StoreError::corrupt(WHAT, format_args!("tags: {e}")))?,
            created: Timestamp::from_unix_millis(row.created_at),
            expires: Timestamp::from_unix_millis(row.expires_at),
            secret_hash: SecretHash::from_slice(&row.secret_hash)
                .ok_or_else(|| StoreError::corrupt(WHAT, "secret_hash is not 32 bytes"))?,
        })
    }
}

macro_rules! columns {
    () => {
        "id, client_id, scopes, tags, created_at, expires_at, secret_hash"
    };
}

const INSERT: &str =
    concat!("INSERT INTO oauth_tokens (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)");
const SELECT_BY_ID: &str = concat!("SELECT ", columns!(), " FROM oauth_tokens WHERE id = $1");
const DELETE_EXPIRED: &str = "DELETE FROM oauth_tokens WHERE expires_at <= $1";

pub(crate) async fn insert<C: Conn>(c: &mut C, token: &OAuthToken) -> Result<(), StoreError> {
    let scopes = token.scopes.to_string();
    let tags = token.tags.to_string();
    c.execute(
        INSERT,
        &[
            token.id.as_str().into(),
            token.client.as_str().into(),
            scopes.as_str().into(),
            tags.as_str().into(),
            token.created.into(),
            token.expires.into(),
            token.secret_hash.0.as_slice().into(),
        ],
    )
    .await
    .map_err(|e| StoreError::from_write(e, "oauth client"))?;
    Ok(())
}

pub(crate) async fn find<C: Conn>(
    c: &mut C,
    id: &TokenId,
) -> Result<Option<OAuthToken>, StoreError> {
    let row: Option<OAuthTokenRow> = c.fetch_optional(SELECT_BY_ID, &[id.as_str().into()]).await?;
    row.map(OAuthToken::try_from).transpose()
}

/// Deletes the tokens whose expiry is at or before `now`; how many.
pub(crate) async fn delete_expired<C: Conn>(c: &mut C, now: Timestamp) -> Result<u64, StoreError> {
    Ok(c.execute(DELETE_EXPIRED, &[now.into()]).await?)
}
