//! keygate's REST API: the Tailscale-compatible `/api/v2` surface (auth keys) plus keygate's
//! own extensions (users, API tokens, settings), with its request and response types.
//!
//! Every handler authenticates the caller ([`Caller`]), checks the `{tailnet}` path segment,
//! and calls one [`keygate_service::Service`] method; rules live in the service, and
//! [`ApiError`] maps its errors to Tailscale's `{"message": …}` bodies in one place. This crate
//! knows nothing of storage or of how the server listens; the server mounts [`router`] and marks
//! requests from the local admin socket with [`AdminChannel`].
//!
//! Wire shapes follow `shared/reference/tailscale-api-v2.md`: times are RFC 3339 in whole
//! seconds, `expirySeconds` is an integer number of seconds, lists come in envelopes
//! (`{"keys":[…]}`), and every error, including the framework's own, has a JSON body.

mod auth;
mod error;
mod extract;
mod keys;
mod settings;
mod tokens;
mod users;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use keygate_service::Service;

pub use auth::{AdminChannel, Caller};
pub use error::{ApiError, ErrorBody};
pub use keys::{
    CreateCapabilities, CreateKeyRequest, DeviceCapabilities, Key, KeyCapabilities, KeyList,
    KeyStatus, RevokedKey, KEY_TYPE_AUTH,
};
pub use settings::{Settings, SettingsPatch};
pub use tokens::{CreateTokenRequest, RevokedToken, Token, TokenList, KEY_TYPE_API};
pub use users::{CreateUserRequest, User, UserList};

/// Largest request body accepted, in bytes. Every request here is a small JSON object; the
/// limit keeps a client from making the server buffer megabytes before it is even parsed.
pub const REQUEST_BODY_LIMIT: usize = 64 * 1024;

/// The name of keygate's one tailnet, accepted in `{tailnet}` besides Tailscale's `-`.
pub const TAILNET_NAME: &str = "keygate";

/// The `/api/v2` router, with every route, the body limit and JSON error bodies.
pub fn router(service: Service) -> Router {
    let api = Router::new()
        .merge(keys::routes())
        .merge(users::routes())
        .merge(tokens::routes())
        .merge(settings::routes())
        .fallback(unknown_route)
        .layer(axum::middleware::map_response(json_error_bodies))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_LIMIT));
    Router::new()
        .nest("/api/v2", api)
        // `nest` leaves the prefix itself (with or without its slash) to the outer router.
        .route("/api/v2", any(unknown_route))
        .route("/api/v2/", any(unknown_route))
        .with_state(service)
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
