//! DERP relay maps (`tailcfg.DERPMap`, `DERPRegion`, `DERPNode`).
//!
//! Direction: server → client in `MapResponse.DERPMap` (`None` = unchanged).
//! Also the format of DERP map files and URLs (e.g. Tailscale's public map,
//! Headscale's `derp.urls`/`derp.paths`), so these types read and write.
//!
//! A client reaches `Running` only with at least one reachable DERP region
//! or peer (protocol.md §5.6). Tests send `{"Regions":{}}` or a loopback
//! region. Upstream: `tailcfg/derpmap.go`.
//!
//! Strict readers: tailscale-rs requires `RegionID`, `RegionCode`,
//! `RegionName` in each region and `Name`, `RegionID`, `HostName` in each
//! node, so these are always written; the rest is omitted when zero, as in Go.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hostinfo::is_false;
use crate::ids::DERPRegionID;
use crate::nullable::null_as_default;

/// The set of DERP regions available to clients (`tailcfg.DERPMap`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DERPMap {
    /// Change in home-region selection parameters; `None` = unchanged.
    #[serde(rename = "HomeParams", skip_serializing_if = "Option::is_none")]
    pub home_params: Option<DERPHomeParams>,
    /// Regions keyed by region ID (JSON object keys are decimal strings).
    /// Always written, `{}` when empty.
    #[serde(rename = "Regions", deserialize_with = "null_as_default")]
    pub regions: BTreeMap<DERPRegionID, DERPRegion>,
    /// Use only these regions, not Tailscale's defaults (lower-camel on the
    /// wire); omitted when false.
    #[serde(rename = "omitDefaultRegions", skip_serializing_if = "is_false")]
    pub omit_default_regions: bool,
}

/// Home-region selection parameters (`tailcfg.DERPHomeParams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DERPHomeParams {
    /// Latency multipliers per region; absent regions score 1.0.
    #[serde(
        rename = "RegionScore",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub region_score: BTreeMap<DERPRegionID, f64>,
}

/// A geographic region with one or more DERP nodes (`tailcfg.DERPRegion`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DERPRegion {
    /// Region ID, positive; 900–999 are for self-hosted regions.
    #[serde(rename = "RegionID")]
    pub region_id: DERPRegionID,
    /// Short code, e.g. `nyc`.
    #[serde(rename = "RegionCode")]
    pub region_code: String,
    /// Long name, e.g. `New York City`.
    #[serde(rename = "RegionName")]
    pub region_name: String,
    /// Latitude in degrees; omitted when zero.
    #[serde(rename = "Latitude", skip_serializing_if = "is_zero_f64")]
    pub latitude: f64,
    /// Longitude in degrees; omitted when zero.
    #[serde(rename = "Longitude", skip_serializing_if = "is_zero_f64")]
    pub longitude: f64,
    /// Deprecated "avoid as home region" flag; omitted when false.
    #[serde(rename = "Avoid", skip_serializing_if = "is_false")]
    pub avoid: bool,
    /// Never measure or pick as home; use only to reach peers homed here.
    #[serde(rename = "NoMeasureNoHome", skip_serializing_if = "is_false")]
    pub no_measure_no_home: bool,
    /// Nodes in priority order. Always written, `[]` when empty.
    #[serde(rename = "Nodes", deserialize_with = "null_as_default")]
    pub nodes: Vec<DERPNode>,
}

/// One DERP (and/or STUN) server in a region (`tailcfg.DERPNode`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DERPNode {
    /// Unique node name across all regions, e.g. `1b` (not a host name).
    #[serde(rename = "Name")]
    pub name: String,
    /// ID of the region this node belongs to.
    #[serde(rename = "RegionID")]
    pub region_id: DERPRegionID,
    /// Host name to dial and for TLS (unless `CertName` is set).
    #[serde(rename = "HostName")]
    pub host_name: String,
    /// Expected TLS certificate name; `sha256-raw:<hex>` pins a self-signed cert.
    #[serde(rename = "CertName", skip_serializing_if = "String::is_empty")]
    pub cert_name: String,
    /// Fixed IPv4 address instead of DNS; `"none"` disables IPv4.
    #[serde(rename = "IPv4", skip_serializing_if = "String::is_empty")]
    pub ipv4: String,
    /// Fixed IPv6 address instead of DNS; `"none"` disables IPv6.
    #[serde(rename = "IPv6", skip_serializing_if = "String::is_empty")]
    pub ipv6: String,
    /// STUN port: 0 means 3478, -1 disables STUN.
    #[serde(rename = "STUNPort", skip_serializing_if = "is_zero_i32")]
    pub stun_port: i32,
    /// Whether this node only serves STUN.
    #[serde(rename = "STUNOnly", skip_serializing_if = "is_false")]
    pub stun_only: bool,
    /// DERP HTTPS port: 0 means 443. Set it explicitly for a plain-HTTP test
    /// DERP (`TS_DEBUG_USE_DERP_HTTP=1`, protocol.md §5.6).
    #[serde(rename = "DERPPort", skip_serializing_if = "is_zero_i32")]
    pub derp_port: i32,
    /// Disables TLS verification; tests only.
    #[serde(rename = "InsecureForTests", skip_serializing_if = "is_false")]
    pub insecure_for_tests: bool,
    /// STUN server IP override; tests only.
    #[serde(rename = "STUNTestIP", skip_serializing_if = "String::is_empty")]
    pub stun_test_ip: String,
    /// Whether the node answers plain HTTP on port 80 (captive-portal checks).
    #[serde(rename = "CanPort80", skip_serializing_if = "is_false")]
    pub can_port_80: bool,
}

fn is_zero_f64(value: &f64) -> bool {
    *value == 0.0
}

fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A DERP map file in Tailscale's format, as a config file would hold it.
    const MAP_FILE: &str = r#"{
        "Regions": {
            "900": {
                "RegionID": 900,
                "RegionCode": "home",
                "RegionName": "Home lab",
                "Latitude": 52.52,
                "Longitude": 13.405,
                "Nodes": [
                    {"Name": "900a", "RegionID": 900, "HostName": "derp.example.test",
                     "IPv4": "127.0.0.1", "IPv6": "none", "STUNPort": -1,
                     "DERPPort": 3340, "CanPort80": true}
                ]
            },
            "901": {"RegionID": 901, "RegionCode": "stun", "RegionName": "STUN only",
                    "Nodes": [{"Name": "901a", "RegionID": 901, "HostName": "stun.example.test",
                               "STUNOnly": true, "CertName": "sha256-raw:00ff"}]}
        },
        "omitDefaultRegions": true
    }"#;

    #[test]
    fn map_file_round_trips() {
        let map: DERPMap = serde_json::from_str(MAP_FILE).unwrap();
        assert!(map.omit_default_regions);
        let home = &map.regions[&900];
        assert_eq!(home.region_code, "home");
        assert_eq!(home.nodes[0].stun_port, -1);
        assert_eq!(home.nodes[0].derp_port, 3340);
        let input: serde_json::Value = serde_json::from_str(MAP_FILE).unwrap();
        assert_eq!(serde_json::to_value(&map).unwrap(), input);
    }

    #[test]
    fn empty_map_is_regions_only() {
        assert_eq!(serde_json::to_value(DERPMap::default()).unwrap(), json!({"Regions":{}}));
        let from_null: DERPMap = serde_json::from_str(r#"{"Regions":null}"#).unwrap();
        assert!(from_null.regions.is_empty());
    }

    #[test]
    fn region_and_node_keep_required_fields() {
        let region = DERPRegion {
            region_id: 1,
            nodes: vec![DERPNode { region_id: 1, ..DERPNode::default() }],
            ..DERPRegion::default()
        };
        assert_eq!(
            serde_json::to_value(&region).unwrap(),
            json!({"RegionID":1,"RegionCode":"","RegionName":"",
                   "Nodes":[{"Name":"","RegionID":1,"HostName":""}]})
        );
    }
}
