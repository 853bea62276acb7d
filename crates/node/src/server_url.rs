//! [`ServerUrl`]: the login server's address, parsed once.
//!
//! Only `http://host[:port]` is supported for now. Go's client would also race
//! `https://host:443` (protocol.md §3.2) and accepts `https://` URLs; this client does not speak
//! TLS yet and says so ([`NodeError::HttpsUnsupported`]).

use std::fmt;
use std::str::FromStr;

use http::uri::{Authority, Uri};

use crate::error::NodeError;

/// Port used when the URL names none (plain HTTP).
pub const DEFAULT_HTTP_PORT: u16 = 80;

/// A parsed `http://host[:port]` login server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    authority: Authority,
    /// `host:port` to dial; IPv6 literals keep their brackets.
    dial_addr: String,
}

impl ServerUrl {
    /// Parses `http://host[:port]` with an optional trailing `/`.
    pub fn parse(text: &str) -> Result<Self, NodeError> {
        let invalid = |reason| NodeError::InvalidUrl { url: text.to_owned(), reason };
        let uri: Uri = text.trim().parse().map_err(|_| invalid("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(NodeError::HttpsUnsupported),
            Some(_) => return Err(invalid("the scheme must be http://")),
            None => return Err(invalid("missing http:// scheme")),
        }
        let authority = uri.authority().ok_or_else(|| invalid("missing host"))?.clone();
        if authority.as_str().contains('@') {
            return Err(invalid("user information is not supported"));
        }
        if authority.host().is_empty() {
            return Err(invalid("missing host"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("the URL must not have a path or query"));
        }
        let port = authority.port_u16().unwrap_or(DEFAULT_HTTP_PORT);
        let dial_addr = format!("{}:{port}", authority.host());
        Ok(Self { authority, dial_addr })
    }

    /// The `host[:port]` as written in the URL, for `Host` and `:authority`.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// The `host:port` to connect to.
    pub fn dial_addr(&self) -> &str {
        &self.dial_addr
    }

    /// An absolute `http://` URI for `path_and_query` on this server.
    pub(crate) fn uri(&self, path_and_query: &str) -> Uri {
        // Cannot fail: the authority was parsed from a URI and every caller passes a constant
        // path; fall back to the bare path just in case.
        self.try_uri(path_and_query).unwrap_or_else(|_| Uri::from_static("/"))
    }

    /// An absolute `http://` URI for `path_and_query` on this server; fails if
    /// `path_and_query` is not a valid URI path.
    pub(crate) fn try_uri(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

impl FromStr for ServerUrl {
    type Err = NodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_parse_with_and_without_port() {
        let url = ServerUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(url.authority(), "127.0.0.1:8080");
        assert_eq!(url.dial_addr(), "127.0.0.1:8080");
        assert_eq!(url.uri("/key?v=133").to_string(), "http://127.0.0.1:8080/key?v=133");
        let url = ServerUrl::parse("http://control.example/").unwrap();
        assert_eq!(url.authority(), "control.example");
        assert_eq!(url.dial_addr(), "control.example:80");
        assert_eq!(url.to_string(), "http://control.example");
        let url = ServerUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!(url.dial_addr(), "[::1]:9000");
    }

    #[test]
    fn https_is_refused_clearly() {
        let err = ServerUrl::parse("https://control.example").unwrap_err();
        assert!(matches!(err, NodeError::HttpsUnsupported));
        assert!(err.to_string().contains("not supported yet"), "{err}");
    }

    #[test]
    fn other_shapes_are_invalid() {
        for text in [
            "127.0.0.1:8080",
            "ftp://host",
            "http://",
            "http://host/prefix",
            "http://host/?x=1",
            "http://user@host",
            "not a url",
        ] {
            assert!(
                matches!(ServerUrl::parse(text), Err(NodeError::InvalidUrl { .. })),
                "{text} should be invalid"
            );
        }
    }
}
