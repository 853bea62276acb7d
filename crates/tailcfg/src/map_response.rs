//! Network maps: the server's answer to `POST /machine/map`
//! (`tailcfg.MapResponse`, `PeerChange`, `Debug`).
//!
//! Go's `tailcfg.Debug` is [`DebugSettings`] here, so that glob imports do
//! not shadow `std::fmt::Debug`.
//!
//! Direction: server → client, one [`MapResponse`] per frame (framing and
//! compression in [`crate::framing`]). In a streaming poll the first message
//! is complete and must contain `Node` (the Go client fails with "initial
//! MapResponse lacked node" otherwise); later messages are deltas in which
//! **an absent field means "unchanged"**.
//!
//! Serialization rule: every `Option` field is omitted when `None`, every
//! plain string/number/bool field is omitted when zero, and lists and maps
//! whose emptiness has no meaning of their own (`UserProfiles`) are omitted
//! when empty. Where an empty value means something different from
//! "unchanged" the field is an `Option` and `Some(empty)` is written:
//! - `PacketFilter: Some(vec![])` → `[]` = deny everything;
//! - `Health: Some(vec![])` → `[]` = healthy again;
//! - `Peers: Some(vec![])` → `[]` = no peers (first message);
//! - `DNSConfig: Some(default)` → `{}` = no DNS settings;
//! - `PacketFilters` entries with `None` → `null` = delete that named filter
//!   (key `"*"` with `None` clears all).
//!
//! Go's own `MapResponse` type cannot write a non-nil empty slice (its
//! server uses a separate type); this one can, so the server can use it
//! directly. A keep-alive is [`MapResponse::keep_alive`] →
//! `{"KeepAlive":true}`.
//!
//! Opaque parts keygate does not generate yet (`SSHPolicy`, `PingRequest`,
//! `TKAInfo`, `ControlDialPlan`, `ClientVersion`, `DisplayMessages`) are raw
//! JSON values.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::derp_map::DERPMap;
use crate::dns::DNSConfig;
use crate::filter::FilterRule;
use crate::hostinfo::is_false;
use crate::ids::{CapabilityVersion, DERPRegionID, NodeID};
use crate::key::{DiscoPublicKey, NodePublicKey};
use crate::node::{CapMap, Node};
use crate::nullable::null_as_default;
use crate::user::UserProfile;

/// One message of a map poll (`tailcfg.MapResponse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MapResponse {
    /// Session handle for resumption, first message only; omitted when empty.
    #[serde(rename = "MapSessionHandle", skip_serializing_if = "String::is_empty")]
    pub map_session_handle: String,
    /// Sequence number within the session; omitted when zero.
    #[serde(rename = "Seq", skip_serializing_if = "is_zero_i64")]
    pub seq: i64,
    /// A keep-alive carrying nothing else; omitted when false.
    #[serde(rename = "KeepAlive", skip_serializing_if = "is_false")]
    pub keep_alive: bool,
    /// Ask the client to prove liveness (`tailcfg.PingRequest`), raw JSON.
    #[serde(rename = "PingRequest", skip_serializing_if = "Option::is_none")]
    pub ping_request: Option<serde_json::Value>,
    /// URL for the client to open; omitted when empty.
    #[serde(rename = "PopBrowserURL", skip_serializing_if = "String::is_empty")]
    pub pop_browser_url: String,
    /// The requesting node itself. Required in the first message.
    #[serde(rename = "Node", skip_serializing_if = "Option::is_none")]
    pub node: Option<Node>,
    /// DERP servers. Needed to reach `Running`.
    #[serde(rename = "DERPMap", skip_serializing_if = "Option::is_none")]
    pub derp_map: Option<DERPMap>,
    /// The complete peer list, sorted by ID (first message; `[]` when none).
    #[serde(rename = "Peers", skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<Node>>,
    /// Peers added or changed since the last message, sorted by ID.
    #[serde(rename = "PeersChanged", skip_serializing_if = "Option::is_none")]
    pub peers_changed: Option<Vec<Node>>,
    /// IDs of peers that are gone.
    #[serde(rename = "PeersRemoved", skip_serializing_if = "Option::is_none")]
    pub peers_removed: Option<Vec<NodeID>>,
    /// Small per-peer changes (cheaper than `PeersChanged`).
    #[serde(rename = "PeersChangedPatch", skip_serializing_if = "Option::is_none")]
    pub peers_changed_patch: Option<Vec<PeerChange>>,
    /// Peer ID → `true` (last seen now) / `false` (gone).
    #[serde(rename = "PeerSeenChange", skip_serializing_if = "Option::is_none")]
    pub peer_seen_change: Option<BTreeMap<NodeID, bool>>,
    /// Peer ID → new `Online` value.
    #[serde(rename = "OnlineChange", skip_serializing_if = "Option::is_none")]
    pub online_change: Option<BTreeMap<NodeID, bool>>,
    /// DNS settings.
    #[serde(rename = "DNSConfig", skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<DNSConfig>,
    /// Tailnet name, e.g. `tail.test`; omitted when empty (= unchanged).
    #[serde(rename = "Domain", skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Whether clients should report services in Hostinfo.
    #[serde(rename = "CollectServices", skip_serializing_if = "Option::is_none")]
    pub collect_services: Option<bool>,
    /// The whole packet filter; `Some(vec![])` denies everything.
    #[serde(rename = "PacketFilter", skip_serializing_if = "Option::is_none")]
    pub packet_filter: Option<Vec<FilterRule>>,
    /// Named packet filters (capver ≥ 81), merged by the client; a `None`
    /// entry deletes that name, `"*": None` clears all first.
    #[serde(rename = "PacketFilters", skip_serializing_if = "Option::is_none")]
    pub packet_filters: Option<BTreeMap<String, Option<Vec<FilterRule>>>>,
    /// New or changed user profiles; omitted when empty.
    #[serde(
        rename = "UserProfiles",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub user_profiles: Vec<UserProfile>,
    /// Control-side health problems; `Some(vec![])` = healthy.
    #[serde(rename = "Health", skip_serializing_if = "Option::is_none")]
    pub health: Option<Vec<String>>,
    /// Health messages by ID (`tailcfg.DisplayMessage`), raw JSON.
    #[serde(rename = "DisplayMessages", skip_serializing_if = "Option::is_none")]
    pub display_messages: Option<serde_json::Value>,
    /// Tailscale SSH policy (`tailcfg.SSHPolicy`), raw JSON.
    #[serde(rename = "SSHPolicy", skip_serializing_if = "Option::is_none")]
    pub ssh_policy: Option<serde_json::Value>,
    /// The server's clock.
    #[serde(
        rename = "ControlTime",
        with = "crate::go_time::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub control_time: Option<OffsetDateTime>,
    /// Tailnet-lock state (`tailcfg.TKAInfo`), raw JSON.
    #[serde(rename = "TKAInfo", skip_serializing_if = "Option::is_none")]
    pub tka_info: Option<serde_json::Value>,
    /// Tailnet data-plane audit log ID; omitted when empty.
    #[serde(rename = "DomainDataPlaneAuditLogID", skip_serializing_if = "String::is_empty")]
    pub domain_data_plane_audit_log_id: String,
    /// Debug settings (Headscale sends `{"DisableLogTail":true}`).
    #[serde(rename = "Debug", skip_serializing_if = "Option::is_none")]
    pub debug: Option<DebugSettings>,
    /// How to reach control (`tailcfg.ControlDialPlan`), raw JSON.
    #[serde(rename = "ControlDialPlan", skip_serializing_if = "Option::is_none")]
    pub control_dial_plan: Option<serde_json::Value>,
    /// Latest client version info (`tailcfg.ClientVersion`), raw JSON.
    #[serde(rename = "ClientVersion", skip_serializing_if = "Option::is_none")]
    pub client_version: Option<serde_json::Value>,
    /// Deprecated default auto-update setting.
    #[serde(rename = "DefaultAutoUpdate", skip_serializing_if = "Option::is_none")]
    pub default_auto_update: Option<bool>,
}

impl MapResponse {
    /// The keep-alive message, `{"KeepAlive":true}`.
    pub fn keep_alive() -> Self {
        Self { keep_alive: true, ..Self::default() }
    }
}

/// A small change to one peer (`tailcfg.PeerChange`), in
/// `MapResponse.PeersChangedPatch`. Only `NodeID` is always written; every
/// other field is omitted when `None`/zero/empty, which means "unchanged".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerChange {
    /// The peer being changed.
    #[serde(rename = "NodeID")]
    pub node_id: NodeID,
    /// New home DERP region, if non-zero.
    #[serde(rename = "DERPRegion", skip_serializing_if = "is_zero_i64")]
    pub derp_region: DERPRegionID,
    /// New capability version, if non-zero.
    #[serde(rename = "Cap", skip_serializing_if = "is_zero_i64")]
    pub cap: CapabilityVersion,
    /// New capability map; `Some(empty)` clears it.
    #[serde(rename = "CapMap", skip_serializing_if = "Option::is_none")]
    pub cap_map: Option<CapMap>,
    /// New endpoints, if non-empty.
    #[serde(
        rename = "Endpoints",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub endpoints: Vec<SocketAddr>,
    /// New node key.
    #[serde(rename = "Key", skip_serializing_if = "Option::is_none")]
    pub key: Option<NodePublicKey>,
    /// New node-key signature, if non-empty (base64).
    #[serde(
        rename = "KeySignature",
        with = "crate::base64_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub key_signature: Vec<u8>,
    /// New disco key.
    #[serde(rename = "DiscoKey", skip_serializing_if = "Option::is_none")]
    pub disco_key: Option<DiscoPublicKey>,
    /// New online state.
    #[serde(rename = "Online", skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// New last-seen time.
    #[serde(
        rename = "LastSeen",
        with = "crate::go_time::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_seen: Option<OffsetDateTime>,
    /// New key expiry; `Some(GO_ZERO_TIME)` means "never expires now".
    #[serde(
        rename = "KeyExpiry",
        with = "crate::go_time::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub key_expiry: Option<OffsetDateTime>,
}

/// Leftover debug controls (Go's `tailcfg.Debug`), in `MapResponse.Debug`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DebugSettings {
    /// Ask the client to sleep this long (safety valve); omitted when zero.
    #[serde(rename = "SleepSeconds", skip_serializing_if = "is_zero_f64")]
    pub sleep_seconds: f64,
    /// Turn off log upload for the process lifetime; omitted when false.
    #[serde(rename = "DisableLogTail", skip_serializing_if = "is_false")]
    pub disable_log_tail: bool,
    /// Ask the client to exit with this code.
    #[serde(rename = "Exit", skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
}

fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}

fn is_zero_f64(value: &f64) -> bool {
    *value == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::allow_all;
    use crate::hostinfo::Hostinfo;
    use crate::key::MachinePublicKey;
    use crate::node::host_addresses;
    use serde_json::json;
    use time::macros::datetime;

    /// The first message of a poll, shaped as docs/protocol.md (section "Map") describes it.
    fn first_map_response() -> MapResponse {
        let addresses =
            host_addresses("100.64.0.1".parse().unwrap(), "fd7a:115c:a1e0::1".parse().unwrap());
        let now = datetime!(2026-08-22 10:00:00.123456789 UTC);
        MapResponse {
            node: Some(Node {
                id: 1,
                stable_id: "n1".into(),
                name: "probe.tail.test.".into(),
                user: 1,
                key: NodePublicKey::from_bytes([0x11; 32]),
                machine: MachinePublicKey::from_bytes([0x22; 32]),
                disco_key: DiscoPublicKey::from_bytes([0x33; 32]),
                allowed_ips: Some(addresses.clone()),
                addresses,
                hostinfo: Some(Hostinfo {
                    hostname: "probe".into(),
                    os: "linux".into(),
                    ..Hostinfo::default()
                }),
                created: Some(now),
                machine_authorized: true,
                online: Some(true),
                ..Node::default()
            }),
            peers: Some(vec![]),
            dns_config: Some(DNSConfig::default()),
            domain: "tail.test".into(),
            derp_map: Some(DERPMap::default()),
            packet_filter: Some(allow_all()),
            user_profiles: vec![UserProfile {
                id: 1,
                login_name: "probe@example.test".into(),
                display_name: "probe".into(),
                ..UserProfile::default()
            }],
            control_time: Some(now),
            ..MapResponse::default()
        }
    }

    #[test]
    fn first_map_response_matches_golden() {
        // The first map of docs/protocol.md ("Map"), encoded as Go's own encoder
        // does and every client defaults: "KeepAlive":false, "KeyExpiry":<zero
        // time> and "Endpoints":[] are omitted.
        let golden: serde_json::Value =
            serde_json::from_str(include_str!("../tests/golden/first_map_response.json")).unwrap();
        let actual = serde_json::to_value(first_map_response()).unwrap();
        assert_eq!(actual, golden);
        let text = serde_json::to_string(&first_map_response()).unwrap();
        assert!(text.contains("\"DERPMap\":{\"Regions\":{}}"));
        assert!(text.contains("\"DNSConfig\":{}"));
        assert!(text.contains("\"Peers\":[]"));
    }

    #[test]
    fn first_map_response_round_trips() {
        let text = serde_json::to_string(&first_map_response()).unwrap();
        let back: MapResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(back, first_map_response());
    }

    #[test]
    fn keep_alive_is_exactly_go_s_string() {
        assert_eq!(
            serde_json::to_string(&MapResponse::keep_alive()).unwrap(),
            r#"{"KeepAlive":true}"#
        );
        assert_eq!(serde_json::to_string(&MapResponse::default()).unwrap(), "{}");
    }

    #[test]
    fn deltas_are_compact() {
        let online = MapResponse {
            online_change: Some(BTreeMap::from([(2, true)])),
            ..MapResponse::default()
        };
        assert_eq!(serde_json::to_string(&online).unwrap(), r#"{"OnlineChange":{"2":true}}"#);

        let patch = MapResponse {
            peers_changed_patch: Some(vec![PeerChange {
                node_id: 2,
                derp_region: 900,
                ..PeerChange::default()
            }]),
            ..MapResponse::default()
        };
        assert_eq!(
            serde_json::to_string(&patch).unwrap(),
            r#"{"PeersChangedPatch":[{"NodeID":2,"DERPRegion":900}]}"#
        );

        let removed = MapResponse { peers_removed: Some(vec![3, 4]), ..MapResponse::default() };
        assert_eq!(serde_json::to_string(&removed).unwrap(), r#"{"PeersRemoved":[3,4]}"#);
    }

    #[test]
    fn empty_but_present_values_are_written() {
        let deny_all = MapResponse {
            packet_filter: Some(vec![]),
            health: Some(vec![]),
            ..MapResponse::default()
        };
        assert_eq!(
            serde_json::to_value(&deny_all).unwrap(),
            json!({"PacketFilter":[],"Health":[]})
        );

        let filters = MapResponse {
            packet_filters: Some(BTreeMap::from([
                ("*".to_string(), None),
                ("base".to_string(), Some(allow_all())),
            ])),
            ..MapResponse::default()
        };
        let value = serde_json::to_value(&filters).unwrap();
        assert_eq!(value["PacketFilters"]["*"], json!(null));
        assert_eq!(value["PacketFilters"]["base"][0]["SrcIPs"], json!(["*"]));
        let back: MapResponse = serde_json::from_value(value).unwrap();
        assert_eq!(back, filters);
    }

    #[test]
    fn peer_change_key_expiry_distinguishes_never_from_unchanged() {
        let never = PeerChange {
            node_id: 5,
            key_expiry: Some(crate::go_time::GO_ZERO_TIME),
            ..PeerChange::default()
        };
        assert_eq!(
            serde_json::to_value(&never).unwrap(),
            json!({"NodeID":5,"KeyExpiry":"0001-01-01T00:00:00Z"})
        );
        let back: PeerChange =
            serde_json::from_value(serde_json::to_value(&never).unwrap()).unwrap();
        assert_eq!(back, never);
    }

    #[test]
    fn debug_and_headscale_style_fields_parse() {
        let message: MapResponse = serde_json::from_value(json!({
            "Debug": {"DisableLogTail": true},
            "CollectServices": false,
            "PacketFilters": {"base": [{"SrcIPs": ["*"], "DstPorts": [{"IP": "*", "Ports": {"First": 0, "Last": 65535}}]}]},
            "SSHPolicy": {"rules": []},
            "UserProfiles": null,
            "ControlTime": "2026-08-22T10:00:00.5Z"
        }))
        .unwrap();
        assert!(message.debug.unwrap().disable_log_tail);
        assert_eq!(message.collect_services, Some(false));
        assert_eq!(message.packet_filters.unwrap()["base"].as_ref().unwrap().len(), 1);
        assert!(message.user_profiles.is_empty());
    }
}
