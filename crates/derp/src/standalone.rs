//! A dedicated DERP listener that speaks just enough HTTP/1.1 itself: the same routes as
//! [`DerpServer::router`], plus fast start (`Derp-Fast-Start: 1`: no HTTP response, DERP frames
//! right after the request), which a hyper-based router cannot offer.
//!
//! Each connection carries one request: the `/derp` upgrade, or one probe answered with
//! `Connection: close`. For running the relay on its own port (tests, the `derp_standalone`
//! example); keygate's main listener uses the router.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::frame::PROTOCOL_VERSION;
use crate::http::{FAST_START_HEADER, UPGRADE_PROTOCOL};
use crate::server::DerpServer;

/// Longest request head accepted (request line and headers).
const MAX_HEAD_LEN: usize = 8 << 10;

/// Most headers parsed in a request head.
const MAX_HEADERS: usize = 32;

/// Accepts connections on `listener` and serves each in its own task, until
/// [`DerpServer::shutdown`] is called or accepting fails.
pub async fn serve(listener: TcpListener, server: DerpServer) -> std::io::Result<()> {
    loop {
        let (stream, remote) = listener.accept().await?;
        if server.shared.shut_down.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let server = server.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(server, stream, remote).await {
                tracing::debug!(error = %e, %remote, "DERP connection ended");
            }
        });
    }
}

/// What one request asked for.
enum Route {
    Derp { fast_start: bool },
    Respond(&'static str),
}

async fn serve_connection(
    server: DerpServer,
    mut stream: TcpStream,
    remote: SocketAddr,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    stream.set_nodelay(true)?;
    let handshake_timeout = server.shared.config.handshake_timeout;
    let (head_len, buf) = tokio::time::timeout(handshake_timeout, read_head(&mut stream))
        .await
        .map_err(|_| "timed out reading the request head")??;
    let route = match route(&buf[..head_len]) {
        Some(route) => route,
        None => Route::Respond("400 Bad Request"),
    };
    match route {
        Route::Respond(status) => {
            let body =
                if status.starts_with("426") { "DERP requires connection upgrade" } else { "" };
            let response = format!(
                "HTTP/1.1 {status}\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await?;
            stream.shutdown().await?;
            Ok(())
        }
        Route::Derp { fast_start } => {
            if !fast_start {
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: {UPGRADE_PROTOCOL}\r\nConnection: Upgrade\r\nDerp-Version: {PROTOCOL_VERSION}\r\nDerp-Public-Key: {}\r\n\r\n",
                    hex::encode(server.public_key())
                );
                stream.write_all(response.as_bytes()).await?;
            }
            server.serve_upgraded(stream, &buf[head_len..], Some(remote)).await?;
            Ok(())
        }
    }
}

/// Reads until the end of the request head. Returns the head's length and everything read
/// (bytes past the head belong to the DERP stream).
async fn read_head(stream: &mut TcpStream) -> Result<(usize, Vec<u8>), &'static str> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok((end + 4, buf));
        }
        if buf.len() >= MAX_HEAD_LEN {
            return Err("request head too long");
        }
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.map_err(|_| "reading the request head failed")?;
        if n == 0 {
            return Err("connection closed inside the request head");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Routes a complete request head; `None` if it does not parse.
fn route(head: &[u8]) -> Option<Route> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let method = request.method?;
    let path = request.path?.split('?').next()?;
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    Some(match path {
        "/derp/probe" | "/derp/latency-check" => match method {
            "GET" | "HEAD" => Route::Respond("200 OK"),
            _ => Route::Respond("405 Method Not Allowed"),
        },
        "/derp" => match header("Upgrade") {
            Some(token) if token.eq_ignore_ascii_case(UPGRADE_PROTOCOL) => {
                Route::Derp { fast_start: header(FAST_START_HEADER) == Some("1") }
            }
            Some(token) if token.eq_ignore_ascii_case("websocket") => {
                Route::Respond("501 Not Implemented")
            }
            _ => Route::Respond("426 Upgrade Required"),
        },
        _ => Route::Respond("404 Not Found"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(head: &str) -> String {
        match route(head.as_bytes()) {
            Some(Route::Respond(s)) => s.to_owned(),
            Some(Route::Derp { fast_start }) => format!("derp fast_start={fast_start}"),
            None => "unparsable".to_owned(),
        }
    }

    #[test]
    fn routes_like_the_router() {
        assert_eq!(status("HEAD /derp/probe HTTP/1.1\r\n\r\n"), "200 OK");
        assert_eq!(status("GET /derp/latency-check?x=1 HTTP/1.1\r\n\r\n"), "200 OK");
        assert_eq!(status("POST /derp/probe HTTP/1.1\r\n\r\n"), "405 Method Not Allowed");
        assert_eq!(status("GET /derp HTTP/1.1\r\nupgrade: derp\r\n\r\n"), "derp fast_start=false");
        assert_eq!(
            status("GET /derp HTTP/1.1\r\nUpgrade: DERP\r\nDerp-Fast-Start: 1\r\n\r\n"),
            "derp fast_start=true"
        );
        assert_eq!(status("GET /derp HTTP/1.1\r\n\r\n"), "426 Upgrade Required");
        assert_eq!(status("GET /other HTTP/1.1\r\n\r\n"), "404 Not Found");
        assert_eq!(status("\x00\x01garbage\r\n\r\n"), "unparsable");
    }
}
