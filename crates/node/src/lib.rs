//! keygate-node: a light Tailscale node client, the client half of the TS2021 control
//! protocol, written for keygate's tests, its many-node benchmark and the small
//! `keygate-node` CLI.
//!
//! It owns the node's side of the conversation (protocol.md §1–5):
//! - [`NodeIdentity`]: machine, node and disco keys, kept in a 0600 JSON state file;
//! - [`ControlClient`]: `GET /key`, the `/ts2021` upgrade, the Noise IK handshake (from
//!   `keygate-noise`) and HTTP/2 inside it, carrying [`ControlClient::register`] /
//!   [`ControlClient::login`], [`ControlClient::map_stream`] and
//!   [`ControlClient::lite_update`] over one connection, as Go's client does, and
//!   [`ControlClient::send_raw`] for any other request, whatever its answer;
//! - [`MapStream`]: the streaming map poll, decoded frame by frame (zstd or plain JSON);
//! - [`NetMap`]: the peer set, kept current by applying full maps and deltas.
//!
//! It is cheap to run thousands of nodes in one process: no threads of its own, two tokio
//! tasks per connection, no map-sized buffers while idle, and a compact
//! [`NetMap::compact`] mode. Only `http://` login servers are supported so far (no TLS).
//!
//! It shares no code with the server: the JSON types come from `keygate-tailcfg` and the
//! transport from `keygate-noise`, so a bug in the server's use of them is not mirrored here.

pub mod client;
pub mod error;
pub mod identity;
pub mod map_stream;
pub mod netmap;
pub mod server_url;
pub mod transport;

pub use client::{
    default_hostinfo, ConnectOptions, ControlClient, LiteUpdate, RegisterOptions,
    DEFAULT_CONNECT_TIMEOUT, MAX_RAW_BODY_LEN,
};
pub use error::{NodeError, StateError};
pub use identity::NodeIdentity;
pub use map_stream::{MapOptions, MapStream, MapStreamStats, DEFAULT_IDLE_TIMEOUT};
pub use netmap::{NetMap, NetMapChange, PeerState, PeerSummary};
pub use server_url::ServerUrl;
pub use transport::{fetch_server_key, ConnectionCounters};

/// The capability version this client announces (in the Noise prologue, `/key?v=` and every
/// request), the same as tailscaled 1.96.4.
pub const CAPABILITY_VERSION: u16 = 133;
