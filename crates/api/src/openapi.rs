//! The OpenAPI 3.1 document of `/api/v2`, generated from the handlers' `#[utoipa::path]`
//! attributes and the request/response types' `ToSchema` derives, and served without
//! authentication at `GET /api/v2/openapi.json`.
//!
//! Because the routes are registered through `utoipa_axum::routes!`, a handler cannot be
//! routed without appearing in the document; `tests/api/openapi.rs` checks that every route
//! is there with its security and error responses.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Extension;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::HeaderValue;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{self, OpenApi, RefOr};
use utoipa::{IntoResponses, Modify};

use crate::error::ErrorBody;

/// Where the API is mounted; the document's paths include it.
pub const API_PREFIX: &str = "/api/v2";

/// The document's fixed parts: title, version, security schemes, and the default security
/// (an API token or OAuth access token, as HTTP Basic user name or Bearer token).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "keygate API",
        description = "keygate's REST API, shaped like Tailscale's API v2 (keys, OAuth clients) \
                       plus keygate's own routes (users, API tokens, settings, audit log). \
                       See docs/api.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    security(("basic" = []), ("bearer" = [])),
    // Types used only inside `IntoResponses` enums are not collected on their own (the OAuth
    // token endpoint's are registered by `oauth.rs`).
    components(schemas(ErrorBody, TailnetName))
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The API token (or OAuth access token) as the user name, empty password",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "keygate-api-… (API token) or keygate-oauthtok-… (OAuth access token)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Error responses of routes that read: every one has Tailscale's `{"message": …}` body.
pub(crate) struct ReadErrors;

impl IntoResponses for ReadErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        let mut responses = AccessErrors::responses();
        responses.extend(ReadOnlyErrors::responses());
        responses
    }
}

/// Error responses of routes that take a JSON body.
pub(crate) struct WriteErrors;

impl IntoResponses for WriteErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        let mut responses = AccessErrors::responses();
        responses.extend(BodyErrors::responses());
        responses
    }
}

/// The error responses of every authenticated route.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its documentation is used; handlers answer `ApiError`.
enum AccessErrors {
    /// No credential, or one that is unknown, wrong, expired or revoked.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The credential lacks the scope or role this route needs.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// An unknown tailnet (anything but `-` and `keygate`) or id.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// What [`ReadErrors`] adds to [`AccessErrors`].
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its documentation is used; handlers answer `ApiError`.
enum ReadOnlyErrors {
    /// A malformed query parameter or path segment.
    #[response(status = 400)]
    BadRequest(ErrorBody),
}

/// What [`WriteErrors`] adds to [`AccessErrors`].
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its documentation is used; handlers answer `ApiError`.
enum BodyErrors {
    /// Malformed JSON, a missing or mistyped field (named in the message), or a value a rule
    /// refuses.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// The thing to create exists already.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// A body larger than the limit (`REQUEST_BODY_LIMIT`).
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// A body without `Content-Type: application/json`.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
}

/// `openapi` with every path prefixed by [`API_PREFIX`], as the routes are mounted.
pub(crate) fn mounted(mut openapi: OpenApi) -> OpenApi {
    let paths = std::mem::take(&mut openapi.paths.paths);
    openapi.paths.paths =
        paths.into_iter().map(|(path, item)| (format!("{API_PREFIX}{path}"), item)).collect();
    openapi
}

/// The `{tailnet}` path segment: `-` (the credential's tailnet, what Tailscale's clients send)
/// or keygate's one tailnet by name. Anything else is answered 404.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // Only its documentation is used; `extract::Tailnet` checks the segment.
pub(crate) enum TailnetName {
    #[serde(rename = "-")]
    Dash,
    #[serde(rename = "keygate")]
    Keygate,
}

/// The document as served, rendered once when the router is built.
#[derive(Clone)]
pub(crate) struct OpenApiJson(pub Arc<str>);

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json(Extension(doc): Extension<OpenApiJson>) -> Response {
    let mut response = doc.0.to_string().into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
