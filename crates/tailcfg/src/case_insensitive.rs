//! Reading request bodies the way Go does: JSON keys match field names
//! case-insensitively.
//!
//! Go's `encoding/json` matches an object key to a struct field ignoring
//! case, and real clients rely on it: tailscale-rs 0.6.1 sends `HostInfo`
//! (for `Hostinfo`) and `IpnVersion` (for `IPNVersion`). serde matches names
//! exactly, and per-field `alias`es would have to guess every variant. So the
//! server reads every request body with [`from_slice_case_insensitive`]:
//!
//! 1. parse into a `serde_json::Value`;
//! 2. walk it and rename each object key whose lower-case form equals a known
//!    wire field name (the table below, checked against the types by tests)
//!    to that field's canonical spelling;
//! 3. drop `null` values of known fields: Go leaves a field at its zero value
//!    on `null`, and every wire type here defaults missing fields;
//! 4. deserialize the target type from the rewritten value.
//!
//! Only the structure of known fields is walked. Keys of JSON maps (region
//! IDs, capability names, DNS suffixes) are never renamed, the insides of
//! opaque raw-JSON fields (`CapMap` values, `NetInfo`, `SSHPolicy`, …) are
//! never touched, and unknown keys (e.g. in `Hostinfo::extra`) are kept as
//! sent with their values untouched.
//!
//! One lower-case name has two spellings: `Hostname` (Hostinfo) and
//! `HostName` (DERPNode). `CONTEXT_SPELLINGS` picks `HostName` inside the
//! elements of a `Nodes` list; everywhere else `Hostname` applies.
//!
//! If an object holds both the exact spelling and a case variant of one field,
//! the exact spelling wins (Go would take whichever comes last; the document
//! order is not kept by `serde_json::Value`).
//!
//! Responses written by keygate use the canonical names, so readers of our
//! own output (the node client) can use plain `serde_json`.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// What a known field's value looks like, which decides how far to descend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A scalar, a struct or a list of structs: canonicalize inside.
    Struct,
    /// A JSON map keyed by data (IDs, names): keep its keys, canonicalize
    /// inside its values.
    Map,
    /// Raw JSON kept verbatim: do not touch.
    Opaque,
}

use Shape::{Map as M, Opaque as O, Struct as S};

/// Every field name of the wire types in this crate, with its value shape.
/// Each spelling appears once; tests check the list against the types'
/// serde names in both directions.
const FIELDS: &[(&str, Shape)] = &[
    // Shared by several types.
    ("ID", S),
    ("Name", S),
    ("DisplayName", S),
    ("LoginName", S),
    ("ProfilePicURL", S),
    ("Created", S),
    ("Hostinfo", S),
    ("Version", S),
    ("NodeKey", S),
    ("DiscoKey", S),
    ("Endpoints", S),
    ("KeepAlive", S),
    ("Key", S),
    ("KeySignature", S),
    ("KeyExpiry", S),
    ("Cap", S),
    ("CapMap", O),
    ("Online", S),
    ("LastSeen", S),
    ("MachineAuthorized", S),
    ("NodeKeySignature", S),
    ("MapSessionHandle", S),
    ("Machine", S),
    ("User", S),
    // OverTLSPublicKeyResponse, EarlyNoise.
    ("legacyPublicKey", S),
    ("publicKey", S),
    ("nodeKeyChallenge", S),
    // Login, UserProfile.
    ("Provider", S),
    ("Groups", S),
    // RegisterRequest, RegisterAuth.
    ("OldNodeKey", S),
    ("NLKey", S),
    ("Auth", S),
    ("AuthKey", S),
    ("Oauth2Token", O),
    ("Expiry", S),
    ("Followup", S),
    ("Ephemeral", S),
    ("SignatureType", S),
    ("Timestamp", S),
    ("DeviceCert", S),
    ("Signature", S),
    ("Tailnet", S),
    // RegisterResponse.
    ("Login", S),
    ("NodeKeyExpired", S),
    ("AuthURL", S),
    ("Error", S),
    // MapRequest.
    ("Compress", S),
    ("HardwareAttestationKey", S),
    ("HardwareAttestationKeySignature", S),
    ("HardwareAttestationKeySignatureTimestamp", O),
    ("Stream", S),
    ("MapSessionSeq", S),
    ("EndpointTypes", S),
    ("TKAHead", S),
    ("ReadOnly", S),
    ("OmitPeers", S),
    ("DebugFlags", S),
    ("ConnectionHandleForTest", S),
    // Hostinfo, Service.
    ("IPNVersion", S),
    ("FrontendLogID", S),
    ("BackendLogID", S),
    ("OS", S),
    ("OSVersion", S),
    ("Container", S),
    ("Env", S),
    ("Distro", S),
    ("DistroVersion", S),
    ("DistroCodeName", S),
    ("App", S),
    ("Desktop", S),
    ("Package", S),
    ("DeviceModel", S),
    ("PushDeviceToken", S),
    ("Hostname", S),
    ("ShieldsUp", S),
    ("ShareeNode", S),
    ("NoLogsNoSupport", S),
    ("RemoteConfig", S),
    ("WireIngress", S),
    ("IngressEnabled", S),
    ("AllowsUpdate", S),
    ("GoArch", S),
    ("GoArchVar", S),
    ("GoVersion", S),
    ("RoutableIPs", S),
    ("RequestTags", S),
    ("WoLMACs", S),
    ("Services", S),
    ("NetInfo", O),
    ("sshHostKeys", S),
    ("Cloud", S),
    ("Userspace", S),
    ("UserspaceRouter", S),
    ("AppConnector", S),
    ("ServicesHash", S),
    ("PeerRelay", S),
    ("ExitNodeID", S),
    ("Location", O),
    ("TPM", O),
    ("StateEncrypted", S),
    ("Proto", S),
    ("Port", S),
    ("Description", S),
    // Node.
    ("StableID", S),
    ("Sharer", S),
    ("Addresses", S),
    ("AllowedIPs", S),
    ("DERP", S),
    ("HomeDERP", S),
    ("Tags", S),
    ("PrimaryRoutes", S),
    ("Capabilities", S),
    ("UnsignedPeerAPIOnly", S),
    ("ComputedName", S),
    ("ComputedNameWithHost", S),
    ("DataPlaneAuditLogID", S),
    ("Expired", S),
    ("SelfNodeV4MasqAddrForThisPeer", S),
    ("SelfNodeV6MasqAddrForThisPeer", S),
    ("IsWireGuardOnly", S),
    ("IsJailed", S),
    ("ExitNodeDNSResolvers", S),
    // MapResponse, PeerChange, Debug.
    ("Seq", S),
    ("PingRequest", O),
    ("PopBrowserURL", S),
    ("Node", S),
    ("DERPMap", S),
    ("Peers", S),
    ("PeersChanged", S),
    ("PeersRemoved", S),
    ("PeersChangedPatch", S),
    ("PeerSeenChange", M),
    ("OnlineChange", M),
    ("DNSConfig", S),
    ("Domain", S),
    ("CollectServices", S),
    ("PacketFilter", S),
    ("PacketFilters", M),
    ("UserProfiles", S),
    ("Health", S),
    ("DisplayMessages", O),
    ("SSHPolicy", O),
    ("ControlTime", S),
    ("TKAInfo", O),
    ("DomainDataPlaneAuditLogID", S),
    ("Debug", S),
    ("ControlDialPlan", O),
    ("ClientVersion", O),
    ("DefaultAutoUpdate", S),
    ("NodeID", S),
    ("DERPRegion", S),
    ("SleepSeconds", S),
    ("DisableLogTail", S),
    ("Exit", S),
    // DERPMap, DERPHomeParams, DERPRegion, DERPNode.
    ("HomeParams", S),
    ("Regions", M),
    ("omitDefaultRegions", S),
    ("RegionScore", M),
    ("RegionID", S),
    ("RegionCode", S),
    ("RegionName", S),
    ("Latitude", S),
    ("Longitude", S),
    ("Avoid", S),
    ("NoMeasureNoHome", S),
    ("Nodes", S),
    ("HostName", S), // DERPNode; see CONTEXT_SPELLINGS
    ("CertName", S),
    ("IPv4", S),
    ("IPv6", S),
    ("STUNPort", S),
    ("STUNOnly", S),
    ("DERPPort", S),
    ("InsecureForTests", S),
    ("STUNTestIP", S),
    ("CanPort80", S),
    // FilterRule, NetPortRange, PortRange, CapGrant.
    ("SrcIPs", S),
    ("DstPorts", S),
    ("IPProto", S),
    ("CapGrant", S),
    ("IP", S),
    ("Ports", S),
    ("First", S),
    ("Last", S),
    ("Dsts", S),
    ("Caps", S),
    // DNSConfig, DNSResolver, DNSRecord.
    ("Resolvers", S),
    ("Routes", M),
    ("FallbackResolvers", S),
    ("Domains", S),
    ("Proxied", S),
    ("Nameservers", S),
    ("CertDomains", S),
    ("ExtraRecords", S),
    ("ExitNodeFilteredSet", S),
    ("TempCorpIssue13969", S),
    ("Addr", S),
    ("BootstrapResolution", S),
    ("UseWithExitNode", S),
    ("Type", S),
    ("Value", S),
];

/// Spellings that apply only inside the value of a given parent field:
/// (canonical name, parent field). Needed where two wire types have field
/// names that differ only by case.
const CONTEXT_SPELLINGS: &[(&str, &str)] = &[("HostName", "Nodes")];

/// A lower-case name's spellings: the default one, and context-bound ones.
#[derive(Debug, Default)]
struct Spellings {
    default: Option<(&'static str, Shape)>,
    in_context: Vec<(&'static str, Shape, &'static str)>,
}

/// Lower-case field name → its spellings.
fn table() -> &'static HashMap<String, Spellings> {
    static TABLE: OnceLock<HashMap<String, Spellings>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: HashMap<String, Spellings> = HashMap::new();
        for &(name, shape) in FIELDS {
            let entry = table.entry(name.to_ascii_lowercase()).or_default();
            match CONTEXT_SPELLINGS.iter().find(|(canonical, _)| *canonical == name) {
                Some(&(_, parent)) => entry.in_context.push((name, shape, parent)),
                None => entry.default = Some((name, shape)),
            }
        }
        table
    })
}

/// The canonical spelling and shape of `key` inside the value of `parent`.
fn lookup(key: &str, parent: Option<&str>) -> Option<(&'static str, Shape)> {
    let spellings = table().get(&key.to_ascii_lowercase())?;
    spellings
        .in_context
        .iter()
        .find(|(_, _, context)| Some(*context) == parent)
        .map(|&(name, shape, _)| (name, shape))
        .or(spellings.default)
}

/// Deserializes a request body, matching JSON keys to field names
/// case-insensitively as Go does (see the module docs). Unknown fields are
/// accepted; missing or `null` fields take their zero value.
pub fn from_slice_case_insensitive<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, serde_json::Error> {
    let mut value: Value = serde_json::from_slice(bytes)?;
    canonicalize_keys(&mut value);
    serde_json::from_value(value)
}

/// Rewrites known keys in `value` (recursively) to their canonical spelling
/// and drops their `null` values. See the module docs for what is left alone.
pub fn canonicalize_keys(value: &mut Value) {
    canonicalize_value(value, None);
}

/// Canonicalizes `value`, the value of field `parent` (`None` at the root).
fn canonicalize_value(value: &mut Value, parent: Option<&'static str>) {
    match value {
        Value::Object(object) => canonicalize_object(object, parent),
        Value::Array(items) => items.iter_mut().for_each(|item| canonicalize_value(item, parent)),
        _ => {}
    }
}

fn canonicalize_object(object: &mut Map<String, Value>, parent: Option<&'static str>) {
    let entries = std::mem::take(object);
    let mut exact: Vec<&'static str> = Vec::new();
    for (key, mut value) in entries {
        let Some((canonical, shape)) = lookup(&key, parent) else {
            object.insert(key, value);
            continue;
        };
        if value.is_null() {
            continue;
        }
        descend(&mut value, canonical, shape);
        if key == canonical {
            exact.push(canonical);
        } else if exact.contains(&canonical) {
            continue;
        }
        object.insert(canonical.to_string(), value);
    }
}

fn descend(value: &mut Value, field: &'static str, shape: Shape) {
    match shape {
        Shape::Struct => canonicalize_value(value, Some(field)),
        Shape::Map => {
            if let Value::Object(map) = value {
                map.values_mut().for_each(|item| canonicalize_value(item, Some(field)));
            }
        }
        Shape::Opaque => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{self, Visitor};
    use serde_json::json;
    use std::collections::BTreeSet;

    /// A deserializer that records the field names a derived struct asks for.
    struct FieldNames(Option<&'static [&'static str]>);

    impl<'de> de::Deserializer<'de> for &mut FieldNames {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }

    fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
        let mut names = FieldNames(None);
        let _ = T::deserialize(&mut names);
        names.0.expect("a derived struct without flatten")
    }

    /// Every field of every wire type, as serde spells it.
    fn wire_field_names() -> BTreeSet<&'static str> {
        let mut names = BTreeSet::new();
        let lists = [
            fields_of::<crate::User>(),
            fields_of::<crate::Login>(),
            fields_of::<crate::UserProfile>(),
            fields_of::<crate::Service>(),
            fields_of::<crate::DERPMap>(),
            fields_of::<crate::DERPHomeParams>(),
            fields_of::<crate::DERPRegion>(),
            fields_of::<crate::DERPNode>(),
            fields_of::<crate::FilterRule>(),
            fields_of::<crate::NetPortRange>(),
            fields_of::<crate::PortRange>(),
            fields_of::<crate::CapGrant>(),
            fields_of::<crate::DNSConfig>(),
            fields_of::<crate::DNSResolver>(),
            fields_of::<crate::DNSRecord>(),
            fields_of::<crate::Node>(),
            fields_of::<crate::RegisterRequest>(),
            fields_of::<crate::RegisterAuth>(),
            fields_of::<crate::RegisterResponse>(),
            fields_of::<crate::MapRequest>(),
            fields_of::<crate::MapResponse>(),
            fields_of::<crate::PeerChange>(),
            fields_of::<crate::DebugSettings>(),
            fields_of::<crate::OverTLSPublicKeyResponse>(),
            fields_of::<crate::EarlyNoise>(),
        ];
        for list in lists {
            names.extend(list.iter().copied());
        }
        names.extend(hostinfo_field_names());
        names
    }

    /// Hostinfo uses `flatten`, so its names come from serializing a value with
    /// every field set. The literal names every field (no `..Default`), so
    /// adding a field to `Hostinfo` breaks this test until it is listed here.
    fn hostinfo_field_names() -> Vec<&'static str> {
        let every_field = crate::Hostinfo {
            ipn_version: "x".into(),
            frontend_log_id: "x".into(),
            backend_log_id: "x".into(),
            os: "x".into(),
            os_version: "x".into(),
            container: Some(true),
            env: "x".into(),
            distro: "x".into(),
            distro_version: "x".into(),
            distro_code_name: "x".into(),
            app: "x".into(),
            desktop: Some(true),
            package: "x".into(),
            device_model: "x".into(),
            push_device_token: "x".into(),
            hostname: "x".into(),
            shields_up: true,
            sharee_node: true,
            no_logs_no_support: true,
            remote_config: true,
            wire_ingress: true,
            ingress_enabled: true,
            allows_update: true,
            machine: "x".into(),
            go_arch: "x".into(),
            go_arch_var: "x".into(),
            go_version: "x".into(),
            routable_ips: vec!["10.0.0.0/8".parse().unwrap()],
            request_tags: vec!["x".into()],
            wol_macs: vec!["x".into()],
            services: vec![crate::Service::default()],
            net_info: Some(json!({})),
            ssh_host_keys: vec!["x".into()],
            cloud: "x".into(),
            userspace: Some(true),
            userspace_router: Some(true),
            app_connector: Some(true),
            services_hash: "x".into(),
            peer_relay: true,
            exit_node_id: "x".into(),
            location: Some(json!({})),
            tpm: Some(json!({})),
            state_encrypted: Some(true),
            extra: Map::new(),
        };
        let Value::Object(object) = serde_json::to_value(every_field).unwrap() else {
            panic!("Hostinfo serializes as an object");
        };
        object
            .keys()
            .map(|key| {
                FIELDS.iter().find(|(name, _)| name == key).map_or("<missing>", |(name, _)| *name)
            })
            .collect()
    }

    #[test]
    fn table_matches_the_wire_types_exactly() {
        let table_names: BTreeSet<&str> = FIELDS.iter().map(|(name, _)| *name).collect();
        let wire_names = wire_field_names();
        let missing: Vec<_> = wire_names.difference(&table_names).collect();
        assert!(missing.is_empty(), "fields missing from FIELDS: {missing:?}");
        let stale: Vec<_> = table_names.difference(&wire_names).collect();
        assert!(stale.is_empty(), "FIELDS entries no type uses: {stale:?}");
    }

    #[test]
    fn names_differing_only_by_case_have_a_context_rule() {
        for (lower, spellings) in table() {
            assert!(spellings.default.is_some(), "{lower} has no default spelling");
        }
        let spellings: usize = table().values().map(|s| 1 + s.in_context.len()).sum();
        assert_eq!(spellings, FIELDS.len(), "two default spellings share a lower-case name");
    }

    #[test]
    fn hostname_spelling_depends_on_context() {
        let mut value = json!({
            "hostinfo": {"HOSTNAME": "node"},
            "derpmap": {"regions": {"900": {"nodes": [{"hostname": "derp.example.test"}]}}}
        });
        canonicalize_keys(&mut value);
        assert_eq!(
            value,
            json!({
                "Hostinfo": {"Hostname": "node"},
                "DERPMap": {"Regions": {"900": {"Nodes": [{"HostName": "derp.example.test"}]}}}
            })
        );
    }

    #[test]
    fn odd_casing_is_canonicalized_recursively() {
        let mut value = json!({
            "hostINFO": {"IpnVersion": "0.6.1", "services": [{"proto": "tcp", "PORT": 22}]},
            "nlkey": "nlpub:00",
            "auth": {"authkey": "k"}
        });
        canonicalize_keys(&mut value);
        assert_eq!(
            value,
            json!({
                "Hostinfo": {"IPNVersion": "0.6.1", "Services": [{"Proto": "tcp", "Port": 22}]},
                "NLKey": "nlpub:00",
                "Auth": {"AuthKey": "k"}
            })
        );
    }

    #[test]
    fn nulls_of_known_fields_are_dropped_and_unknown_kept() {
        let mut value =
            json!({"Endpoints": null, "Hostinfo": {"RoutableIPs": null, "Future": null}});
        canonicalize_keys(&mut value);
        assert_eq!(value, json!({"Hostinfo": {"Future": null}}));
    }

    #[test]
    fn map_keys_opaque_values_and_unknown_subtrees_are_untouched() {
        let mut value = json!({
            "packetfilters": {"base": [{"srcips": ["*"]}], "name": null},
            "DNSConfig": {"Routes": {"user": null}},
            "Node": {"CapMap": {"cap": [{"name": "kept"}]}},
            "Hostinfo": {"netinfo": {"derplatency": {"1-v4": 0.1}}, "FutureThing": {"name": "kept"}}
        });
        canonicalize_keys(&mut value);
        assert_eq!(
            value,
            json!({
                "PacketFilters": {"base": [{"SrcIPs": ["*"]}], "name": null},
                "DNSConfig": {"Routes": {"user": null}},
                "Node": {"CapMap": {"cap": [{"name": "kept"}]}},
                "Hostinfo": {"NetInfo": {"derplatency": {"1-v4": 0.1}}, "FutureThing": {"name": "kept"}}
            })
        );
    }

    #[test]
    fn exact_spelling_wins_over_a_case_variant() {
        let mut value =
            json!({"HostInfo": {"Hostname": "variant"}, "Hostinfo": {"Hostname": "exact"}});
        canonicalize_keys(&mut value);
        assert_eq!(value, json!({"Hostinfo": {"Hostname": "exact"}}));
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(from_slice_case_insensitive::<crate::MapRequest>(b"{").is_err());
        assert!(from_slice_case_insensitive::<crate::MapRequest>(br#"{"Version":"x"}"#).is_err());
    }
}
