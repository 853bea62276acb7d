//! A small DERP client over plain HTTP, for tests and benchmarks (the real clients are
//! tailscaled's `derphttp` and keygate's node crate).
//!
//! [`DerpClient::connect`] returns once the server has accepted the client (its `ServerInfo`
//! arrived), so the client is registered and reachable when it returns. Split it with
//! [`DerpClient::split`] to send and receive from different tasks. Upstream:
//! `derp/derp_client.go`, `derp/derphttp/derphttp_client.go`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::rngs::OsRng;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::client_info::{ClientInfo, ServerInfo};
use crate::error::{ClientError, FrameError};
use crate::frame::{
    put_frame, FrameType, PeerGoneReason, KEY_LEN, MAGIC, MAX_PACKET_SIZE, MAX_SERVER_FRAME_LEN,
    PING_LEN, PROTOCOL_VERSION,
};
use crate::frame_reader::FrameReader;
use crate::key::{NodePrivateKey, PublicKey};

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `Host` header value; the address when `None`.
    pub host: Option<String>,
    /// Send `Derp-Fast-Start: 1` and read no HTTP response (only [`crate::standalone`]
    /// supports it).
    pub fast_start: bool,
    /// Deadline for TCP connect, upgrade and handshake together.
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self { host: None, fast_start: false, timeout: Duration::from_secs(10) }
    }
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A relayed packet (`RecvPacket`: source key(32) ‖ packet).
    Packet { source: PublicKey, data: Bytes },
    /// A peer this client heard from left, or a destination is not here.
    PeerGone { peer: PublicKey, reason: PeerGoneReason },
    /// A peer connected (mesh watchers only).
    PeerPresent { peer: PublicKey },
    /// The server's periodic keep-alive.
    KeepAlive,
    /// The server asks for a pong with these bytes.
    Ping([u8; PING_LEN]),
    /// The answer to one of our pings.
    Pong([u8; PING_LEN]),
    /// The server reports a problem with this connection (empty: the problem is gone).
    Health(String),
    /// The server is restarting: reconnect after `reconnect_in`, keep trying for `try_for`.
    Restarting { reconnect_in: Duration, try_for: Duration },
}

/// A connected client.
#[derive(Debug)]
pub struct DerpClient {
    sender: DerpSender,
    receiver: DerpReceiver,
    server_key: PublicKey,
    server_info: ServerInfo,
}

/// The stream halves are boxed so one client type serves TCP and in-memory test streams.
type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// The sending half of a client.
pub struct DerpSender {
    io: BoxWrite,
    out: BytesMut,
}

/// The receiving half of a client.
pub struct DerpReceiver {
    reader: FrameReader<BoxRead>,
}

impl std::fmt::Debug for DerpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerpSender").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DerpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerpReceiver").finish_non_exhaustive()
    }
}

impl DerpClient {
    /// Connects to the DERP server at `addr` (plain HTTP, `GET /derp`) as the holder of `key`.
    pub async fn connect(addr: SocketAddr, key: &NodePrivateKey) -> Result<Self, ClientError> {
        Self::connect_with(addr, key, ConnectOptions::default()).await
    }

    /// [`DerpClient::connect`] with options.
    pub async fn connect_with(
        addr: SocketAddr,
        key: &NodePrivateKey,
        options: ConnectOptions,
    ) -> Result<Self, ClientError> {
        tokio::time::timeout(options.timeout, Self::connect_inner(addr, key, &options))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn connect_inner(
        addr: SocketAddr,
        key: &NodePrivateKey,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        let mut stream = TcpStream::connect(addr).await.map_err(ClientError::Io)?;
        stream.set_nodelay(true).map_err(ClientError::Io)?;
        let host = options.host.clone().unwrap_or_else(|| addr.to_string());
        let fast_start = if options.fast_start { "Derp-Fast-Start: 1\r\n" } else { "" };
        let request = format!(
            "GET /derp HTTP/1.1\r\nHost: {host}\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n{fast_start}\r\n"
        );
        stream.write_all(request.as_bytes()).await.map_err(ClientError::Io)?;
        let already_read = if options.fast_start {
            Vec::new()
        } else {
            read_upgrade_response(&mut stream).await?
        };

        let (read_half, write_half) = stream.into_split();
        Self::handshake(Box::new(read_half), Box::new(write_half), &already_read, key).await
    }

    /// Runs the DERP handshake on a stream whose HTTP upgrade is already done (or on an
    /// in-memory stream straight into [`crate::DerpServer::serve_upgraded`]).
    pub async fn handshake_on<IO>(io: IO, key: &NodePrivateKey) -> Result<Self, ClientError>
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(io);
        Self::handshake(Box::new(read_half), Box::new(write_half), &[], key).await
    }

    async fn handshake(
        read_half: BoxRead,
        write_half: BoxWrite,
        already_read: &[u8],
        key: &NodePrivateKey,
    ) -> Result<Self, ClientError> {
        let mut receiver = DerpReceiver { reader: FrameReader::new(read_half, already_read) };
        let mut sender = DerpSender { io: write_half, out: BytesMut::new() };

        // ServerKey: MAGIC(8) ‖ server key(32) ‖ (future use, ignored).
        let greeting = receiver.next_frame().await?.ok_or(ClientError::Refused { health: None })?;
        let payload = &greeting.payload;
        if greeting.header.frame_type != FrameType::ServerKey
            || payload.len() < MAGIC.len() + KEY_LEN
            || payload[..MAGIC.len()] != MAGIC
        {
            return Err(ClientError::BadGreeting);
        }
        let server_key: PublicKey =
            payload[MAGIC.len()..MAGIC.len() + KEY_LEN].try_into().expect("length checked");

        // ClientInfo: our node key(32) ‖ nonce(24) ‖ box(JSON), sealed to the server's key.
        let info =
            ClientInfo { version: PROTOCOL_VERSION, can_ack_pings: true, ..ClientInfo::default() };
        let json = serde_json::to_vec(&info).expect("ClientInfo serializes");
        let sealed = crate::naclbox::seal(key, &server_key, &json, &mut OsRng);
        sender.write_frame(FrameType::ClientInfo, &[key.public_key().as_bytes(), &sealed]).await?;

        // Wait for ServerInfo: the sign of admission. A refused client gets Health, then EOF.
        let mut health = None;
        let server_info = loop {
            let frame = match receiver.next_frame().await {
                Ok(Some(frame)) => frame,
                Ok(None) | Err(ClientError::Frame(FrameError::Io(_))) => {
                    return Err(ClientError::Refused { health })
                }
                Err(e) => return Err(e),
            };
            match frame.header.frame_type {
                FrameType::ServerInfo => {
                    let json = crate::naclbox::open(key, &server_key, &frame.payload)
                        .ok_or(ClientError::ServerInfoBox)?;
                    break serde_json::from_slice::<ServerInfo>(&json)
                        .map_err(|_| ClientError::ServerInfoBox)?;
                }
                FrameType::Health => {
                    health = Some(String::from_utf8_lossy(&frame.payload).into_owned());
                }
                _ => {}
            }
        };
        Ok(Self { sender, receiver, server_key, server_info })
    }

    /// The server's DERP public key, from its greeting.
    pub fn server_key(&self) -> PublicKey {
        self.server_key
    }

    /// What the server said about itself.
    pub fn server_info(&self) -> &ServerInfo {
        &self.server_info
    }

    /// Sends `packet` to the client with node key `dst`.
    pub async fn send(&mut self, dst: &PublicKey, packet: &[u8]) -> Result<(), ClientError> {
        self.sender.send(dst, packet).await
    }

    /// Receives the next message.
    pub async fn recv(&mut self) -> Result<Received, ClientError> {
        self.receiver.recv().await
    }

    /// Separates the halves, to send and receive from different tasks.
    pub fn split(self) -> (DerpSender, DerpReceiver) {
        (self.sender, self.receiver)
    }
}

impl DerpSender {
    /// Sends `packet` to `dst` (`SendPacket`: destination key(32) ‖ packet).
    pub async fn send(&mut self, dst: &PublicKey, packet: &[u8]) -> Result<(), ClientError> {
        if packet.len() > MAX_PACKET_SIZE {
            return Err(ClientError::PacketTooLarge { len: packet.len() });
        }
        self.write_frame(FrameType::SendPacket, &[dst.as_bytes(), packet]).await
    }

    /// Sends a ping with these 8 bytes; the server answers with a pong.
    pub async fn ping(&mut self, data: [u8; PING_LEN]) -> Result<(), ClientError> {
        self.write_frame(FrameType::Ping, &[&data]).await
    }

    /// Tells the server whether it is this client's home (`NotePreferred`: one byte).
    pub async fn note_preferred(&mut self, preferred: bool) -> Result<(), ClientError> {
        self.write_frame(FrameType::NotePreferred, &[&[u8::from(preferred)]]).await
    }

    /// Writes raw bytes, framed or not: for tests of how the server handles bad input.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.io.write_all(bytes).await.map_err(ClientError::Io)
    }

    /// Closes the sending direction (the server sees end of stream).
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        self.io.shutdown().await.map_err(ClientError::Io)
    }

    async fn write_frame(
        &mut self,
        frame_type: FrameType,
        parts: &[&[u8]],
    ) -> Result<(), ClientError> {
        self.out.clear();
        put_frame(&mut self.out, frame_type, parts);
        self.io.write_all(&self.out).await.map_err(ClientError::Io)
    }
}

impl DerpReceiver {
    /// Receives the next message, skipping frames a client does not act on (`ServerKey`,
    /// `ServerInfo` after the handshake, unknown types) and short frames, as upstream.
    pub async fn recv(&mut self) -> Result<Received, ClientError> {
        loop {
            let frame = self
                .next_frame()
                .await?
                .ok_or(ClientError::Frame(FrameError::Closed { expected: "next" }))?;
            let p = &frame.payload;
            let key = |p: &[u8]| -> Option<PublicKey> { p.get(..KEY_LEN)?.try_into().ok() };
            let ping = |p: &[u8]| -> Option<[u8; PING_LEN]> { p.get(..PING_LEN)?.try_into().ok() };
            let message = match frame.header.frame_type {
                FrameType::RecvPacket => key(p).map(|source| Received::Packet {
                    source,
                    data: frame.payload.slice(KEY_LEN..),
                }),
                // PeerGone: key(32) ‖ reason(1); old servers omit the reason.
                FrameType::PeerGone => key(p).map(|peer| Received::PeerGone {
                    peer,
                    reason: PeerGoneReason::from_byte(p.get(KEY_LEN).copied().unwrap_or(0)),
                }),
                FrameType::PeerPresent => key(p).map(|peer| Received::PeerPresent { peer }),
                FrameType::KeepAlive => Some(Received::KeepAlive),
                FrameType::Ping => ping(p).map(Received::Ping),
                FrameType::Pong => ping(p).map(Received::Pong),
                FrameType::Health => {
                    Some(Received::Health(String::from_utf8_lossy(p).into_owned()))
                }
                // Restarting: reconnect in ms(4 BE) ‖ try for ms(4 BE).
                FrameType::Restarting => p.get(..8).map(|b| {
                    let ms = |b: &[u8]| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    Received::Restarting {
                        reconnect_in: Duration::from_millis(ms(&b[..4])),
                        try_for: Duration::from_millis(ms(&b[4..])),
                    }
                }),
                _ => None,
            };
            if let Some(message) = message {
                return Ok(message);
            }
        }
    }

    async fn next_frame(&mut self) -> Result<Option<crate::frame_reader::Frame>, ClientError> {
        Ok(self.reader.read_frame(MAX_SERVER_FRAME_LEN).await?)
    }
}

/// Reads the HTTP response head of the upgrade; returns the bytes read past it.
async fn read_upgrade_response(stream: &mut TcpStream) -> Result<Vec<u8>, ClientError> {
    const MAX_HEAD: usize = 8 << 10;
    let mut buf = Vec::with_capacity(512);
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(ClientError::HttpMalformed);
        }
        let mut chunk = [0u8; 512];
        let n = stream.read(&mut chunk).await.map_err(ClientError::Io)?;
        if n == 0 {
            return Err(ClientError::HttpMalformed);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&buf[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ClientError::HttpMalformed),
    }
    match response.code {
        Some(101) => Ok(buf[end..].to_vec()),
        Some(status) => Err(ClientError::HttpStatus { status }),
        None => Err(ClientError::HttpMalformed),
    }
}
