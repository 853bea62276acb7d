//! The `oauth_clients` table: OAuth clients, stored with the hash of their secret.

use keygate_domain::{Description, OAuthClient, ScopeSet, SecretHash, TagSet, Timestamp, TokenId};

use crate::conn::Conn;
use crate::revoke::{revoke_once, RevokeSql};
use crate::{RevokeOutcome, StoreError};

/// An `oauth_clients` row.
#[derive(sqlx::FromRow)]
struct OAuthClientRow {
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
        const WHAT: &str = "oauth_clients";
        Ok(OAuthClient {
            id: TokenId::from_stored(row.id),
            scopes: ScopeSet::parse_list(&row.scopes)
                .map_err(|e| StoreError::corrupt(WHAT, format_args!("scopes: {e}")))?,
            tags: TagSet::parse_list(&row.tags)
                .map_err(|e| StoreError::corrupt(WHAT, format_args!("tags: {e}")))?,
            description: Description::from_stored(row.description),
            created: Timestamp::from_unix_millis(row.created_at),
            revoked_at: row.revoked_at.map(Timestamp::from_unix_millis),
            last_used_at: row.last_used_at.map(Timestamp::from_unix_millis),
            secret_hash: SecretHash::from_slice(&row.secret_hash)
                .ok_or_else(|| StoreError::corrupt(WHAT, "secret_hash is not 32 bytes"))?,
        })
    }
}

macro_rules! columns {
    () => {
        "id, scopes, tags, description, created_at, revoked_at, last_used_at, secret_hash"
    };
}

const INSERT: &str =
    concat!("INSERT INTO oauth_clients (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
const SELECT_BY_ID: &str = concat!("SELECT ", columns!(), " FROM oauth_clients WHERE id = $1");
/// Newest first; the id breaks ties between clients made in the same millisecond.
const SELECT_ALL: &str =
    concat!("SELECT ", columns!(), " FROM oauth_clients ORDER BY created_at DESC, id DESC");
const REVOKE: &str = concat!(
    "UPDATE oauth_clients SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING ",
    columns!()
);
const TOUCH: &str = "UPDATE oauth_clients SET last_used_at = $2 WHERE id = $1";

pub(crate) async fn insert<C: Conn>(c: &mut C, client: &OAuthClient) -> Result<(), StoreError> {
    let scopes = client.scopes.to_string();
    let tags = client.tags.to_string();
    c.execute(
        INSERT,
        &[
            client.id.as_str().into(),
            scopes.as_str().into(),
            tags.as_str().into(),
            client.description.as_str().into(),
            client.created.into(),
            client.revoked_at.into(),
            client.last_used_at.into(),
            client.secret_hash.0.as_slice().into(),
        ],
    )
    .await
    .map_err(|e| StoreError::from_write(e, "oauth client"))?;
    Ok(())
}

pub(crate) async fn find<C: Conn>(
    c: &mut C,
    id: &TokenId,
) -> Result<Option<OAuthClient>, StoreError> {
    let row: Option<OAuthClientRow> = c.fetch_optional(SELECT_BY_ID, &[id.as_str().into()]).await?;
    row.map(OAuthClient::try_from).transpose()
}

pub(crate) async fn list<C: Conn>(c: &mut C) -> Result<Vec<OAuthClient>, StoreError> {
    let rows: Vec<OAuthClientRow> = c.fetch_all(SELECT_ALL, &[]).await?;
    rows.into_iter().map(OAuthClient::try_from).collect()
}

pub(crate) async fn revoke<C: Conn>(
    c: &mut C,
    id: &TokenId,
    at: Timestamp,
) -> Result<RevokeOutcome<OAuthClient>, StoreError> {
    let sql = RevokeSql { revoke: REVOKE, select: SELECT_BY_ID, what: "oauth client" };
    revoke_once::<_, OAuthClientRow, _>(c, sql, id.as_str(), at).await
}

pub(crate) async fn touch<C: Conn>(
    c: &mut C,
    id: &TokenId,
    at: Timestamp,
) -> Result<(), StoreError> {
    match c.execute(TOUCH, &[id.as_str().into(), at.into()]).await? {
        0 => Err(StoreError::NotFound("oauth client")),
        _ => Ok(()),
    }
}
