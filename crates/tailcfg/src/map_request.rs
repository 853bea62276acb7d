//! Map polls and updates: `POST /machine/map` over Noise (`tailcfg.MapRequest`).
//!
//! Direction: client → server. Three kinds of request share this body
//! (protocol.md §5.2):
//! - **streaming poll**: `Stream: true`, `OmitPeers: false`. For capver ≥ 68
//!   it is read-only: ignore `Hostinfo`/`Endpoints`. The answer is a stream
//!   of framed [`MapResponse`](crate::MapResponse)s (see [`crate::framing`]).
//! - **lite update**: `Stream` false or absent, `OmitPeers: true`. Apply
//!   `Hostinfo`, `Endpoints`, `DiscoKey`; reply a bare 200.
//! - a non-streaming full fetch (rare): one framed response.
//!
//! Go clients send lite update and poll concurrently, in either order.
//! Authenticate by looking the node up by `NodeKey` and checking its machine
//! key against the Noise peer key.
//!
//! Input: read with [`crate::from_slice_case_insensitive`] (tailscale-rs sends
//! `HostInfo`); every field is optional. Output (our node client) omits
//! zero fields except `Version`, `NodeKey` and `DiscoKey`, as Go does.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::hostinfo::{is_false, Hostinfo};
use crate::ids::CapabilityVersion;
use crate::key::{DiscoPublicKey, NodePublicKey};
use crate::nullable::null_as_default;

/// The only `Compress` value clients send; Go clients always send it.
pub const COMPRESS_ZSTD: &str = "zstd";

/// Client → server body of `POST /machine/map` (`tailcfg.MapRequest`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MapRequest {
    /// Client capability version.
    #[serde(rename = "Version")]
    pub version: CapabilityVersion,
    /// `"zstd"` to get zstd-compressed frames, `""` for plain JSON frames.
    #[serde(rename = "Compress", skip_serializing_if = "String::is_empty")]
    pub compress: String,
    /// Whether the server should send keep-alives (Go always sets it).
    #[serde(rename = "KeepAlive", skip_serializing_if = "is_false")]
    pub keep_alive: bool,
    /// The node's current key; identifies the node.
    #[serde(rename = "NodeKey")]
    pub node_key: NodePublicKey,
    /// The node's current disco key.
    #[serde(rename = "DiscoKey")]
    pub disco_key: DiscoPublicKey,
    /// Hardware attestation public key (`hwattestpub:…`), opaque.
    #[serde(rename = "HardwareAttestationKey", skip_serializing_if = "String::is_empty")]
    pub hardware_attestation_key: String,
    /// Signature of `"<unix time>|<node key>"` by the attestation key, base64.
    #[serde(
        rename = "HardwareAttestationKeySignature",
        with = "crate::base64_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hardware_attestation_key_signature: Vec<u8>,
    /// Time of that signature. Kept as raw JSON and not interpreted: Go sends
    /// RFC 3339, tailscale-rs would send Unix seconds, and keygate ignores it.
    #[serde(
        rename = "HardwareAttestationKeySignatureTimestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub hardware_attestation_key_signature_timestamp: Option<serde_json::Value>,
    /// Long poll: keep the response open and stream updates.
    #[serde(rename = "Stream", skip_serializing_if = "is_false")]
    pub stream: bool,
    /// The client's current Hostinfo (ignore on streaming polls, capver ≥ 68).
    #[serde(rename = "Hostinfo", skip_serializing_if = "Option::is_none")]
    pub hostinfo: Option<Hostinfo>,
    /// Request to resume an earlier map session (opaque handle).
    #[serde(rename = "MapSessionHandle", skip_serializing_if = "String::is_empty")]
    pub map_session_handle: String,
    /// Last `Seq` processed in the resumed session.
    #[serde(rename = "MapSessionSeq", skip_serializing_if = "is_zero_i64")]
    pub map_session_seq: i64,
    /// UDP endpoints, e.g. `1.2.3.4:41641`, `[2001:db8::1]:41641`.
    #[serde(
        rename = "Endpoints",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub endpoints: Vec<SocketAddr>,
    /// Type of each entry of `Endpoints` (parallel list).
    #[serde(
        rename = "EndpointTypes",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub endpoint_types: Vec<EndpointType>,
    /// Head of the client's tailnet-lock chain, if any.
    #[serde(rename = "TKAHead", skip_serializing_if = "String::is_empty")]
    pub tka_head: String,
    /// Deprecated; always false since capver 68.
    #[serde(rename = "ReadOnly", skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// The client does not need `Peers` in the answer (lite update).
    #[serde(rename = "OmitPeers", skip_serializing_if = "is_false")]
    pub omit_peers: bool,
    /// Free-form debug flags, e.g. `netstack`.
    #[serde(
        rename = "DebugFlags",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub debug_flags: Vec<String>,
    /// Opaque per-connection handle for tests.
    #[serde(rename = "ConnectionHandleForTest", skip_serializing_if = "String::is_empty")]
    pub connection_handle_for_test: String,
}

impl MapRequest {
    /// Whether map frames for this request must be zstd-compressed
    /// (`Compress == "zstd"`).
    pub fn wants_zstd(&self) -> bool {
        self.compress == COMPRESS_ZSTD
    }

    /// Whether this is a lite update (`OmitPeers` without `Stream` or
    /// `ReadOnly`): apply it and answer a bare 200.
    pub fn is_lite_update(&self) -> bool {
        self.omit_peers && !self.stream && !self.read_only
    }

    /// Endpoints paired with their types; a missing type is
    /// [`EndpointType::UNKNOWN`].
    pub fn typed_endpoints(&self) -> impl Iterator<Item = (SocketAddr, EndpointType)> + '_ {
        self.endpoints.iter().enumerate().map(|(i, addr)| {
            (*addr, self.endpoint_types.get(i).copied().unwrap_or(EndpointType::UNKNOWN))
        })
    }
}

/// Where an endpoint came from (`tailcfg.EndpointType`, a JSON number).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndpointType(pub i32);

impl EndpointType {
    /// 0: unknown.
    pub const UNKNOWN: Self = Self(0);
    /// 1: a local interface address.
    pub const LOCAL: Self = Self(1);
    /// 2: discovered by STUN.
    pub const STUN: Self = Self(2);
    /// 3: mapped by UPnP/NAT-PMP/PCP.
    pub const PORTMAPPED: Self = Self(3);
    /// 4: STUN address with the local port (hard NAT).
    pub const STUN4_LOCAL_PORT: Self = Self(4);
    /// 5: explicitly configured.
    pub const EXPLICIT_CONF: Self = Self(5);
}

fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_slice_case_insensitive;
    use serde_json::json;

    fn key(prefix: &str, byte: &str) -> String {
        format!("{prefix}{}", byte.repeat(32))
    }

    #[test]
    fn parses_go_lite_update_and_stream() {
        let lite = json!({
            "Version": 133, "NodeKey": key("nodekey:", "a1"), "DiscoKey": key("discokey:", "b2"),
            "Hostinfo": {"Hostname": "tsd-probe", "OS": "linux"},
            "KeepAlive": true, "Compress": "zstd", "OmitPeers": true,
            "DebugFlags": ["netstack"]
        });
        let req: MapRequest = from_slice_case_insensitive(lite.to_string().as_bytes()).unwrap();
        assert!(req.is_lite_update());
        assert!(req.wants_zstd());
        assert_eq!(req.debug_flags, vec!["netstack".to_string()]);

        let mut stream = lite.clone();
        stream["OmitPeers"] = json!(false);
        stream["Stream"] = json!(true);
        let req: MapRequest = from_slice_case_insensitive(stream.to_string().as_bytes()).unwrap();
        assert!(req.stream && !req.is_lite_update());
    }

    #[test]
    fn parses_endpoint_update() {
        let body = json!({
            "Version": 130, "NodeKey": key("nodekey:", "a1"), "DiscoKey": key("discokey:", "b2"),
            "OmitPeers": true, "Stream": false,
            "Endpoints": ["192.0.2.7:41641", "[2001:db8::1]:41641"],
            "EndpointTypes": [2, 1]
        });
        let req: MapRequest = from_slice_case_insensitive(body.to_string().as_bytes()).unwrap();
        let typed: Vec<_> = req.typed_endpoints().collect();
        assert_eq!(typed[0], ("192.0.2.7:41641".parse().unwrap(), EndpointType::STUN));
        assert_eq!(typed[1].1, EndpointType::LOCAL);
    }

    #[test]
    fn parses_tailscale_rs_poll() {
        let body = json!({
            "Version": 130, "NodeKey": key("nodekey:", "c3"), "DiscoKey": key("discokey:", "d4"),
            "HostInfo": {"App": "tailscale-rs", "Hostname": "rs", "IpnVersion": "0.6.1"},
            "KeepAlive": true, "Stream": true
        });
        let req: MapRequest = from_slice_case_insensitive(body.to_string().as_bytes()).unwrap();
        assert!(req.stream);
        assert!(!req.wants_zstd(), "no Compress means plain frames");
        assert_eq!(req.hostinfo.unwrap().ipn_version, "0.6.1");
    }

    #[test]
    fn parses_arkitekt_lite_update() {
        let body = json!({
            "Version": 142, "NodeKey": key("nodekey:", "e5"), "DiscoKey": key("discokey:", "f6"),
            "Hostinfo": {"App": "arkitekt", "Hostname": "ark"},
            "OmitPeers": true, "Stream": false
        });
        let req: MapRequest = from_slice_case_insensitive(body.to_string().as_bytes()).unwrap();
        assert!(req.is_lite_update());
        assert!(!req.keep_alive);
    }

    #[test]
    fn serializes_compactly() {
        let req = MapRequest {
            version: 145,
            compress: COMPRESS_ZSTD.into(),
            stream: true,
            ..MapRequest::default()
        };
        let zero = "0".repeat(64);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"Version":145,"Compress":"zstd","NodeKey":format!("nodekey:{zero}"),
                   "DiscoKey":format!("discokey:{zero}"),"Stream":true})
        );
    }
}
