//! Host information a client reports about itself (`tailcfg.Hostinfo`).
//!
//! Direction: client → server inside `RegisterRequest.Hostinfo` and
//! `MapRequest.Hostinfo`; server → clients inside `Node.Hostinfo` (self and
//! peers). The server stores what the client sent and echoes it to peers.
//!
//! Every field is optional and omitted on output when zero (Go tags them
//! `omitzero`/`omitempty`). Go's `opt.Bool` (true / false / unset) is
//! `Option<bool>`. Nested Go structs keygate does not interpret (`NetInfo`,
//! `Location`, `TPM`) are kept as raw JSON values.
//!
//! Fields this crate does not know (newer clients add some in most releases)
//! are kept in [`Hostinfo::extra`] and written back on output, so echoing a
//! Hostinfo to peers loses nothing.
//!
//! Casing: real clients disagree (tailscale-rs sends `IpnVersion`); read
//! request bodies with [`crate::from_slice_case_insensitive`], which renames
//! known keys to the spellings below before deserializing. See protocol.md §5.1.

use serde::{Deserialize, Serialize};

use crate::nullable::null_as_default;

/// A client's description of its host (`tailcfg.Hostinfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hostinfo {
    /// Client version in long form, e.g. `1.96.4-t8cf541dfd-g62bc84ce7`.
    #[serde(rename = "IPNVersion", skip_serializing_if = "String::is_empty")]
    pub ipn_version: String,
    /// Logtail ID of the frontend (GUI/CLI).
    #[serde(rename = "FrontendLogID", skip_serializing_if = "String::is_empty")]
    pub frontend_log_id: String,
    /// Logtail ID of the backend (tailscaled).
    #[serde(rename = "BackendLogID", skip_serializing_if = "String::is_empty")]
    pub backend_log_id: String,
    /// Operating system (`linux`, `windows`, `macOS`, `iOS`, `android`, …).
    #[serde(rename = "OS", skip_serializing_if = "String::is_empty")]
    pub os: String,
    /// Operating system version.
    #[serde(rename = "OSVersion", skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    /// Whether the client runs in a container (best effort).
    #[serde(rename = "Container", skip_serializing_if = "Option::is_none")]
    pub container: Option<bool>,
    /// Environment type (`hostinfo.EnvType`), e.g. `kn` for Knative.
    #[serde(rename = "Env", skip_serializing_if = "String::is_empty")]
    pub env: String,
    /// Linux distribution, e.g. `debian`.
    #[serde(rename = "Distro", skip_serializing_if = "String::is_empty")]
    pub distro: String,
    /// Distribution version, e.g. `12`.
    #[serde(rename = "DistroVersion", skip_serializing_if = "String::is_empty")]
    pub distro_version: String,
    /// Distribution code name, e.g. `bookworm`.
    #[serde(rename = "DistroCodeName", skip_serializing_if = "String::is_empty")]
    pub distro_code_name: String,
    /// Embedding application (`tsnet` users such as `caddy`).
    #[serde(rename = "App", skip_serializing_if = "String::is_empty")]
    pub app: String,
    /// Whether a desktop was detected (Linux).
    #[serde(rename = "Desktop", skip_serializing_if = "Option::is_none")]
    pub desktop: Option<bool>,
    /// Packaging (`tsnet`, `choco`, `appstore`, …).
    #[serde(rename = "Package", skip_serializing_if = "String::is_empty")]
    pub package: String,
    /// Device model (mobile).
    #[serde(rename = "DeviceModel", skip_serializing_if = "String::is_empty")]
    pub device_model: String,
    /// Push-notification token (Apple/Android).
    #[serde(rename = "PushDeviceToken", skip_serializing_if = "String::is_empty")]
    pub push_device_token: String,
    /// The host's name; the server derives the node name from it.
    #[serde(rename = "Hostname", skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Whether the host blocks incoming connections.
    #[serde(rename = "ShieldsUp", skip_serializing_if = "is_false")]
    pub shields_up: bool,
    /// Whether this node is in a netmap only because it is shared in.
    #[serde(rename = "ShareeNode", skip_serializing_if = "is_false")]
    pub sharee_node: bool,
    /// Whether the user opted out of log upload and support.
    #[serde(rename = "NoLogsNoSupport", skip_serializing_if = "is_false")]
    pub no_logs_no_support: bool,
    /// Whether the node delegated remote management of its prefs.
    #[serde(rename = "RemoteConfig", skip_serializing_if = "is_false")]
    pub remote_config: bool,
    /// Whether the node wants to be wired up for Funnel.
    #[serde(rename = "WireIngress", skip_serializing_if = "is_false")]
    pub wire_ingress: bool,
    /// Whether the node has a Funnel endpoint enabled.
    #[serde(rename = "IngressEnabled", skip_serializing_if = "is_false")]
    pub ingress_enabled: bool,
    /// Whether the node accepts remote updates.
    #[serde(rename = "AllowsUpdate", skip_serializing_if = "is_false")]
    pub allows_update: bool,
    /// Machine type (`uname -m`).
    #[serde(rename = "Machine", skip_serializing_if = "String::is_empty")]
    pub machine: String,
    /// `GOARCH` of the binary (non-Go clients put their own arch here).
    #[serde(rename = "GoArch", skip_serializing_if = "String::is_empty")]
    pub go_arch: String,
    /// `GOARM`/`GOAMD64` variant of the binary.
    #[serde(rename = "GoArchVar", skip_serializing_if = "String::is_empty")]
    pub go_arch_var: String,
    /// Go version the binary was built with.
    #[serde(rename = "GoVersion", skip_serializing_if = "String::is_empty")]
    pub go_version: String,
    /// Subnet routes the node offers (`--advertise-routes`).
    #[serde(
        rename = "RoutableIPs",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub routable_ips: Vec<ipnet::IpNet>,
    /// ACL tags the node asks for (`--advertise-tags`).
    #[serde(
        rename = "RequestTags",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub request_tags: Vec<String>,
    /// Wake-on-LAN MAC addresses.
    #[serde(
        rename = "WoLMACs",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub wol_macs: Vec<String>,
    /// Services the node advertises (peerapi, listening ports).
    #[serde(
        rename = "Services",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub services: Vec<Service>,
    /// Network conditions (`tailcfg.NetInfo`), kept as raw JSON.
    #[serde(rename = "NetInfo", skip_serializing_if = "Option::is_none")]
    pub net_info: Option<serde_json::Value>,
    /// SSH host keys, if Tailscale SSH is advertised (lower-camel on the wire).
    #[serde(
        rename = "sshHostKeys",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub ssh_host_keys: Vec<String>,
    /// Cloud environment, if detected.
    #[serde(rename = "Cloud", skip_serializing_if = "String::is_empty")]
    pub cloud: String,
    /// Whether the client runs in userspace (netstack) mode.
    #[serde(rename = "Userspace", skip_serializing_if = "Option::is_none")]
    pub userspace: Option<bool>,
    /// Whether the subnet router runs in userspace mode.
    #[serde(rename = "UserspaceRouter", skip_serializing_if = "Option::is_none")]
    pub userspace_router: Option<bool>,
    /// Whether the app-connector service runs.
    #[serde(rename = "AppConnector", skip_serializing_if = "Option::is_none")]
    pub app_connector: Option<bool>,
    /// Opaque hash of the node's tailnet-services list.
    #[serde(rename = "ServicesHash", skip_serializing_if = "String::is_empty")]
    pub services_hash: String,
    /// Whether the node is willing to relay for peers.
    #[serde(rename = "PeerRelay", skip_serializing_if = "is_false")]
    pub peer_relay: bool,
    /// Stable ID of the selected exit node.
    #[serde(rename = "ExitNodeID", skip_serializing_if = "String::is_empty")]
    pub exit_node_id: String,
    /// Declared geographic location (`tailcfg.Location`), raw JSON.
    #[serde(rename = "Location", skip_serializing_if = "Option::is_none")]
    pub location: Option<serde_json::Value>,
    /// TPM metadata (`tailcfg.TPMInfo`), raw JSON.
    #[serde(rename = "TPM", skip_serializing_if = "Option::is_none")]
    pub tpm: Option<serde_json::Value>,
    /// Whether node state is stored encrypted.
    #[serde(rename = "StateEncrypted", skip_serializing_if = "Option::is_none")]
    pub state_encrypted: Option<bool>,
    /// Fields this crate does not know, kept verbatim and written back.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A service advertised by a node (`tailcfg.Service`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    /// `tcp`, `udp`, `peerapi4`, `peerapi6` or `peerapi-dns-proxy`.
    #[serde(rename = "Proto")]
    pub proto: String,
    /// Port number (always 1 for `peerapi-dns-proxy`).
    #[serde(rename = "Port")]
    pub port: u16,
    /// Process name or description; omitted when empty.
    #[serde(rename = "Description", skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// `skip_serializing_if` helper for Go `omitempty` booleans.
pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let input = json!({
            "IPNVersion": "1.96.4-t8cf541dfd-g62bc84ce7",
            "OS": "linux",
            "Hostname": "tsd-probe",
            "Userspace": true,
            "NetInfo": {"PreferredDERP": 0, "DERPLatency": {"1-v4": 0.01}},
            "FutureField": {"Nested": [1, 2, 3]},
            "AnotherNewFlag": true
        });
        let hostinfo: Hostinfo = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(hostinfo.hostname, "tsd-probe");
        assert_eq!(hostinfo.userspace, Some(true));
        assert_eq!(hostinfo.extra["AnotherNewFlag"], json!(true));
        assert_eq!(serde_json::to_value(&hostinfo).unwrap(), input);
    }

    #[test]
    fn odd_casing_is_echoed_with_go_names() {
        let body = br#"{"IpnVersion":"0.6.1","hostname":"rs","App":"tailscale-rs","Vendor":"x"}"#;
        let hostinfo: Hostinfo = crate::from_slice_case_insensitive(body).unwrap();
        assert_eq!(
            serde_json::to_value(&hostinfo).unwrap(),
            json!({"IPNVersion":"0.6.1","Hostname":"rs","App":"tailscale-rs","Vendor":"x"})
        );
    }

    #[test]
    fn empty_hostinfo_is_an_empty_object() {
        assert_eq!(serde_json::to_string(&Hostinfo::default()).unwrap(), "{}");
    }

    #[test]
    fn opt_bool_keeps_explicit_false() {
        let hostinfo: Hostinfo =
            serde_json::from_str(r#"{"Desktop":false,"Container":null}"#).unwrap();
        assert_eq!(hostinfo.desktop, Some(false));
        assert_eq!(hostinfo.container, None);
        assert_eq!(serde_json::to_string(&hostinfo).unwrap(), r#"{"Desktop":false}"#);
    }

    #[test]
    fn services_and_routes_parse() {
        let hostinfo: Hostinfo = serde_json::from_str(
            r#"{"Services":[{"Proto":"peerapi-dns-proxy","Port":1}],"RoutableIPs":["10.0.0.0/24"],"RequestTags":null}"#,
        )
        .unwrap();
        assert_eq!(
            hostinfo.services,
            vec![Service {
                proto: "peerapi-dns-proxy".into(),
                port: 1,
                description: String::new()
            }]
        );
        assert_eq!(hostinfo.routable_ips, vec!["10.0.0.0/24".parse::<ipnet::IpNet>().unwrap()]);
        assert!(hostinfo.request_tags.is_empty());
    }
}
