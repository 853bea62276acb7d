//! DERP frames: the 5-byte header, the frame types, and the size limits.
//!
//! ```text
//! frame  = type:u8  length:u32 (big-endian)  payload:[u8; length]
//!          ├────────── FRAME_HEADER_LEN = 5 ─┤
//! ```
//!
//! `length` counts only the payload. Which payload layout follows depends on `type`; each
//! layout is written out on its constant below and in the crate docs. Upstream:
//! `derp/derp.go` (constants, `ReadFrameHeader`, `WriteFrameHeader`).

use bytes::{BufMut, BytesMut};

/// Length of a frame header: one type byte and a big-endian `u32` payload length.
pub const FRAME_HEADER_LEN: usize = 1 + 4;

/// Length of every key on the wire (node keys, the server key): a raw curve25519 point.
pub const KEY_LEN: usize = 32;

/// Length of a NaCl box nonce, sent in front of every sealed message.
pub const NONCE_LEN: usize = 24;

/// Length of the Poly1305 tag inside every NaCl box.
pub const BOX_TAG_LEN: usize = 16;

/// Largest packet a client may relay (the bytes after the destination key in a
/// `SendPacket` frame). Upstream `derp.MaxPacketSize`.
pub const MAX_PACKET_SIZE: usize = 64 << 10;

/// Largest frame the server accepts from an authenticated client: a `SendPacket` frame holding a
/// maximum-size packet. Anything longer is a protocol violation and closes the connection.
pub const MAX_CLIENT_FRAME_LEN: usize = KEY_LEN + MAX_PACKET_SIZE;

/// Largest `ClientInfo` frame the server accepts before the client is authenticated. Real
/// clients send about 150 bytes; Tailscale's server allows 256 KiB, which is far more memory
/// than an anonymous peer deserves.
pub const MAX_CLIENT_INFO_LEN: usize = 16 << 10;

/// Largest frame a client accepts from the server (upstream `Client.recvTimeout`: 1 MiB).
pub const MAX_SERVER_FRAME_LEN: usize = 1 << 20;

/// Magic at the start of the `ServerKey` frame: `"DERP🔑"`, 8 bytes `44 45 52 50 f0 9f 94 91`.
pub const MAGIC: [u8; 8] = *b"DERP\xf0\x9f\x94\x91";

/// DERP protocol version this crate speaks. Version 2: `RecvPacket` frames start with the
/// source key.
pub const PROTOCOL_VERSION: i64 = 2;

/// Length of a ping or pong payload.
pub const PING_LEN: usize = 8;

/// Largest ping payload the server accepts: 8 bytes plus room for future extensions, as
/// upstream (`handleFramePing`).
pub const MAX_PING_LEN: usize = 1000;

/// The one-byte frame type. Unknown values are kept as [`FrameType::Unknown`] so a reader can
/// skip them, as Tailscale's server and client do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// `0x01` server → client: `MAGIC(8) ‖ server public key(32) ‖ (future use)`.
    ServerKey,
    /// `0x02` client → server: `client node key(32) ‖ nonce(24) ‖ box(JSON ClientInfo)`.
    ClientInfo,
    /// `0x03` server → client: `nonce(24) ‖ box(JSON ServerInfo)`.
    ServerInfo,
    /// `0x04` client → server: `destination key(32) ‖ packet`.
    SendPacket,
    /// `0x05` server → client: `source key(32) ‖ packet`.
    RecvPacket,
    /// `0x06` server → client: empty.
    KeepAlive,
    /// `0x07` client → server: one byte, `0x01` if this server is the client's home.
    NotePreferred,
    /// `0x08` server → client: `peer key(32) ‖ reason(1)`.
    PeerGone,
    /// `0x09` server → mesh watcher: `peer key(32) ‖ [ip(16) ‖ port(2 BE) ‖ [flags(1)]]`.
    PeerPresent,
    /// `0x0a` mesh peer → server: `source key(32) ‖ destination key(32) ‖ packet`.
    ForwardPacket,
    /// `0x10` mesh peer → server: empty; subscribes to connection changes.
    WatchConns,
    /// `0x11` mesh peer → server: `peer key(32)`; closes that peer.
    ClosePeer,
    /// `0x12` either direction: 8 opaque bytes to echo.
    Ping,
    /// `0x13` either direction: the 8 bytes of the ping being answered.
    Pong,
    /// `0x14` server → client: UTF-8 problem text; empty clears the problem.
    Health,
    /// `0x15` server → client: `reconnect in ms(4 BE) ‖ try for ms(4 BE)`.
    Restarting,
    /// Any other type byte.
    Unknown(u8),
}

impl FrameType {
    /// Decodes a type byte.
    pub fn from_byte(byte: u8) -> Self {
        match byte {
            0x01 => Self::ServerKey,
            0x02 => Self::ClientInfo,
            0x03 => Self::ServerInfo,
            0x04 => Self::SendPacket,
            0x05 => Self::RecvPacket,
            0x06 => Self::KeepAlive,
            0x07 => Self::NotePreferred,
            0x08 => Self::PeerGone,
            0x09 => Self::PeerPresent,
            0x0a => Self::ForwardPacket,
            0x10 => Self::WatchConns,
            0x11 => Self::ClosePeer,
            0x12 => Self::Ping,
            0x13 => Self::Pong,
            0x14 => Self::Health,
            0x15 => Self::Restarting,
            other => Self::Unknown(other),
        }
    }

    /// The type byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::ServerKey => 0x01,
            Self::ClientInfo => 0x02,
            Self::ServerInfo => 0x03,
            Self::SendPacket => 0x04,
            Self::RecvPacket => 0x05,
            Self::KeepAlive => 0x06,
            Self::NotePreferred => 0x07,
            Self::PeerGone => 0x08,
            Self::PeerPresent => 0x09,
            Self::ForwardPacket => 0x0a,
            Self::WatchConns => 0x10,
            Self::ClosePeer => 0x11,
            Self::Ping => 0x12,
            Self::Pong => 0x13,
            Self::Health => 0x14,
            Self::Restarting => 0x15,
            Self::Unknown(other) => other,
        }
    }
}

/// Why a `PeerGone` frame was sent (its last byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerGoneReason {
    /// `0x00`: the peer was connected and has disconnected from this server.
    Disconnected,
    /// `0x01`: the server does not know the destination of a packet the client sent.
    NotHere,
    /// Any other reason byte (a newer server).
    Other(u8),
}

impl PeerGoneReason {
    /// Decodes a reason byte.
    pub fn from_byte(byte: u8) -> Self {
        match byte {
            0x00 => Self::Disconnected,
            0x01 => Self::NotHere,
            other => Self::Other(other),
        }
    }

    /// The reason byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Disconnected => 0x00,
            Self::NotHere => 0x01,
            Self::Other(other) => other,
        }
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The frame type.
    pub frame_type: FrameType,
    /// Payload length in bytes (header excluded).
    pub len: u32,
}

impl FrameHeader {
    /// Decodes the 5 header bytes.
    pub fn decode(bytes: &[u8; FRAME_HEADER_LEN]) -> Self {
        let [ty, len @ ..] = *bytes;
        Self { frame_type: FrameType::from_byte(ty), len: u32::from_be_bytes(len) }
    }
}

/// Appends one frame whose payload is the concatenation of `parts`.
///
/// Callers only build frames whose size they bound (at most [`MAX_SERVER_FRAME_LEN`] or
/// [`MAX_CLIENT_FRAME_LEN`]), so the length always fits the `u32` field.
pub fn put_frame(out: &mut BytesMut, frame_type: FrameType, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    debug_assert!(len <= MAX_SERVER_FRAME_LEN, "frame of {len} bytes");
    out.reserve(FRAME_HEADER_LEN + len);
    out.put_u8(frame_type.to_byte());
    out.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    for part in parts {
        out.put_slice(part);
    }
}

/// Whether `packet` looks like a Tailscale disco message: `"TS💬"` (6 bytes), the sender's
/// disco key (32) and a nonce (24), then a box. Disco packets get their own send queue (path
/// discovery must not starve behind bulk data) and may earn a `PeerGone(NotHere)` reply.
/// Upstream `disco.LooksLikeDiscoWrapper`.
pub fn looks_like_disco(packet: &[u8]) -> bool {
    const DISCO_MAGIC: &[u8] = "TS💬".as_bytes();
    packet.len() >= DISCO_MAGIC.len() + KEY_LEN + NONCE_LEN && packet.starts_with(DISCO_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_is_the_upstream_bytes() {
        assert_eq!(&MAGIC, "DERP🔑".as_bytes());
    }

    #[test]
    fn every_type_byte_round_trips() {
        for byte in 0..=u8::MAX {
            assert_eq!(FrameType::from_byte(byte).to_byte(), byte);
        }
        assert_eq!(FrameType::from_byte(0x04), FrameType::SendPacket);
        assert_eq!(FrameType::from_byte(0x0b), FrameType::Unknown(0x0b));
    }

    #[test]
    fn header_is_type_then_big_endian_length() {
        let mut out = BytesMut::new();
        put_frame(&mut out, FrameType::RecvPacket, &[&[1, 2], &[3]]);
        assert_eq!(&out[..], &[0x05, 0, 0, 0, 3, 1, 2, 3]);
        let header = FrameHeader::decode(&[0x04, 0x00, 0x01, 0x00, 0x20]);
        assert_eq!(header, FrameHeader { frame_type: FrameType::SendPacket, len: 0x0001_0020 });
    }

    #[test]
    fn disco_detection_needs_magic_and_minimum_length() {
        let mut packet = "TS💬".as_bytes().to_vec();
        packet.resize(6 + 32 + 24, 0);
        assert!(looks_like_disco(&packet));
        assert!(!looks_like_disco(&packet[..packet.len() - 1]));
        packet[0] = b'X';
        assert!(!looks_like_disco(&packet));
    }
}
