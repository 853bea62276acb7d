//! Errors of the control surface and the one place they become HTTP responses.
//!
//! Every error body is JSON `{"message": …}`. Registration refusals are not errors here: they
//! travel as HTTP 200 with `RegisterResponse.Error` (see `register.rs`). Unauthenticated or
//! failing peers are told no more than the status and a fixed sentence; details go to the
//! log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keygate_service::ServiceError;
use serde::Serialize;

/// Lowest client capability version served. 68 is where a streaming map request became
/// read-only, which the map handler relies on; everything this server sends is understood
/// from there on (explicit `AllowedIPs`, both `HomeDERP` and the legacy `DERP` string,
/// `PacketFilter` rather than `PacketFilters`).
pub const MIN_CAPABILITY_VERSION: i64 = 68;

/// Why a request to a control endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The body or a parameter is malformed; the message says what was expected.
    #[error("{0}")]
    BadRequest(String),
    /// The client speaks a capability version we do not serve.
    #[error("unsupported client version {0}: keygate needs Tailscale capability version {MIN_CAPABILITY_VERSION} or later; upgrade the client")]
    UnsupportedVersion(i64),
    /// The node key in a map request belongs to no node.
    #[error("node not found: register first")]
    NodeNotFound,
    /// The node key belongs to a node of another machine.
    #[error("node key does not belong to this machine")]
    WrongMachine,
    /// An endpoint Tailscale clients call that keygate does not implement.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    #[error("no such endpoint")]
    NoRoute,
    /// Anything else: logged, and answered with a fixed text.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<ServiceError> for ControlError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(message) => ControlError::BadRequest(message),
            e @ ServiceError::InvalidValue(_) => ControlError::BadRequest(e.to_string()),
            ServiceError::NotFound { .. } => ControlError::NodeNotFound,
            e => ControlError::Internal(Box::new(e)),
        }
    }
}

impl From<keygate_tailcfg::FrameError> for ControlError {
    fn from(e: keygate_tailcfg::FrameError) -> Self {
        ControlError::Internal(Box::new(e))
    }
}

/// The JSON body of every error.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub message: String,
}

impl ControlError {
    /// The variant's name, for logs that must not repeat request content.
    pub fn kind(&self) -> &'static str {
        match self {
            ControlError::BadRequest(_) => "bad request",
            ControlError::UnsupportedVersion(_) => "unsupported version",
            ControlError::NodeNotFound => "node not found",
            ControlError::WrongMachine => "wrong machine",
            ControlError::NotImplemented(_) => "not implemented",
            ControlError::NoRoute => "no route",
            ControlError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ControlError::BadRequest(_) | ControlError::UnsupportedVersion(_) => {
                StatusCode::BAD_REQUEST
            }
            ControlError::NodeNotFound | ControlError::NoRoute => StatusCode::NOT_FOUND,
            ControlError::WrongMachine => StatusCode::FORBIDDEN,
            ControlError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ControlError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        if let ControlError::Internal(source) = &self {
            tracing::error!(error = %source, cause = ?source.source(), "control request failed");
        } else {
            // Only the kind: the message may quote the request (serde names the offending
            // value, which may be an auth key sent in the wrong field). The client that sent
            // it reads the message; the log never does.
            tracing::debug!(status = %self.status(), kind = self.kind(), "control request refused");
        }
        (self.status(), Json(ErrorBody { message: self.to_string() })).into_response()
    }
}

/// A JSON error response with `status` and `message`, for places that are not handlers.
pub(crate) fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody { message: message.into() })).into_response()
}
