//! `POST /machine/map` (protocol.md §5.2–5.4): lite updates, one-shot maps and map streams.
//!
//! Authentication: the node is found by the request's `NodeKey`, and its machine key must be
//! the Noise peer's (404 for an unknown key, 403 for another machine's key). What the node
//! reports about itself (`Hostinfo`, `Endpoints`, `DiscoKey`) is applied from every kind of
//! request, streaming ones included: Go clients send their lite update and their stream
//! concurrently, in either order, and the disco key in particular must reach peers early.
//! Empty endpoint lists are never applied (they mean "not reported", not "none").
//!
//! - lite update (`OmitPeers`, not `Stream`): 200 with an empty body (the client ignores it);
//! - one-shot (neither): one framed full map;
//! - stream (`Stream:true`): 200, the full map as the first frame, then deltas from the
//!   fan-out and keep-alives, each frame `u32` little-endian length + JSON, zstd-compressed
//!   iff the request said `"Compress":"zstd"`.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use keygate_domain::DiscoKey;
use keygate_service::{ClientUpdate, NodeEntry};
use keygate_tailcfg::{encode_map_response, from_slice_case_insensitive, Hostinfo, MapRequest};

use crate::error::{ControlError, MIN_CAPABILITY_VERSION};
use crate::limits;
use crate::peer::NoisePeer;
use crate::render;
use crate::sessions;
use crate::state::ControlState;

pub(crate) async fn handle(
    State(state): State<ControlState>,
    Extension(peer): Extension<NoisePeer>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let request: MapRequest = from_slice_case_insensitive(&body)
        .map_err(|e| ControlError::BadRequest(format!("invalid MapRequest JSON: {e}")))?;
    let version = if request.version > 0 { request.version } else { peer.version };
    if version < MIN_CAPABILITY_VERSION {
        return Err(ControlError::UnsupportedVersion(version));
    }
    // Before anything is looked up or written: an oversized request changes nothing.
    limits::check_endpoints(request.endpoints.len())?;
    if let Some(hostinfo) = &request.hostinfo {
        limits::check_hostinfo(hostinfo)?;
    }
    let shared = &state.shared.hub;
    let node_key = request.node_key;
    let entry = shared.tailnet.node_by_node_key(&node_key).ok_or(ControlError::NodeNotFound)?;
    if entry.node.machine_key != peer.machine_key {
        return Err(ControlError::WrongMachine);
    }
    let id = entry.node.id;
    tracing::debug!(node = %id, stream = request.stream, omit_peers = request.omit_peers,
        endpoints = request.endpoints.len(), "map request");

    if let Some(update) = client_update(&entry, &request) {
        shared.tailnet.update_from_client(id, &peer.machine_key, update).await?;
    }
    if request.is_lite_update() {
        return Ok(StatusCode::OK.into_response());
    }

    let compress = request.wants_zstd();
    if !request.stream {
        let view = shared.tailnet.map_view(id).ok_or(ControlError::NodeNotFound)?;
        let now = shared.tailnet.service().now();
        let map = render::full_map(&view, &shared.config, now, version);
        let frame = encode_map_response(&map, compress)?;
        return Ok(Response::new(Body::from(frame)));
    }

    shared.tailnet.session_started(id).await;
    let open = match sessions::open(shared, id, compress, version) {
        Ok(open) => open,
        Err(e) => {
            shared.tailnet.session_ended(id).await;
            return Err(e);
        }
    };
    let keep_alive =
        if compress { shared.keep_alive_zstd.clone() } else { shared.keep_alive_plain.clone() };
    let stream = sessions::body_stream(
        open,
        keep_alive,
        shared.config.keepalive_interval,
        shared.config.keepalive_jitter,
    );
    tracing::debug!(node = %id, compress, "map stream opened");
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], Body::from_stream(stream))
        .into_response())
}

/// What `request` changes about the node, if anything.
fn client_update(entry: &NodeEntry, request: &MapRequest) -> Option<ClientUpdate> {
    let node = &entry.node;
    let mut update = ClientUpdate { hostinfo_change_is_patchable: true, ..ClientUpdate::default() };
    let mut any = false;
    if let Some(hostinfo) = &request.hostinfo {
        let json = serde_json::to_string(hostinfo).unwrap_or_default();
        if json != node.hostinfo_json {
            update.hostinfo_change_is_patchable =
                only_net_info_differs(&node.hostinfo_json, hostinfo);
            update.hostinfo = Some((json, hostinfo.hostname.clone()));
            any = true;
        }
    }
    if !request.endpoints.is_empty() {
        let endpoints: Vec<String> = request.endpoints.iter().map(ToString::to_string).collect();
        if endpoints != node.endpoints {
            update.endpoints = Some(endpoints);
            any = true;
        }
    }
    if !request.disco_key.is_zero() {
        let disco = DiscoKey(*request.disco_key.as_bytes());
        if disco != node.disco_key {
            update.disco_key = Some(disco);
            any = true;
        }
    }
    any.then_some(update)
}

/// Whether the stored Hostinfo and `new` differ only in `NetInfo` (latencies, home DERP),
/// which peers learn from a patch.
fn only_net_info_differs(stored: &str, new: &Hostinfo) -> bool {
    let Some(mut old) = render::stored_hostinfo(stored) else { return false };
    let mut new = new.clone();
    old.net_info = None;
    new.net_info = None;
    old == new
}
