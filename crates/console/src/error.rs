//! Errors as the console shows them: an error page with a status, or a redirect to sign in.
//!
//! A [`ServiceError`] is shown with the status it names ([`ServiceError::http_status`]) and its
//! message; storage failures are logged with their causes and shown as a generic message.

use std::time::Duration;

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};
use keygate_service::{cause_chain, ServiceError};

use crate::layout::{html, Layout};

/// Why a console request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsoleError {
    /// No valid session: go to the sign-in page, then back to `next`.
    #[error("sign-in required")]
    SignInRequired { next: Option<String> },
    /// A POST that failed the CSRF or origin checks.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("page not found")]
    NotFound,
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("rendering a page")]
    Render(#[from] askama::Error),
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    heading: &'static str,
    message: String,
}

/// Shown for storage and rendering failures instead of their cause, which is logged.
const INTERNAL_MESSAGE: &str =
    "Something went wrong on the server. The details are in the server log.";

impl ConsoleError {
    fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            ConsoleError::SignInRequired { .. } => (StatusCode::UNAUTHORIZED, self.to_string()),
            ConsoleError::Forbidden(m) => (StatusCode::FORBIDDEN, (*m).to_owned()),
            ConsoleError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ConsoleError::NotFound => {
                (StatusCode::NOT_FOUND, "There is no such page or item.".to_owned())
            }
            ConsoleError::Service(e) if e.is_internal() => {
                tracing::error!(error = %cause_chain(self), "console request failed in storage");
                (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE.to_owned())
            }
            ConsoleError::Service(e) => (
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.to_string(),
            ),
            ConsoleError::Render(_) => {
                tracing::error!(error = %cause_chain(self), "console page failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE.to_owned())
            }
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match &self {
            ConsoleError::SignInRequired { next } => {
                return sign_in_redirect(next.as_deref()).into_response();
            }
            // A session that ended between pages is a sign-in, not an error page.
            ConsoleError::Service(ServiceError::Unauthenticated) => {
                return sign_in_redirect(None).into_response();
            }
            // Every password-hashing slot is taken: come back in a moment.
            ConsoleError::Service(e @ ServiceError::Busy { retry_after }) => {
                let page = error_page(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
                return with_retry_after(page, *retry_after);
            }
            _ => {}
        }
        let (status, message) = self.status_and_message();
        error_page(status, message)
    }
}

/// Renders the error page; falls back to plain text should the template itself fail.
pub(crate) fn error_page(status: StatusCode, message: String) -> Response {
    let heading = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Already exists",
        s if s.is_client_error() => "That didn't work",
        _ => "Server error",
    };
    let page =
        ErrorPage { layout: Layout::public(heading), status: status.as_u16(), heading, message };
    let mut response = html(&page);
    *response.status_mut() = status;
    response
}

/// `response` with `Retry-After: SECONDS` (rounded up, at least one).
pub(crate) fn with_retry_after(mut response: Response, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// A redirect to the sign-in page that comes back to `next` (a console path) afterwards.
pub(crate) fn sign_in_redirect(next: Option<&str>) -> Redirect {
    match next.filter(|n| is_safe_next(n)) {
        Some(next) => Redirect::to(&format!("/console/sign-in?next={}", encode_query(next))),
        None => Redirect::to("/console/sign-in"),
    }
}

/// Whether `next` is a console page we may send a browser to after sign-in: a path under
/// `/console/`, never another site (`//evil.example`, `/\evil.example`) or a script.
pub(crate) fn is_safe_next(next: &str) -> bool {
    next.starts_with("/console/")
        && !next.contains("//")
        && next.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
}

/// Percent-encodes a query value (only the characters [`is_safe_next`] lets through need none).
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'/' => "%2F".to_owned(),
            _ => char::from(b).to_string(),
        })
        .collect()
}

/// The fallback of `/console/…`.
pub(crate) async fn not_found() -> ConsoleError {
    ConsoleError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        for ok in ["/console/keys", "/console/settings", "/console/machines/12/delete"] {
            assert!(is_safe_next(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/console//evil.example",
            "/\\evil.example",
            "/console/keys?x=<script>",
            "/api/v2/keys",
            "/console/keys\r\nSet-Cookie: x",
        ] {
            assert!(!is_safe_next(bad), "{bad}");
        }
    }

    #[test]
    fn service_errors_show_their_status_and_message() {
        let tag = keygate_domain::TagSet::parse(["web"]).unwrap_err();
        let cases = [
            (ServiceError::Invalid("bad".into()), StatusCode::BAD_REQUEST, "bad".to_owned()),
            (ServiceError::from(tag.clone()), StatusCode::BAD_REQUEST, tag.to_string()),
            (ServiceError::Forbidden("no".into()), StatusCode::FORBIDDEN, "no".to_owned()),
            (
                ServiceError::NotFound { what: "auth key", id: "k1".into() },
                StatusCode::NOT_FOUND,
                "auth key \"k1\" not found".to_owned(),
            ),
        ];
        for (e, status, message) in cases {
            assert_eq!(ConsoleError::Service(e).status_and_message(), (status, message));
        }
    }

    #[test]
    fn the_redirect_carries_next_encoded() {
        let r = sign_in_redirect(Some("/console/keys")).into_response();
        assert_eq!(r.headers()["location"], "/console/sign-in?next=%2Fconsole%2Fkeys");
        let r = sign_in_redirect(Some("//evil.example")).into_response();
        assert_eq!(r.headers()["location"], "/console/sign-in");
    }
}
