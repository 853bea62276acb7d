//! `/api/v2/tailnet/{tailnet}/tokens`: API access tokens (a keygate extension, admins only).
//! Shaped like keys, with `keyType: "api"`; the secret appears only in the create response.

use axum::extract::{Path, State};
use keygate_domain::{ApiToken, Credential, Timestamp, UserName};
use keygate_service::{Service, TokenSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{AdminOnly, Authorized};
use crate::error::ApiError;
use crate::extract::{Json, Tailnet};
use crate::keys::requested_lifetime;
use crate::openapi::{ReadErrors, TailnetName, WriteErrors};
use crate::views::CredentialViews;

/// The `keyType` of API tokens.
pub const KEY_TYPE_API: &str = "api";

/// `POST …/tokens`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTokenRequest {
    /// The user the token acts as, by name. Absent: the default user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Lifetime in seconds, 1 to 90 days. Absent or 0: 90 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An API token as every endpoint here reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: String,
    /// The secret, `keygate-api-<id>-<hex>`: in the create response only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Always `api`.
    pub key_type: String,
    pub user_id: String,
    /// The user name the token acts as.
    pub user: String,
    pub description: String,
    pub created: String,
    pub expires: String,
    /// The lifetime chosen at creation, in whole seconds.
    pub expiry_seconds: u64,
    /// When the token stopped being valid (revoked or expired); present exactly when
    /// `invalid` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    pub invalid: bool,
    /// When it last authenticated a request.
    pub last_used: Option<String>,
}

impl Token {
    pub(crate) fn from_domain(token: &ApiToken, now: Timestamp, user: Option<&UserName>) -> Self {
        let invalid_since = token.invalid_since(now);
        Self {
            id: token.id.to_string(),
            key: None,
            key_type: KEY_TYPE_API.to_owned(),
            user_id: token.user.to_string(),
            user: user.map(UserName::to_string).unwrap_or_default(),
            description: token.description.to_string(),
            created: token.created.to_rfc3339(),
            expires: token.expires.to_rfc3339(),
            expiry_seconds: token.expires.since(token.created).as_secs(),
            revoked: invalid_since.map(Timestamp::to_rfc3339),
            invalid: invalid_since.is_some(),
            last_used: token.last_used_at.map(Timestamp::to_rfc3339),
        }
    }
}

/// `GET …/tokens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<Token>,
}

/// `DELETE …/tokens/{id}`: the token after revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedToken {
    #[serde(flatten)]
    pub token: Token,
    /// True when the token had been revoked before this request.
    pub already_revoked: bool,
}

pub(crate) fn routes() -> OpenApiRouter<Service> {
    OpenApiRouter::new().routes(routes!(list_tokens, create_token)).routes(routes!(revoke_token))
}

/// Creates an API token for a user (admins only). The secret is in this response only.
#[utoipa::path(
    post,
    path = "/tailnet/{tailnet}/tokens",
    tag = "tokens",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)")),
    request_body = CreateTokenRequest,
    responses((status = 200, body = Token), WriteErrors)
)]
async fn create_token(
    Authorized(actor, ..): Authorized<AdminOnly>,
    State(service): State<Service>,
    _: Tailnet,
    Json(req): Json<CreateTokenRequest>,
) -> Result<axum::Json<Token>, ApiError> {
    let lifetime = requested_lifetime(req.expiry_seconds)?;
    let spec =
        TokenSpec { user: req.user, description: req.description.unwrap_or_default(), lifetime };
    let created = service.create_api_token(&actor, spec).await?;
    let mut body = CredentialViews::load(&service, &actor).await?.token(&created.token);
    body.key = Some(created.secret.expose());
    Ok(axum::Json(body))
}

/// Lists API tokens, newest first (admins only).
#[utoipa::path(
    get,
    path = "/tailnet/{tailnet}/tokens",
    tag = "tokens",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)")),
    responses((status = 200, body = TokenList), ReadErrors)
)]
async fn list_tokens(
    Authorized(actor, ..): Authorized<AdminOnly>,
    State(service): State<Service>,
    _: Tailnet,
) -> Result<axum::Json<TokenList>, ApiError> {
    let tokens = service.list_api_tokens(&actor).await?;
    let views = CredentialViews::load(&service, &actor).await?;
    let tokens = tokens.iter().map(|t| views.token(t)).collect();
    Ok(axum::Json(TokenList { tokens }))
}

/// Revokes an API token (admins only); revoking again changes nothing.
#[utoipa::path(
    delete,
    path = "/tailnet/{tailnet}/tokens/{id}",
    tag = "tokens",
    params(
        ("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)"),
        ("id" = String, Path, description = "The token id (`t…`)")
    ),
    responses((status = 200, body = RevokedToken), ReadErrors)
)]
async fn revoke_token(
    Authorized(actor, ..): Authorized<AdminOnly>,
    State(service): State<Service>,
    _: Tailnet,
    Path((_, id)): Path<(String, String)>,
) -> Result<axum::Json<RevokedToken>, ApiError> {
    let (token, already_revoked) = service.revoke_api_token(&actor, &id).await?.into_parts();
    let token = CredentialViews::load(&service, &actor).await?.token(&token);
    Ok(axum::Json(RevokedToken { token, already_revoked }))
}
