//! `keygate nodes`: list, show, approve, tag, expire and delete the tailnet's nodes, and turn
//! their key expiry off or on, through the REST API's device routes.
//!
//! A node is named by its numeric id (as `keygate nodes list` shows it), its node id (`n5`),
//! or its name (the MagicDNS label, such as `laptop`, or the host name it reported).

use anyhow::bail;
use clap::{ArgGroup, Args, Subcommand};
use keygate_api::{AuthorizedRequest, Device, DeviceList, KeyRequest, TagsRequest};
use keygate_domain::Timestamp;

use crate::client::{Client, TAILNET};
use crate::output::{self, fields, long_time, or_dash, short_time, Table};
use crate::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum NodesCommand {
    /// List the nodes: addresses, owner or tags, enrolling key, state.
    ///
    /// With --json, prints the API's {"devices": [...]} object.
    List,
    /// Show one node in detail (routes and connectivity too).
    Show {
        /// The node's id (as `keygate nodes list` shows it) or name.
        node: String,
    },
    /// Approve a node that waits for approval; it proceeds without enrolling again.
    Approve {
        /// The node's id or name.
        node: String,
    },
    /// Delete a node: it loses its addresses, its peers forget it, and a connected client is
    /// logged out (it must enrol again with a key).
    Delete {
        /// The node's id or name.
        node: String,
    },
    /// Turn a node's key expiry off (its key never expires) or back on.
    Expiry(ExpiryArgs),
    /// Expire a node's key now: the node must log in again with a key.
    Expire {
        /// The node's id or name.
        node: String,
    },
    /// Give a node tags, which become its identity (it is no longer a user's, and its key
    /// never expires).
    Tag {
        /// The node's id or name.
        node: String,
        /// Comma-separated tags: tag:a,tag:b
        tags: String,
    },
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("switch").required(true).args(["disable", "enable"])))]
pub struct ExpiryArgs {
    /// The node's id or name.
    node: String,
    /// The node's key never expires.
    #[arg(long)]
    disable: bool,
    /// The node's key expires after the tailnet's node-key lifetime, counted from now.
    #[arg(long)]
    enable: bool,
}

pub async fn run(global: &GlobalArgs, cmd: NodesCommand) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    match cmd {
        NodesCommand::List => list(global, &client).await,
        NodesCommand::Show { node } => show(global, &client, &node).await,
        NodesCommand::Approve { node } => {
            let id = resolve(&client, &node).await?;
            let body = AuthorizedRequest { authorized: true };
            let reply = client.post::<Device>(&format!("{}/authorized", path(&id)), &body).await?;
            done(global, &reply.text, &format!("approved node {}", label(&reply.value)))
        }
        NodesCommand::Delete { node } => {
            let id = resolve(&client, &node).await?;
            let reply = client.delete::<Device>(&path(&id)).await?;
            done(global, &reply.text, &format!("deleted node {}", label(&reply.value)))
        }
        NodesCommand::Expiry(args) => {
            let id = resolve(&client, &args.node).await?;
            let body = KeyRequest { key_expiry_disabled: args.disable };
            let reply = client.post::<Device>(&format!("{}/key", path(&id)), &body).await?;
            let d = &reply.value;
            let what = if d.key_expiry_disabled {
                format!("the key of node {} never expires", label(d))
            } else {
                format!("the key of node {} expires {}", label(d), long_time(&d.expires))
            };
            done(global, &reply.text, &what)
        }
        NodesCommand::Expire { node } => {
            let id = resolve(&client, &node).await?;
            let reply = client.post::<Device>(&format!("{}/expire", path(&id)), &()).await?;
            let what =
                format!("expired the key of node {}: it must log in again", label(&reply.value));
            done(global, &reply.text, &what)
        }
        NodesCommand::Tag { node, tags } => {
            let id = resolve(&client, &node).await?;
            let tags: Vec<String> = tags
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            if tags.is_empty() {
                bail!("no tags given: name them comma-separated, such as tag:server,tag:prod");
            }
            let body = TagsRequest { tags: Some(tags) };
            let reply = client.post::<Device>(&format!("{}/tags", path(&id)), &body).await?;
            let d = &reply.value;
            done(global, &reply.text, &format!("node {} is tagged {}", label(d), d.tags.join(",")))
        }
    }
}

async fn list(global: &GlobalArgs, client: &Client) -> anyhow::Result<()> {
    let reply = client.get::<DeviceList>(&format!("{TAILNET}/devices")).await?;
    if global.json {
        return output::print_json(&reply.text);
    }
    let devices = &reply.value.devices;
    if devices.is_empty() {
        return output::print(
            "No nodes yet. Enrol one with: tailscale up --login-server URL --authkey KEY\n",
        );
    }
    let now = now();
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "ADDRESSES",
        "OWNER/TAGS",
        "OS",
        "KEY",
        "FLAGS",
        "ONLINE/LAST SEEN",
        "KEY EXPIRY",
    ]);
    for d in devices {
        table.row(vec![
            d.id.clone(),
            short_name(d).to_owned(),
            d.addresses.join(","),
            owner(d),
            or_dash(&d.os),
            or_dash(&d.auth_key_id),
            or_dash(&flags(d, now).join(",")),
            seen(d),
            key_expiry(d, now),
        ]);
    }
    output::print(&table.render())
}

async fn show(global: &GlobalArgs, client: &Client, node: &str) -> anyhow::Result<()> {
    let id = resolve(client, node).await?;
    let reply = client.get::<Device>(&format!("{}?fields=all", path(&id))).await?;
    if global.json {
        return output::print_json(&reply.text);
    }
    let d = &reply.value;
    let now = now();
    let mut pairs = vec![
        ("id", format!("{} ({})", d.id, d.node_id)),
        ("name", d.name.clone()),
        ("hostname", or_dash(&d.hostname)),
        ("addresses", d.addresses.join(", ")),
        ("owner", or_dash(&d.user)),
        ("tags", or_dash(&d.tags.join(","))),
        ("key", or_dash(&d.auth_key_id)),
        ("flags", or_dash(&flags(d, now).join(","))),
        ("os", or_dash(&d.os)),
        ("client version", or_dash(&d.client_version)),
        ("online", if d.online { "yes".to_owned() } else { "no".to_owned() }),
        (
            "last seen",
            if d.last_seen.is_empty() { "never".into() } else { long_time(&d.last_seen) },
        ),
        ("created", long_time(&d.created)),
        ("key expiry", key_expiry_long(d)),
        ("machine key", d.machine_key.clone()),
        ("node key", d.node_key.clone()),
    ];
    if let Some(c) = &d.client_connectivity {
        pairs.push(("endpoints", or_dash(&c.endpoints.join(", "))));
        pairs.push(("home DERP", or_dash(&c.derp)));
    }
    if let Some(routes) = &d.advertised_routes {
        pairs.push(("advertised routes", or_dash(&routes.join(", "))));
    }
    output::print(&fields(&pairs))
}

/// Prints `json` with --json, else `message`.
fn done(global: &GlobalArgs, json: &str, message: &str) -> anyhow::Result<()> {
    if global.json {
        output::print_json(json)
    } else {
        output::print(&format!("{message}\n"))
    }
}

/// The numeric id of the node `given` names: an id (`5`, `n5`) as it is, else the one node
/// whose name or host name it is.
async fn resolve(client: &Client, given: &str) -> anyhow::Result<String> {
    let given = given.trim();
    let digits = given.strip_prefix('n').unwrap_or(given);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(digits.to_owned());
    }
    let reply = client.get::<DeviceList>(&format!("{TAILNET}/devices")).await?;
    let matches: Vec<&Device> = reply
        .value
        .devices
        .iter()
        .filter(|d| short_name(d) == given || d.name == given.trim_end_matches('.'))
        .collect();
    let matches = if matches.is_empty() {
        reply.value.devices.iter().filter(|d| d.hostname == given).collect()
    } else {
        matches
    };
    match matches.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => bail!("no node is named {given:?}: see `keygate nodes list` for ids and names"),
        many => {
            let ids: Vec<String> = many.iter().map(|d| format!("{} ({})", d.id, d.name)).collect();
            bail!("{given:?} names several nodes: {}; use the id", ids.join(", "))
        }
    }
}

fn path(id: &str) -> String {
    format!("/api/v2/device/{id}")
}

/// `5 (laptop)`.
fn label(d: &Device) -> String {
    format!("{} ({})", d.id, short_name(d))
}

/// The MagicDNS label: the name up to its first dot.
fn short_name(d: &Device) -> &str {
    d.name.split('.').next().unwrap_or(&d.name)
}

/// The owner's login name, or the tags of a tagged node.
fn owner(d: &Device) -> String {
    if d.tags.is_empty() {
        or_dash(&d.user)
    } else {
        d.tags.join(",")
    }
}

fn expired(d: &Device, now: Timestamp) -> bool {
    Timestamp::parse_rfc3339(&d.expires).is_some_and(|t| t <= now)
}

/// `ephemeral`, `pending approval`, `expired`.
fn flags(d: &Device, now: Timestamp) -> Vec<&'static str> {
    let mut f = Vec::new();
    if d.is_ephemeral {
        f.push("ephemeral");
    }
    if !d.authorized {
        f.push("pending approval");
    }
    if expired(d, now) {
        f.push("expired");
    }
    f
}

fn seen(d: &Device) -> String {
    if d.online {
        "online".to_owned()
    } else if d.last_seen.is_empty() {
        "never".to_owned()
    } else {
        short_time(&d.last_seen)
    }
}

fn key_expiry(d: &Device, now: Timestamp) -> String {
    if d.key_expiry_disabled || d.expires.is_empty() {
        "never".to_owned()
    } else if expired(d, now) {
        format!("expired {}", short_time(&d.expires))
    } else {
        short_time(&d.expires)
    }
}

fn key_expiry_long(d: &Device) -> String {
    if d.key_expiry_disabled || d.expires.is_empty() {
        if d.tags.is_empty() { "never (disabled)" } else { "never (tagged)" }.to_owned()
    } else {
        long_time(&d.expires)
    }
}

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_unix_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        serde_json::from_value(serde_json::json!({
            "addresses": ["100.64.0.1", "fd7a:115c:a1e0::1"], "id": "3", "nodeId": "n3",
            "user": "alice@keygate", "name": "laptop.keygate.internal", "hostname": "Laptop",
            "clientVersion": "1.96.4", "updateAvailable": false, "os": "linux",
            "created": "2026-01-01T00:00:00Z", "lastSeen": "2026-01-02T00:00:00Z",
            "expires": "2026-06-30T00:00:00Z", "keyExpiryDisabled": false, "authorized": false,
            "isExternal": false, "isEphemeral": true, "machineKey": "mkey:00", "nodeKey": "nodekey:00",
            "blocksIncomingConnections": false, "tags": [], "tailnetLockKey": "",
            "tailnetLockError": "", "authKeyId": "kAbc", "online": false
        }))
        .unwrap()
    }

    #[test]
    fn flags_and_expiry_read_from_the_device() {
        let d = device();
        let before = Timestamp::parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
        let after = Timestamp::parse_rfc3339("2026-07-01T00:00:00Z").unwrap();
        assert_eq!(flags(&d, before), vec!["ephemeral", "pending approval"]);
        assert_eq!(flags(&d, after), vec!["ephemeral", "pending approval", "expired"]);
        assert_eq!(key_expiry(&d, before), "2026-06-30 00:00");
        assert_eq!(key_expiry(&d, after), "expired 2026-06-30 00:00");
        assert_eq!(
            (short_name(&d), owner(&d), seen(&d)),
            ("laptop", "alice@keygate".into(), "2026-01-02 00:00".into())
        );
        let tagged = Device {
            tags: vec!["tag:ci".into()],
            user: String::new(),
            key_expiry_disabled: true,
            expires: String::new(),
            online: true,
            ..d
        };
        assert_eq!(
            (owner(&tagged), key_expiry(&tagged, after), seen(&tagged)),
            ("tag:ci".into(), "never".into(), "online".into())
        );
        assert_eq!(key_expiry_long(&tagged), "never (tagged)");
    }
}
