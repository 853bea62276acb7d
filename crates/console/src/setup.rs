//! The setup link: creating the first admin on a server that has none.

use std::time::Instant;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode};
use keygate_service::{check_admin_password, parse_admin_name, ServiceError};
use serde::Deserialize;

use crate::csrf::{render_with_pre_session, PublicForm};
use crate::error::{error_page, with_retry_after, ConsoleError};
use crate::forms::capitalise;
use crate::layout::Layout;
use crate::session::{append_cookie, CookieKind};
use crate::sign_in::ClientAddr;
use crate::Console;

/// Shown for a link that cannot (or can no longer) create an admin.
const UNUSABLE_LINK: &str = "This setup link is invalid, used or expired. Start `keygate serve` \
     on an empty database for a new one, or create an admin with `keygate admin create NAME` \
     on the server.";

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    csrf: String,
    token: String,
    name: String,
    name_error: Option<String>,
    password_error: Option<String>,
    confirm_error: Option<String>,
    min_chars: usize,
}

impl SetupPage {
    fn password_hint(&self) -> String {
        format!("At least {} characters. A few unrelated words make a good one.", self.min_chars)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SetupQuery {
    token: String,
}

/// `GET /console/setup?token=…`
pub(crate) async fn form(
    State(console): State<Console>,
    Query(query): Query<SetupQuery>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    if !console.service().setup_token_is_usable(&query.token).await? {
        return Ok(error_page(StatusCode::FORBIDDEN, UNUSABLE_LINK.into()));
    }
    let page = SetupPage {
        layout: Layout::public("Set up keygate"),
        csrf: String::new(),
        token: query.token,
        name: String::new(),
        name_error: None,
        password_error: None,
        confirm_error: None,
        min_chars: keygate_service::ADMIN_PASSWORD_MIN_CHARS,
    };
    Ok(respond(&console, &headers, page, StatusCode::OK))
}

/// The setup form as posted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SetupForm {
    token: String,
    name: String,
    password: String,
    confirm: String,
}

/// Shown to a client whose setup posts were refused too often.
const TOO_MANY_TRIES: &str = "Too many setup attempts with invalid links from your address. \
     Try again later, or create an admin with `keygate admin create NAME` on the server.";

/// `POST /console/setup`: creates the first admin, signs them in, uses up the link.
///
/// Limited per client address like sign-in ([`crate::rate_limit`]): each refused link counts
/// as a failure. The link is checked before the password is hashed (by the service).
pub(crate) async fn submit(
    State(console): State<Console>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    PublicForm { form }: PublicForm<SetupForm>,
) -> Result<Response, ConsoleError> {
    let mut page = SetupPage {
        layout: Layout::public("Set up keygate"),
        csrf: String::new(),
        token: form.token.clone(),
        name: form.name.trim().to_owned(),
        name_error: parse_admin_name(&form.name).err().map(|e| capitalise(&e.to_string())),
        password_error: check_admin_password(&form.password)
            .err()
            .map(|e| format!("The password is {e}.")),
        confirm_error: (form.password != form.confirm)
            .then(|| "The two passwords differ.".to_owned()),
        min_chars: keygate_service::ADMIN_PASSWORD_MIN_CHARS,
    };
    if page.name_error.is_some() || page.password_error.is_some() || page.confirm_error.is_some() {
        return Ok(respond(&console, &headers, page, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let attempt = match console.inner.setup_limiter.reserve(None, client, Instant::now()) {
        Ok(attempt) => attempt,
        Err(remaining) => {
            let page = error_page(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_TRIES.into());
            return Ok(with_retry_after(page, remaining));
        }
    };
    match console.service().complete_console_setup(&form.token, &form.name, &form.password).await {
        Ok(signed_in) => {
            attempt.succeeded(Instant::now());
            let config = console.config();
            let mut response = Redirect::to("/console/keys?notice=welcome").into_response();
            append_cookie(
                response.headers_mut(),
                CookieKind::Session.set(config, signed_in.secret.expose()),
            );
            append_cookie(response.headers_mut(), CookieKind::PreSession.clear(config));
            Ok(response)
        }
        Err(ServiceError::Forbidden(_)) => {
            let _lock = attempt.failed(Instant::now());
            Ok(error_page(StatusCode::FORBIDDEN, UNUSABLE_LINK.into()))
        }
        Err(e @ ServiceError::AlreadyExists { .. }) => {
            page.name_error = Some(e.to_string());
            Ok(respond(&console, &headers, page, StatusCode::CONFLICT))
        }
        Err(e) => Err(e.into()),
    }
}

/// The page with a pre-session CSRF token (and the cookie that holds it, when new).
fn respond(
    console: &Console,
    headers: &HeaderMap,
    page: SetupPage,
    status: StatusCode,
) -> Response {
    render_with_pre_session(console.config(), headers, status, page, |p| &mut p.csrf)
}
