//! The HTTP/2 router inside a Noise connection: `/machine/*`.
//!
//! Every request on one connection comes from the same machine, whose key the handshake
//! proved; handlers receive it as the [`NoisePeer`] extension and never look at `:scheme`,
//! `:authority` or `Host` (clients disagree on all three). Bodies are limited to
//! [`BODY_LIMIT`]. Endpoints Tailscale clients may call that keygate does not implement
//! answer 501 with a JSON message.

use crate::error::ControlError;
use crate::peer::NoisePeer;
use crate::state::ControlState;
use crate::{map, register};
use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::{any, post};
use axum::{Extension, Router};

/// Largest request body on the Noise connection, as Headscale's `noiseBodyLimit`. A register
/// request is about 1 KiB, a map request with a full Hostinfo a few KiB.
pub const BODY_LIMIT: usize = 1 << 20;

/// The router for one Noise connection from `peer`.
pub(crate) fn router(state: ControlState, peer: NoisePeer) -> Router {
    Router::new()
        .route("/machine/register", post(register::handle))
        .route("/machine/map", post(map::handle))
        .route("/machine/{*rest}", any(not_implemented))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(Extension(peer))
        .with_state(state)
}

async fn not_implemented(request: Request) -> ControlError {
    ControlError::NotImplemented(request.uri().path().to_owned())
}

async fn no_route() -> ControlError {
    ControlError::NoRoute
}
