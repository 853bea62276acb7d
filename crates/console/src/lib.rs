//! keygate's admin web console: server-rendered pages under `/console` for machines, pre-auth
//! keys, the ACL policy, settings and API tokens, signed in with local admin accounts.
//!
//! Pages are [askama] templates (escaped by default) with one small script, no build chain;
//! the CSS, script and icon are compiled into the binary ([`assets`]). Every page works
//! without JavaScript except the copy buttons and the live refresh of the Machines page.
//!
//! Security, in one place each:
//! - sign-in sessions: a 256-bit secret in an HttpOnly, SameSite=Strict cookie (Secure when
//!   the server URL is https), stored hashed by the service, ended by signing out ([`session`]);
//! - CSRF: every form carries a per-session token (or, before sign-in, a double-submit
//!   cookie), and every POST is also checked against `Origin` and `Sec-Fetch-Site` ([`csrf`]);
//! - failed sign-ins are limited per account and per client address, and refused setup links
//!   per address, in memory, each attempt reserved before its password is hashed
//!   ([`rate_limit`]); the service hashes at most one password per core at once, and a busy
//!   answer is 503 with `Retry-After`;
//! - security headers on every response: a CSP without inline script, frame denial, no
//!   referrer, no caching of pages ([`headers`]);
//! - secrets (new keys and tokens) are shown exactly once, after a redirect, from memory
//!   ([`once`]).
//!
//! This crate holds no rules: every decision is a [`keygate_service::Service`] or
//! [`keygate_service::Tailnet`] call. It knows nothing of the store, the API or the control
//! protocol.

mod admin_socket;
mod assets;
mod csrf;
mod error;
mod format;
mod forms;
mod headers;
mod keys;
mod layout;
mod live;
mod machines;
mod once;
mod policy;
mod rate_limit;
mod session;
mod settings;
mod setup;
mod sign_in;
mod state;
mod widgets;

use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;
use keygate_service::{Service, ServiceError};

pub use admin_socket::{admin_socket_router, CreateAdminRequest, CreatedAdmin};
pub use rate_limit::{LimiterPolicy, LOCKOUT_POLICY};
pub use state::{Console, ConsoleConfig};

/// Where the console lives.
pub const PREFIX: &str = "/console";

/// Largest form body accepted, in bytes: every console form is a handful of short fields.
pub const REQUEST_BODY_LIMIT: usize = 16 * 1024;

/// The console's routes, to merge into the public listener's router.
pub fn router(console: Console) -> Router {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/console/machines") }))
        .route("/setup", get(setup::form).post(setup::submit))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/keys", get(keys::page).post(keys::create))
        .route("/keys/{id}/revoke", get(keys::confirm_revoke).post(keys::revoke))
        .route("/policy", get(policy::page).post(policy::submit))
        .route("/machines", get(machines::page))
        .route("/machines/{id}/approve", post(machines::approve))
        .route("/machines/{id}/tags", post(machines::set_tags))
        .route("/machines/{id}/expiry", post(machines::set_expiry))
        .route("/machines/{id}/delete", get(machines::confirm_delete).post(machines::delete))
        .route("/live", get(live::state))
        .route("/settings", get(settings::page).post(settings::save))
        .route("/settings/tokens", post(settings::create_token))
        .route(
            "/settings/tokens/{id}/revoke",
            get(settings::confirm_revoke_token).post(settings::revoke_token),
        )
        .route("/static/{file}", get(assets::serve))
        .fallback(error::not_found);
    Router::new()
        // The nested `/` route serves `/console` itself.
        .nest(PREFIX, pages)
        .layer(axum::middleware::map_response(headers::security_headers))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_LIMIT))
        .with_state(console)
}

/// The one-time link that creates the first admin, when no admin exists yet; `None`
/// otherwise. Each call makes a new token (valid for 24 hours or until used); the server
/// calls this once at start and prints the link.
pub async fn setup_link_if_needed(
    service: &Service,
    server_url: &str,
) -> Result<Option<String>, ServiceError> {
    let Some(token) = service.create_setup_token().await? else { return Ok(None) };
    Ok(Some(format!("{}{PREFIX}/setup?token={}", server_url.trim_end_matches('/'), token.expose())))
}
