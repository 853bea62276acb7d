//! `POST /machine/register` (protocol.md §5.1): decode the request, let the tailnet decide,
//! answer with a `RegisterResponse`.
//!
//! Every decision, including each refusal, is HTTP 200 with a `RegisterResponse`: the Go
//! client shows `Error` to the person running `tailscale up` (`backend error: …`) and
//! ignores the body of any other status. Only malformed bodies and internal failures get an
//! error status.

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use keygate_domain::Timestamp;
use keygate_service::RegisterNode;
use keygate_tailcfg::{from_slice_case_insensitive, RegisterRequest, RegisterResponse};

use crate::error::{ControlError, MIN_CAPABILITY_VERSION};
use crate::limits;
use crate::peer::NoisePeer;
use crate::render;
use crate::state::ControlState;

pub(crate) async fn handle(
    State(state): State<ControlState>,
    Extension(peer): Extension<NoisePeer>,
    body: Bytes,
) -> Result<Json<RegisterResponse>, ControlError> {
    let request: RegisterRequest = from_slice_case_insensitive(&body)
        .map_err(|e| ControlError::BadRequest(format!("invalid RegisterRequest JSON: {e}")))?;
    let version = if request.version > 0 { request.version } else { peer.version };
    if version < MIN_CAPABILITY_VERSION {
        let refusal = ControlError::UnsupportedVersion(version).to_string();
        return Ok(Json(RegisterResponse::error(refusal)));
    }
    if let Some(hostinfo) = &request.hostinfo {
        limits::check_hostinfo(hostinfo)?;
    }
    let input = decode(&peer, request);
    tracing::debug!(request = ?input, version, "register");
    let outcome = state.shared.hub.tailnet.register(input).await?;
    let response = render::register_response(&outcome, &state.shared.hub.config);
    if !response.error.is_empty() {
        tracing::debug!(machine = ?peer.machine_key, error = %response.error, "registration refused");
    }
    Ok(Json(response))
}

/// The service's view of a register request from `peer`.
fn decode(peer: &NoisePeer, request: RegisterRequest) -> RegisterNode {
    let hostinfo = request.hostinfo.unwrap_or_default();
    RegisterNode {
        machine_key: peer.machine_key,
        node_key: request.node_key,
        old_node_key: request.old_node_key,
        auth_key: request.auth.map(|a| a.auth_key).filter(|k| !k.is_empty()),
        expiry: request.expiry.map(Timestamp::from),
        hostname: hostinfo.hostname.clone(),
        request_tags: hostinfo.request_tags.clone(),
        hostinfo_json: serde_json::to_string(&hostinfo).unwrap_or_default(),
        ephemeral: request.ephemeral,
    }
}
