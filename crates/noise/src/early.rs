//! The optional "early noise" payload the server sends before HTTP/2
//! (`control/ts2021/conn.go`, `tailcfg.EarlyNoise`; `reference/protocol.md` §3.7).
//!
//! Right after the handshake, inside Noise records, the server MAY write:
//!
//! ```text
//! [0..5)     magic FF FF FF 54 53 ("\xff\xff\xffTS")
//! [5..9)     JSON length N, u32 big-endian, at most 10 MiB
//! [9..9+N)   JSON: {"nodeKeyChallenge":"chalpub:<64 hex>"}
//! ```
//!
//! then HTTP/2 starts. The client looks at the first 9 plaintext bytes: 9 is also the size of
//! an HTTP/2 frame header, and a server preface can never start with the magic (it would
//! declare a 16 MiB frame of type 0x54), so anything else is the start of HTTP/2 and is handed
//! back to the reader. Introduced at capability version 49; every known client registers
//! without it, so sending it is the server's choice ([`NoiseStream::queue_early_payload`]).

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::cipher::RecordError;
use crate::conn::NoiseStream;
use crate::keys::ChallengePublicKey;

/// Marks an early payload: `\xff\xff\xffTS`.
pub const EARLY_PAYLOAD_MAGIC: [u8; 5] = [0xff, 0xff, 0xff, b'T', b'S'];
/// Magic plus the u32 length: 9 bytes, the same as an HTTP/2 frame header.
pub const EARLY_PAYLOAD_HEADER_LEN: usize = EARLY_PAYLOAD_MAGIC.len() + 4;
/// Largest JSON body a client accepts (Go: `10<<20`).
pub const MAX_EARLY_PAYLOAD_LEN: u32 = 10 << 20;

/// The early payload's JSON body (`tailcfg.EarlyNoise`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyNoise {
    /// A fresh per-connection challenge key. Go clients store it; nothing in the
    /// registration flow depends on it.
    #[serde(rename = "nodeKeyChallenge", alias = "NodeKeyChallenge", default)]
    pub node_key_challenge: ChallengePublicKey,
}

impl EarlyNoise {
    /// The complete plaintext to send: magic, length, JSON.
    pub fn encode(&self) -> Vec<u8> {
        // Written by hand: the only field is a hex key, so there is nothing to escape, and the
        // output is byte-for-byte stable. A test checks it against the serde form.
        let json = format!(r#"{{"nodeKeyChallenge":"{}"}}"#, self.node_key_challenge);
        let mut out = Vec::with_capacity(EARLY_PAYLOAD_HEADER_LEN + json.len());
        out.extend_from_slice(&EARLY_PAYLOAD_MAGIC);
        // Fits: the JSON is under 100 bytes.
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(json.as_bytes());
        out
    }
}

impl<S> NoiseStream<S> {
    /// Server side: queues the early payload as the first plaintext of the connection. Call
    /// right after [`NoiseStream::new`] and before handing the stream to the HTTP/2 server,
    /// whose first flush then sends it together with the server preface.
    pub fn queue_early_payload(&mut self, payload: &EarlyNoise) -> Result<(), RecordError> {
        self.queue_write(&payload.encode())
    }
}

/// Why the client could not read the early payload.
#[derive(Debug, thiserror::Error)]
pub enum EarlyPayloadError {
    /// The connection failed or closed before the payload (or the first 9 bytes) arrived.
    #[error("reading early payload")]
    Io(#[from] std::io::Error),
    /// The declared length is over [`MAX_EARLY_PAYLOAD_LEN`].
    #[error("invalid early payload length {0}")]
    TooLarge(u32),
    /// The body is not the expected JSON.
    #[error("decoding early payload JSON")]
    Json(#[from] serde_json::Error),
}

/// Client side: reads the server's early payload if there is one.
///
/// Returns `Ok(None)` when the server went straight to HTTP/2; the 9 bytes examined are then
/// put back, so the HTTP/2 client reads the server preface intact. Call before handing the
/// stream to the HTTP/2 client. It waits for the server's first 9 bytes, which every HTTP/2
/// server sends unprompted (its SETTINGS frame); wrap it in a timeout.
pub async fn read_early_payload<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut NoiseStream<S>,
) -> Result<Option<EarlyNoise>, EarlyPayloadError> {
    let mut header = [0u8; EARLY_PAYLOAD_HEADER_LEN];
    stream.read_exact(&mut header).await?;
    let Some(length) = header.strip_prefix(&EARLY_PAYLOAD_MAGIC) else {
        stream.unread(&header);
        return Ok(None);
    };
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    if length > MAX_EARLY_PAYLOAD_LEN {
        return Err(EarlyPayloadError::TooLarge(length));
    }
    // Grow with the data actually received rather than trusting the length up front.
    let mut json = Vec::new();
    (&mut *stream).take(u64::from(length)).read_to_end(&mut json).await?;
    if json.len() != length as usize {
        return Err(EarlyPayloadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(Some(serde_json::from_slice(&json)?))
}

#[cfg(test)]
mod tests {
    use tokio::io::{duplex, AsyncWriteExt};

    use super::*;
    use crate::cipher::RecordCipher;
    use crate::handshake::TransportKeys;

    /// A connected client/server pair of streams over an in-memory pipe.
    fn pair() -> (NoiseStream<tokio::io::DuplexStream>, NoiseStream<tokio::io::DuplexStream>) {
        let (a, b) = duplex(64 * 1024);
        let keys = |tx: u8, rx: u8| TransportKeys {
            tx: RecordCipher::new(&[tx; 32]),
            rx: RecordCipher::new(&[rx; 32]),
        };
        (NoiseStream::new(a, keys(1, 2)), NoiseStream::new(b, keys(2, 1)))
    }

    fn challenge() -> EarlyNoise {
        EarlyNoise { node_key_challenge: ChallengePublicKey::from_bytes([0xcd; 32]) }
    }

    #[test]
    fn encoding_matches_the_wire_layout() {
        let bytes = challenge().encode();
        let json = format!(r#"{{"nodeKeyChallenge":"chalpub:{}"}}"#, "cd".repeat(32));
        assert_eq!(bytes[..5], EARLY_PAYLOAD_MAGIC);
        assert_eq!(bytes[5..9], (json.len() as u32).to_be_bytes());
        assert_eq!(&bytes[9..], json.as_bytes());
        assert_eq!(serde_json::to_string(&challenge()).unwrap(), json);
    }

    #[test]
    fn json_decoding_is_lenient_like_go() {
        let parsed: EarlyNoise = serde_json::from_str(&format!(
            r#"{{"NodeKeyChallenge":"chalpub:{}","future":1}}"#,
            "cd".repeat(32)
        ))
        .unwrap();
        assert_eq!(parsed, challenge());
        assert_eq!(serde_json::from_str::<EarlyNoise>("{}").unwrap(), EarlyNoise::default());
    }

    #[tokio::test]
    async fn client_reads_a_queued_early_payload_then_the_stream() {
        let (mut client, mut server) = pair();
        server.queue_early_payload(&challenge()).unwrap();
        server.write_all(b"PRI * HTTP/2.0").await.unwrap();
        server.flush().await.unwrap();
        assert_eq!(read_early_payload(&mut client).await.unwrap(), Some(challenge()));
        let mut rest = [0u8; 14];
        client.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"PRI * HTTP/2.0");
    }

    #[tokio::test]
    async fn without_early_payload_the_peeked_bytes_are_returned() {
        let (mut client, mut server) = pair();
        // Sent as tiny records so the 9 bytes span several of them.
        for chunk in [&b"\x00\x00\x12"[..], b"\x04\x00", b"\x00\x00\x00\x00SETTINGS..."] {
            server.write_all(chunk).await.unwrap();
            server.flush().await.unwrap();
        }
        assert_eq!(read_early_payload(&mut client).await.unwrap(), None);
        let mut all = vec![0u8; 20];
        client.read_exact(&mut all).await.unwrap();
        assert_eq!(&all, b"\x00\x00\x12\x04\x00\x00\x00\x00\x00SETTINGS...");
    }

    #[tokio::test]
    async fn oversize_length_is_rejected() {
        let (mut client, mut server) = pair();
        let mut header = EARLY_PAYLOAD_MAGIC.to_vec();
        header.extend_from_slice(&(MAX_EARLY_PAYLOAD_LEN + 1).to_be_bytes());
        server.write_all(&header).await.unwrap();
        server.flush().await.unwrap();
        assert!(matches!(
            read_early_payload(&mut client).await,
            Err(EarlyPayloadError::TooLarge(n)) if n == MAX_EARLY_PAYLOAD_LEN + 1
        ));
    }

    #[tokio::test]
    async fn truncated_payload_and_bad_json_are_errors() {
        let (mut client, mut server) = pair();
        let mut bytes = challenge().encode();
        bytes.truncate(bytes.len() - 3);
        server.write_all(&bytes).await.unwrap();
        server.shutdown().await.unwrap();
        assert!(matches!(read_early_payload(&mut client).await, Err(EarlyPayloadError::Io(_))));

        let (mut client, mut server) = pair();
        let mut bytes = EARLY_PAYLOAD_MAGIC.to_vec();
        bytes.extend_from_slice(&2u32.to_be_bytes());
        bytes.extend_from_slice(b"{]");
        server.write_all(&bytes).await.unwrap();
        server.flush().await.unwrap();
        assert!(matches!(read_early_payload(&mut client).await, Err(EarlyPayloadError::Json(_))));
    }

    #[tokio::test]
    async fn server_closing_before_nine_bytes_is_an_io_error() {
        let (mut client, mut server) = pair();
        server.write_all(b"\xff\xff").await.unwrap();
        server.shutdown().await.unwrap();
        assert!(matches!(
            read_early_payload(&mut client).await,
            Err(EarlyPayloadError::Io(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof
        ));
    }
}
