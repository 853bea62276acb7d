//! `/api/v2/tailnet/{tailnet}/tokens`: API access tokens (a keygate extension, admins only).
//! Shaped like keys, with `keyType: "api"`; the secret appears only in the create response.

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::Router;
use keygate_domain::{ApiToken, KeyLifetime, Timestamp, UserName};
use keygate_service::{Service, ServiceError, TokenSpec};
use keygate_store::RevokeOutcome;
use serde::{Deserialize, Serialize};

use crate::extract::{Json, Tailnet};
use crate::users::user_names;
use crate::{ApiError, Caller};

/// The `keyType` of API tokens.
pub const KEY_TYPE_API: &str = "api";

/// `POST …/tokens`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        let invalid_since = match token.revoked_at {
            Some(at) => Some(at),
            None if now >= token.expires => Some(token.expires),
            None => None,
        };
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
            invalid: token.check_usable(now).is_err(),
            last_used: token.last_used_at.map(Timestamp::to_rfc3339),
        }
    }
}

/// `GET …/tokens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenList {
    pub tokens: Vec<Token>,
}

/// `DELETE …/tokens/{id}`: the token after revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokedToken {
    #[serde(flatten)]
    pub token: Token,
    /// True when the token had been revoked before this request.
    pub already_revoked: bool,
}

pub(crate) fn routes() -> Router<Service> {
    Router::new()
        .route("/tailnet/{tailnet}/tokens", get(list_tokens).post(create_token))
        .route("/tailnet/{tailnet}/tokens/{id}", delete(revoke_token))
}

async fn create_token(
    State(service): State<Service>,
    Caller(actor): Caller,
    _: Tailnet,
    Json(req): Json<CreateTokenRequest>,
) -> Result<axum::Json<Token>, ApiError> {
    let lifetime = match req.expiry_seconds {
        None | Some(0) => None,
        Some(seconds) => Some(KeyLifetime::from_seconds(seconds).map_err(ServiceError::from)?),
    };
    let spec =
        TokenSpec { user: req.user, description: req.description.unwrap_or_default(), lifetime };
    let created = service.create_api_token(&actor, spec).await?;
    let names = user_names(&service, &actor).await?;
    let mut body =
        Token::from_domain(&created.token, service.now(), names.get(&created.token.user));
    body.key = Some(created.secret.expose());
    Ok(axum::Json(body))
}

async fn list_tokens(
    State(service): State<Service>,
    Caller(actor): Caller,
    _: Tailnet,
) -> Result<axum::Json<TokenList>, ApiError> {
    let tokens = service.list_api_tokens(&actor).await?;
    let names = user_names(&service, &actor).await?;
    let now = service.now();
    let tokens = tokens.iter().map(|t| Token::from_domain(t, now, names.get(&t.user))).collect();
    Ok(axum::Json(TokenList { tokens }))
}

async fn revoke_token(
    State(service): State<Service>,
    Caller(actor): Caller,
    _: Tailnet,
    Path((_, id)): Path<(String, String)>,
) -> Result<axum::Json<RevokedToken>, ApiError> {
    let (token, already_revoked) = match service.revoke_api_token(&actor, &id).await? {
        RevokeOutcome::Revoked(t) => (t, false),
        RevokeOutcome::AlreadyRevoked(t) => (t, true),
    };
    let names = user_names(&service, &actor).await?;
    let token = Token::from_domain(&token, service.now(), names.get(&token.user));
    Ok(axum::Json(RevokedToken { token, already_revoked }))
}
