//! Tailscale control-protocol JSON wire types (Go's `tailcfg` package), for
//! keygate's control server and for our own Rust node client.
//!
//! This crate owns the JSON wire format in both directions:
//! - typed public keys and their `prefix:hex` text form ([`key`]);
//! - the bodies of `GET /key` ([`OverTLSPublicKeyResponse`]),
//!   `POST /machine/register` ([`RegisterRequest`], [`RegisterResponse`]) and
//!   `POST /machine/map` ([`MapRequest`], [`MapResponse`]) with everything
//!   they contain ([`Node`], [`Hostinfo`], [`DERPMap`], [`FilterRule`],
//!   [`DNSConfig`], [`UserProfile`], …), plus the early Noise payload
//!   ([`EarlyNoise`]);
//! - Go's encodings of times ([`go_time`]), byte slices ([`base64_bytes`])
//!   and nil slices ([`nullable`]);
//! - Go-compatible case-insensitive decoding of request bodies
//!   ([`from_slice_case_insensitive`]);
//! - the length-prefixed, optionally zstd-compressed framing of map
//!   responses ([`framing`]).
//!
//! It stays independent of HTTP, Noise, storage and policy: no I/O, no
//! clock, no async. Callers hand it bytes and values and get bytes and values
//! back. The control crate maps domain state to these types.
//!
//! Conventions, so each type's docs only need to state exceptions:
//! - JSON names are Go's field names, set per field with
//!   `#[serde(rename = "...")]` (`NLKey`, `AuthURL`, `DERPMap`, `TKAHead`,
//!   `ID`, `IPNVersion` keep their acronyms).
//! - Input is lenient: unknown fields are ignored (or kept, for
//!   [`Hostinfo`]), missing fields and `null` take the zero value.
//! - Output follows Go's `omitempty`/`omitzero` tags, except where a strict
//!   client (tailscale-rs) needs a field present; each type documents which
//!   fields are always written. `Option` means Go's nil: `None` is omitted.
//! - IDs are JSON numbers (`i64`); prefixes are `ipnet::IpNet` strings;
//!   endpoints are `SocketAddr` strings; `[]byte` is standard base64.
//!
//! A server's view of one map poll:
//!
//! ```
//! use keygate_tailcfg::{
//!     encode_map_response, from_slice_case_insensitive, keep_alive_frame, MapRequest,
//!     MapResponse, FrameDecoder,
//! };
//!
//! // tailscale-rs spells it `HostInfo`; Go would match it, and so do we.
//! let body = br#"{"Version":130,"Stream":true,"HostInfo":{"Hostname":"rs","IpnVersion":"0.6.1"}}"#;
//! let request: MapRequest = from_slice_case_insensitive(body)?;
//! assert_eq!(request.hostinfo.as_ref().map(|h| h.ipn_version.as_str()), Some("0.6.1"));
//!
//! let first = MapResponse { domain: "tail.test".into(), ..MapResponse::default() };
//! let frame = encode_map_response(&first, request.wants_zstd())?;
//! let keep_alive = keep_alive_frame(request.wants_zstd())?;
//!
//! // The client side reads the same bytes back.
//! let mut decoder = FrameDecoder::new(request.wants_zstd());
//! decoder.push(&frame);
//! decoder.push(&keep_alive);
//! assert_eq!(decoder.next_map_response()?.map(|m| m.domain), Some("tail.test".to_string()));
//! assert!(decoder.next_map_response()?.is_some_and(|m| m.keep_alive));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Upstream references: `tailcfg/tailcfg.go`, `tailcfg/derpmap.go`,
//! `types/key/*.go` in tailscale/tailscale; `ts_control_serde` in
//! tailscale/tailscale-rs (the strictest client); and
//! `shared/reference/protocol.md` §2, §5, §9.

pub mod base64_bytes;
mod case_insensitive;
mod derp_map;
mod dns;
mod early_noise;
pub mod error;
mod filter;
pub mod framing;
pub mod go_time;
mod hostinfo;
mod ids;
pub mod key;
mod key_response;
mod map_request;
mod map_response;
mod node;
pub mod nullable;
mod register;
mod user;

pub use case_insensitive::{canonicalize_keys, from_slice_case_insensitive};
pub use derp_map::{DERPHomeParams, DERPMap, DERPNode, DERPRegion};
pub use dns::{DNSConfig, DNSRecord, DNSResolver};
pub use early_noise::EarlyNoise;
pub use error::FrameError;
pub use filter::{allow_all, CapGrant, FilterRule, NetPortRange, PortRange};
pub use framing::{encode_frame, encode_map_response, keep_alive_frame, FrameDecoder};
pub use hostinfo::{Hostinfo, Service};
pub use ids::{
    CapabilityVersion, DERPRegionID, LoginID, NodeID, StableNodeID, UserID, MAX_SAFE_ID,
};
pub use key::{
    ChallengePublicKey, DiscoPublicKey, KeyParseError, MachinePublicKey, NLPublicKey, NodePublicKey,
};
pub use key_response::OverTLSPublicKeyResponse;
pub use map_request::{EndpointType, MapRequest, COMPRESS_ZSTD};
pub use map_response::{DebugSettings, MapResponse, PeerChange};
pub use node::{
    host_addresses, legacy_derp_string, parse_legacy_derp_string, CapMap, Node, DERP_MAGIC_IP,
};
pub use register::{RegisterAuth, RegisterRequest, RegisterResponse, SignatureType};
pub use user::{Login, User, UserProfile};
