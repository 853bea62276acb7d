//! Nodes as the server describes them (`tailcfg.Node`).
//!
//! Direction: server → client in `MapResponse.Node` (the client itself),
//! `Peers` and `PeersChanged`. Upstream: `tailcfg/tailcfg.go` `type Node`.
//!
//! Output rules, following Go's struct tags:
//! - always written: `ID`, `StableID`, `Name`, `User`, `Key`, `Addresses`;
//! - every other field is omitted when zero/empty/`None` (`omitempty` or
//!   `omitzero` in Go);
//! - `AllowedIPs`: `None` is omitted and means "same as `Addresses`" for
//!   capver ≥ 112; older clients need it filled in.
//! - `HomeDERP` (capver ≥ 111) replaces the legacy `DERP` string
//!   `"127.3.3.40:<region>"`; send both to support older clients
//!   ([`legacy_derp_string`]).
//!
//! Addresses are `ipnet::IpNet` strings (`"100.64.0.1/32"`). Keep exactly one
//! IPv4 prefix followed by one IPv6 prefix ([`host_addresses`]): tailscale-rs
//! deserializes `Addresses` as an `(Ipv4Net, Ipv6Net)` tuple.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::dns::DNSResolver;
use crate::hostinfo::{is_false, Hostinfo};
use crate::ids::{CapabilityVersion, DERPRegionID, NodeID, StableNodeID, UserID};
use crate::key::{DiscoPublicKey, MachinePublicKey, NodePublicKey};
use crate::nullable::null_as_default;

/// Capability name → optional list of raw JSON values (`tailcfg.NodeCapMap`,
/// also `PeerCapMap`). A capability with no values is present with `None`,
/// which serializes as `null` like Go's nil slice.
pub type CapMap = BTreeMap<String, Option<Vec<serde_json::Value>>>;

/// Fake IP of the legacy `DERP` endpoint string ("3.3.40" spells DERP on a
/// QWERTY keyboard); the port is the region ID.
pub const DERP_MAGIC_IP: &str = "127.3.3.40";

/// A node in the tailnet (`tailcfg.Node`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    /// Numeric node ID, > 0 and ≤ 2^53 − 1.
    #[serde(rename = "ID")]
    pub id: NodeID,
    /// String node ID, e.g. `"n1"`.
    #[serde(rename = "StableID")]
    pub stable_id: StableNodeID,
    /// MagicDNS FQDN with a trailing dot, e.g. `host.tail.test.`.
    #[serde(rename = "Name")]
    pub name: String,
    /// Owning user (for tagged nodes: a synthetic "tagged devices" user).
    #[serde(rename = "User")]
    pub user: UserID,
    /// User who shared this node in, if different from `User`.
    #[serde(rename = "Sharer", skip_serializing_if = "is_zero_i64")]
    pub sharer: UserID,
    /// Current WireGuard key.
    #[serde(rename = "Key")]
    pub key: NodePublicKey,
    /// Key expiry; `None` (Go zero time) = never expires. Omitted when `None`.
    #[serde(
        rename = "KeyExpiry",
        with = "crate::go_time::zero_is_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub key_expiry: Option<OffsetDateTime>,
    /// Tailnet-lock signature of `Key` (base64); omitted when empty.
    #[serde(
        rename = "KeySignature",
        with = "crate::base64_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub key_signature: Vec<u8>,
    /// Machine (Noise) key; omitted when zero.
    #[serde(rename = "Machine", skip_serializing_if = "MachinePublicKey::is_zero")]
    pub machine: MachinePublicKey,
    /// Disco key; omitted when zero.
    #[serde(rename = "DiscoKey", skip_serializing_if = "DiscoPublicKey::is_zero")]
    pub disco_key: DiscoPublicKey,
    /// The node's own addresses: one IPv4 /32 then one IPv6 /128. Always written.
    #[serde(rename = "Addresses", deserialize_with = "null_as_default")]
    pub addresses: Vec<IpNet>,
    /// Routes to send to this node; `None` (omitted) = same as `Addresses`
    /// for capver ≥ 112. `Some(vec![])` is written as `[]`.
    #[serde(rename = "AllowedIPs", skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<IpNet>>,
    /// UDP endpoints (`ip:port`); omitted when empty.
    #[serde(
        rename = "Endpoints",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub endpoints: Vec<SocketAddr>,
    /// Legacy home DERP as `"127.3.3.40:<region>"`; omitted when empty.
    #[serde(rename = "DERP", skip_serializing_if = "String::is_empty")]
    pub legacy_derp: String,
    /// Home DERP region ID (capver ≥ 111); omitted when zero.
    #[serde(rename = "HomeDERP", skip_serializing_if = "is_zero_i64")]
    pub home_derp: DERPRegionID,
    /// The node's Hostinfo as it reported it; omitted when `None`.
    #[serde(rename = "Hostinfo", skip_serializing_if = "Option::is_none")]
    pub hostinfo: Option<Hostinfo>,
    /// Creation time; omitted when `None`.
    #[serde(
        rename = "Created",
        with = "crate::go_time::zero_is_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<OffsetDateTime>,
    /// The node's capability version, if known; omitted when zero.
    #[serde(rename = "Cap", skip_serializing_if = "is_zero_i64")]
    pub cap: CapabilityVersion,
    /// ACL tags (`tag:…`); omitted when empty.
    #[serde(
        rename = "Tags",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub tags: Vec<String>,
    /// Subnet routes this node is primary for; omitted when empty.
    #[serde(
        rename = "PrimaryRoutes",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub primary_routes: Vec<IpNet>,
    /// Last time the node was online (Go `*time.Time`); omitted when `None`.
    #[serde(
        rename = "LastSeen",
        with = "crate::go_time::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_seen: Option<OffsetDateTime>,
    /// Whether the node is connected to control; `None` = unknown (omitted).
    #[serde(rename = "Online", skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// Device approved; `false` leaves the client in `NeedsMachineAuth`.
    /// Omitted when false.
    #[serde(rename = "MachineAuthorized", skip_serializing_if = "is_false")]
    pub machine_authorized: bool,
    /// Deprecated capability list (use `CapMap`); omitted when empty.
    #[serde(
        rename = "Capabilities",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub capabilities: Vec<String>,
    /// Node attributes and their values; omitted when empty.
    #[serde(
        rename = "CapMap",
        skip_serializing_if = "CapMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub cap_map: CapMap,
    /// Unsigned node that may only reach peerapi (tailnet lock).
    #[serde(rename = "UnsignedPeerAPIOnly", skip_serializing_if = "is_false")]
    pub unsigned_peer_api_only: bool,
    /// Display name computed client-side; servers leave it empty.
    #[serde(rename = "ComputedName", skip_serializing_if = "String::is_empty")]
    pub computed_name: String,
    /// Display name with host, computed client-side; servers leave it empty.
    #[serde(rename = "ComputedNameWithHost", skip_serializing_if = "String::is_empty")]
    pub computed_name_with_host: String,
    /// Per-node data-plane audit log ID.
    #[serde(rename = "DataPlaneAuditLogID", skip_serializing_if = "String::is_empty")]
    pub data_plane_audit_log_id: String,
    /// Whether the node's key has expired.
    #[serde(rename = "Expired", skip_serializing_if = "is_false")]
    pub expired: bool,
    /// IPv4 this peer knows the self node as (peers only).
    #[serde(rename = "SelfNodeV4MasqAddrForThisPeer", skip_serializing_if = "Option::is_none")]
    pub self_node_v4_masq_addr_for_this_peer: Option<IpAddr>,
    /// IPv6 this peer knows the self node as (peers only).
    #[serde(rename = "SelfNodeV6MasqAddrForThisPeer", skip_serializing_if = "Option::is_none")]
    pub self_node_v6_masq_addr_for_this_peer: Option<IpAddr>,
    /// A plain WireGuard peer (no disco, no DERP).
    #[serde(rename = "IsWireGuardOnly", skip_serializing_if = "is_false")]
    pub is_wireguard_only: bool,
    /// Jailed: may not initiate connections.
    #[serde(rename = "IsJailed", skip_serializing_if = "is_false")]
    pub is_jailed: bool,
    /// DNS resolvers to use with this WireGuard-only exit node.
    #[serde(
        rename = "ExitNodeDNSResolvers",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub exit_node_dns_resolvers: Vec<DNSResolver>,
}

impl Node {
    /// The home DERP region: `HomeDERP`, else the region in the legacy
    /// `DERP` string, else 0.
    pub fn home_derp_region(&self) -> DERPRegionID {
        if self.home_derp != 0 {
            return self.home_derp;
        }
        parse_legacy_derp_string(&self.legacy_derp).unwrap_or(0)
    }
}

/// The legacy `Node.DERP` value for a region: `"127.3.3.40:<region>"`.
pub fn legacy_derp_string(region: DERPRegionID) -> String {
    format!("{DERP_MAGIC_IP}:{region}")
}

/// The region in a legacy `"127.3.3.40:<region>"` string, if it is one.
pub fn parse_legacy_derp_string(text: &str) -> Option<DERPRegionID> {
    let region = text.strip_prefix(DERP_MAGIC_IP)?.strip_prefix(':')?;
    region.parse().ok().filter(|region: &DERPRegionID| *region > 0)
}

/// A node's `Addresses` in the order clients expect: the IPv4 /32, then the
/// IPv6 /128.
pub fn host_addresses(ipv4: Ipv4Addr, ipv6: Ipv6Addr) -> Vec<IpNet> {
    vec![IpNet::V4(Ipv4Net::from(ipv4)), IpNet::V6(Ipv6Net::from(ipv6))]
}

fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minimal_node_writes_only_required_fields() {
        let node = Node {
            id: 1,
            stable_id: "n1".into(),
            name: "probe.tail.test.".into(),
            user: 1,
            addresses: host_addresses(
                "100.64.0.1".parse().unwrap(),
                "fd7a:115c:a1e0::1".parse().unwrap(),
            ),
            ..Node::default()
        };
        assert_eq!(
            serde_json::to_value(&node).unwrap(),
            json!({
                "ID": 1, "StableID": "n1", "Name": "probe.tail.test.", "User": 1,
                "Key": format!("nodekey:{}", "0".repeat(64)),
                "Addresses": ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"]
            })
        );
    }

    #[test]
    fn go_style_node_parses() {
        // Shape of a node as Go servers emit it: null slices, CapMap with
        // null values, nanosecond timestamps, legacy DERP string.
        let node: Node = serde_json::from_value(json!({
            "ID": 6523515364831089_i64,
            "StableID": "nLzY4qgWws11CNTRL",
            "Name": "peer.tail.test.",
            "User": 7,
            "Key": format!("nodekey:{}", "7d".repeat(32)),
            "KeyExpiry": "2026-03-24T05:41:06Z",
            "DiscoKey": format!("discokey:{}", "0".repeat(64)),
            "Addresses": ["100.93.205.110/32", "fd7a:115c:a1e0::b601:cd6e/128"],
            "AllowedIPs": null,
            "Endpoints": ["192.0.2.1:41641", "[2001:db8::1]:41641"],
            "DERP": "127.3.3.40:10",
            "Hostinfo": {"Hostname": "peer"},
            "Created": "2025-09-25T05:41:06.417127373Z",
            "Tags": null,
            "LastSeen": "0001-01-01T00:00:00Z",
            "MachineAuthorized": true,
            "CapMap": {"https://tailscale.com/cap/is-admin": null, "custom": [{"a": 1}]}
        }))
        .unwrap();
        assert_eq!(node.home_derp_region(), 10);
        assert_eq!(node.allowed_ips, None);
        assert!(node.tags.is_empty());
        assert_eq!(node.endpoints.len(), 2);
        assert_eq!(node.last_seen, Some(crate::go_time::GO_ZERO_TIME));
        assert_eq!(node.cap_map["https://tailscale.com/cap/is-admin"], None);
        assert_eq!(node.created.unwrap().nanosecond(), 417_127_373);
        let out = serde_json::to_value(&node).unwrap();
        assert_eq!(out["CapMap"]["https://tailscale.com/cap/is-admin"], json!(null));
        assert!(out.get("DiscoKey").is_none(), "zero disco key is omitted");
        assert!(out.get("Tags").is_none());
    }

    #[test]
    fn legacy_derp_string_round_trips() {
        assert_eq!(legacy_derp_string(900), "127.3.3.40:900");
        assert_eq!(parse_legacy_derp_string("127.3.3.40:900"), Some(900));
        assert_eq!(parse_legacy_derp_string("127.3.3.40:0"), None);
        assert_eq!(parse_legacy_derp_string("10.0.0.1:900"), None);
        assert_eq!(parse_legacy_derp_string(""), None);
    }
}
