//! The TS2021 handshake: Noise `IK_25519_ChaChaPoly_BLAKE2s` in Tailscale's framing
//! (`control/controlbase/handshake.go`, `messages.go`; `reference/protocol.md` §3.3–3.4).
//!
//! ```text
//! Noise_IK_25519_ChaChaPoly_BLAKE2s, prologue "Tailscale Control Protocol v<version>"
//!   <- s                       (server static key, learnt from GET /key)
//!   ...
//!   -> e, es, s, ss            message 1, initiation, 101 bytes, client → server
//!   <- e, ee, se               message 2, response, 51 bytes, server → client
//! ```
//!
//! Both messages carry an empty Noise payload, so each ends in a bare 16-byte tag. After
//! message 2, Split gives the client→server and server→client record keys
//! ([`TransportKeys`]) and `h` becomes the handshake hash ([`Session::handshake_hash`]).
//!
//! The server side is [`accept`] (pure: bytes in, bytes out) or [`accept_io`] (reads the
//! initiation from a socket). The client side is [`Initiator`] plus [`read_response`], or
//! [`connect`] over a raw socket.

mod initiator;
mod responder;
mod symmetric;

use std::ops::Range;

pub use initiator::{connect, read_response, Initiator};
pub use responder::{accept, accept_io};

use crate::cipher::RecordCipher;
use crate::frame::{HEADER_LEN, INITIATION_HEADER_LEN, KEY_LEN, MSG_TYPE_ERROR, TAG_LEN};
use crate::keys::MachinePublicKey;

/// The Noise protocol name; hashed into the initial handshake state.
pub const PROTOCOL_NAME: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
/// Prologue prefix; the decimal protocol version (the client's capability version) follows.
pub const PROLOGUE_PREFIX: &str = "Tailscale Control Protocol v";

// Message 1, initiation (client → server), exactly INITIATION_LEN = 101 bytes:
//
//   [0..2)     protocol version, u16 big-endian (the client's capability version)
//   [2]        type 0x01 (MSG_TYPE_INITIATION)
//   [3..5)     payload length, u16 big-endian, always 96
//   [5..37)    client ephemeral public key, in clear          (Noise token `e`)
//   [37..85)   client machine public key, encrypted + tag     (Noise token `s`)
//   [85..101)  tag over the empty payload                     (after `ss`)
//
// Real clients start with e.g. `00 85 01 00 60` (capver 133).

/// Payload length of the initiation: e (32) + encrypted s (32 + 16) + payload tag (16).
pub const INITIATION_PAYLOAD_LEN: usize = KEY_LEN + (KEY_LEN + TAG_LEN) + TAG_LEN;
/// Total length of the initiation message: 101.
pub const INITIATION_LEN: usize = INITIATION_HEADER_LEN + INITIATION_PAYLOAD_LEN;

const INIT_VERSION: Range<usize> = 0..2;
const INIT_TYPE: usize = 2;
const INIT_LENGTH: Range<usize> = 3..INITIATION_HEADER_LEN;
const INIT_EPHEMERAL: Range<usize> = INITIATION_HEADER_LEN..INITIATION_HEADER_LEN + KEY_LEN;
const INIT_MACHINE_KEY: Range<usize> = INIT_EPHEMERAL.end..INIT_EPHEMERAL.end + KEY_LEN + TAG_LEN;
const INIT_TAG: Range<usize> = INIT_MACHINE_KEY.end..INIT_MACHINE_KEY.end + TAG_LEN;

// Message 2, response (server → client), exactly RESPONSE_LEN = 51 bytes:
//
//   [0]        type 0x02 (MSG_TYPE_RESPONSE)
//   [1..3)     payload length, u16 big-endian, always 48
//   [3..35)    server ephemeral public key, in clear          (Noise token `e`)
//   [35..51)   tag over the empty payload                     (after `ee`, `se`)

/// Payload length of the response: e (32) + payload tag (16).
pub const RESPONSE_PAYLOAD_LEN: usize = KEY_LEN + TAG_LEN;
/// Total length of the response message: 51.
pub const RESPONSE_LEN: usize = HEADER_LEN + RESPONSE_PAYLOAD_LEN;

const RESP_TYPE: usize = 0;
const RESP_LENGTH: Range<usize> = 1..HEADER_LEN;
const RESP_EPHEMERAL: Range<usize> = HEADER_LEN..HEADER_LEN + KEY_LEN;
const RESP_TAG: Range<usize> = RESP_EPHEMERAL.end..RESP_EPHEMERAL.end + TAG_LEN;

// Error (server → client, instead of a response), plaintext and unauthenticated:
//
//   [0]        type 0x03 (MSG_TYPE_ERROR)
//   [1..3)     message length, u16 big-endian
//   [3..)      message bytes (UTF-8 text)
//
// Clients print it as `server error: "<msg>"`. It is a public hint that anyone on the path can
// read or forge, so it carries only fixed strings, never anything derived from input.

/// Largest error text that fits the frame's u16 length field.
const MAX_ERROR_TEXT: usize = u16::MAX as usize;

/// Renders a `0x03` handshake error frame.
///
/// Takes `&'static str` on purpose: only fixed texts can be sent, so attacker-controlled input
/// is never echoed (Go's `sendErr` avoids formatting for the same reason).
pub fn error_frame(message: &'static str) -> Vec<u8> {
    let text = &message.as_bytes()[..message.len().min(MAX_ERROR_TEXT)];
    let mut frame = Vec::with_capacity(HEADER_LEN + text.len());
    frame.push(MSG_TYPE_ERROR);
    // Fits: truncated to u16::MAX above.
    frame.extend_from_slice(&(text.len() as u16).to_be_bytes());
    frame.extend_from_slice(text);
    frame
}

/// The big-endian u16 at `range` (two bytes) of `message`.
fn u16_at(message: &[u8], range: Range<usize>) -> u16 {
    u16::from_be_bytes([message[range.start], message[range.start + 1]])
}

/// A copy of the 32-byte key at `range` of `message`.
fn key_at(message: &[u8], range: Range<usize>) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&message[range]);
    key
}

/// What both sides know once a handshake completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The other side's machine key: the node's on the server, the server's on the client.
    pub peer: MachinePublicKey,
    /// Protocol version from the initiation header (the client's capability version).
    pub version: u16,
    /// Final Noise handshake hash `h`, for binding messages to this connection.
    pub handshake_hash: [u8; KEY_LEN],
}

/// The two record ciphers of one side of a connection.
#[derive(Debug)]
pub struct TransportKeys {
    /// Seals what this side sends.
    pub tx: RecordCipher,
    /// Opens what this side receives.
    pub rx: RecordCipher,
}

impl TransportKeys {
    /// Server side: receives with the client→server key, sends with the server→client key.
    fn responder(c2s: &[u8; KEY_LEN], s2c: &[u8; KEY_LEN]) -> Self {
        Self { tx: RecordCipher::new(s2c), rx: RecordCipher::new(c2s) }
    }

    /// Client side: sends with the client→server key, receives with the server→client key.
    fn initiator(c2s: &[u8; KEY_LEN], s2c: &[u8; KEY_LEN]) -> Self {
        Self { tx: RecordCipher::new(c2s), rx: RecordCipher::new(s2c) }
    }
}

/// A handshake accepted by the server: the response to send and the connection's keys.
#[derive(Debug)]
pub struct Accepted {
    /// Who connected (the client's machine key), at which version.
    pub session: Session,
    /// Message 2, to write to the client right after the `101 Switching Protocols`.
    pub response: [u8; RESPONSE_LEN],
    /// Record ciphers for [`crate::NoiseStream::new`].
    pub keys: TransportKeys,
}

/// A handshake completed by the client.
#[derive(Debug)]
pub struct Established {
    /// The server's machine key (as pinned from `/key`) and the agreed version.
    pub session: Session,
    /// Record ciphers for [`crate::NoiseStream::new`].
    pub keys: TransportKeys,
}

/// Why a handshake failed.
///
/// The three initiation framing errors display exactly as Go's server words them, and
/// [`HandshakeError::public_message`] offers that text for a `0x03` frame. Other failures are
/// not reported to the peer: Go closes the connection without explanation.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The initiation is not exactly 101 bytes.
    #[error("wrong handshake initiation size")]
    WrongInitiationSize,
    /// The initiation's type byte is not `0x01`.
    #[error("unexpected handshake message type")]
    UnexpectedInitiationType,
    /// The initiation's length field is not 96.
    #[error("wrong handshake initiation length")]
    WrongInitiationLength,
    /// The client's machine key did not decrypt: usually a client holding a stale server key
    /// (Headscale issues #1295, #2397).
    #[error("decrypting machine key: authentication failed")]
    DecryptMachineKey,
    /// The initiation's final tag did not verify.
    #[error("decrypting initiation tag: authentication failed")]
    DecryptInitiationTag,
    /// An X25519 result was all zeros: the peer sent a low-order point.
    #[error("computing {0}: X25519 result is not contributory")]
    NonContributory(&'static str),
    /// The server answered with a `0x03` error frame. The text is the server's, unverified.
    #[error("server error: {0:?}")]
    ServerError(String),
    /// The server's reply has a type other than response (`0x02`) or error (`0x03`).
    #[error("unexpected response message type {0}")]
    UnexpectedResponseType(u8),
    /// The response's length field is not 48.
    #[error("wrong length {0} received for handshake response")]
    WrongResponseLength(u16),
    /// The response given to [`Initiator::finish`] is not exactly 51 bytes.
    #[error("wrong handshake response size")]
    WrongResponseSize,
    /// The response's tag did not verify (wrong server key, or tampering).
    #[error("decrypting handshake response: authentication failed")]
    DecryptResponse,
    /// Reading or writing the underlying connection failed.
    #[error("handshake i/o")]
    Io(#[from] std::io::Error),
}

impl HandshakeError {
    /// The fixed text the server sends in a `0x03` frame for this error, if any.
    pub fn public_message(&self) -> Option<&'static str> {
        match self {
            Self::WrongInitiationSize => Some("wrong handshake initiation size"),
            Self::UnexpectedInitiationType => Some("unexpected handshake message type"),
            Self::WrongInitiationLength => Some("wrong handshake initiation length"),
            _ => None,
        }
    }

    /// The `0x03` frame the server should send for this error, if the peer is told at all.
    pub fn error_frame(&self) -> Option<Vec<u8>> {
        self.public_message().map(error_frame)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::{OsRng, StdRng};
    use rand::{Rng, SeedableRng};
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};
    use x25519_dalek::StaticSecret;

    use super::responder::accept_with_ephemeral;
    use super::*;
    use crate::frame::MSG_TYPE_INITIATION;
    use crate::keys::MachinePrivateKey;

    // Fixed inputs for the pinned vectors. Noise's published IK vectors do not apply
    // (different prologue and framing), so these are our own. They were reproduced
    // byte-for-byte by an independent Python implementation (`cryptography` X25519 and
    // ChaCha20Poly1305, `hashlib.blake2s`, `hmac`) written from reference/protocol.md §3,
    // and `tests/interop` checks the handshake against the `snow` crate.
    const CLIENT_STATIC: [u8; 32] = [0x11; 32];
    const SERVER_STATIC: [u8; 32] = [0x22; 32];
    const CLIENT_EPHEMERAL: [u8; 32] = [0x33; 32];
    const SERVER_EPHEMERAL: [u8; 32] = [0x44; 32];
    const VERSION: u16 = 133;

    const VECTOR_INITIATION: &str = concat!(
        "00850100607b0d47d93427f8311160781c7c733fd89f88970aef490d8aa0ee19",
        "a4cb8a1b1461d2949213e755bc180b5d5dbbd8c50a2a1beb69f8940d24cab460",
        "6a34cd5d41591140090e9dbe1c2e85a54c05885d3a0084bffd3dd2788b09f2b8",
        "e1689378ff",
    );
    const VECTOR_RESPONSE: &str = concat!(
        "020030ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1f",
        "ff3e6b90640471540159962cb70593ac58140f",
    );
    const VECTOR_HANDSHAKE_HASH: &str =
        concat!("09553cb6c341f83a735032352233b7c4", "78a96233a26a185c3979e25f16ef7e3f",);
    /// Record 0, client → server, plaintext "PRI * HTTP/2.0".
    const VECTOR_FIRST_C2S_RECORD: &str =
        concat!("04001eb589edbb32d512231492df4ddf22ef50ac454da5d04a7dd9d45f9a8273", "02",);
    /// Record 0 then record 1, server → client, plaintext "hello" both times.
    const VECTOR_FIRST_S2C_RECORDS: &str = concat!(
        "0400150cd9e644b50b21486a7d7cc281a976efd2291d211104001577325032cd",
        "3aae0f8d950b9beb6163e9436378fd3e",
    );

    struct FixedHandshake {
        initiation: [u8; INITIATION_LEN],
        accepted: Accepted,
        established: Established,
    }

    fn fixed_handshake() -> FixedHandshake {
        let client = MachinePrivateKey::from_bytes(CLIENT_STATIC);
        let server = MachinePrivateKey::from_bytes(SERVER_STATIC);
        let (initiator, initiation) = Initiator::with_ephemeral(
            &client,
            &server.public_key(),
            VERSION,
            StaticSecret::from(CLIENT_EPHEMERAL),
        )
        .unwrap();
        let accepted =
            accept_with_ephemeral(&server, &initiation, &StaticSecret::from(SERVER_EPHEMERAL))
                .unwrap();
        let established = initiator.finish(&accepted.response).unwrap();
        FixedHandshake { initiation, accepted, established }
    }

    /// A valid initiation from fresh keys, and the server key it is addressed to.
    fn fresh_initiation() -> (MachinePrivateKey, Initiator, [u8; INITIATION_LEN]) {
        let server = MachinePrivateKey::generate(&mut OsRng);
        let client = MachinePrivateKey::generate(&mut OsRng);
        let (initiator, init) =
            Initiator::new(&client, &server.public_key(), VERSION, &mut OsRng).unwrap();
        (server, initiator, init)
    }

    #[test]
    fn fixed_keys_produce_the_pinned_vectors() {
        let FixedHandshake { initiation, mut accepted, mut established } = fixed_handshake();
        assert_eq!(hex::encode(initiation), VECTOR_INITIATION);
        assert_eq!(hex::encode(accepted.response), VECTOR_RESPONSE);
        assert_eq!(hex::encode(accepted.session.handshake_hash), VECTOR_HANDSHAKE_HASH);

        let mut c2s = Vec::new();
        established.keys.tx.seal(b"PRI * HTTP/2.0", &mut c2s).unwrap();
        assert_eq!(hex::encode(&c2s), VECTOR_FIRST_C2S_RECORD);
        assert_eq!(accepted.keys.rx.open(&mut c2s).unwrap(), b"PRI * HTTP/2.0");

        let mut s2c = Vec::new();
        accepted.keys.tx.seal(b"hello", &mut s2c).unwrap();
        accepted.keys.tx.seal(b"hello", &mut s2c).unwrap();
        assert_eq!(hex::encode(&s2c), VECTOR_FIRST_S2C_RECORDS);
        let (first, second) = s2c.split_at_mut(5 + crate::frame::RECORD_OVERHEAD);
        assert_eq!(established.keys.rx.open(first).unwrap(), b"hello");
        assert_eq!(established.keys.rx.open(second).unwrap(), b"hello");
    }

    #[test]
    fn both_sides_agree_on_the_session() {
        let FixedHandshake { initiation, accepted, established } = fixed_handshake();
        assert_eq!(&initiation[..5], &[0x00, 0x85, MSG_TYPE_INITIATION, 0x00, 0x60]);
        assert_eq!(&accepted.response[..3], &[0x02, 0x00, 0x30]);
        assert_eq!(
            accepted.session.peer,
            MachinePrivateKey::from_bytes(CLIENT_STATIC).public_key()
        );
        assert_eq!(
            established.session.peer,
            MachinePrivateKey::from_bytes(SERVER_STATIC).public_key()
        );
        assert_eq!(accepted.session.version, VERSION);
        assert_eq!(established.session.version, VERSION);
        assert_eq!(accepted.session.handshake_hash, established.session.handshake_hash);
    }

    #[test]
    fn random_keys_complete_and_transport_works_both_ways() {
        let (server, initiator, init) = fresh_initiation();
        let mut accepted = accept(&server, &init, &mut OsRng).unwrap();
        let mut established = initiator.finish(&accepted.response).unwrap();
        for round in 0..3u8 {
            let mut record = Vec::new();
            established.keys.tx.seal(&[round; 10], &mut record).unwrap();
            assert_eq!(accepted.keys.rx.open(&mut record).unwrap(), &[round; 10]);
            let mut record = Vec::new();
            accepted.keys.tx.seal(&[round; 3], &mut record).unwrap();
            assert_eq!(established.keys.rx.open(&mut record).unwrap(), &[round; 3]);
        }
    }

    #[test]
    fn initiation_framing_errors_use_go_wording_and_frames() {
        let (server, _, init) = fresh_initiation();
        for len in [0, 5, 100, 102, 4096] {
            let mut bytes = init.to_vec();
            bytes.resize(len, 0);
            let err = accept(&server, &bytes, &mut OsRng).unwrap_err();
            assert!(matches!(err, HandshakeError::WrongInitiationSize), "{len}: {err}");
        }
        let mut wrong_type = init;
        wrong_type[2] = 0x02;
        let err = accept(&server, &wrong_type, &mut OsRng).unwrap_err();
        assert!(matches!(err, HandshakeError::UnexpectedInitiationType), "{err}");
        assert_eq!(err.to_string(), "unexpected handshake message type");

        let mut wrong_length = init;
        wrong_length[4] = 95;
        let err = accept(&server, &wrong_length, &mut OsRng).unwrap_err();
        assert!(matches!(err, HandshakeError::WrongInitiationLength), "{err}");

        let frame = err.error_frame().unwrap();
        let text = b"wrong handshake initiation length";
        assert_eq!(frame[0], MSG_TYPE_ERROR);
        assert_eq!(frame[1..3], (text.len() as u16).to_be_bytes());
        assert_eq!(&frame[3..], text);
    }

    #[test]
    fn crypto_failures_are_not_reported_to_the_peer() {
        let (server, _, init) = fresh_initiation();
        let other_server = MachinePrivateKey::generate(&mut OsRng);
        let err = accept(&other_server, &init, &mut OsRng).unwrap_err();
        assert!(matches!(err, HandshakeError::DecryptMachineKey), "{err}");
        assert!(err.error_frame().is_none());

        let mut bad_tag = init;
        bad_tag[INITIATION_LEN - 1] ^= 0x80;
        let err = accept(&server, &bad_tag, &mut OsRng).unwrap_err();
        assert!(matches!(err, HandshakeError::DecryptInitiationTag), "{err}");

        let mut bad_ephemeral = init;
        bad_ephemeral[INIT_EPHEMERAL.start] ^= 0x01;
        let err = accept(&server, &bad_ephemeral, &mut OsRng).unwrap_err();
        assert!(matches!(err, HandshakeError::DecryptMachineKey), "{err}");
    }

    #[test]
    fn header_version_is_bound_by_the_prologue() {
        // A man in the middle rewriting the cleartext version breaks the handshake, because
        // the server mixes the version it read into the prologue.
        let (server, _, mut init) = fresh_initiation();
        init[1] = init[1].wrapping_add(1);
        let err = accept(&server, &init, &mut OsRng).unwrap_err();
        assert!(matches!(err, HandshakeError::DecryptMachineKey), "{err}");
    }

    #[test]
    fn low_order_ephemeral_is_refused() {
        let (server, _, mut init) = fresh_initiation();
        init[INIT_EPHEMERAL].fill(0);
        let err = accept(&server, &init, &mut OsRng).unwrap_err();
        assert!(matches!(err, HandshakeError::NonContributory("es")), "{err}");
    }

    #[test]
    fn initiator_rejects_bad_responses() {
        let (server, _, init) = fresh_initiation();
        let accepted = accept(&server, &init, &mut OsRng).unwrap();
        let finish = |response: &[u8]| {
            let (_, initiator, _) = fresh_initiation();
            initiator.finish(response).unwrap_err()
        };
        // A response for a different handshake does not verify.
        let err = finish(&accepted.response);
        assert!(matches!(err, HandshakeError::DecryptResponse), "{err}");
        assert!(matches!(finish(&accepted.response[..50]), HandshakeError::WrongResponseSize));
        let mut wrong_type = accepted.response;
        wrong_type[0] = 0x04;
        assert!(matches!(finish(&wrong_type), HandshakeError::UnexpectedResponseType(4)));
        let mut wrong_length = accepted.response;
        wrong_length[2] = 47;
        assert!(matches!(finish(&wrong_length), HandshakeError::WrongResponseLength(47)));
        let err = finish(&error_frame("go away"));
        assert!(matches!(&err, HandshakeError::ServerError(text) if text == "go away"), "{err}");
        assert_eq!(err.to_string(), r#"server error: "go away""#);
    }

    #[test]
    fn tampered_response_fails() {
        let (server, initiator, init) = fresh_initiation();
        let mut response = accept(&server, &init, &mut OsRng).unwrap().response;
        response[RESP_TAG.start] ^= 1;
        assert!(matches!(initiator.finish(&response), Err(HandshakeError::DecryptResponse)));
    }

    #[test]
    fn random_garbage_never_panics_the_responder() {
        let server = MachinePrivateKey::generate(&mut OsRng);
        let mut rng = StdRng::seed_from_u64(2021);
        for i in 0..5_000 {
            let len = if i % 2 == 0 { INITIATION_LEN } else { rng.gen_range(0..300) };
            let mut bytes = vec![0u8; len];
            rng.fill(&mut bytes[..]);
            if i % 4 == 0 && len >= 5 {
                // Mostly well-framed, so the crypto path sees garbage too.
                bytes[2] = MSG_TYPE_INITIATION;
                bytes[3..5].copy_from_slice(&(INITIATION_PAYLOAD_LEN as u16).to_be_bytes());
            }
            assert!(accept(&server, &bytes, &mut rng).is_err());
            let (_, initiator, _) = fresh_initiation();
            assert!(initiator.finish(&bytes[..len.min(RESPONSE_LEN)]).is_err());
        }
    }

    #[tokio::test]
    async fn connect_and_accept_io_talk_over_a_socket() {
        let server_key = MachinePrivateKey::generate(&mut OsRng);
        let client_key = MachinePrivateKey::generate(&mut OsRng);
        let (client_io, server_io) = duplex(4096);
        let server_public = server_key.public_key();
        let server = tokio::spawn(async move {
            let (session, mut stream) =
                accept_io(server_io, &server_key, &mut OsRng).await.unwrap();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(b"pong").await.unwrap();
            stream.flush().await.unwrap();
            (session, buf)
        });
        let (session, mut stream) =
            connect(client_io, &client_key, &server_public, VERSION, &mut OsRng).await.unwrap();
        stream.write_all(b"ping").await.unwrap();
        stream.flush().await.unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        let (server_session, received) = server.await.unwrap();
        assert_eq!(&received, b"ping");
        assert_eq!(server_session.peer, client_key.public_key());
        assert_eq!(session.peer, server_public);
        assert_eq!(session.handshake_hash, server_session.handshake_hash);
    }

    #[tokio::test]
    async fn accept_io_sends_an_error_frame_the_client_reports() {
        let server_key = MachinePrivateKey::generate(&mut OsRng);
        let (mut client_io, server_io) = duplex(4096);
        let server =
            tokio::spawn(
                async move { accept_io(server_io, &server_key, &mut OsRng).await.map(|_| ()) },
            );
        // A well-sized message with the wrong type.
        let mut bogus = [0u8; INITIATION_LEN];
        bogus[2] = 0x07;
        bogus[3..5].copy_from_slice(&96u16.to_be_bytes());
        client_io.write_all(&bogus).await.unwrap();
        let err = read_response(&mut client_io).await.unwrap_err();
        assert!(
            matches!(&err, HandshakeError::ServerError(text) if text == "unexpected handshake message type"),
            "{err}"
        );
        assert!(matches!(server.await.unwrap(), Err(HandshakeError::UnexpectedInitiationType)));
    }

    #[tokio::test]
    async fn connect_reports_eof_as_io_error() {
        let server_key = MachinePrivateKey::generate(&mut OsRng);
        let client_key = MachinePrivateKey::generate(&mut OsRng);
        let (client_io, server_io) = duplex(4096);
        drop(server_io);
        let err = connect(client_io, &client_key, &server_key.public_key(), 1, &mut OsRng)
            .await
            .unwrap_err();
        assert!(matches!(err, HandshakeError::Io(_)), "{err}");
    }
}
