//! Packet filter rules (`tailcfg.FilterRule`, `NetPortRange`, `PortRange`,
//! `CapGrant`).
//!
//! Direction: server → client in `MapResponse.PacketFilter` (a list) or
//! `MapResponse.PacketFilters` (named lists, capver ≥ 81). An empty list
//! means "deny everything"; `None` means unchanged (see
//! [`MapResponse`](crate::MapResponse)).
//!
//! Omitted on purpose: Go's deprecated `SrcBits` and `NetPortRange.Bits`
//! (pre-capver-7 CIDR encoding); unknown fields are ignored on input.
//!
//! Strict readers: tailscale-rs requires `SrcIPs` in every rule, so it is
//! always written (`[]` when empty).

use serde::{Deserialize, Serialize};

use crate::node::CapMap;
use crate::nullable::null_as_default;

/// One packet filter rule (`tailcfg.FilterRule`): traffic from `SrcIPs` to
/// `DstPorts` is allowed; or, with `CapGrant`, application capabilities are
/// granted. `DstPorts` and `CapGrant` are mutually exclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FilterRule {
    /// Sources: an IP, a CIDR, an `a-b` IP range, `*` (everything) or
    /// `cap:<node capability>`. Always written.
    #[serde(rename = "SrcIPs", deserialize_with = "null_as_default")]
    pub src_ips: Vec<String>,
    /// Destinations and port ranges; omitted when empty.
    #[serde(
        rename = "DstPorts",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub dst_ports: Vec<NetPortRange>,
    /// IP protocol numbers; empty means TCP, UDP and ICMP. Omitted when empty.
    #[serde(
        rename = "IPProto",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub ip_proto: Vec<i32>,
    /// Capability grants; omitted when empty.
    #[serde(
        rename = "CapGrant",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub cap_grant: Vec<CapGrant>,
}

/// Destination addresses and ports (`tailcfg.NetPortRange`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetPortRange {
    /// An IP, a CIDR, an `a-b` range or `*`.
    #[serde(rename = "IP")]
    pub ip: String,
    /// Allowed ports.
    #[serde(rename = "Ports")]
    pub ports: PortRange,
}

/// An inclusive port range (`tailcfg.PortRange`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortRange {
    /// First port, inclusive.
    #[serde(rename = "First")]
    pub first: u16,
    /// Last port, inclusive.
    #[serde(rename = "Last")]
    pub last: u16,
}

impl PortRange {
    /// Every port, 0–65535.
    pub const ANY: Self = Self { first: 0, last: u16::MAX };
}

/// Capabilities granted to sources towards destinations (`tailcfg.CapGrant`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapGrant {
    /// Destination prefixes. Always written.
    #[serde(rename = "Dsts", deserialize_with = "null_as_default")]
    pub dsts: Vec<ipnet::IpNet>,
    /// Deprecated capability names without values; omitted when empty.
    #[serde(
        rename = "Caps",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub caps: Vec<String>,
    /// Capabilities with values (same shape as a node's `CapMap`); omitted
    /// when empty.
    #[serde(
        rename = "CapMap",
        skip_serializing_if = "CapMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub cap_map: CapMap,
}

/// A filter that allows all traffic from everyone to everything
/// (Go's `tailcfg.FilterAllowAll`).
pub fn allow_all() -> Vec<FilterRule> {
    vec![FilterRule {
        src_ips: vec!["*".to_string()],
        dst_ports: vec![NetPortRange { ip: "*".to_string(), ports: PortRange::ANY }],
        ..FilterRule::default()
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allow_all_matches_go() {
        assert_eq!(
            serde_json::to_value(allow_all()).unwrap(),
            json!([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}])
        );
    }

    #[test]
    fn deprecated_bits_are_ignored_on_input() {
        let rule: FilterRule = serde_json::from_str(
            r#"{"SrcIPs":["100.64.0.1"],"SrcBits":[32],"DstPorts":[{"IP":"100.64.0.2","Bits":32,"Ports":{"First":22,"Last":22}}],"IPProto":[6]}"#,
        )
        .unwrap();
        assert_eq!(rule.dst_ports[0].ports, PortRange { first: 22, last: 22 });
        assert_eq!(rule.ip_proto, vec![6]);
        let out = serde_json::to_value(&rule).unwrap();
        assert!(out.get("SrcBits").is_none());
        assert!(out["DstPorts"][0].get("Bits").is_none());
    }

    #[test]
    fn cap_grant_rule_omits_dst_ports() {
        let mut cap_map = CapMap::new();
        cap_map.insert("example.com/cap/test".into(), Some(vec![json!({"x":1})]));
        let rule = FilterRule {
            src_ips: vec!["100.64.0.1".into()],
            cap_grant: vec![CapGrant {
                dsts: vec!["100.64.0.2/32".parse().unwrap()],
                cap_map,
                ..CapGrant::default()
            }],
            ..FilterRule::default()
        };
        let value = serde_json::to_value(&rule).unwrap();
        assert_eq!(
            value,
            json!({"SrcIPs":["100.64.0.1"],"CapGrant":[{"Dsts":["100.64.0.2/32"],"CapMap":{"example.com/cap/test":[{"x":1}]}}]})
        );
        assert_eq!(serde_json::from_value::<FilterRule>(value).unwrap(), rule);
    }
}
