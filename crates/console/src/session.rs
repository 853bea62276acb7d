//! The session cookie, and [`CurrentAdmin`]: the signed-in admin of a request.
//!
//! The cookie holds the session's 256-bit secret: `HttpOnly` (no script reads it),
//! `SameSite=Strict` (no other site's page makes the browser send it), `Secure` with the
//! `__Host-` prefix when the server URL is https (never sent in clear; no subdomain can set
//! it), and it lasts no longer than the session. The service keeps only its hash.

use axum::extract::FromRequestParts;
use http::header::{COOKIE, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method};
use keygate_service::{AdminSession, ServiceError, CONSOLE_SESSION_LIFETIME};

use crate::error::ConsoleError;
use crate::{Console, ConsoleConfig, PREFIX};

/// The two cookies the console sets: the session, and the pre-session CSRF token of the
/// sign-in and setup forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CookieKind {
    Session,
    PreSession,
}

/// How long the pre-session CSRF cookie lasts: long enough to fill in a form.
const PRE_SESSION_MAX_AGE_SECS: u64 = 3600;

impl CookieKind {
    /// The cookie's name; `__Host-` when cookies are secure.
    pub(crate) fn name(self, config: &ConsoleConfig) -> &'static str {
        match (self, config.secure_cookies()) {
            (CookieKind::Session, true) => "__Host-keygate_session",
            (CookieKind::Session, false) => "keygate_session",
            (CookieKind::PreSession, true) => "__Host-keygate_presession",
            (CookieKind::PreSession, false) => "keygate_presession",
        }
    }

    fn max_age_secs(self) -> u64 {
        match self {
            CookieKind::Session => CONSOLE_SESSION_LIFETIME.as_secs(),
            CookieKind::PreSession => PRE_SESSION_MAX_AGE_SECS,
        }
    }

    /// The cookie's value in the request, if any.
    pub(crate) fn read(self, config: &ConsoleConfig, headers: &HeaderMap) -> Option<String> {
        let name = self.name(config);
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim().to_owned())
    }

    /// `Set-Cookie` for `value` (hex, so it needs no quoting).
    pub(crate) fn set(self, config: &ConsoleConfig, value: &str) -> HeaderValue {
        self.header(config, value, self.max_age_secs())
    }

    /// `Set-Cookie` that deletes the cookie.
    pub(crate) fn clear(self, config: &ConsoleConfig) -> HeaderValue {
        self.header(config, "", 0)
    }

    fn header(self, config: &ConsoleConfig, value: &str, max_age: u64) -> HeaderValue {
        // `__Host-` cookies must have `Path=/`; otherwise keep the cookie to the console.
        let (path, secure) =
            if config.secure_cookies() { ("/", "; Secure") } else { ("/console", "") };
        let text = format!(
            "{}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
            self.name(config)
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
    }
}

/// Adds `Set-Cookie: value` to `headers`.
pub(crate) fn append_cookie(headers: &mut HeaderMap, value: HeaderValue) {
    headers.append(SET_COOKIE, value);
}

/// The signed-in admin. Extracting it redirects to the sign-in page when there is no valid
/// session (coming back to the same page afterwards for a GET).
#[derive(Clone, Debug)]
pub(crate) struct CurrentAdmin {
    pub session: AdminSession,
}

impl FromRequestParts<Console> for CurrentAdmin {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Console,
    ) -> Result<Self, ConsoleError> {
        let required = || ConsoleError::SignInRequired {
            // Inside the nested router the path has lost its `/console` prefix.
            next: (parts.method == Method::GET).then(|| format!("{PREFIX}{}", parts.uri.path())),
        };
        let Some(secret) = CookieKind::Session.read(console.config(), &parts.headers) else {
            return Err(required());
        };
        match console.service().console_session(&secret).await {
            Ok(session) => Ok(CurrentAdmin { session }),
            Err(ServiceError::Unauthenticated) => Err(required()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> ConsoleConfig {
        ConsoleConfig { server_url: url.into() }
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_https() {
        let plain = CookieKind::Session.set(&config("http://127.0.0.1:8080"), "ab12");
        assert_eq!(
            plain,
            "keygate_session=ab12; Path=/console; Max-Age=43200; HttpOnly; SameSite=Strict"
        );
        let tls = CookieKind::Session.set(&config("https://kg.example.com"), "ab12");
        assert_eq!(
            tls,
            "__Host-keygate_session=ab12; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure"
        );
        let cleared = CookieKind::PreSession.clear(&config("http://x"));
        assert_eq!(
            cleared,
            "keygate_presession=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("other=1; keygate_session_x=2"));
        headers.append(COOKIE, HeaderValue::from_static("keygate_session=abc ; z=9"));
        let c = config("http://x");
        assert_eq!(CookieKind::Session.read(&c, &headers).as_deref(), Some("abc"));
        assert_eq!(CookieKind::PreSession.read(&c, &headers), None);
    }
}
