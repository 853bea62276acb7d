//! The `oauth_tokens` table: access tokens obtained by OAuth clients, stored as hashes and
//! deleted once expired.

use keygate_domain::{OAuthToken, ScopeSet, TagSet, Timestamp, TokenId};

use crate::conn::Arg;
use crate::credentials::{parsed, secret_hash, CredentialTable, Stored};
use crate::StoreError;

/// The `oauth_tokens` table.
pub(crate) struct OAuthTokens;

impl Stored for OAuthToken {
    type Table = OAuthTokens;
}

impl CredentialTable for OAuthTokens {
    type Value = OAuthToken;
    type Row = OAuthTokenRow;
    const TABLE: &'static str = "oauth_tokens";
    const COLUMNS: &'static str =
        "id, client_id, scopes, tags, created_at, expires_at, secret_hash";
    const WHAT: &'static str = "oauth token";
    const REFERENCED: &'static str = "oauth client";

    fn bind(token: &OAuthToken) -> Vec<Arg<'_>> {
        vec![
            token.id.as_str().into(),
            token.client.as_str().into(),
            token.scopes.to_string().into(),
            token.tags.to_string().into(),
            token.created.into(),
            token.expires.into(),
            token.secret_hash.0.as_slice().into(),
        ]
    }
}

/// An `oauth_tokens` row.
#[derive(sqlx::FromRow)]
pub(crate) struct OAuthTokenRow {
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
        const WHAT: &str = OAuthTokens::TABLE;
        Ok(OAuthToken {
            id: TokenId::from_stored(row.id),
            client: TokenId::from_stored(row.client_id),
            scopes: parsed(WHAT, "scopes", ScopeSet::parse_list(&row.scopes))?,
            tags: parsed(WHAT, "tags", TagSet::parse_list(&row.tags))?,
            created: Timestamp::from_unix_millis(row.created_at),
            expires: Timestamp::from_unix_millis(row.expires_at),
            secret_hash: secret_hash(WHAT, &row.secret_hash)?,
        })
    }
}
