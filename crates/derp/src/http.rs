//! The relay's HTTP surface as an axum router, for mounting on keygate's main listener.
//!
//! | request | answer |
//! |---|---|
//! | `GET /derp` with `Upgrade: DERP` | `101 Switching Protocols`, then the DERP protocol on the connection |
//! | `GET /derp` with `Upgrade: websocket` | `501`: the WebSocket transport (browser clients) is not supported |
//! | `GET /derp` without an upgrade | `426 Upgrade Required` |
//! | `GET`/`HEAD` `/derp/probe`, `/derp/latency-check` | `200`, empty, `Access-Control-Allow-Origin: *` (netcheck's HTTPS latency probes) |
//!
//! **Fast start.** A Tailscale client sends `Derp-Fast-Start: 1` and expects *no* HTTP response
//! only after it found the server's DERP key in a "meta certificate" of a TLS 1.3 handshake
//! (`derphttp_client.go`, `parseMetaCert`). keygate never presents such a certificate, so real
//! clients never ask; and hyper always writes the 101 head, so the request is answered `400`
//! with an explanation. The dedicated listener ([`crate::standalone`]) does honour it.
//!
//! The 101 response carries `Derp-Version` and `Derp-Public-Key` (hex), as upstream's handler.
//! Upstream: `derp/derpserver/handler.go`.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{any, get};
use axum::Router;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::frame::PROTOCOL_VERSION;
use crate::server::DerpServer;

/// Request header asking the server to skip its HTTP response (see the module docs).
pub const FAST_START_HEADER: &str = "Derp-Fast-Start";

/// `Upgrade` token of the DERP protocol (compared case-insensitively).
pub const UPGRADE_PROTOCOL: &str = "DERP";

impl DerpServer {
    /// The routes `/derp`, `/derp/probe` and `/derp/latency-check`, ready to merge into the
    /// main router. The listener must be served with upgrades enabled (`axum::serve` is).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/derp", any(upgrade))
            .route("/derp/probe", get(probe))
            .route("/derp/latency-check", get(probe))
            .with_state(self.clone())
    }
}

/// `GET`/`HEAD` `/derp/probe` and `/derp/latency-check`: an empty 200 (axum answers `HEAD`
/// with the `GET` handler's head, and other methods with 405).
async fn probe() -> Response {
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// `/derp`: switch to the DERP protocol.
async fn upgrade(State(server): State<DerpServer>, mut request: Request) -> Response {
    let header_text = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let upgrade = header_text(header::UPGRADE.as_str()).map(str::trim);
    match upgrade {
        Some(token) if token.eq_ignore_ascii_case(UPGRADE_PROTOCOL) => {}
        Some(token) if token.eq_ignore_ascii_case("websocket") => {
            return text(
                StatusCode::NOT_IMPLEMENTED,
                "the DERP WebSocket transport (browser clients) is not supported",
            );
        }
        other => {
            if other.is_some() {
                tracing::info!(upgrade = ?other, "/derp with an unknown Upgrade header");
            }
            return text(StatusCode::UPGRADE_REQUIRED, "DERP requires connection upgrade");
        }
    }
    if header_text(FAST_START_HEADER) == Some("1") {
        tracing::info!("/derp with Derp-Fast-Start on the main listener, answered 400");
        return text(
            StatusCode::BAD_REQUEST,
            "Derp-Fast-Start is not supported on this listener: keygate presents no DERP meta certificate",
        );
    }
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return text(StatusCode::BAD_REQUEST, "this connection cannot be upgraded (HTTP/1.1 only)");
    };
    let remote = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);

    let public_key = hex::encode(server.public_key());
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "/derp upgrade did not complete");
                return;
            }
        };
        if let Err(e) = server.serve_upgraded(TokioIo::new(upgraded), &[], remote).await {
            tracing::debug!(error = %e, ?remote, "DERP connection ended");
        }
    });

    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, UPGRADE_PROTOCOL)
        .header(header::CONNECTION, "Upgrade")
        .header("Derp-Version", PROTOCOL_VERSION.to_string())
        .header("Derp-Public-Key", public_key)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn text(status: StatusCode, message: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response()
}
