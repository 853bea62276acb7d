//! Errors as the API answers them: a status and Tailscale's `{"message": …}` body.
//!
//! A [`ServiceError`] answers with the status it names ([`ServiceError::http_status`]) and
//! its message; a storage failure is logged with its causes and answered with a fixed text.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, StatusCode};
use keygate_service::{cause_chain, ServiceError};
use serde::{Deserialize, Serialize};

/// The body of every error response, as Tailscale's clients decode it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub message: String,
}

/// An error response: a status and a message safe to show the caller.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

/// Shown for storage failures instead of their cause, which is logged.
const INTERNAL_MESSAGE: &str = "internal server error: see the server log";

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        if e.is_internal() {
            tracing::error!(error = %cause_chain(&e), "request failed in storage");
            return Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE);
        }
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(ErrorBody { message: self.message })).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="keygate""#));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_store::StoreError;

    #[test]
    fn each_service_error_has_its_status() {
        let cases = [
            (ServiceError::Invalid("bad".into()), StatusCode::BAD_REQUEST, "bad"),
            (
                ServiceError::NotFound { what: "auth key", id: "k1".into() },
                StatusCode::NOT_FOUND,
                "auth key \"k1\" not found",
            ),
            (
                ServiceError::AlreadyExists { what: "user", id: "a".into() },
                StatusCode::CONFLICT,
                "user \"a\" already exists",
            ),
            (ServiceError::Forbidden("no".into()), StatusCode::FORBIDDEN, "no"),
            (
                keygate_domain::TagSet::parse(["web"]).unwrap_err().into(),
                StatusCode::BAD_REQUEST,
                "invalid tag \"web\": a tag is \"tag:\" followed by lowercase letters, digits and \
                 dashes, starting with a letter (for example tag:ci-runner)",
            ),
            (
                ServiceError::Unauthenticated,
                StatusCode::UNAUTHORIZED,
                "invalid or missing credentials",
            ),
        ];
        for (e, status, message) in cases {
            let api = ApiError::from(e);
            assert_eq!((api.status(), api.message()), (status, message));
        }
    }

    #[test]
    fn storage_failures_are_a_500_that_hides_the_cause() {
        let e = ServiceError::Store(StoreError::Corrupt {
            what: "auth_keys.tags",
            detail: "secret detail".into(),
        });
        let api = ApiError::from(e);
        assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!api.message().contains("secret detail"));
    }

    #[test]
    fn a_401_names_the_realm() {
        let response = ApiError::unauthenticated("who are you").into_response();
        assert_eq!(response.headers()[WWW_AUTHENTICATE], r#"Basic realm="keygate""#);
        let response = ApiError::not_found("gone").into_response();
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    }
}
