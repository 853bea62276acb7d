//! DNS configuration pushed to clients (`tailcfg.DNSConfig`,
//! `dnstype.Resolver`, `tailcfg.DNSRecord`).
//!
//! Direction: server → client in `MapResponse.DNSConfig`; `None` there means
//! unchanged, while `Some(DNSConfig::default())` serializes as `{}` (no DNS
//! settings). Every field is omitted when empty, as in Go.
//! Upstream: `tailcfg/tailcfg.go`, `types/dnstype/dnstype.go`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::hostinfo::is_false;
use crate::nullable::null_as_default;

/// DNS settings for a node (`tailcfg.DNSConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DNSConfig {
    /// Global resolvers in order of preference.
    #[serde(
        rename = "Resolvers",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub resolvers: Vec<DNSResolver>,
    /// Split DNS: name suffix → resolvers. A `None` (JSON `null`) or empty
    /// list means "answer with the built-in resolver" (e.g. for
    /// `ExtraRecords`); Go emits `null` for that.
    #[serde(
        rename = "Routes",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub routes: BTreeMap<String, Option<Vec<DNSResolver>>>,
    /// Resolvers used only when split DNS needs a default.
    #[serde(
        rename = "FallbackResolvers",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub fallback_resolvers: Vec<DNSResolver>,
    /// Search domains, FQDNs without the trailing dot.
    #[serde(
        rename = "Domains",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub domains: Vec<String>,
    /// MagicDNS on (the name is historical).
    #[serde(rename = "Proxied", skip_serializing_if = "is_false")]
    pub proxied: bool,
    /// Deprecated global nameservers (capver 9–13 only).
    #[serde(
        rename = "Nameservers",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub nameservers: Vec<IpAddr>,
    /// Names the server helps get TLS certificates for.
    #[serde(
        rename = "CertDomains",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub cert_domains: Vec<String>,
    /// Extra records served by MagicDNS.
    #[serde(
        rename = "ExtraRecords",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub extra_records: Vec<DNSRecord>,
    /// Suffixes an exit node's DNS proxy must not answer.
    #[serde(
        rename = "ExitNodeFilteredSet",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub exit_node_filtered_set: Vec<String>,
    /// Temporary upstream experiment (tailscale/corp#13969); kept for
    /// round-tripping.
    #[serde(rename = "TempCorpIssue13969", skip_serializing_if = "String::is_empty")]
    pub temp_corp_issue_13969: String,
}

/// One DNS resolver (`dnstype.Resolver`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DNSResolver {
    /// A plain IP (port 53), `IP:port`, `https://…` (DoH) or
    /// `http://…` (DoH over WireGuard).
    #[serde(rename = "Addr", skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// Suggested addresses for a DoH/DoT host name.
    #[serde(
        rename = "BootstrapResolution",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub bootstrap_resolution: Vec<IpAddr>,
    /// Keep using this resolver while an exit node is active.
    #[serde(rename = "UseWithExitNode", skip_serializing_if = "is_false")]
    pub use_with_exit_node: bool,
}

/// An extra MagicDNS record (`tailcfg.DNSRecord`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DNSRecord {
    /// Fully qualified name; the trailing dot is optional.
    #[serde(rename = "Name")]
    pub name: String,
    /// Record type; empty means A or AAAA depending on `Value`.
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub record_type: String,
    /// The value, an IP address for A/AAAA.
    #[serde(rename = "Value")]
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_config_renders_empty_object() {
        assert_eq!(serde_json::to_string(&DNSConfig::default()).unwrap(), "{}");
    }

    #[test]
    fn magic_dns_config_round_trips() {
        let input = json!({
            "Resolvers": [{"Addr": "1.1.1.1"}, {"Addr": "https://dns.example/dns-query",
                           "BootstrapResolution": ["192.0.2.1"]}],
            "Routes": {"tail.test.": null, "corp.example.": [{"Addr": "10.0.0.53"}]},
            "Domains": ["tail.test"],
            "Proxied": true,
            "CertDomains": ["probe.tail.test"],
            "ExtraRecords": [{"Name": "grafana.tail.test", "Value": "100.64.0.5"}]
        });
        let config: DNSConfig = serde_json::from_value(input.clone()).unwrap();
        assert!(config.proxied);
        assert_eq!(config.routes["tail.test."], None);
        assert_eq!(serde_json::to_value(&config).unwrap(), input);
    }
}
