//! keygate-noise: the TS2021 transport of the Tailscale control protocol, both roles.
//!
//! This crate owns everything between "an HTTP/1.1 `POST /ts2021` asked to upgrade" and "a
//! byte stream that HTTP/2 can run over":
//!
//! - [`keys`]: machine keys (the Noise static keys, `mkey:` / `privkey:` text forms) and the
//!   early-payload challenge key (`chalpub:`).
//! - [`handshake`]: Noise `IK_25519_ChaChaPoly_BLAKE2s` with Tailscale's prologue and message
//!   framing; [`accept`] is the control server's (responder's) side, [`Initiator`] and
//!   [`connect`] the node's (initiator's) side.
//! - [`cipher`]: the transport record layer (`0x04` frames, ChaCha20-Poly1305 with Tailscale's
//!   **big-endian** nonce counter) as pure [`RecordCipher::seal`] / [`RecordCipher::open`].
//! - [`conn`]: [`NoiseStream`], an `AsyncRead + AsyncWrite` wrapper that hyper can serve or
//!   drive HTTP/2 over.
//! - [`early`]: the optional "early noise" payload the server may send before HTTP/2.
//! - [`upgrade`]: the HTTP upgrade vocabulary (header names, path, header decoding), as plain
//!   strings and bytes.
//!
//! It stays independent of any HTTP framework (no axum or hyper types in the API), of the
//! `tailcfg` JSON wire types (only the one-field early payload is encoded here), and of
//! storage: callers pass keys and randomness in. The wire format is specified in
//! `reference/protocol.md` §3 and mirrors `control/controlbase` in tailscale/tailscale.

pub mod cipher;
pub mod conn;
pub mod early;
pub mod frame;
pub mod handshake;
pub mod keys;
pub mod upgrade;

pub use cipher::{RecordCipher, RecordError};
pub use conn::NoiseStream;
pub use early::{read_early_payload, EarlyNoise, EarlyPayloadError};
pub use handshake::{
    accept, accept_io, connect, read_response, Accepted, Established, HandshakeError, Initiator,
    Session, TransportKeys,
};
pub use keys::{
    ChallengePrivateKey, ChallengePublicKey, KeyParseError, MachinePrivateKey, MachinePublicKey,
};
