//! Who is calling: the local admin channel, an API token, or an OAuth access token.
//!
//! Tailscale's clients send the token as the HTTP Basic user name with an empty password (the
//! Go client, Terraform) or as a Bearer token (python-tailscale, OAuth access tokens); both are
//! accepted (reference §1). The token itself is never logged, nor is the `Authorization` header.

use axum::extract::{FromRef, FromRequestParts};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::HeaderMap;
use keygate_service::{Actor, Service, ServiceError};

use crate::error::ApiError;

/// Marks a request that arrived on the local admin Unix socket. The server inserts it as a
/// request extension; such requests act as [`Actor::Admin`] without a token, because only root
/// or the server's own user can open that socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdminChannel;

/// The authenticated caller of a request. Extracting it answers 401 when the request carries
/// no usable credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller(pub Actor);

impl<S> FromRequestParts<S> for Caller
where
    Service: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<AdminChannel>().is_some() {
            return Ok(Caller(Actor::Admin));
        }
        let Some(token) = presented_token(&parts.headers)? else {
            return Err(ApiError::unauthenticated(
                "missing API token: send it as the HTTP Basic user name with an empty password \
                 (curl -u \"keygate-api-…:\") or as \"Authorization: Bearer keygate-api-…\"",
            ));
        };
        let service = Service::from_ref(state);
        let actor = service.authenticate(&token).await?;
        Ok(Caller(actor))
    }
}

/// The token in the `Authorization` header, if there is one. A header that is present but
/// unreadable is refused with the same message as a wrong token.
fn presented_token(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let refused = || ApiError::from(ServiceError::Unauthenticated);
    let value = value.to_str().map_err(|_| refused())?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or_else(refused)?;
    let rest = rest.trim();
    let token = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest).map_err(|_| refused())?;
        let pair = String::from_utf8(decoded).map_err(|_| refused())?;
        // The password is ignored, as Tailscale ignores it: clients send it empty.
        let user = pair.split_once(':').map_or(pair.as_str(), |(user, _)| user);
        user.to_owned()
    } else if scheme.eq_ignore_ascii_case("bearer") {
        rest.to_owned()
    } else {
        return Err(refused());
    };
    if token.is_empty() {
        return Err(refused());
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn basic_takes_the_user_name_and_ignores_the_password() {
        let b64 = STANDARD.encode("keygate-api-t1-ab:");
        assert_eq!(
            presented_token(&headers(&format!("Basic {b64}"))).unwrap().as_deref(),
            Some("keygate-api-t1-ab")
        );
        let b64 = STANDARD.encode("keygate-api-t1-ab:whatever");
        assert_eq!(
            presented_token(&headers(&format!("basic {b64}"))).unwrap().as_deref(),
            Some("keygate-api-t1-ab")
        );
    }

    #[test]
    fn bearer_takes_the_rest_of_the_header() {
        assert_eq!(
            presented_token(&headers("Bearer keygate-api-x")).unwrap().as_deref(),
            Some("keygate-api-x")
        );
        assert_eq!(
            presented_token(&headers("bearer  keygate-api-x ")).unwrap().as_deref(),
            Some("keygate-api-x")
        );
    }

    #[test]
    fn no_header_is_no_token_and_malformed_headers_are_refused() {
        assert_eq!(presented_token(&HeaderMap::new()).unwrap(), None);
        for bad in [
            "Bearer",
            "Bearer  ",
            "Basic !!!",
            "Digest abc",
            "keygate-api-x",
            &format!("Basic {}", STANDARD.encode(":pw")),
        ] {
            let err = presented_token(&headers(bad)).unwrap_err();
            assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED, "{bad}");
        }
    }
}
