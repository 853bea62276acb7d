//! The HTTP client of the admin commands: HTTP/1.1 over the admin socket (no token: the socket
//! itself is the credential) or over TCP to `--server URL` with a Bearer token.
//!
//! One connection per request: the CLI makes one or two requests per run, so pooling would buy
//! nothing. Error responses carry Tailscale's `{"message": …}` body, which becomes the error.

use std::future::Future;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use keygate_server::config::ADMIN_SOCKET_FILE;
use keygate_server::{Config, Overrides};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use crate::GlobalArgs;

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the `/api/v2` paths of this tailnet start.
pub const TAILNET: &str = "/api/v2/tailnet/-";

/// Runs an admin command on a small single-threaded runtime.
pub fn block_on<F: Future<Output = anyhow::Result<()>>>(fut: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(fut)
}

/// Where requests go. (No `Debug`: it holds the token.)
enum Target {
    /// The admin socket.
    Socket(PathBuf),
    /// A server by URL: `host:port` to dial, the URL's path prefix, and the URL for messages.
    Remote { authority: String, prefix: String, url: String, token: String },
}

/// A client for one keygate server.
pub struct Client {
    target: Target,
}

impl Client {
    /// The client the global flags ask for: `--server` (with `--token`), else `--socket`, else
    /// the admin socket in the data directory (from `--data-dir`, `KEYGATE_DATA_DIR`, the
    /// config file's `data_dir`, or `./keygate-data`).
    pub fn from_args(global: &GlobalArgs) -> anyhow::Result<Self> {
        if let Some(url) = &global.server {
            let Some(token) = global.token.clone().filter(|t| !t.trim().is_empty()) else {
                bail!("--server needs an API token: pass --token or set KEYGATE_TOKEN (create one on the server with `keygate tokens create`)");
            };
            let (authority, prefix) = parse_server_url(url)?;
            let url = url.trim_end_matches('/').to_owned();
            return Ok(Self {
                target: Target::Remote { authority, prefix, url, token: token.trim().to_owned() },
            });
        }
        let socket = match &global.socket {
            Some(path) => path.clone(),
            None => {
                let overrides =
                    Overrides { data_dir: global.data_dir.clone(), ..Default::default() };
                let config = Config::load(global.config.as_deref(), &overrides)
                    .context("reading the configuration to find the admin socket")?;
                config.data_dir.join(ADMIN_SOCKET_FILE)
            }
        };
        Ok(Self { target: Target::Socket(socket) })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Reply<T>> {
        self.request(Method::GET, path, None::<&()>).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<Reply<T>> {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<Reply<T>> {
        self.request(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Reply<T>> {
        self.request(Method::DELETE, path, None::<&()>).await
    }

    /// Sends `body` (a media type and text) and returns the response body as text, asking for
    /// `accept`: for the policy file, which travels as HuJSON rather than JSON.
    pub async fn text(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, String)>,
    ) -> anyhow::Result<String> {
        let body = body.map(|(content_type, text)| (content_type, Bytes::from(text)));
        let bytes = self.exchange(method, path, accept, body).await?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| anyhow!("{} sent a response that is not UTF-8 text", self.describe()))
    }

    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<Reply<T>> {
        let body = match body {
            Some(b) => Some((
                "application/json",
                Bytes::from(serde_json::to_vec(b).context("encoding the request")?),
            )),
            None => None,
        };
        let bytes = self.exchange(method, path, "application/json", body).await?;
        let text = String::from_utf8(bytes.to_vec())
            .ok()
            .filter(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok())
            .ok_or_else(|| anyhow!("{} sent a response that is not JSON", self.describe()))?;
        let value = serde_json::from_str(&text).with_context(|| {
            format!("{} sent a response this keygate does not understand", self.describe())
        })?;
        Ok(Reply { value, text })
    }

    /// One request, within [`REQUEST_TIMEOUT`]: the body of a success response, or the error
    /// the server's answer makes.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Bytes)>,
    ) -> anyhow::Result<Bytes> {
        let (status, bytes) =
            tokio::time::timeout(REQUEST_TIMEOUT, self.send(method, path, accept, body))
                .await
                .map_err(|_| {
                anyhow!(
                    "{} did not answer within {} seconds",
                    self.describe(),
                    REQUEST_TIMEOUT.as_secs()
                )
            })??;
        if !status.is_success() {
            return Err(self.error_from(status, &bytes));
        }
        Ok(bytes)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Bytes)>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .header(USER_AGENT, concat!("keygate-cli/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, accept);
        let body = match body {
            Some((content_type, bytes)) => {
                req = req.header(CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        match &self.target {
            Target::Socket(socket) => {
                let req = req.uri(path).header(HOST, "localhost").body(Full::new(body))?;
                let stream =
                    UnixStream::connect(socket).await.map_err(|e| socket_error(socket, e))?;
                exchange(stream, req).await
            }
            Target::Remote { authority, prefix, url, token } => {
                let req = req
                    .uri(format!("{prefix}{path}"))
                    .header(HOST, authority.as_str())
                    .header(AUTHORIZATION, format!("Bearer {token}"))
                    .body(Full::new(body))
                    .context("building the request (is the token one line of plain text?)")?;
                let stream = TcpStream::connect(authority.as_str())
                    .await
                    .with_context(|| format!("cannot reach keygate at {url}"))?;
                exchange(stream, req).await.with_context(|| format!("talking to keygate at {url}"))
            }
        }
    }

    /// The error for a non-success response: the server's `message`, with a hint for a
    /// refused token.
    fn error_from(&self, status: StatusCode, bytes: &[u8]) -> anyhow::Error {
        let message =
            serde_json::from_slice::<keygate_api::ErrorBody>(bytes).ok().map(|b| b.message);
        let Some(message) = message else {
            let reason = status.canonical_reason().unwrap_or("error");
            return anyhow!("{} answered {} {reason}", self.describe(), status.as_u16());
        };
        if status == StatusCode::UNAUTHORIZED && matches!(self.target, Target::Remote { .. }) {
            anyhow!(
                "{message} (the server refused the API token given with --token or KEYGATE_TOKEN)"
            )
        } else {
            anyhow!("{message}")
        }
    }

    fn describe(&self) -> String {
        match &self.target {
            Target::Socket(path) => format!("keygate at {}", path.display()),
            Target::Remote { url, .. } => format!("keygate at {url}"),
        }
    }
}

/// A decoded response, with the JSON text as the server sent it (for `--json`). (No `Debug`:
/// a create response holds a secret.)
pub struct Reply<T> {
    pub value: T,
    pub text: String,
}

/// One request and its whole response over a fresh HTTP/1.1 connection.
async fn exchange<S>(stream: S, req: Request<Full<Bytes>>) -> anyhow::Result<(StatusCode, Bytes)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let response = sender.send_request(req).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    drop(sender);
    // The connection task ends once the request is done and the sender is gone.
    let _ = connection.await;
    Ok((status, bytes))
}

fn socket_error(path: &std::path::Path, e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => anyhow!(
            "cannot reach keygate at {}: is `keygate serve` running in this directory? (or pass --server URL --token …)",
            path.display()
        ),
        ErrorKind::PermissionDenied => anyhow!(
            "cannot open the admin socket {}: permission denied: run this as the user that runs `keygate serve` (or pass --server URL --token …)",
            path.display()
        ),
        _ => anyhow::Error::new(e).context(format!("cannot reach keygate at {}", path.display())),
    }
}

/// Splits `http://host[:port][/prefix]` into the address to dial and the path prefix.
fn parse_server_url(url: &str) -> anyhow::Result<(String, String)> {
    let url = url.trim();
    if url.starts_with("https://") {
        bail!("https is not supported by the CLI yet: use an http:// URL (for example through an SSH tunnel), or run the command on the server's machine");
    }
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--server {url:?} is not an http:// URL (such as http://keygate.example.com:8080)");
    };
    let (authority, prefix) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        bail!(
            "--server {url:?} has no host (or has credentials in it: pass the token with --token)"
        );
    }
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    let authority = if has_port { authority.to_owned() } else { format!("{authority}:80") };
    Ok((authority, prefix.trim_end_matches('/').to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_give_an_address_and_a_prefix() {
        assert_eq!(
            parse_server_url("http://127.0.0.1:8080").unwrap(),
            ("127.0.0.1:8080".into(), String::new())
        );
        assert_eq!(
            parse_server_url("http://kg.example/").unwrap(),
            ("kg.example:80".into(), String::new())
        );
        assert_eq!(
            parse_server_url("http://[::1]:9/keygate/").unwrap(),
            ("[::1]:9".into(), "/keygate".into())
        );
        assert_eq!(parse_server_url("http://[::1]").unwrap(), ("[::1]:80".into(), String::new()));
    }

    #[test]
    fn https_and_other_schemes_are_refused_clearly() {
        let e = parse_server_url("https://kg.example").unwrap_err().to_string();
        assert!(e.starts_with("https is not supported by the CLI yet"), "{e}");
        let e = parse_server_url("kg.example:8080").unwrap_err().to_string();
        assert!(e.contains("is not an http:// URL"), "{e}");
    }
}
