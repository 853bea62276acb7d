//! keygate's REST API: the Tailscale-compatible `/api/v2` surface (auth keys, OAuth clients and
//! the OAuth token endpoint) plus keygate's own extensions (users, API tokens, settings, the
//! audit log), with its request and response types and its OpenAPI document.
//!
//! Every handler authenticates the caller and checks what it may call ([`Caller`] and the
//! per-route requirements in `access.rs`: admin, user token, OAuth scopes), checks the
//! `{tailnet}` path segment, and calls one [`keygate_service::Service`] method; rules live in
//! the service, and [`ApiError`] maps its errors to Tailscale's `{"message": …}` bodies in one
//! place. Routes are registered through `utoipa_axum::routes!`, so each one is in the OpenAPI
//! document ([`openapi`], served at `/api/v2/openapi.json`). This crate knows nothing of
//! storage or of how the server listens; the server mounts [`router`] and marks requests from
//! the local admin socket with [`AdminChannel`].
//!
//! Wire shapes follow `shared/reference/tailscale-api-v2.md`: times are RFC 3339 in whole
//! seconds, `expirySeconds` is an integer number of seconds, lists come in envelopes
//! (`{"keys":[…]}`), and every error, including the framework's own, has a JSON body.

mod access;
mod acl;
mod audit;
mod auth;
mod devices;
mod error;
mod extract;
mod keys;
mod oauth;
mod openapi;
mod settings;
mod tokens;
mod users;
mod views;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Extension};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use keygate_service::{Service, Tailnet};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use acl::{AclDetails, PolicyProblems, TestFailureSummary};
pub use audit::{AuditEntry, AuditLog};
pub use auth::{AdminChannel, Caller};
pub use devices::{
    AuthorizedRequest, ClientConnectivity, ClientSupports, DerpLatency, Device, DeviceList,
    KeyRequest, TagsRequest,
};
pub use error::{ApiError, ErrorBody};
pub use keys::{
    AnyKey, AnyRevokedKey, CreateCapabilities, CreateKeyRequest, DeviceCapabilities, Key,
    KeyCapabilities, KeyList, KeyStatus, RevokedKey, KEY_TYPE_AUTH,
};
pub use oauth::{
    CreateOAuthClientRequest, OAuthClientKey, OAuthClientList, OAuthErrorBody, RevokedOAuthClient,
    TokenResponse, KEY_TYPE_CLIENT,
};
pub use openapi::API_PREFIX;
pub use settings::{Settings, SettingsPatch};
pub use tokens::{CreateTokenRequest, RevokedToken, Token, TokenList, KEY_TYPE_API};
pub use users::{CreateUserRequest, User, UserList};

/// Largest request body accepted, in bytes. Every request here is a small JSON object; the
/// limit keeps a client from making the server buffer megabytes before it is even parsed.
pub const REQUEST_BODY_LIMIT: usize = 64 * 1024;

/// The name of keygate's one tailnet, accepted in `{tailnet}` besides Tailscale's `-`.
pub const TAILNET_NAME: &str = "keygate";

/// The `/api/v2` router, with every route, the body limit and JSON error bodies. `tailnet` is
/// the live node state that the device routes read and change.
pub fn router(service: Service, tailnet: Tailnet) -> Router {
    let (api, doc) = routes().split_for_parts();
    let doc = openapi::mounted(doc);
    let json = match doc.to_json() {
        Ok(json) => json,
        // Unreachable: the document is plain data built from our own types.
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialise");
            "{}".to_owned()
        }
    };
    let api = api
        .fallback(unknown_route)
        .layer(Extension(openapi::OpenApiJson(Arc::from(json))))
        .layer(Extension(tailnet))
        .layer(axum::middleware::map_response(json_error_bodies))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_LIMIT));
    Router::new()
        .nest(API_PREFIX, api)
        // `nest` leaves the prefix itself (with or without its slash) to the outer router.
        .route("/api/v2", any(unknown_route))
        .route("/api/v2/", any(unknown_route))
        .with_state(service)
}

/// The OpenAPI document of [`router`], as served at `GET /api/v2/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::mounted(routes().into_openapi())
}

/// Every route, relative to `/api/v2`, with its documentation.
fn routes() -> OpenApiRouter<Service> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(keys::routes())
        .merge(acl::routes())
        .merge(oauth::routes())
        .merge(users::routes())
        .merge(tokens::routes())
        .merge(settings::routes())
        .merge(audit::routes())
        .merge(devices::routes())
        .routes(routes!(openapi::openapi_json))
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("not found")
}

/// Gives every error response a `{"message": …}` body. Our handlers and extractors already do;
/// this catches what the framework answers by itself (405 for a wrong method, a path that does
/// not decode), because Tailscale's clients decode every error body as JSON and report a decode
/// error instead of the real one otherwise (reference §2).
async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Framework messages are one short line; anything longer is not worth relaying.
    let text = axum::body::to_bytes(body, 1024).await.ok();
    let message = text
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase());
    let rendered = ApiError::new(status, message).into_response();
    // Keep the framework's headers (such as `Allow` on a 405) but not its body's.
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_TYPE);
    let (new_parts, new_body) = rendered.into_parts();
    parts.headers.extend(new_parts.headers);
    Response::from_parts(parts, Body::new(new_body))
}
