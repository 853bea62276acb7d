//! The REST API client the scenarios use to create and revoke keys: HTTP/1.1 over the admin
//! socket (no token: the socket is the credential) or over TCP with a Bearer token.
//!
//! Bodies are handled as plain JSON (`serde_json::Value`), so this load generator depends on
//! the API's documented wire shapes (Tailscale's `/api/v2`), not on the server's types.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpStream, UnixStream};

/// Where the keys of this tailnet live.
pub const KEYS_PATH: &str = "/api/v2/tailnet/-/keys";
pub const ACL_PATH: &str = "/api/v2/tailnet/-/acl";

/// Longest wait for one API request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the API. (No `Debug`: it may hold a token.)
#[derive(Clone)]
pub enum AdminTarget {
    /// The server's admin socket.
    Socket(PathBuf),
    /// `host:port` over TCP, with an API token.
    Tcp { authority: String, token: String },
}

/// A pre-auth key as created: its public id and its secret.
pub struct CreatedKey {
    pub id: String,
    pub secret: String,
}

/// What kind of key to create.
#[derive(Clone, Copy, Default)]
pub struct KeySpec {
    pub reusable: bool,
    pub ephemeral: bool,
    /// Tags the enrolled nodes take as their identity (the policy must name their owners).
    pub tags: &'static [&'static str],
}

/// A client for the REST API.
#[derive(Clone)]
pub struct AdminClient {
    target: AdminTarget,
}

impl AdminClient {
    pub fn new(target: AdminTarget) -> Self {
        Self { target }
    }

    /// Opens one keep-alive HTTP/1.1 connection for a series of requests.
    pub async fn connect(&self) -> anyhow::Result<AdminConn> {
        let (sender, authority) = match &self.target {
            AdminTarget::Socket(path) => {
                let stream = UnixStream::connect(path).await.with_context(|| {
                    format!("connecting to the admin socket {}", path.display())
                })?;
                (handshake(stream).await?, "localhost".to_owned())
            }
            AdminTarget::Tcp { authority, .. } => {
                let stream = TcpStream::connect(authority.as_str())
                    .await
                    .with_context(|| format!("connecting to {authority}"))?;
                stream.set_nodelay(true)?;
                (handshake(stream).await?, authority.clone())
            }
        };
        let token = match &self.target {
            AdminTarget::Tcp { token, .. } => Some(token.clone()),
            AdminTarget::Socket(_) => None,
        };
        Ok(AdminConn { sender, authority, token })
    }

    /// Creates a pre-approved auth key valid for a day.
    pub async fn create_key(&self, spec: KeySpec) -> anyhow::Result<CreatedKey> {
        self.connect().await?.create_key(spec).await
    }
}

async fn handshake<S>(stream: S) -> anyhow::Result<SendRequest<Full<Bytes>>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake with the API")?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One open API connection; requests on it run one after another.
pub struct AdminConn {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
    token: Option<String>,
}

impl AdminConn {
    /// Sends a request and returns the status and the JSON body.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let body = match body {
            Some(v) => Bytes::from(serde_json::to_vec(v)?),
            None => Bytes::new(),
        };
        let mut req = Request::builder().method(method).uri(path).header(HOST, &self.authority);
        if !body.is_empty() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req.body(Full::new(body)).context("building an API request")?;
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(req).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow!("the API did not answer within {REQUEST_TIMEOUT:?}"))??;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).context("the API answered with something not JSON")?
        };
        Ok((status, value))
    }

    /// `POST …/keys`: a pre-approved auth key, valid for a day.
    pub async fn create_key(&mut self, spec: KeySpec) -> anyhow::Result<CreatedKey> {
        let body = json!({
            "capabilities": {"devices": {"create": {
                "reusable": spec.reusable,
                "ephemeral": spec.ephemeral,
                "preauthorized": true,
                "tags": spec.tags,
            }}},
            "expirySeconds": 86_400,
            "description": "keygate-bench",
        });
        let (status, value) = self.request(Method::POST, KEYS_PATH, Some(&body)).await?;
        if status != StatusCode::OK {
            bail!("creating a key: {status} {}", value["message"]);
        }
        let id = value["id"].as_str().context("the created key has no id")?.to_owned();
        let secret = value["key"].as_str().context("the created key has no secret")?.to_owned();
        Ok(CreatedKey { id, secret })
    }

    /// `POST …/acl`: puts `policy` in force.
    pub async fn set_policy(&mut self, policy: &Value) -> anyhow::Result<()> {
        let (status, value) = self.request(Method::POST, ACL_PATH, Some(policy)).await?;
        if status != StatusCode::OK {
            bail!("setting the policy: {status} {}", value["message"]);
        }
        Ok(())
    }

    /// `GET …/keys`: the number of keys listed.
    pub async fn list_keys(&mut self) -> anyhow::Result<usize> {
        let (status, value) = self.request(Method::GET, KEYS_PATH, None).await?;
        if status != StatusCode::OK {
            bail!("listing keys: {status} {}", value["message"]);
        }
        Ok(value["keys"].as_array().context("the key list has no `keys` array")?.len())
    }

    /// `DELETE …/keys/{id}`.
    pub async fn revoke_key(&mut self, id: &str) -> anyhow::Result<()> {
        let (status, value) =
            self.request(Method::DELETE, &format!("{KEYS_PATH}/{id}"), None).await?;
        if !status.is_success() {
            bail!("revoking key {id}: {status} {}", value["message"]);
        }
        Ok(())
    }
}

/// Splits `http://host[:port]` into `host:port`.
pub fn authority_of(url: &str) -> anyhow::Result<String> {
    let rest = url
        .trim()
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("{url:?} is not an http:// URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        bail!("{url:?} has no host");
    }
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    Ok(if has_port { authority.to_owned() } else { format!("{authority}:80") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_of_urls() {
        assert_eq!(authority_of("http://127.0.0.1:8080").unwrap(), "127.0.0.1:8080");
        assert_eq!(authority_of("http://kg.test/").unwrap(), "kg.test:80");
        assert_eq!(authority_of("http://[::1]:9").unwrap(), "[::1]:9");
        assert!(authority_of("https://kg.test").is_err());
    }
}
