//! Extractors whose rejections are [`ApiError`]s, so that a bad request gets a JSON body
//! naming the problem rather than the framework's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use http::request::Parts;
use http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::TAILNET_NAME;

/// A JSON request body. Requires `Content-Type: application/json`, which also keeps
/// cross-site HTML forms (which cannot send that type without a preflight) from posting here
/// with credentials a browser may have cached.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    // axum answers a body of the wrong shape with 422; Tailscale's API says 400 for every
    // malformed request. The message keeps serde's wording, which names the field (`capabilities:
    // missing field `devices``) or the position of a syntax error.
    let status = match &rejection {
        JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
            StatusCode::BAD_REQUEST
        }
        other => other.status(),
    };
    ApiError::new(status, rejection.body_text())
}

/// A query string.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::new(rejection.status(), rejection.body_text())
}

/// Proof that the route's `{tailnet}` segment names keygate's tailnet: `-` (the credential's
/// own tailnet, what Tailscale's clients send by default) or [`TAILNET_NAME`]. Anything else
/// is 404, as for an unknown tailnet on Tailscale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tailnet;

impl<S> FromRequestParts<S> for Tailnet
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::new(r.status(), r.body_text()))?;
        match params.iter().find(|(name, _)| *name == "tailnet") {
            Some((_, "-" | TAILNET_NAME)) => Ok(Tailnet),
            Some(_) => Err(ApiError::not_found("tailnet not found")),
            None => {
                tracing::error!(path = %parts.uri.path(), "route without a {{tailnet}} segment uses the Tailnet extractor");
                Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"))
            }
        }
    }
}
