//! Cross-site request forgery defences on every POST.
//!
//! 1. Where the request came from: a browser's `Sec-Fetch-Site` must be `same-origin` (or
//!    `none`, a request the user made directly), and an `Origin` must be the server's own
//!    (its configured URL, or the `Host` the request was sent to). Requests without these
//!    headers (old browsers, scripts) rely on the next check alone.
//! 2. A token in a hidden `csrf` field: a signed-in form carries the session's CSRF token
//!    ([`AdminForm`]); the sign-in and setup forms, which have no session yet, carry the
//!    value of a pre-session cookie they were served with (double submit, [`PublicForm`]).
//!    A forged form cannot know either, and `SameSite=Strict` keeps the cookies off
//!    cross-site requests anyway.
//!
//! Any failure is 403 with an error page.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::header::{HOST, ORIGIN};
use http::HeaderMap;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::error::ConsoleError;
use crate::layout::html_with_status;
use crate::session::{append_cookie, CookieKind, CurrentAdmin};
use crate::{Console, ConsoleConfig, REQUEST_BODY_LIMIT};

const CROSS_SITE: &str =
    "This form was sent from another site, so it was refused. Open the console directly and try again.";
const BAD_TOKEN: &str =
    "This form is missing its security token or it has expired. Reload the page and try again.";

/// Refuses a request that a browser says came from another site.
pub(crate) fn check_origin(
    headers: &HeaderMap,
    config: &ConsoleConfig,
) -> Result<(), ConsoleError> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin" | "none")) {
            return Err(ConsoleError::Forbidden(CROSS_SITE));
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().map_err(|_| ConsoleError::Forbidden(CROSS_SITE))?;
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        let authority = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
        let same = origin == config.origin() || (authority.is_some() && authority == host);
        if !same {
            return Err(ConsoleError::Forbidden(CROSS_SITE));
        }
    }
    Ok(())
}

/// The `csrf` field of a form.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Reads a form body of at most `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ConsoleError> {
    to_bytes(body, limit).await.map_err(|_| {
        ConsoleError::BadRequest("The form could not be read (is it too large?).".into())
    })
}

/// Decodes the form's own fields.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConsoleError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ConsoleError::BadRequest(format!("The form could not be read: {e}.")))
}

fn presented_token(bytes: &[u8]) -> String {
    serde_urlencoded::from_bytes::<CsrfField>(bytes).map(|f| f.csrf).unwrap_or_default()
}

/// A form posted by the signed-in admin, after the origin, session and CSRF checks. Without
/// a session the request is sent to the sign-in page. `LIMIT` is the largest body read: the
/// small default, except for forms that carry a whole file (the policy editor).
pub(crate) struct AdminForm<T, const LIMIT: usize = REQUEST_BODY_LIMIT> {
    pub admin: CurrentAdmin,
    pub form: T,
}

impl<T: DeserializeOwned, const LIMIT: usize> FromRequest<Console> for AdminForm<T, LIMIT> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, console: &Console) -> Result<Self, ConsoleError> {
        let (mut parts, body) = req.into_parts();
        check_origin(&parts.headers, console.config())?;
        let admin = CurrentAdmin::from_request_parts(&mut parts, console).await?;
        let bytes = read_body(body, LIMIT).await?;
        if !admin.session.csrf.matches(&presented_token(&bytes)) {
            tracing::warn!(admin = %admin.session.name, path = %parts.uri.path(), "console form refused: wrong or missing CSRF token");
            return Err(ConsoleError::Forbidden(BAD_TOKEN));
        }
        Ok(AdminForm { admin, form: decode(&bytes)? })
    }
}

/// A form posted before sign-in (sign-in, setup), after the origin and double-submit checks.
pub(crate) struct PublicForm<T> {
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<Console> for PublicForm<T> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, console: &Console) -> Result<Self, ConsoleError> {
        let (parts, body) = req.into_parts();
        check_origin(&parts.headers, console.config())?;
        let cookie = CookieKind::PreSession.read(console.config(), &parts.headers);
        let bytes = read_body(body, REQUEST_BODY_LIMIT).await?;
        let presented = presented_token(&bytes);
        let ok = cookie.is_some_and(|c| {
            is_token_text(&c) && bool::from(c.as_bytes().ct_eq(presented.as_bytes()))
        });
        if !ok {
            tracing::warn!(path = %parts.uri.path(), "console form refused: pre-session CSRF token missing or wrong");
            return Err(ConsoleError::Forbidden(BAD_TOKEN));
        }
        Ok(PublicForm { form: decode(&bytes)? })
    }
}

/// The pre-session token for a form served now: the browser's current one if it has a
/// well-formed one, else a new one with the `Set-Cookie` that gives it to the browser.
pub(crate) fn pre_session_token(
    headers: &HeaderMap,
    config: &ConsoleConfig,
) -> (String, Option<http::HeaderValue>) {
    if let Some(existing) =
        CookieKind::PreSession.read(config, headers).filter(|t| is_token_text(t))
    {
        return (existing, None);
    }
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let cookie = CookieKind::PreSession.set(config, &token);
    (token, Some(cookie))
}

/// Renders a page served before sign-in (sign-in, setup) with `status`: its form gets the
/// pre-session token (`csrf` says where the page keeps it), the response the cookie that holds
/// the token when it is new.
pub(crate) fn render_with_pre_session<T: askama::Template>(
    config: &ConsoleConfig,
    headers: &HeaderMap,
    status: http::StatusCode,
    mut page: T,
    csrf: impl FnOnce(&mut T) -> &mut String,
) -> axum::response::Response {
    let (token, cookie) = pre_session_token(headers, config);
    *csrf(&mut page) = token;
    let mut response = html_with_status(status, &page);
    if let Some(cookie) = cookie {
        append_cookie(response.headers_mut(), cookie);
    }
    response
}

fn is_token_text(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn same_origin_requests_pass_and_cross_site_ones_do_not() {
        let config = ConsoleConfig { server_url: "https://kg.example.com".into() };
        let ok = [
            headers(&[]),
            headers(&[("sec-fetch-site", "same-origin")]),
            headers(&[("sec-fetch-site", "none")]),
            headers(&[("origin", "https://kg.example.com")]),
            // Reached under another name than the configured URL, e.g. through a tunnel.
            headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")]),
        ];
        for h in ok {
            assert!(check_origin(&h, &config).is_ok(), "{h:?}");
        }
        let refused = [
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[("origin", "https://evil.example")]),
            headers(&[("origin", "null")]),
            headers(&[("origin", "https://evil.example"), ("host", "kg.example.com")]),
        ];
        for h in refused {
            assert!(check_origin(&h, &config).is_err(), "{h:?}");
        }
    }
}
