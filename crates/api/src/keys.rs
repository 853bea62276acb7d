//! `/api/v2/tailnet/{tailnet}/keys`: pre-authentication keys in Tailscale's shapes
//! (reference §4), plus keygate's extras (`usageLimit`, `useCount`, `state`, `lastUsed`,
//! `user`); and, multiplexed by `keyType` as on Tailscale, OAuth clients (`keyType:
//! "client"`, admins only; see `oauth.rs`).
//!
//! The secret (`key`) appears only in the response that creates it. DELETE is a soft revoke:
//! the key stays readable with `invalid: true`, and deleting it again changes nothing. An
//! OAuth access token acts on the keys owned by the tailnet (those it or another OAuth client
//! created), and must tag the keys it creates with its client's tags.

use axum::extract::{Path, State};
use keygate_domain::{AuthKey, Credential, KeyLifetime, KeyState, Timestamp, TokenId, UserName};
use keygate_service::{Actor, NewKeyRequest, NewOAuthClient, Service, ServiceError};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Authorized, KeysCreate, KeysRead, KeysRevoke};
use crate::error::ApiError;
use crate::extract::{Json, Query, Tailnet};
use crate::oauth::{CreateOAuthClientRequest, OAuthClientKey, RevokedOAuthClient, KEY_TYPE_CLIENT};
use crate::openapi::{ReadErrors, TailnetName, WriteErrors};
use crate::views::CredentialViews;

/// The `keyType` of pre-authentication keys (the default).
pub const KEY_TYPE_AUTH: &str = "auth";

/// `capabilities` of a key, in requests and responses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyCapabilities {
    /// Required, but may be `{}` (reference §4.1).
    pub devices: DeviceCapabilities,
}

/// `capabilities.devices`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceCapabilities {
    #[serde(default, deserialize_with = "null_as_default")]
    pub create: CreateCapabilities,
}

/// `capabilities.devices.create`: what a node enrolled with the key gets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateCapabilities {
    #[serde(default)]
    pub reusable: bool,
    #[serde(default)]
    pub ephemeral: bool,
    #[serde(default)]
    pub preauthorized: bool,
    /// Always an array in responses; `null` is accepted in requests, because the Go client
    /// sends an untagged key's tags as `null` (reference §4.1).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
}

/// `POST …/keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeyRequest {
    pub capabilities: KeyCapabilities,
    /// Lifetime in seconds, 1 to 90 days. Absent or 0: 90 days (the Go client always sends a
    /// 0 when none was chosen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Absent or `auth`; `client` creates an OAuth client instead (see
    /// `CreateOAuthClientRequest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// keygate: how many nodes a reusable key may enrol (absent: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limit: Option<u32>,
    /// keygate: the user the key is for, by name. Admins may name anyone; a user token only
    /// itself. Absent: the token's own user, or the default user for admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A key's state (keygate extra), derived from its fields and the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Valid,
    /// A one-off key that enrolled a node, or a reusable key at its usage limit.
    Used,
    Expired,
    Revoked,
}

impl From<KeyState> for KeyStatus {
    fn from(s: KeyState) -> Self {
        match s {
            KeyState::Valid => KeyStatus::Valid,
            KeyState::UsedUp => KeyStatus::Used,
            KeyState::Expired => KeyStatus::Expired,
            KeyState::Revoked => KeyStatus::Revoked,
        }
    }
}

/// A key as every endpoint here reports it. Times are RFC 3339 in whole seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    pub id: String,
    /// The secret, `keygate-auth-<id>-<hex>`: in the create response only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `auth`.
    pub key_type: String,
    pub description: String,
    pub created: String,
    pub expires: String,
    /// The lifetime chosen at creation, in whole seconds (not nanoseconds; reference §4.2).
    pub expiry_seconds: u64,
    /// When the key stopped being valid: its revocation, its expiry, or the enrolment that
    /// used it up. Present exactly when `invalid` is true, as Tailscale reports revoked and
    /// expired keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// True when the key can no longer enrol a node.
    pub invalid: bool,
    pub capabilities: KeyCapabilities,
    /// The creator's id as a string; empty for keys that have no creator.
    pub user_id: String,
    /// keygate: the creator's user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// keygate: the most nodes a reusable key may enrol; `null` when unlimited or one-off.
    pub usage_limit: Option<u32>,
    /// keygate: nodes enrolled so far.
    pub use_count: u32,
    /// keygate: `valid`, `used`, `expired` or `revoked`.
    pub state: KeyStatus,
    /// keygate: when a node last enrolled with it.
    pub last_used: Option<String>,
}

impl Key {
    /// The view of `key` at `now`, without the secret.
    pub(crate) fn from_domain(key: &AuthKey, now: Timestamp, creator: Option<&UserName>) -> Self {
        let state = key.state(now);
        Self {
            id: key.id.to_string(),
            key: None,
            key_type: KEY_TYPE_AUTH.to_owned(),
            description: key.description.to_string(),
            created: key.created.to_rfc3339(),
            expires: key.expires.to_rfc3339(),
            expiry_seconds: key.expires.since(key.created).as_secs(),
            revoked: key.invalid_since(now).map(Timestamp::to_rfc3339),
            invalid: state != KeyState::Valid,
            capabilities: KeyCapabilities {
                devices: DeviceCapabilities {
                    create: CreateCapabilities {
                        reusable: key.reusable,
                        ephemeral: key.ephemeral,
                        preauthorized: key.preauthorized,
                        tags: key.tags.to_strings(),
                    },
                },
            },
            user_id: key.creator.map(|id| id.to_string()).unwrap_or_default(),
            user: creator.map(UserName::to_string),
            usage_limit: key.usage_limit,
            use_count: key.use_count,
            state: state.into(),
            last_used: key.last_used_at.map(Timestamp::to_rfc3339),
        }
    }
}

/// `GET …/keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<Key>,
}

/// `DELETE …/keys/{id}`: the key after revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedKey {
    #[serde(flatten)]
    pub key: Key,
    /// True when the key had been revoked before this request (which then changed nothing).
    pub already_revoked: bool,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Every key, not just the valid and recently invalid ones.
    #[serde(default)]
    all: bool,
}

/// The body of `POST …/keys`, either kind, as parsed: which fields are required depends on
/// `keyType`, so they are all optional here and checked in the handler.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateKeyBody {
    #[serde(default)]
    capabilities: Option<KeyCapabilities>,
    #[serde(default)]
    expiry_seconds: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    key_type: Option<String>,
    #[serde(default)]
    usage_limit: Option<u32>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    tags: Vec<String>,
}

/// The body of `POST …/keys`, as documented: an auth key, or an OAuth client.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // Only its documentation is used; the handler parses `CreateKeyBody`.
#[serde(untagged)]
enum CreateKeyBodyDoc {
    Auth(CreateKeyRequest),
    Client(CreateOAuthClientRequest),
}

/// A key of either kind, as `POST` and `GET …/keys/{keyId}` report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AnyKey {
    Auth(Key),
    Client(OAuthClientKey),
}

/// A key of either kind after `DELETE …/keys/{keyId}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AnyRevokedKey {
    Auth(RevokedKey),
    Client(RevokedOAuthClient),
}

pub(crate) fn routes() -> OpenApiRouter<Service> {
    OpenApiRouter::new().routes(routes!(list_keys, create_key)).routes(routes!(get_key, revoke_key))
}

/// Creates an auth key, or (admins, `keyType: "client"`) an OAuth client. The secret is in
/// this response only.
#[utoipa::path(
    post,
    path = "/tailnet/{tailnet}/keys",
    tag = "keys",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)")),
    request_body = CreateKeyBodyDoc,
    responses((status = 200, body = AnyKey), WriteErrors)
)]
async fn create_key(
    Authorized(actor, ..): Authorized<KeysCreate>,
    State(service): State<Service>,
    _: Tailnet,
    Json(req): Json<CreateKeyBody>,
) -> Result<axum::Json<AnyKey>, ApiError> {
    match req.key_type.as_deref() {
        None | Some("") | Some(KEY_TYPE_AUTH) => {
            create_auth_key(&service, &actor, req).await.map(|k| axum::Json(AnyKey::Auth(k)))
        }
        Some(KEY_TYPE_CLIENT) => {
            create_oauth_client(&service, &actor, req).await.map(|c| axum::Json(AnyKey::Client(c)))
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "keyType {other:?} cannot be created here: use \"auth\" (the default) or \"client\""
        ))),
    }
}

async fn create_auth_key(
    service: &Service,
    actor: &Actor,
    req: CreateKeyBody,
) -> Result<Key, ApiError> {
    let Some(capabilities) = req.capabilities else {
        return Err(ApiError::bad_request("missing field `capabilities`"));
    };
    let lifetime = requested_lifetime(req.expiry_seconds)?;
    let create = capabilities.devices.create;
    let new = NewKeyRequest {
        user: req.user,
        reusable: create.reusable,
        usage_limit: req.usage_limit,
        ephemeral: create.ephemeral,
        preauthorized: create.preauthorized,
        tags: create.tags,
        description: req.description.unwrap_or_default(),
        lifetime,
    };
    let created = service.create_auth_key(actor, new).await?;
    let mut body = CredentialViews::load(service, actor).await?.key(&created.key);
    body.key = Some(created.secret.expose());
    Ok(body)
}

async fn create_oauth_client(
    service: &Service,
    actor: &Actor,
    req: CreateKeyBody,
) -> Result<OAuthClientKey, ApiError> {
    let Some(scopes) = req.scopes else {
        return Err(ApiError::bad_request("missing field `scopes` (for keyType \"client\")"));
    };
    let new =
        NewOAuthClient { scopes, tags: req.tags, description: req.description.unwrap_or_default() };
    let created = service.create_oauth_client(actor, new).await?;
    let mut body = OAuthClientKey::from_domain(&created.client);
    body.key = Some(created.secret.expose());
    Ok(body)
}

/// Lists auth keys: valid ones and those that became invalid recently (`?all=true`: every
/// one). OAuth clients are listed at `…/oauth/clients`.
#[utoipa::path(
    get,
    path = "/tailnet/{tailnet}/keys",
    tag = "keys",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)"), ListQuery),
    responses((status = 200, body = KeyList), ReadErrors)
)]
async fn list_keys(
    Authorized(actor, ..): Authorized<KeysRead>,
    State(service): State<Service>,
    _: Tailnet,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<KeyList>, ApiError> {
    let keys = if query.all {
        service.all_auth_keys(&actor).await?
    } else {
        let listing = service.list_auth_keys(&actor).await?;
        listing.valid.into_iter().chain(listing.recently_invalid).collect()
    };
    let views = CredentialViews::load(&service, &actor).await?;
    let keys = keys.iter().map(|k| views.key(k)).collect();
    Ok(axum::Json(KeyList { keys }))
}

/// Reads one key (never its secret): an auth key (`k…`) or, for admins, an OAuth client
/// (`t…`).
#[utoipa::path(
    get,
    path = "/tailnet/{tailnet}/keys/{keyId}",
    tag = "keys",
    params(
        ("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)"),
        ("keyId" = String, Path, description = "An auth key id (`k…`) or OAuth client id (`t…`)")
    ),
    responses((status = 200, body = AnyKey), ReadErrors)
)]
async fn get_key(
    Authorized(actor, ..): Authorized<KeysRead>,
    State(service): State<Service>,
    _: Tailnet,
    Path((_, id)): Path<(String, String)>,
) -> Result<axum::Json<AnyKey>, ApiError> {
    if is_client_id(&id) {
        let client = service.oauth_client(&actor, &id).await?;
        return Ok(axum::Json(AnyKey::Client(OAuthClientKey::from_domain(&client))));
    }
    let key = service.auth_key(&actor, &id).await?;
    let key = CredentialViews::load(&service, &actor).await?.key(&key);
    Ok(axum::Json(AnyKey::Auth(key)))
}

/// Revokes a key (soft: it stays readable with `invalid: true`); revoking again changes
/// nothing. For an OAuth client (admins), also cuts off its access tokens.
#[utoipa::path(
    delete,
    path = "/tailnet/{tailnet}/keys/{keyId}",
    tag = "keys",
    params(
        ("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)"),
        ("keyId" = String, Path, description = "An auth key id (`k…`) or OAuth client id (`t…`)")
    ),
    responses((status = 200, body = AnyRevokedKey), ReadErrors)
)]
async fn revoke_key(
    Authorized(actor, ..): Authorized<KeysRevoke>,
    State(service): State<Service>,
    _: Tailnet,
    Path((_, id)): Path<(String, String)>,
) -> Result<axum::Json<AnyRevokedKey>, ApiError> {
    if is_client_id(&id) {
        let (client, already_revoked) =
            service.revoke_oauth_client(&actor, &id).await?.into_parts();
        let client = OAuthClientKey::from_domain(&client);
        return Ok(axum::Json(AnyRevokedKey::Client(RevokedOAuthClient {
            client,
            already_revoked,
        })));
    }
    let (key, already_revoked) = service.revoke_auth_key(&actor, &id).await?.into_parts();
    let key = CredentialViews::load(&service, &actor).await?.key(&key);
    Ok(axum::Json(AnyRevokedKey::Auth(RevokedKey { key, already_revoked })))
}

/// The lifetime asked for by `expirySeconds`: absent or 0 is the default (the Go client always
/// sends a 0 when none was chosen).
pub(crate) fn requested_lifetime(
    expiry_seconds: Option<i64>,
) -> Result<Option<KeyLifetime>, ServiceError> {
    match expiry_seconds {
        None | Some(0) => Ok(None),
        Some(seconds) => Ok(Some(KeyLifetime::from_seconds(seconds)?)),
    }
}

/// Whether `id` has the shape of an OAuth client id rather than an auth key id.
fn is_client_id(id: &str) -> bool {
    id.starts_with(TokenId::LETTER)
}

/// Reads `null` as the type's default, for fields Go clients send as `null` when empty.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_client_bodies_with_null_tags_and_zero_expiry_parse() {
        let body = r#"{"capabilities":{"devices":{"create":{"reusable":false,"ephemeral":false,
            "preauthorized":false,"tags":null}}},"expirySeconds":0,"description":""}"#;
        let req: CreateKeyRequest = serde_json::from_str(body).unwrap();
        assert!(req.capabilities.devices.create.tags.is_empty());
        assert_eq!(req.expiry_seconds, Some(0));
    }

    #[test]
    fn empty_devices_is_a_one_off_untagged_key() {
        let req: CreateKeyRequest =
            serde_json::from_str(r#"{"capabilities":{"devices":{}}}"#).unwrap();
        assert_eq!(req.capabilities, KeyCapabilities::default());
        let req: CreateKeyRequest =
            serde_json::from_str(r#"{"capabilities":{"devices":{"create":null}}}"#).unwrap();
        assert_eq!(req.capabilities, KeyCapabilities::default());
    }

    #[test]
    fn missing_capabilities_is_named() {
        let err =
            serde_json::from_str::<CreateKeyRequest>(r#"{"expirySeconds":86400}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `capabilities`"), "{err}");
    }
}
