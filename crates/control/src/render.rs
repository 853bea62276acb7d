//! Domain state → wire types: nodes, user profiles, register responses, full maps and the
//! deltas fanned out to peers.
//!
//! Node rendering (`tailcfg.Node`, docs/protocol.md, section "Map"):
//!
//! | field | value |
//! |---|---|
//! | `ID`, `StableID` | database id, `n<id>` |
//! | `Name` | `<given_name>.<base_domain>.` |
//! | `User` | owner's user id; tagged nodes: the synthetic "tagged-devices" user [`TAGGED_DEVICES_ID`] |
//! | `Tags` | the tags of a tagged node |
//! | `Key`, `KeyExpiry`, `Expired` | node key; its expiry (omitted = never); whether it has passed |
//! | `Machine`, `DiscoKey` | machine key (the Noise peer), last reported disco key |
//! | `Addresses`, `AllowedIPs` | exactly `[IPv4/32, IPv6/128]`, IPv4 first (tailscale-rs reads a tuple); `AllowedIPs` written out for clients older than capver 112 |
//! | `Endpoints` | last reported endpoints |
//! | `HomeDERP`, `DERP` | `Hostinfo.NetInfo.PreferredDERP`, also as the legacy `127.3.3.40:<region>` for clients older than capver 111 |
//! | `Hostinfo` | the node's last Hostinfo, echoed |
//! | `Created`, `LastSeen`, `Online` | from the store and the live session state |
//! | `MachineAuthorized` | approved (or approval not required) |

use std::collections::BTreeMap;
use std::net::SocketAddr;

use keygate_domain::{NodeOwner, Timestamp};
use keygate_service::{MapView, NodeEntry, Refusal, RegisterOutcome, TailnetChange};
use keygate_tailcfg::{
    host_addresses, legacy_derp_string, DNSConfig, DebugSettings, Hostinfo, Login, MapResponse,
    Node, PeerChange, RegisterResponse, User, UserProfile,
};
use time::OffsetDateTime;

use crate::ControlConfig;

/// User id of the synthetic owner of tagged nodes, as Headscale and Tailscale use it.
pub const TAGGED_DEVICES_ID: i64 = 2_147_455_555;
/// Login name of the synthetic owner of tagged nodes.
pub const TAGGED_DEVICES_LOGIN: &str = "tagged-devices";
/// `Login.Provider` of every login keygate reports.
pub const LOGIN_PROVIDER: &str = "keygate";

fn time(t: Timestamp) -> OffsetDateTime {
    t.to_offset_date_time()
}

/// The `User` id a node is shown under.
pub fn user_id(entry: &NodeEntry) -> i64 {
    match &entry.node.owner {
        NodeOwner::User(u) => u.0,
        NodeOwner::Tags(_) => TAGGED_DEVICES_ID,
    }
}

/// The profile of a node's owner.
pub fn user_profile(entry: &NodeEntry) -> UserProfile {
    match (&entry.node.owner, &entry.user) {
        (NodeOwner::User(id), Some(user)) => UserProfile {
            id: id.0,
            login_name: user.name.login_name(),
            display_name: user.name.to_string(),
            ..UserProfile::default()
        },
        // A user record that could not be loaded: still a consistent profile.
        (NodeOwner::User(id), None) => UserProfile {
            id: id.0,
            login_name: format!("user-{}", id.0),
            display_name: format!("user {}", id.0),
            ..UserProfile::default()
        },
        (NodeOwner::Tags(_), _) => tagged_devices_profile(),
    }
}

/// The profile of the synthetic owner of tagged nodes.
pub fn tagged_devices_profile() -> UserProfile {
    UserProfile {
        id: TAGGED_DEVICES_ID,
        login_name: TAGGED_DEVICES_LOGIN.to_owned(),
        display_name: "Tagged Devices".to_owned(),
        ..UserProfile::default()
    }
}

/// The home DERP region a node reported (`Hostinfo.NetInfo.PreferredDERP`), or 0.
pub fn home_derp(hostinfo: Option<&Hostinfo>) -> i64 {
    hostinfo
        .and_then(|h| h.net_info.as_ref())
        .and_then(|n| n.get("PreferredDERP"))
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0)
}

/// A stored Hostinfo, parsed; `None` when empty or unreadable.
pub fn stored_hostinfo(json: &str) -> Option<Hostinfo> {
    if json.is_empty() {
        return None;
    }
    serde_json::from_str(json).ok()
}

/// A node as peers see it.
pub fn node(entry: &NodeEntry, config: &ControlConfig, now: Timestamp) -> Node {
    let n = &entry.node;
    let hostinfo = stored_hostinfo(&n.hostinfo_json);
    let derp = home_derp(hostinfo.as_ref());
    let addresses = host_addresses(n.ipv4, n.ipv6);
    Node {
        id: n.id.0,
        stable_id: format!("n{}", n.id.0),
        name: format!("{}.{}.", n.given_name, config.base_domain),
        user: user_id(entry),
        key: n.node_key,
        key_expiry: n.key_expiry.map(time),
        machine: n.machine_key,
        disco_key: n.disco_key,
        allowed_ips: Some(addresses.clone()),
        addresses,
        endpoints: endpoints(&n.endpoints),
        home_derp: derp,
        legacy_derp: if derp > 0 { legacy_derp_string(derp) } else { String::new() },
        hostinfo,
        created: Some(time(n.created)),
        tags: n.owner.tags().map(|t| t.to_strings()).unwrap_or_default(),
        last_seen: if entry.online { None } else { n.last_seen.map(time) },
        online: Some(entry.online),
        machine_authorized: n.authorized,
        expired: n.is_key_expired(now),
        ..Node::default()
    }
}

/// The node as it sees itself: online (it is streaming), with its capability version.
pub fn self_node(entry: &NodeEntry, config: &ControlConfig, now: Timestamp, cap: i64) -> Node {
    Node { online: Some(true), last_seen: None, cap, ..node(entry, config, now) }
}

fn endpoints(stored: &[String]) -> Vec<SocketAddr> {
    stored.iter().filter_map(|e| e.parse().ok()).collect()
}

/// The first message of a map stream (and the single message of a non-streaming map
/// request): the node itself, the peers the policy lets it see, its packet filter, and every
/// tailnet-wide setting.
pub fn full_map(view: &MapView, config: &ControlConfig, now: Timestamp, cap: i64) -> MapResponse {
    let me = view.me.as_ref();
    let peers: Vec<&NodeEntry> = if me.visible_to_peers() {
        view.peers.iter().map(AsRef::as_ref).filter(|e| e.visible_to_peers()).collect()
    } else {
        // A node waiting for approval sees no one (and no one sees it).
        Vec::new()
    };
    MapResponse {
        node: Some(self_node(me, config, now, cap)),
        derp_map: Some(config.derp_map.clone()),
        user_profiles: profiles(std::iter::once(me).chain(peers.iter().copied())),
        peers: Some(peers.into_iter().map(|p| node(p, config, now)).collect()),
        domain: config.base_domain.clone(),
        dns_config: Some(DNSConfig::default()),
        packet_filter: Some(keygate_policy::to_tailcfg(&view.packet_filter)),
        collect_services: Some(false),
        debug: Some(DebugSettings { disable_log_tail: true, ..DebugSettings::default() }),
        control_time: Some(time(now)),
        ..MapResponse::default()
    }
}

/// The distinct owner profiles of `entries`, plus the tagged-devices profile, by id.
pub(crate) fn profiles<'a>(entries: impl Iterator<Item = &'a NodeEntry>) -> Vec<UserProfile> {
    let mut by_id = BTreeMap::new();
    by_id.insert(TAGGED_DEVICES_ID, tagged_devices_profile());
    for entry in entries {
        by_id.entry(user_id(entry)).or_insert_with(|| user_profile(entry));
    }
    by_id.into_values().collect()
}

/// What the changed node's peers (the nodes that see it after the change) are sent, or `None`
/// when there is nothing to tell them. Nodes that stop seeing it are sent [`peer_removed`].
pub fn peer_delta(
    change: &TailnetChange,
    config: &ControlConfig,
    now: Timestamp,
) -> Option<MapResponse> {
    let changed = |entry: &NodeEntry| MapResponse {
        peers_changed: Some(vec![node(entry, config, now)]),
        user_profiles: vec![user_profile(entry)],
        ..MapResponse::default()
    };
    let patch = |change: PeerChange| MapResponse {
        peers_changed_patch: Some(vec![change]),
        ..MapResponse::default()
    };
    match change {
        TailnetChange::Added(entry) => entry.visible_to_peers().then(|| changed(entry)),
        TailnetChange::Changed { entry, .. } => entry.visible_to_peers().then(|| changed(entry)),
        TailnetChange::EndpointsChanged(entry) => entry.visible_to_peers().then(|| {
            let n = &entry.node;
            patch(PeerChange {
                node_id: n.id.0,
                derp_region: home_derp(stored_hostinfo(&n.hostinfo_json).as_ref()),
                endpoints: endpoints(&n.endpoints),
                disco_key: Some(n.disco_key),
                ..PeerChange::default()
            })
        }),
        TailnetChange::OnlineChanged(entry) => entry.visible_to_peers().then(|| {
            patch(PeerChange {
                node_id: entry.node.id.0,
                online: Some(entry.online),
                last_seen: entry.node.last_seen.map(time),
                ..PeerChange::default()
            })
        }),
        TailnetChange::Removed { .. } | TailnetChange::PolicyChanged => None,
    }
}

/// What a node that stops seeing node `id` is sent.
pub fn peer_removed(id: i64) -> MapResponse {
    MapResponse { peers_removed: Some(vec![id]), ..MapResponse::default() }
}

/// The answer to a registration: the owner, and whether the node may go on. Refusals are an
/// answer too (HTTP 200 with `Error`), as `tailscale up` shows `Error` to the user.
pub fn register_response(outcome: &RegisterOutcome, config: &ControlConfig) -> RegisterResponse {
    match outcome {
        RegisterOutcome::Registered { entry, node_key_expired } => RegisterResponse {
            node_key_expired: *node_key_expired,
            machine_authorized: entry.node.authorized,
            ..owner_identity(entry)
        },
        RegisterOutcome::LoggedOut { entry } => RegisterResponse {
            node_key_expired: true,
            machine_authorized: false,
            ..entry.as_deref().map(owner_identity).unwrap_or_default()
        },
        RegisterOutcome::Refused(Refusal::NoAuthKey) if !config.server_url.is_empty() => {
            RegisterResponse::error(format!(
                "no auth key: this server enrols nodes with auth keys only; run tailscale up --login-server {} --authkey …",
                config.server_url
            ))
        }
        RegisterOutcome::Refused(refusal) => RegisterResponse::error(refusal.to_string()),
    }
}

/// `User` and `Login` of a node's owner, everything else empty.
fn owner_identity(entry: &NodeEntry) -> RegisterResponse {
    let profile = user_profile(entry);
    let created = entry.user.as_ref().map(|u| time(u.created));
    RegisterResponse {
        user: User {
            id: profile.id,
            display_name: profile.display_name.clone(),
            created,
            ..User::default()
        },
        login: Login {
            id: profile.id,
            provider: LOGIN_PROVIDER.to_owned(),
            login_name: profile.login_name,
            display_name: profile.display_name,
            profile_pic_url: String::new(),
        },
        ..RegisterResponse::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keygate_domain::{
        AuthKeyId, DiscoKey, MachineKey, Node as DomainNode, NodeId, NodeKey, TagSet,
        User as DomainUser, UserId, UserName,
    };
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_780_000_000_000;

    fn alice() -> DomainUser {
        DomainUser {
            id: UserId(1),
            name: UserName::parse("alice").unwrap(),
            created: Timestamp::from_unix_millis(NOW - 86_400_000),
        }
    }

    fn entry(id: i64, owner: NodeOwner, online: bool) -> NodeEntry {
        let hostinfo = json!({"Hostname": format!("host{id}"), "OS": "linux",
            "NetInfo": {"PreferredDERP": 900, "DERPLatency": {"900-v4": 0.01}}});
        let user = owner.user().map(|_| alice());
        NodeEntry {
            node: DomainNode {
                id: NodeId(id),
                machine_key: MachineKey([0x10 + id as u8; 32]),
                node_key: NodeKey([0x20 + id as u8; 32]),
                disco_key: DiscoKey([0x30 + id as u8; 32]),
                hostname: format!("host{id}"),
                given_name: format!("host{id}"),
                owner: owner.clone(),
                auth_key_id: Some(AuthKeyId::from_stored("kabcdefghijkm".into())),
                ipv4: keygate_domain::ip_pool::ipv4_at(id as u32),
                ipv6: keygate_domain::ip_pool::ipv6_at(id as u32),
                hostinfo_json: hostinfo.to_string(),
                endpoints: vec!["192.0.2.1:41641".into(), "[2001:db8::1]:41641".into()],
                created: Timestamp::from_unix_millis(NOW - 60_000),
                last_seen: Some(Timestamp::from_unix_millis(NOW - 30_000)),
                ephemeral: false,
                authorized: true,
                key_expiry: match owner {
                    NodeOwner::User(_) => Some(Timestamp::from_unix_millis(NOW + 86_400_000)),
                    NodeOwner::Tags(_) => None,
                },
            },
            user,
            online,
        }
    }

    /// The default policy's filter: what every node gets under allow-all.
    fn allow_all_rules() -> Vec<keygate_policy::PacketRule> {
        let policy =
            Arc::new(keygate_policy::Policy::parse(keygate_policy::DEFAULT_POLICY).unwrap());
        let info = keygate_policy::NodeInfo::from_node(
            &entry(1, NodeOwner::User(UserId(1)), true).node,
            Some(&UserName::parse("alice").unwrap()),
        )
        .unwrap();
        keygate_policy::Network::new(policy, [info]).packet_filter(NodeId(1))
    }

    fn config() -> ControlConfig {
        ControlConfig { base_domain: "keygate.internal".into(), ..ControlConfig::default() }
    }

    #[test]
    fn first_map_response_matches_golden() {
        let me = Arc::new(entry(1, NodeOwner::User(UserId(1)), true));
        let tagged =
            Arc::new(entry(2, NodeOwner::Tags(TagSet::parse_list("tag:ci").unwrap()), false));
        let mut unapproved = entry(3, NodeOwner::User(UserId(1)), true);
        unapproved.node.authorized = false;
        let view = MapView {
            seq: 7,
            me: me.clone(),
            peers: vec![tagged, Arc::new(unapproved)],
            packet_filter: allow_all_rules(),
        };
        let map = full_map(&view, &config(), Timestamp::from_unix_millis(NOW), 133);
        let actual = serde_json::to_value(&map).unwrap();
        let golden: serde_json::Value =
            serde_json::from_str(include_str!("../tests/golden/first_map_response.json")).unwrap();
        assert_eq!(actual, golden, "actual:\n{}", serde_json::to_string_pretty(&actual).unwrap());
        assert_eq!(actual["Node"]["Addresses"], json!(["100.64.0.1/32", "fd7a:115c:a1e0::1/128"]));
        assert_eq!(actual["Peers"].as_array().unwrap().len(), 1, "never unapproved nodes");
    }

    #[test]
    fn an_unapproved_node_sees_no_peers() {
        let mut me = entry(1, NodeOwner::User(UserId(1)), true);
        me.node.authorized = false;
        let other = Arc::new(entry(2, NodeOwner::User(UserId(1)), true));
        let view =
            MapView { seq: 1, me: Arc::new(me), peers: vec![other], packet_filter: Vec::new() };
        let map = full_map(&view, &config(), Timestamp::from_unix_millis(NOW), 133);
        assert_eq!(map.peers, Some(vec![]));
        assert!(!map.node.unwrap().machine_authorized);
    }

    #[test]
    fn deltas_follow_visibility() {
        let cfg = config();
        let now = Timestamp::from_unix_millis(NOW);
        let visible = Arc::new(entry(2, NodeOwner::User(UserId(1)), true));
        let mut hidden = entry(3, NodeOwner::User(UserId(1)), true);
        hidden.node.authorized = false;
        let hidden = Arc::new(hidden);

        let added = peer_delta(&TailnetChange::Added(visible.clone()), &cfg, now).unwrap();
        assert_eq!(added.peers_changed.unwrap()[0].id, 2);
        assert_eq!(added.user_profiles[0].login_name, "alice@keygate");
        assert!(peer_delta(&TailnetChange::Added(hidden.clone()), &cfg, now).is_none());

        // Nodes that stop seeing it are told by `peer_removed`, from the event's effects.
        let unapproved = TailnetChange::Changed { entry: hidden.clone(), was_visible: true };
        assert!(peer_delta(&unapproved, &cfg, now).is_none());
        assert_eq!(peer_removed(3).peers_removed, Some(vec![3]));
        let still_hidden = TailnetChange::Changed { entry: hidden, was_visible: false };
        assert!(peer_delta(&still_hidden, &cfg, now).is_none());

        let offline =
            peer_delta(&TailnetChange::OnlineChanged(visible.clone()), &cfg, now).unwrap();
        assert_eq!(
            serde_json::to_value(offline).unwrap(),
            json!({"PeersChangedPatch":[{"NodeID":2,"Online":true,"LastSeen":"2026-05-28T20:26:10Z"}]})
        );
        let moved = peer_delta(&TailnetChange::EndpointsChanged(visible), &cfg, now).unwrap();
        let patch = &moved.peers_changed_patch.unwrap()[0];
        assert_eq!((patch.derp_region, patch.endpoints.len()), (900, 2));
    }

    #[test]
    fn register_responses_name_the_owner_and_carry_refusals() {
        let cfg = ControlConfig { server_url: "http://127.0.0.1:8080".into(), ..config() };
        let tagged =
            Arc::new(entry(2, NodeOwner::Tags(TagSet::parse_list("tag:ci").unwrap()), false));
        let ok = register_response(
            &RegisterOutcome::Registered { entry: tagged, node_key_expired: false },
            &cfg,
        );
        let value = serde_json::to_value(&ok).unwrap();
        assert_eq!(
            value,
            json!({"User":{"ID":TAGGED_DEVICES_ID,"DisplayName":"Tagged Devices","Created":"0001-01-01T00:00:00Z"},
                   "Login":{"ID":TAGGED_DEVICES_ID,"Provider":"keygate","LoginName":"tagged-devices",
                            "DisplayName":"Tagged Devices","ProfilePicURL":""},
                   "NodeKeyExpired":false,"MachineAuthorized":true,"AuthURL":"","Error":""})
        );
        let refused = register_response(&RegisterOutcome::Refused(Refusal::NoAuthKey), &cfg);
        assert!(
            refused.error.contains("--login-server http://127.0.0.1:8080 --authkey"),
            "{}",
            refused.error
        );
        let logged_out = register_response(&RegisterOutcome::LoggedOut { entry: None }, &cfg);
        assert!(
            logged_out.node_key_expired
                && !logged_out.machine_authorized
                && logged_out.error.is_empty()
        );
    }
}
