//! keygate's embedded DERP relay: the server side of Tailscale's Designated Encrypted Relay for
//! Packets, restricted to nodes registered with keygate, plus a small client for tests and
//! benchmarks.
//!
//! A Tailscale node reaches `Running` only with a live DERP connection or peer (protocol.md
//! §5.6), and nodes behind hard NATs talk only through DERP, so keygate ships its own relay.
//! This crate owns the DERP protocol, the relay and its HTTP endpoints; it stays independent of
//! the control protocol, storage and the tailnet model: who may connect and who may reach whom
//! is asked of an [`Admission`] the control plane implements.
//!
//! # Wiring
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn wire(data_dir: &std::path::Path, admission: Arc<dyn keygate_derp::Admission>) -> anyhow::Result<axum::Router> {
//! use keygate_derp::{DerpConfig, DerpServer};
//! let key = keygate_derp::load_or_create_server_key(&data_dir.join(keygate_derp::DERP_KEY_FILE))?;
//! let derp = DerpServer::new(key, admission, DerpConfig::default());
//! let router = axum::Router::new().merge(derp.router()); // /derp, /derp/probe, /derp/latency-check
//! let derp_map = keygate_derp::embedded_derp_map("http://127.0.0.1:8080")?; // into MapResponse.DERPMap
//! # let _ = derp_map; Ok(router) }
//! ```
//!
//! # Protocol
//!
//! Upstream: `derp/derp.go`, `derp/derp_client.go`, `derp/derpserver/` and `derp/derphttp/` in
//! tailscale/tailscale. All integers are big-endian; keys are raw 32-byte curve25519 points.
//!
//! ## Transport
//!
//! The client sends `GET /derp` with `Upgrade: DERP` and `Connection: Upgrade`; the server
//! answers `101 Switching Protocols` (with `Derp-Version: 2` and `Derp-Public-Key: <hex>`) and
//! both sides then speak frames on the raw connection. With `Derp-Fast-Start: 1` the server
//! writes no HTTP response at all (see [`http`] for when clients ask for that). `GET`/`HEAD`
//! `/derp/probe` and `/derp/latency-check` answer an empty `200`: netcheck measures latency
//! with them when UDP is blocked.
//!
//! ## Frames
//!
//! ```text
//! +--------+----------------+------------------------+
//! | type:1 | length:4 (BE)  | payload: length bytes  |
//! +--------+----------------+------------------------+
//! ```
//!
//! | type | name | direction | payload |
//! |---|---|---|---|
//! | `0x01` | ServerKey | S→C | `"DERP🔑"` (8: `44 45 52 50 f0 9f 94 91`) ‖ server key (32) ‖ future use |
//! | `0x02` | ClientInfo | C→S | client node key (32) ‖ nonce (24) ‖ box(JSON ClientInfo) |
//! | `0x03` | ServerInfo | S→C | nonce (24) ‖ box(JSON ServerInfo) |
//! | `0x04` | SendPacket | C→S | destination key (32) ‖ packet (≤ 64 KiB) |
//! | `0x05` | RecvPacket | S→C | source key (32) ‖ packet |
//! | `0x06` | KeepAlive | S→C | empty; every 60 s (+ up to 5 s jitter) |
//! | `0x07` | NotePreferred | C→S | 1 byte: `0x01` if this is the client's home region |
//! | `0x08` | PeerGone | S→C | peer key (32) ‖ reason (1): `0x00` disconnected, `0x01` not here |
//! | `0x09` | PeerPresent | S→C | peer key (32) ‖ \[IP (16) ‖ port (2) ‖ \[flags (1)\]\] (mesh only) |
//! | `0x0a` | ForwardPacket | mesh | source key (32) ‖ destination key (32) ‖ packet |
//! | `0x10` | WatchConns | mesh | empty |
//! | `0x11` | ClosePeer | mesh | peer key (32) |
//! | `0x12` | Ping | both | 8 bytes (server accepts up to 1000) |
//! | `0x13` | Pong | both | the 8 bytes of the ping |
//! | `0x14` | Health | S→C | UTF-8 problem text; empty = healthy |
//! | `0x15` | Restarting | S→C | reconnect in ms (4) ‖ try for ms (4) |
//!
//! A box is NaCl `crypto_box` (X25519, XSalsa20-Poly1305): `tag (16) ‖ ciphertext`, keyed by
//! the sender's private and the recipient's public key ([`naclbox`]).
//! ClientInfo's box is sealed by the client's node key to the server key, so opening it proves
//! the client holds that node key. The JSON: ClientInfo `{"version":2,"CanAckPings":true}`
//! (optional `meshKey`, `IsProber`, `AppName`), ServerInfo `{"version":2}`.
//!
//! ## Flow
//!
//! 1. Server sends ServerKey; client sends ClientInfo (within 10 s, at most 16 KiB).
//! 2. Server checks the key is contributory (not zero or low-order), opens the box, parses the
//!    JSON and asks [`Admission::may_connect`]. Refused: a Health frame saying why, then close.
//! 3. Server sends ServerInfo; the client is now reachable by its node key.
//! 4. SendPacket to `dst`: relayed as RecvPacket from the sender's key if
//!    [`Admission::may_send`] allows and `dst` is connected, else dropped (a disco packet to an
//!    absent peer earns a rate-limited `PeerGone(NotHere)`). When a client's key has no
//!    connection left, every connection it sent packets to gets `PeerGone(Disconnected)`.
//!
//! ## Errors
//!
//! Frames from a client longer than 32 + 64 KiB, a connection ending inside a frame, a
//! malformed known frame (SendPacket shorter than a key, NotePreferred not 1 byte, Ping outside
//! 8..=1000 bytes) or a mesh frame (this server has no mesh) close the connection with a
//! [`SessionError`]. Unknown frame types within the size limit are skipped, as upstream does, so
//! newer clients keep working. Each client has a bounded send queue (32 packets per lane, oldest
//! dropped first) and a 2 s write timeout, so a slow client loses its own packets and never
//! slows the others.

pub mod admission;
pub mod client;
pub mod client_info;
pub mod derp_map;
pub mod error;
pub mod frame;
pub mod frame_reader;
pub mod http;
pub mod key;
pub mod naclbox;
mod registry;
mod send_queue;
pub mod server;
pub mod server_key;
mod session;
mod shared;
pub mod standalone;

pub use admission::{Admission, AdmitAll};
pub use derp_map::{embedded_derp_map, embedded_region, EMBEDDED_REGION_ID};
pub use error::{ClientError, DerpMapError, FrameError, ServerKeyError, SessionError};
pub use key::{NodePrivateKey, PublicKey};
pub use server::{DerpConfig, DerpServer, DerpStats};
pub use server_key::{load_or_create_server_key, DERP_KEY_FILE};
