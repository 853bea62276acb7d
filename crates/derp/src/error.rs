//! Errors of the DERP relay, one enum per caller decision: a broken frame stream, a server-side
//! session that ended, a client that could not connect, a key file, a DERP map URL.
//!
//! None of them ever carries key material or packet contents.

/// The frame stream is broken; the connection must be closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Reading from the connection failed.
    #[error("reading from the connection")]
    Io(#[source] std::io::Error),
    /// The connection ended inside a frame (header or payload).
    #[error("the connection closed in the middle of a frame ({got} of {want} bytes)")]
    Truncated { got: usize, want: usize },
    /// The header announced more payload than allowed at this point of the protocol.
    #[error("frame type {frame_type:#04x} announces {len} bytes, more than the {max} allowed")]
    TooLong { frame_type: u8, len: u32, max: usize },
    /// A known frame whose payload does not have its required layout.
    #[error("malformed {frame} frame ({len} bytes): {why}")]
    Malformed { frame: &'static str, len: usize, why: &'static str },
    /// A frame arrived where the protocol requires another one (during the handshake).
    #[error("expected a {expected} frame, got frame type {got:#04x}")]
    Unexpected { expected: &'static str, got: u8 },
    /// The connection closed cleanly where the protocol requires a frame.
    #[error("the connection closed before the {expected} frame")]
    Closed { expected: &'static str },
}

/// Why the server ended a client's connection.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The client did not complete the handshake within the configured time.
    #[error("the client did not complete the DERP handshake in time")]
    HandshakeTimeout,
    /// The client claimed the zero key or a low-order point, for which anyone could forge the
    /// client-info box.
    #[error("the client claimed an invalid node key")]
    InvalidClientKey,
    /// The client-info box does not open with the claimed node key: the client does not hold
    /// that key's private half.
    #[error("the client-info box does not open with the claimed node key")]
    ClientInfoBox,
    /// The client-info box opened but does not hold a JSON `ClientInfo`.
    #[error("the client info is not valid JSON")]
    ClientInfoJson(#[source] serde_json::Error),
    /// The admission policy refused this node key.
    #[error("node key {key} is not allowed to use this DERP server")]
    NotAdmitted { key: String },
    /// The client sent a frame reserved for meshed DERP servers (this server has no mesh).
    #[error("the client sent a mesh-only {frame} frame; this server has no mesh")]
    MeshFrame { frame: &'static str },
    /// The frame stream from the client is broken.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Writing to the client failed.
    #[error("writing to the client")]
    Write(#[source] std::io::Error),
    /// The client did not read what the server wrote within the write timeout.
    #[error("the client did not accept writes within the write timeout")]
    WriteTimeout,
    /// The server closed this connection (shutdown, or [`crate::DerpServer::close_client`]).
    #[error("closed by the server")]
    ClosedByServer,
}

/// Why a [`crate::client::DerpClient`] could not connect or keep going.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection (or a read/write on it) failed.
    #[error("DERP connection I/O")]
    Io(#[source] std::io::Error),
    /// The connection did not complete in time.
    #[error("the DERP server did not answer in time")]
    Timeout,
    /// The server answered the upgrade request with something other than 101.
    #[error("the DERP server answered the upgrade with HTTP {status}")]
    HttpStatus { status: u16 },
    /// The server's HTTP response head could not be parsed.
    #[error("the DERP server sent a malformed HTTP response")]
    HttpMalformed,
    /// The first frame was not a valid `ServerKey` frame, or not the expected key.
    #[error("the DERP server sent an invalid greeting")]
    BadGreeting,
    /// The server-info box does not open: the server does not hold the key it announced.
    #[error("the server-info box does not open with the server's key")]
    ServerInfoBox,
    /// The server closed the connection during the handshake (typically: not admitted).
    #[error("the DERP server refused the connection{}", health.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    Refused { health: Option<String> },
    /// A packet longer than [`crate::frame::MAX_PACKET_SIZE`].
    #[error("packet of {len} bytes is larger than the DERP maximum")]
    PacketTooLarge { len: usize },
    /// The frame stream from the server is broken.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Why the server's DERP key could not be loaded or created (the secret file loader's error,
/// naming the DERP server key file).
pub use keygate_key::file::SecretFileError as ServerKeyError;

/// Why the embedded DERP region could not be derived from the server URL.
#[derive(Debug, thiserror::Error)]
pub enum DerpMapError {
    /// The server URL does not parse.
    #[error("the server URL {url:?} is not a valid URL")]
    InvalidUrl { url: String },
    /// The server URL has no host.
    #[error("the server URL {url:?} has no host")]
    NoHost { url: String },
    /// The scheme is neither `http` nor `https`.
    #[error("the server URL {url:?} must start with http:// or https://")]
    Scheme { url: String },
}
