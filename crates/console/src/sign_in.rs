//! Signing in and out.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use keygate_service::ServiceError;
use serde::Deserialize;

use crate::csrf::{check_origin, render_with_pre_session, PublicForm};
use crate::error::{is_safe_next, with_retry_after, ConsoleError};
use crate::forms::NoFields;
use crate::layout::Layout;
use crate::rate_limit::IN_FLIGHT_RETRY;
use crate::session::{append_cookie, CookieKind};
use crate::Console;

/// Where a browser goes after signing in when it asked for nothing else.
const HOME: &str = "/console/machines";

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    layout: Layout,
    csrf: String,
    name: String,
    next: String,
    notice: Option<&'static str>,
    error: Option<String>,
    name_error: Option<&'static str>,
    password_error: Option<&'static str>,
    /// No admin exists yet: say how to create the first one.
    no_admins: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SignInQuery {
    next: String,
    notice: String,
}

/// `GET /console/sign-in`
pub(crate) async fn form(
    State(console): State<Console>,
    Query(query): Query<SignInQuery>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    // Already signed in: nothing to do here.
    if let Some(secret) = CookieKind::Session.read(console.config(), &headers) {
        if console.service().console_session(&secret).await.is_ok() {
            return Ok(Redirect::to(next_or_home(&query.next)).into_response());
        }
    }
    let notice = match query.notice.as_str() {
        "signed-out" => Some("You have signed out."),
        _ => None,
    };
    let page = SignInPage {
        layout: Layout::public("Sign in"),
        csrf: String::new(),
        name: String::new(),
        next: if is_safe_next(&query.next) { query.next } else { String::new() },
        notice,
        error: None,
        name_error: None,
        password_error: None,
        no_admins: console.service().console_admin_count().await? == 0,
    };
    Ok(respond(&console, &headers, page, StatusCode::OK))
}

/// The sign-in form as posted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SignInForm {
    name: String,
    password: String,
    next: String,
}

/// `POST /console/sign-in`
pub(crate) async fn submit(
    State(console): State<Console>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    PublicForm { form }: PublicForm<SignInForm>,
) -> Result<Response, ConsoleError> {
    let mut page = SignInPage {
        layout: Layout::public("Sign in"),
        csrf: String::new(),
        name: form.name.trim().to_owned(),
        next: if is_safe_next(&form.next) { form.next.clone() } else { String::new() },
        notice: None,
        error: None,
        name_error: form.name.trim().is_empty().then_some("Enter your admin name."),
        password_error: form.password.is_empty().then_some("Enter your password."),
        no_admins: false,
    };
    if page.name_error.is_some() || page.password_error.is_some() {
        return Ok(respond(&console, &headers, page, StatusCode::UNPROCESSABLE_ENTITY));
    }

    // Reserved before the password is checked, so concurrent guesses cannot all pass; an
    // attempt that ends without a verdict (the server busy, an error) is given back.
    let attempt = match console.inner.limiter.reserve(Some(&form.name), client, Instant::now()) {
        Ok(attempt) => attempt,
        Err(remaining) => {
            page.error = Some(if remaining > IN_FLIGHT_RETRY {
                locked_message(remaining)
            } else {
                "Too many sign-in attempts at once. Try again in a moment.".to_owned()
            });
            let page = respond(&console, &headers, page, StatusCode::TOO_MANY_REQUESTS);
            return Ok(with_retry_after(page, remaining));
        }
    };
    match console.service().console_sign_in(&form.name, &form.password).await {
        Ok(signed_in) => {
            attempt.succeeded(Instant::now());
            let mut response = Redirect::to(next_or_home(&form.next)).into_response();
            let config = console.config();
            append_cookie(
                response.headers_mut(),
                CookieKind::Session.set(config, signed_in.secret.expose()),
            );
            append_cookie(response.headers_mut(), CookieKind::PreSession.clear(config));
            Ok(response)
        }
        Err(ServiceError::Unauthenticated) => {
            let mut message = "Wrong name or password.".to_owned();
            if let Some(lock) = attempt.failed(Instant::now()) {
                message.push(' ');
                message.push_str(&locked_message(lock));
            }
            page.error = Some(message);
            Ok(respond(&console, &headers, page, StatusCode::UNAUTHORIZED))
        }
        Err(e) => Err(e.into()),
    }
}

/// The client's address, when the server records it (axum's `ConnectInfo<SocketAddr>`,
/// from `into_make_service_with_connect_info`). Without it, failed sign-ins are limited per
/// account only.
pub(crate) struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Through the extractor, not the extension map, so that tests' `MockConnectInfo`
        // counts too.
        let addr = ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await.ok();
        Ok(ClientAddr(addr.map(|ConnectInfo(a)| a.ip())))
    }
}

/// `POST /console/sign-out`: ends the session (it stops working everywhere at once).
pub(crate) async fn sign_out(
    State(console): State<Console>,
    headers: HeaderMap,
    form: Result<crate::csrf::AdminForm<NoFields>, ConsoleError>,
) -> Result<Response, ConsoleError> {
    check_origin(&headers, console.config())?;
    // Signing out of a session that is already gone is no error: just go to sign-in.
    match form {
        Ok(_) | Err(ConsoleError::SignInRequired { .. }) => {}
        Err(e) => return Err(e),
    }
    if let Some(secret) = CookieKind::Session.read(console.config(), &headers) {
        console.service().console_sign_out(&secret).await?;
    }
    let mut response = Redirect::to("/console/sign-in?notice=signed-out").into_response();
    append_cookie(response.headers_mut(), CookieKind::Session.clear(console.config()));
    Ok(response)
}

fn next_or_home(next: &str) -> &str {
    if is_safe_next(next) {
        next
    } else {
        HOME
    }
}

/// "Too many failed sign-ins…", with the time left rounded up to whole minutes.
fn locked_message(remaining: std::time::Duration) -> String {
    let minutes = remaining.as_secs().div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("Too many failed sign-ins: sign-in is locked. Try again in {minutes} {unit}.")
}

/// The page with a pre-session CSRF token (and the cookie that holds it, when new).
fn respond(
    console: &Console,
    headers: &HeaderMap,
    page: SignInPage,
    status: StatusCode,
) -> Response {
    render_with_pre_session(console.config(), headers, status, page, |p| &mut p.csrf)
}
