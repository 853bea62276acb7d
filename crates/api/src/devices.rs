//! `/api/v2/tailnet/{tailnet}/devices` and `/api/v2/device/{deviceId}…`: the tailnet's nodes
//! in Tailscale's Device shape (reference §6), and what may be done to them: approve, tag,
//! turn key expiry off or on, expire the key, delete.
//!
//! Nodes are read from the live tailnet (with their online state), never from the store, and
//! every change goes through it, so connected nodes and their peers hear of it at once. The
//! rules of who may see and change which node live in the service (`node_admin.rs`): admins
//! everything; a user token its own nodes (others are "not found"), though it may not approve
//! them or change their key expiry; an OAuth token everything with `devices:core:read` (to
//! read) or `devices:core` (to change).
//!
//! `{deviceId}` is the numeric id (`"5"`) or the stable node id (`"n5"`). Every write answers
//! with the device as it is afterwards (Tailscale answers an empty body, which its clients
//! ignore), DELETE included (the device as it was).

use std::collections::BTreeMap;

use axum::extract::{Extension, Path};
use keygate_domain::{NodeId, NodeOwner, Scope, Timestamp};
use keygate_service::{Actor, NodeEntry, Service, ServiceError, Tailnet};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Authorized, Requirement};
use crate::error::ApiError;
use crate::extract::{Json, Query, Tailnet as TailnetSegment};
use crate::openapi::{ReadErrors, TailnetName, WriteErrors};

/// A device (node), as Tailscale's API v2 shows it, plus keygate's `authKeyId` and `online`.
/// Times are RFC 3339 in whole seconds; `""` stands for "none".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Tailnet addresses, IPv4 first: `["100.64.0.1", "fd7a:115c:a1e0::1"]`.
    pub addresses: Vec<String>,
    /// The numeric id, as a string.
    pub id: String,
    /// The stable id (`n<id>`), also accepted as `{deviceId}`.
    pub node_id: String,
    /// The owner's login name (`alice@keygate`); empty for tagged devices, whose tags are
    /// their identity.
    pub user: String,
    /// The MagicDNS name: `web.keygate.internal`.
    pub name: String,
    /// The host name the device reported.
    pub hostname: String,
    /// The Tailscale version it runs (`Hostinfo.IPNVersion`).
    pub client_version: String,
    /// Always false.
    pub update_available: bool,
    /// Its operating system (`Hostinfo.OS`).
    pub os: String,
    pub created: String,
    /// Now for a connected device; else when it was last connected (`""`: never).
    pub last_seen: String,
    /// When its node key expires; `""` when it never does.
    pub expires: String,
    /// True when the key never expires (always for tagged devices).
    pub key_expiry_disabled: bool,
    /// Approved by an admin, enrolled with a pre-approved key, or approval is off.
    pub authorized: bool,
    /// Always false (keygate has no device sharing).
    pub is_external: bool,
    pub is_ephemeral: bool,
    /// `mkey:…`
    pub machine_key: String,
    /// `nodekey:…`
    pub node_key: String,
    /// Always false.
    pub blocks_incoming_connections: bool,
    /// A tagged device's tags; empty for a user's device.
    pub tags: Vec<String>,
    /// Always `""` (no tailnet lock).
    pub tailnet_lock_key: String,
    /// Always `""` (no tailnet lock).
    pub tailnet_lock_error: String,
    /// keygate: the id of the pre-authentication key that enrolled it (`""` when none).
    pub auth_key_id: String,
    /// keygate: whether it has a map stream open right now.
    pub online: bool,
    /// With `fields=all`: the subnet routes it offers (`Hostinfo.RoutableIPs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised_routes: Option<Vec<String>>,
    /// With `fields=all`: the routes enabled for it (always empty: keygate does not route
    /// subnets yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_routes: Option<Vec<String>>,
    /// With `fields=all`: how it connects, from what it last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_connectivity: Option<ClientConnectivity>,
}

/// `clientConnectivity` (with `fields=all`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientConnectivity {
    /// The `ip:port` endpoints it last reported.
    pub endpoints: Vec<String>,
    /// Its home DERP region's id (`""` when it reported none).
    pub derp: String,
    /// Tailscale's spelling, not camelCase's (`…DestIp`).
    #[serde(rename = "mappingVariesByDestIP")]
    pub mapping_varies_by_dest_ip: bool,
    /// Latency to each DERP region it measured, by region id.
    pub latency: BTreeMap<String, DerpLatency>,
    pub client_supports: ClientSupports,
}

/// One region of `clientConnectivity.latency`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DerpLatency {
    /// The device's home region.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preferred: bool,
    pub latency_ms: f64,
}

/// `clientConnectivity.clientSupports`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSupports {
    pub hair_pinning: bool,
    pub ipv6: bool,
    pub pcp: bool,
    pub pmp: bool,
    pub udp: bool,
    pub upnp: bool,
}

/// `GET …/devices`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<Device>,
}

/// `POST /device/{deviceId}/authorized`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizedRequest {
    /// `false` takes an approval back.
    pub authorized: bool,
}

/// `POST /device/{deviceId}/tags`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TagsRequest {
    /// The device's new tags (`tag:…`), replacing its owner or its tags. `null` (what the Go
    /// client sends for none) counts as empty.
    pub tags: Option<Vec<String>>,
}

/// `POST /device/{deviceId}/key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRequest {
    /// `true`: the node key never expires; `false`: it expires after the tailnet's node-key
    /// lifetime, counted from now.
    pub key_expiry_disabled: bool,
}

/// `?fields=`: `default`, or `all` for routes and connectivity too.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FieldsQuery {
    /// `default` (absent) or `all`.
    #[serde(default)]
    fields: Option<String>,
}

impl FieldsQuery {
    fn all(&self) -> Result<bool, ApiError> {
        match self.fields.as_deref() {
            None | Some("" | "default") => Ok(false),
            Some("all") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "fields={other:?} is not supported: use fields=default or fields=all"
            ))),
        }
    }
}

/// Listing and reading devices.
pub(crate) struct DevicesRead;

impl Requirement for DevicesRead {
    fn check(actor: &Actor) -> Result<(), ServiceError> {
        actor.require_scope(Scope::DevicesCoreRead, "reading devices")
    }
}

/// Changing devices.
pub(crate) struct DevicesWrite;

impl Requirement for DevicesWrite {
    fn check(actor: &Actor) -> Result<(), ServiceError> {
        actor.require_scope(Scope::DevicesCore, "changing devices")
    }
}

pub(crate) fn routes() -> OpenApiRouter<Service> {
    OpenApiRouter::new()
        .routes(routes!(list_devices))
        .routes(routes!(get_device, delete_device))
        .routes(routes!(set_authorized))
        .routes(routes!(set_tags))
        .routes(routes!(set_key))
        .routes(routes!(expire_device))
}

impl Device {
    /// The view of `entry` at `now`; `all` adds routes and connectivity.
    pub(crate) fn from_entry(
        entry: &NodeEntry,
        base_domain: &str,
        now: Timestamp,
        all: bool,
    ) -> Self {
        let n = &entry.node;
        let hostinfo: Value = serde_json::from_str(&n.hostinfo_json).unwrap_or(Value::Null);
        let text = |key: &str| hostinfo[key].as_str().unwrap_or_default().to_owned();
        let last_seen = if entry.online { Some(now) } else { n.last_seen };
        Self {
            addresses: vec![n.ipv4.to_string(), n.ipv6.to_string()],
            id: n.id.to_string(),
            node_id: format!("n{}", n.id),
            user: match (&n.owner, &entry.user) {
                (NodeOwner::User(_), Some(user)) => user.name.login_name(),
                (NodeOwner::User(id), None) => format!("user-{id}"),
                (NodeOwner::Tags(_), _) => String::new(),
            },
            name: entry.fqdn(base_domain),
            hostname: n.hostname.clone(),
            client_version: text("IPNVersion"),
            update_available: false,
            os: text("OS"),
            created: n.created.to_rfc3339(),
            last_seen: last_seen.map(Timestamp::to_rfc3339).unwrap_or_default(),
            expires: n.key_expiry.map(Timestamp::to_rfc3339).unwrap_or_default(),
            key_expiry_disabled: n.key_expiry.is_none(),
            authorized: n.authorized,
            is_external: false,
            is_ephemeral: n.ephemeral,
            machine_key: n.machine_key.to_string(),
            node_key: n.node_key.to_string(),
            blocks_incoming_connections: false,
            tags: n.owner.tags().map(|t| t.to_strings()).unwrap_or_default(),
            tailnet_lock_key: String::new(),
            tailnet_lock_error: String::new(),
            auth_key_id: n.auth_key_id.as_ref().map(|k| k.as_str().to_owned()).unwrap_or_default(),
            online: entry.online,
            advertised_routes: all.then(|| string_list(&hostinfo["RoutableIPs"])),
            enabled_routes: all.then(Vec::new),
            client_connectivity: all.then(|| connectivity(&hostinfo, &n.endpoints)),
        }
    }
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// `clientConnectivity` from the reported `Hostinfo.NetInfo` (Tailscale's `tailcfg.NetInfo`,
/// whose yes/no fields are `opt.Bool`: a JSON boolean, or a string, or absent).
fn connectivity(hostinfo: &Value, endpoints: &[String]) -> ClientConnectivity {
    let net = &hostinfo["NetInfo"];
    let yes = |key: &str| match &net[key] {
        Value::Bool(b) => *b,
        Value::String(s) => s == "true",
        _ => false,
    };
    let home = net["PreferredDERP"].as_i64().unwrap_or(0);
    let mut latency: BTreeMap<String, DerpLatency> = BTreeMap::new();
    if let Some(measured) = net["DERPLatency"].as_object() {
        // Keys are `<region>-v4` / `<region>-v6`, values seconds; the best of the two counts.
        for (key, seconds) in measured {
            let (Some(region), Some(seconds)) = (key.split('-').next(), seconds.as_f64()) else {
                continue;
            };
            let ms = seconds * 1000.0;
            let entry = latency
                .entry(region.to_owned())
                .or_insert(DerpLatency { preferred: region == home.to_string(), latency_ms: ms });
            entry.latency_ms = entry.latency_ms.min(ms);
        }
    }
    ClientConnectivity {
        endpoints: endpoints.to_vec(),
        derp: if home > 0 { home.to_string() } else { String::new() },
        mapping_varies_by_dest_ip: yes("MappingVariesByDestIP"),
        latency,
        client_supports: ClientSupports {
            hair_pinning: yes("HairPinning"),
            ipv6: yes("WorkingIPv6"),
            pcp: yes("PCP"),
            pmp: yes("PMP"),
            udp: yes("WorkingUDP"),
            upnp: yes("UPnP"),
        },
    }
}

/// The node a `{deviceId}` names: `5` or `n5`; anything else names no device.
fn device_id(text: &str) -> Result<NodeId, ApiError> {
    let digits = text.strip_prefix('n').unwrap_or(text);
    digits
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && !digits.starts_with('+'))
        .map(NodeId)
        .ok_or_else(|| ApiError::not_found(format!("device {text:?} not found")))
}

fn render(tailnet: &Tailnet, entry: &NodeEntry, all: bool) -> axum::Json<Device> {
    let now = tailnet.service().now();
    axum::Json(Device::from_entry(entry, tailnet.base_domain(), now, all))
}

/// Lists the devices the caller may see, by id.
#[utoipa::path(
    get,
    path = "/tailnet/{tailnet}/devices",
    tag = "devices",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)"), FieldsQuery),
    responses((status = 200, body = DeviceList), ReadErrors)
)]
async fn list_devices(
    Authorized(actor, ..): Authorized<DevicesRead>,
    Extension(tailnet): Extension<Tailnet>,
    _: TailnetSegment,
    Query(query): Query<FieldsQuery>,
) -> Result<axum::Json<DeviceList>, ApiError> {
    let all = query.all()?;
    let now = tailnet.service().now();
    let devices = tailnet
        .list_nodes(&actor)
        .iter()
        .map(|e| Device::from_entry(e, tailnet.base_domain(), now, all))
        .collect();
    Ok(axum::Json(DeviceList { devices }))
}

/// Reads one device.
#[utoipa::path(
    get,
    path = "/device/{deviceId}",
    tag = "devices",
    params(("deviceId" = String, Path, description = "The numeric id (`5`) or node id (`n5`)"), FieldsQuery),
    responses((status = 200, body = Device), ReadErrors)
)]
async fn get_device(
    Authorized(actor, ..): Authorized<DevicesRead>,
    Extension(tailnet): Extension<Tailnet>,
    Path(id): Path<String>,
    Query(query): Query<FieldsQuery>,
) -> Result<axum::Json<Device>, ApiError> {
    let all = query.all()?;
    let entry = tailnet.visible_node(&actor, device_id(&id)?)?;
    Ok(render(&tailnet, &entry, all))
}

/// Deletes a device: its addresses are freed, its peers are told, and a connected client is
/// logged out (it must enrol again with a key). Answers with the device as it was.
#[utoipa::path(
    delete,
    path = "/device/{deviceId}",
    tag = "devices",
    params(("deviceId" = String, Path, description = "The numeric id (`5`) or node id (`n5`)")),
    responses((status = 200, body = Device), ReadErrors)
)]
async fn delete_device(
    Authorized(actor, ..): Authorized<DevicesWrite>,
    Extension(tailnet): Extension<Tailnet>,
    Path(id): Path<String>,
) -> Result<axum::Json<Device>, ApiError> {
    let id = device_id(&id)?;
    let entry = tailnet.visible_node(&actor, id)?;
    let body = render(&tailnet, &entry, false);
    tailnet.delete_node(&actor, id).await?;
    Ok(body)
}

/// Approves a device (`true`), which then gets its peers through its open map stream, or
/// takes the approval back (`false`). Admins, or OAuth with `devices:core`.
#[utoipa::path(
    post,
    path = "/device/{deviceId}/authorized",
    tag = "devices",
    params(("deviceId" = String, Path, description = "The numeric id (`5`) or node id (`n5`)")),
    request_body = AuthorizedRequest,
    responses((status = 200, body = Device), WriteErrors)
)]
async fn set_authorized(
    Authorized(actor, ..): Authorized<DevicesWrite>,
    Extension(tailnet): Extension<Tailnet>,
    Path(id): Path<String>,
    Json(req): Json<AuthorizedRequest>,
) -> Result<axum::Json<Device>, ApiError> {
    let entry = tailnet.set_node_authorized(&actor, device_id(&id)?, req.authorized).await?;
    Ok(render(&tailnet, &entry, false))
}

/// Replaces a device's owner or tags with `tags`: it becomes a tagged device, whose key never
/// expires. 400 `requested tags [...] are invalid or not permitted` when the policy's
/// `tagOwners` does not allow them.
#[utoipa::path(
    post,
    path = "/device/{deviceId}/tags",
    tag = "devices",
    params(("deviceId" = String, Path, description = "The numeric id (`5`) or node id (`n5`)")),
    request_body = TagsRequest,
    responses((status = 200, body = Device), WriteErrors)
)]
async fn set_tags(
    Authorized(actor, ..): Authorized<DevicesWrite>,
    Extension(tailnet): Extension<Tailnet>,
    Path(id): Path<String>,
    Json(req): Json<TagsRequest>,
) -> Result<axum::Json<Device>, ApiError> {
    let tags = req.tags.unwrap_or_default();
    let entry = tailnet.set_node_tags(&actor, device_id(&id)?, &tags).await?;
    Ok(render(&tailnet, &entry, false))
}

/// Turns a user's device's key expiry off or back on. Admins, or OAuth with `devices:core`.
#[utoipa::path(
    post,
    path = "/device/{deviceId}/key",
    tag = "devices",
    params(("deviceId" = String, Path, description = "The numeric id (`5`) or node id (`n5`)")),
    request_body = KeyRequest,
    responses((status = 200, body = Device), WriteErrors)
)]
async fn set_key(
    Authorized(actor, ..): Authorized<DevicesWrite>,
    Extension(tailnet): Extension<Tailnet>,
    Path(id): Path<String>,
    Json(req): Json<KeyRequest>,
) -> Result<axum::Json<Device>, ApiError> {
    let id = device_id(&id)?;
    let entry = tailnet.set_node_key_expiry_disabled(&actor, id, req.key_expiry_disabled).await?;
    Ok(render(&tailnet, &entry, false))
}

/// Expires a device's key now: it is told through its map stream and must log in again.
#[utoipa::path(
    post,
    path = "/device/{deviceId}/expire",
    tag = "devices",
    params(("deviceId" = String, Path, description = "The numeric id (`5`) or node id (`n5`)")),
    responses((status = 200, body = Device), ReadErrors)
)]
async fn expire_device(
    Authorized(actor, ..): Authorized<DevicesWrite>,
    Extension(tailnet): Extension<Tailnet>,
    Path(id): Path<String>,
) -> Result<axum::Json<Device>, ApiError> {
    let entry = tailnet.expire_node(&actor, device_id(&id)?).await?;
    Ok(render(&tailnet, &entry, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_numbers_or_node_ids() {
        assert_eq!(device_id("5").unwrap(), NodeId(5));
        assert_eq!(device_id("n17").unwrap(), NodeId(17));
        for bad in ["", "n", "0", "-3", "+3", "n+3", "5x", "abc", "99999999999999999999"] {
            assert_eq!(device_id(bad).unwrap_err().status(), http::StatusCode::NOT_FOUND, "{bad}");
        }
    }

    #[test]
    fn connectivity_comes_from_net_info() {
        let hostinfo = serde_json::json!({"NetInfo": {
            "MappingVariesByDestIP": false, "HairPinning": "true", "WorkingIPv6": true,
            "WorkingUDP": true, "UPnP": null, "PreferredDERP": 900,
            "DERPLatency": {"900-v4": 0.0125, "900-v6": 0.02, "901-v4": 0.5}
        }});
        let c = connectivity(&hostinfo, &["192.0.2.1:41641".to_owned()]);
        assert_eq!(c.derp, "900");
        assert_eq!(c.endpoints, vec!["192.0.2.1:41641"]);
        assert!(c.client_supports.hair_pinning && c.client_supports.ipv6 && c.client_supports.udp);
        assert!(!c.client_supports.upnp && !c.mapping_varies_by_dest_ip);
        assert_eq!(c.latency["900"], DerpLatency { preferred: true, latency_ms: 12.5 });
        assert_eq!(c.latency["901"], DerpLatency { preferred: false, latency_ms: 500.0 });
        assert_eq!(connectivity(&Value::Null, &[]), ClientConnectivity::default());
    }
}
