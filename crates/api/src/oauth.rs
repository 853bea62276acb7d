//! OAuth: the client-credentials token endpoint (`POST /api/v2/oauth/token`, reference §5),
//! OAuth clients as the keys endpoint reports them (`keyType: "client"`), and keygate's
//! listing of clients (`GET /api/v2/tailnet/{tailnet}/oauth/clients`, admins only).
//!
//! The token endpoint speaks RFC 6749, not Tailscale's `{"message"}`: a form body in, and
//! `{"error", "error_description"}` out for failures, every answer with `Cache-Control:
//! no-store`. Client credentials come as HTTP Basic (`client_id:client_secret`, what Go's
//! x/oauth2 tries first) or in the form; the secret alone identifies the client (it embeds the
//! client id), so `client_id` is accepted but not needed, as on Tailscale.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use keygate_domain::{OAuthClient, Timestamp};
use keygate_service::{AccessTokenError, AccessTokenRequest, Service};
use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{AdminOnly, Authorized};
use crate::error::ApiError;
use crate::extract::Tailnet;
use crate::openapi::{ReadErrors, TailnetName};

/// The `keyType` of OAuth clients.
pub const KEY_TYPE_CLIENT: &str = "client";
/// The only grant type keygate issues tokens for.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

/// `POST …/keys` with `keyType: "client"`: an OAuth client (admins only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOAuthClientRequest {
    /// Always `client`.
    pub key_type: String,
    /// Scopes, e.g. `["auth_keys", "devices:core"]`: `all`, `all:read`, `auth_keys`,
    /// `auth_keys:read`, `devices:core`, `devices:core:read`.
    pub scopes: Vec<String>,
    /// Tags the client may give keys and devices; required with `auth_keys` or `devices:core`.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An OAuth client as the keys endpoint reports it (Tailscale's key object with
/// `keyType: "client"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientKey {
    /// The client id, also the `client_id` of the token request.
    pub id: String,
    /// The client secret, `keygate-client-<id>-<hex>`: in the create response only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Always `client`.
    pub key_type: String,
    pub description: String,
    pub created: String,
    /// When it was revoked; present exactly when `invalid` is true (clients do not expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    pub invalid: bool,
    pub scopes: Vec<String>,
    pub tags: Vec<String>,
    /// Always empty: OAuth clients belong to the tailnet, not to a user.
    pub user_id: String,
    /// keygate: when it last obtained an access token.
    pub last_used: Option<String>,
}

impl OAuthClientKey {
    pub(crate) fn from_domain(client: &OAuthClient) -> Self {
        Self {
            id: client.id.to_string(),
            key: None,
            key_type: KEY_TYPE_CLIENT.to_owned(),
            description: client.description.to_string(),
            created: client.created.to_rfc3339(),
            revoked: client.revoked_at.map(Timestamp::to_rfc3339),
            invalid: client.revoked_at.is_some(),
            scopes: client.scopes.to_strings(),
            tags: client.tags.to_strings(),
            user_id: String::new(),
            last_used: client.last_used_at.map(Timestamp::to_rfc3339),
        }
    }
}

/// `DELETE …/keys/{id}` of an OAuth client: the client after revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedOAuthClient {
    #[serde(flatten)]
    pub client: OAuthClientKey,
    /// True when it had been revoked before this request (which then changed nothing).
    pub already_revoked: bool,
}

/// `GET …/oauth/clients`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OAuthClientList {
    pub clients: Vec<OAuthClientKey>,
}

/// The form of `POST /api/v2/oauth/token`.
#[derive(Clone, Default, Deserialize, ToSchema)]
pub struct TokenForm {
    /// `client_credentials` (the default when absent, as Tailscale's documented curl omits it).
    #[serde(default)]
    pub grant_type: Option<String>,
    /// The client id; optional, since the secret names its client.
    #[serde(default)]
    #[allow(dead_code)] // Accepted and not needed, as on Tailscale (module docs).
    pub client_id: Option<String>,
    /// The client secret, unless sent with HTTP Basic.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Space-separated scopes to narrow the token to (default: all of the client's).
    #[serde(default)]
    pub scope: Option<String>,
    /// Space-separated tags to narrow the token to (default: all of the client's).
    #[serde(default)]
    pub tags: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// `keygate-oauthtok-<id>-<hex>`: send it as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires: 3600.
    pub expires_in: u64,
    /// The token's scopes, space-separated.
    pub scope: String,
}

/// A failed token request (RFC 6749 §5.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`, `invalid_scope`,
    /// `invalid_target` or `server_error`.
    pub error: String,
    pub error_description: String,
}

#[derive(IntoResponses)]
#[allow(dead_code)] // Only its documentation is used.
enum TokenResponses {
    /// The access token. Sent with `Cache-Control: no-store`.
    #[response(status = 200)]
    Issued(TokenResponse),
    /// `invalid_request` (not a form, both Basic and form credentials),
    /// `unsupported_grant_type`, `invalid_scope` or `invalid_target`.
    #[response(status = 400)]
    BadRequest(OAuthErrorBody),
    /// `invalid_client`: missing, unknown, wrong or revoked client secret.
    #[response(status = 401)]
    InvalidClient(OAuthErrorBody),
    /// `invalid_request`: a body larger than the limit.
    #[response(status = 413)]
    TooLarge(OAuthErrorBody),
    /// `invalid_request`: a body that is not `application/x-www-form-urlencoded`.
    #[response(status = 415)]
    UnsupportedMediaType(OAuthErrorBody),
    /// `server_error`: storage failed (the cause is logged).
    #[response(status = 500)]
    ServerError(OAuthErrorBody),
}

pub(crate) fn routes() -> OpenApiRouter<Service> {
    OpenApiRouter::with_openapi(TokenSchemas::openapi())
        .routes(routes!(token))
        .routes(routes!(list_clients))
}

/// The token endpoint's bodies, which appear only inside [`TokenResponses`] and so are not
/// collected on their own.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(OAuthErrorBody, TokenResponse)))]
struct TokenSchemas;

/// An RFC 6749 error response.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    /// Whether the client tried HTTP Basic, which a 401 must then challenge (§5.2).
    basic: bool,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self { status, code, description: description.into(), basic: false }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body =
            OAuthErrorBody { error: self.code.to_owned(), error_description: self.description };
        let mut response = no_store((self.status, axum::Json(body)).into_response());
        if self.status == StatusCode::UNAUTHORIZED && self.basic {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="keygate""#));
        }
        response
    }
}

/// Token responses must not be cached (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Exchanges OAuth client credentials for a one-hour access token (client-credentials grant).
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    security(()),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(TokenResponses)
)]
async fn token(
    State(service): State<Service>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    match exchange(&service, &headers, form).await {
        Ok(body) => no_store(axum::Json(body).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn exchange(
    service: &Service,
    headers: &HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<TokenResponse, OAuthError> {
    let Form(form) = form.map_err(|rejection| {
        let status = match rejection {
            FormRejection::InvalidFormContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ref other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => other.status(),
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError::new(status, "invalid_request", rejection.body_text())
    })?;
    let basic = basic_credentials(headers)?;
    let used_basic = basic.is_some();
    let with_basic = |mut e: OAuthError| {
        e.basic = used_basic;
        e
    };

    match form.grant_type.as_deref().map(str::trim) {
        None | Some("") | Some(GRANT_CLIENT_CREDENTIALS) => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type {other:?} is not supported: use client_credentials"),
            ))
        }
    }
    let form_secret = form.client_secret.filter(|s| !s.is_empty());
    let secret =
        match (basic, form_secret) {
            (Some(_), Some(_)) => return Err(OAuthError::invalid_request(
                "send the client credentials once: in the Authorization header or in the form, \
                 not both",
            )),
            (Some((_, secret)), None) | (None, Some(secret)) => secret,
            (None, None) => {
                return Err(with_basic(OAuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "no client_secret: send it in the form or as the HTTP Basic password",
                )))
            }
        };

    let request = AccessTokenRequest { client_secret: secret, scope: form.scope, tags: form.tags };
    let issued = service.issue_access_token(request).await.map_err(|e| match e {
        AccessTokenError::InvalidClient => with_basic(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )),
        AccessTokenError::InvalidScope(d) => {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
        }
        AccessTokenError::InvalidTarget(d) => {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_target", d)
        }
        AccessTokenError::Store(e) => {
            tracing::error!(error = %e, "issuing an OAuth access token failed in storage");
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal server error: see the server log",
            )
        }
    })?;
    let expires_in = issued.token.expires.since(issued.token.created).as_secs();
    Ok(TokenResponse {
        access_token: issued.secret.expose(),
        token_type: "Bearer".to_owned(),
        expires_in,
        scope: issued.token.scopes.to_string(),
    })
}

/// `(client_id, client_secret)` from an `Authorization: Basic` header, if there is one. Any
/// other scheme is refused: this endpoint takes no other credential.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Ok(None) };
    let refused = || OAuthError {
        basic: true,
        ..OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "the Authorization header must be HTTP Basic client_id:client_secret",
        )
    };
    let value = value.to_str().map_err(|_| refused())?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or_else(refused)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(refused());
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| refused())?;
    let pair = String::from_utf8(decoded).map_err(|_| refused())?;
    // RFC 6749 §2.3.1 form-encodes both parts; ours use only unreserved characters, so the
    // encoded and plain forms are the same.
    let (id, secret) = pair.split_once(':').ok_or_else(refused)?;
    Ok(Some((id.to_owned(), secret.to_owned())))
}

/// Lists OAuth clients, newest first (a keygate extension; admins only).
#[utoipa::path(
    get,
    path = "/tailnet/{tailnet}/oauth/clients",
    tag = "oauth",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)")),
    responses((status = 200, body = OAuthClientList), ReadErrors)
)]
async fn list_clients(
    Authorized(actor, ..): Authorized<AdminOnly>,
    State(service): State<Service>,
    _: Tailnet,
) -> Result<axum::Json<OAuthClientList>, ApiError> {
    let clients = service.list_oauth_clients(&actor).await?;
    Ok(axum::Json(OAuthClientList {
        clients: clients.iter().map(OAuthClientKey::from_domain).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn basic_credentials_split_id_and_secret() {
        let b64 = STANDARD.encode("tAbc:keygate-client-tAbc-00");
        let got = basic_credentials(&header(&format!("Basic {b64}"))).unwrap();
        assert_eq!(got, Some(("tAbc".to_owned(), "keygate-client-tAbc-00".to_owned())));
        assert_eq!(basic_credentials(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn other_authorization_headers_are_an_invalid_client() {
        for bad in ["Bearer x", "Basic !!!", &format!("Basic {}", STANDARD.encode("no-colon"))] {
            let err = basic_credentials(&header(bad)).unwrap_err();
            assert_eq!((err.status, err.code), (StatusCode::UNAUTHORIZED, "invalid_client"));
        }
    }
}
