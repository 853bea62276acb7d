//! The `oauth_clients` table: OAuth clients, stored with the hash of their secret.

use keygate_domain::{Description, OAuthClient, ScopeSet, TagSet, Timestamp, TokenId};

use crate::conn::Arg;
use crate::credentials::{parsed, secret_hash, CredentialTable, Revocable, Stored};
use crate::StoreError;

/// The `oauth_clients` table.
pub(crate) struct OAuthClients;

impl Stored for OAuthClient {
    type Table = OAuthClients;
}

impl Revocable for OAuthClients {}

impl CredentialTable for OAuthClients {
    type Value = OAuthClient;
    type Row = OAuthClientRow;
    const TABLE: &'static str = "oauth_clients";
    const COLUMNS: &'static str =
        "id, scopes, tags, description, created_at, revoked_at, last_used_at, secret_hash";
    const WHAT: &'static str = "oauth client";
    const REFERENCED: &'static str = "oauth client";

    fn bind(client: &OAuthClient) -> Vec<Arg<'_>> {
        vec![
            client.id.as_str().into(),
            client.scopes.to_string().into(),
            client.tags.to_string().into(),
            client.description.as_str().into(),
            client.created.into(),
            client.revoked_at.into(),
            client.last_used_at.into(),
            client.secret_hash.0.as_slice().into(),
        ]
    }
}

/// An `oauth_clients` row.
#[derive(sqlx::FromRow)]
pub(crate) struct OAuthClientRow {
    id: String,
    scopes: String,
    tags: String,
    description: String,
    created_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    secret_hash: Vec<u8>,
}

impl TryFrom<OAuthClientRow> for OAuthClient {
    type Error = StoreError;

    fn try_from(row: OAuthClientRow) -> Result<Self, StoreError> {
        const WHAT: &str = OAuthClients::TABLE;
        Ok(OAuthClient {
            id: TokenId::from_stored(row.id),
            scopes: parsed(WHAT, "scopes", ScopeSet::parse_list(&row.scopes))?,
            tags: parsed(WHAT, "tags", TagSet::parse_list(&row.tags))?,
            description: Description::from_stored(row.description),
            created: Timestamp::from_unix_millis(row.created_at),
            revoked_at: row.revoked_at.map(Timestamp::from_unix_millis),
            last_used_at: row.last_used_at.map(Timestamp::from_unix_millis),
            secret_hash: secret_hash(WHAT, &row.secret_hash)?,
        })
    }
}
