//! `GET /console/live`: the small JSON document the pages poll every few seconds, so that
//! online states and pending approvals show up without a reload.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{HeaderMap, StatusCode};
use keygate_service::ServiceError;
use serde::Serialize;

use crate::error::ConsoleError;
use crate::session::CookieKind;
use crate::Console;

/// The live state of the tailnet.
#[derive(Debug, Serialize)]
pub(crate) struct LiveState {
    /// The tailnet's change counter: when it moves, the Machines page reloads its table.
    pub seq: u64,
    /// Machines waiting for approval.
    pub pending: usize,
    pub online: usize,
    pub machines: usize,
}

/// Answers 401 without a session (the script then reloads, which leads to sign-in), rather
/// than a redirect that `fetch` would follow to an HTML page.
pub(crate) async fn state(
    State(console): State<Console>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let session = match CookieKind::Session.read(console.config(), &headers) {
        Some(secret) => console.service().console_session(&secret).await,
        None => Err(ServiceError::Unauthenticated),
    };
    match session {
        Ok(_) => {}
        Err(ServiceError::Unauthenticated) => {
            let body = Json(serde_json::json!({"message": "sign-in required"}));
            return Ok((StatusCode::UNAUTHORIZED, body).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    let snapshot = console.tailnet().snapshot();
    let live = LiveState {
        seq: snapshot.seq,
        pending: snapshot.nodes.iter().filter(|e| !e.node.authorized).count(),
        online: snapshot.nodes.iter().filter(|e| e.online).count(),
        machines: snapshot.nodes.len(),
    };
    Ok(Json(live).into_response())
}
