//! `keygate keys`: create, list, show and revoke pre-authentication keys.

use anyhow::Context;
use clap::{Args, Subcommand};
use keygate_api::{
    CreateCapabilities, CreateKeyRequest, DeviceCapabilities, Key, KeyCapabilities, KeyList,
    RevokedKey,
};
use keygate_domain::KeyLifetime;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::client::{Client, TAILNET};
use crate::output::{self, fields, long_time, maybe_time, or_dash, short_time, Table};
use crate::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key and print its secret (shown only this once).
    ///
    /// With --json, prints the key object of Tailscale's API v2 with the secret in `key`.
    Create(CreateArgs),
    /// List valid keys, then those revoked, expired or used up recently.
    ///
    /// With --json: {"keys": [valid keys…], "recentlyInvalid": [other keys…]}, each a key
    /// object of the API (with `state` and `invalid`).
    List,
    /// Show one key.
    Show {
        /// The key's id (kXXXXXXXXXXXX), as `keygate keys list` shows it.
        id: String,
    },
    /// Revoke a key. Revoking it again changes nothing and says so. Nodes it enrolled stay.
    Revoke {
        /// The key's id.
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The user the key is for [default: the server's default user].
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Usable for any number of nodes until it expires or is revoked.
    #[arg(long)]
    reusable: bool,
    /// A reusable key limited to N nodes (implies --reusable).
    #[arg(long, value_name = "N")]
    uses: Option<u32>,
    /// Nodes enrolled with it are removed soon after they go offline.
    #[arg(long)]
    ephemeral: bool,
    /// Nodes enrolled with it skip device approval (administrators only: the admin socket;
    /// a user's API token with --server is refused).
    #[arg(long, visible_alias = "pre-approved")]
    preauthorized: bool,
    /// Tags that enrolled nodes take as their identity, comma-separated (tag:a,tag:b).
    #[arg(long, value_name = "TAGS")]
    tags: Option<String>,
    /// How long the key stays usable: 1d to 90d [default: 90d].
    #[arg(long, value_name = "DAYS")]
    expiry: Option<String>,
    /// A note shown in listings (at most 50 characters).
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
}

pub async fn run(global: &GlobalArgs, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create(args) => create(global, args).await,
        KeysCommand::List => list(global).await,
        KeysCommand::Show { id } => show(global, &id).await,
        KeysCommand::Revoke { id } => revoke(global, &id).await,
    }
}

async fn create(global: &GlobalArgs, args: CreateArgs) -> anyhow::Result<()> {
    // The lifetime is parsed here, because the API takes seconds; everything else is checked
    // by the server, so that every surface reports the same messages.
    let expiry_seconds = expiry_seconds(args.expiry.as_deref())?;
    let tags = args.tags.as_deref().map(comma_list).unwrap_or_default();
    let request = CreateKeyRequest {
        capabilities: KeyCapabilities {
            devices: DeviceCapabilities {
                create: CreateCapabilities {
                    reusable: args.reusable || args.uses.is_some(),
                    ephemeral: args.ephemeral,
                    preauthorized: args.preauthorized,
                    tags,
                },
            },
        },
        expiry_seconds,
        description: args.description,
        key_type: None,
        usage_limit: args.uses,
        user: args.user,
    };
    let client = Client::from_args(global)?;
    let reply = client.post::<Key>(&format!("{TAILNET}/keys"), &request).await?;
    if global.json {
        return output::print_json(&reply.text);
    }
    let key = reply.value;
    let secret = key.key.clone().unwrap_or_default();
    let mut text = format!("{secret}\n\n");
    text.push_str(&fields(&[
        ("id", key.id.clone()),
        ("kind", kind(&key)),
        ("flags", or_dash(&flags(&key))),
        ("tags", or_dash(&key.capabilities.devices.create.tags.join(","))),
        ("user", or_dash(key.user.as_deref().unwrap_or_default())),
        ("expires", long_time(&key.expires)),
    ]));
    text.push_str("\nThis key is shown only once. Use it with: tailscale up --login-server URL --authkey KEY\n");
    output::print(&text)
}

async fn list(global: &GlobalArgs) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    let reply = client.get::<KeyList>(&format!("{TAILNET}/keys")).await?;
    if global.json {
        // Each key object exactly as the server sent it, only sorted into the two lists.
        let raw: RawKeyList<'_> =
            serde_json::from_str(&reply.text).context("reading the key list")?;
        let (valid, invalid): (Vec<_>, Vec<_>) =
            raw.keys.iter().zip(&reply.value.keys).partition(|(_, key)| !key.invalid);
        let join = |keys: Vec<(&&RawValue, &Key)>| {
            keys.iter().map(|(raw, _)| raw.get()).collect::<Vec<_>>().join(",")
        };
        let text = format!(r#"{{"keys":[{}],"recentlyInvalid":[{}]}}"#, join(valid), join(invalid));
        return output::print_json(&text);
    }
    let (valid, invalid): (Vec<&Key>, Vec<&Key>) =
        reply.value.keys.iter().partition(|k| !k.invalid);

    let mut text = String::new();
    if valid.is_empty() {
        text.push_str("No valid keys. Create one with: keygate keys create\n");
    } else {
        let mut table = Table::new(&[
            "ID",
            "DESCRIPTION",
            "KIND",
            "FLAGS",
            "TAGS",
            "CREATOR",
            "CREATED",
            "EXPIRES",
            "USES",
            "LAST USED",
        ]);
        for k in &valid {
            table.row(vec![
                k.id.clone(),
                or_dash(&k.description),
                kind(k),
                or_dash(&flags(k)),
                or_dash(&k.capabilities.devices.create.tags.join(",")),
                or_dash(k.user.as_deref().unwrap_or_default()),
                short_time(&k.created),
                short_time(&k.expires),
                k.use_count.to_string(),
                maybe_time(k.last_used.as_deref()),
            ]);
        }
        text.push_str(&table.render());
    }
    if !invalid.is_empty() {
        text.push_str("\nRecently revoked or expired\n");
        let mut table =
            Table::new(&["ID", "DESCRIPTION", "STATE", "SINCE", "KIND", "TAGS", "CREATOR", "USES"]);
        for k in &invalid {
            table.row(vec![
                k.id.clone(),
                or_dash(&k.description),
                state(k),
                k.revoked.as_deref().map_or_else(|| "-".to_owned(), short_time),
                kind(k),
                or_dash(&k.capabilities.devices.create.tags.join(",")),
                or_dash(k.user.as_deref().unwrap_or_default()),
                k.use_count.to_string(),
            ]);
        }
        text.push_str(&table.render());
    }
    output::print(&text)
}

async fn show(global: &GlobalArgs, id: &str) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    let reply = client.get::<Key>(&format!("{TAILNET}/keys/{}", path_segment(id)?)).await?;
    if global.json {
        return output::print_json(&reply.text);
    }
    let k = reply.value;
    let mut pairs = vec![
        ("id", k.id.clone()),
        ("description", or_dash(&k.description)),
        ("state", state(&k)),
        ("kind", kind(&k)),
        ("flags", or_dash(&flags(&k))),
        ("tags", or_dash(&k.capabilities.devices.create.tags.join(","))),
        ("creator", or_dash(k.user.as_deref().unwrap_or_default())),
        ("created", long_time(&k.created)),
        ("expires", long_time(&k.expires)),
        ("uses", uses(&k)),
        ("last used", k.last_used.as_deref().map_or_else(|| "never".to_owned(), long_time)),
    ];
    if let Some(since) = &k.revoked {
        pairs.push(("invalid since", long_time(since)));
    }
    output::print(&fields(&pairs))
}

async fn revoke(global: &GlobalArgs, id: &str) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    let reply =
        client.delete::<RevokedKey>(&format!("{TAILNET}/keys/{}", path_segment(id)?)).await?;
    if global.json {
        return output::print_json(&reply.text);
    }
    output::print(&revoked("key", &reply.value.key.id, reply.value.already_revoked))
}

/// `GET …/keys` with each key's JSON text kept as sent.
#[derive(Deserialize)]
struct RawKeyList<'a> {
    #[serde(borrow)]
    keys: Vec<&'a RawValue>,
}

/// `one-off`, `reusable`, or `reusable 2/5` (uses so far of the limit).
fn kind(k: &Key) -> String {
    match (k.capabilities.devices.create.reusable, k.usage_limit) {
        (false, _) => "one-off".to_owned(),
        (true, None) => "reusable".to_owned(),
        (true, Some(limit)) => format!("reusable {}/{limit}", k.use_count),
    }
}

/// `ephemeral,pre-approved`, or empty.
fn flags(k: &Key) -> String {
    let c = &k.capabilities.devices.create;
    let mut f = Vec::new();
    if c.ephemeral {
        f.push("ephemeral");
    }
    if c.preauthorized {
        f.push("pre-approved");
    }
    f.join(",")
}

fn state(k: &Key) -> String {
    serde_json::to_value(k.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn uses(k: &Key) -> String {
    match (k.capabilities.devices.create.reusable, k.usage_limit) {
        (true, Some(limit)) => format!("{} of {limit}", k.use_count),
        (true, None) => format!("{} (unlimited)", k.use_count),
        (false, _) => format!("{} of 1", k.use_count),
    }
}

/// `--expiry` (`30d`) as the API's `expirySeconds`.
pub fn expiry_seconds(expiry: Option<&str>) -> anyhow::Result<Option<i64>> {
    let Some(text) = expiry else { return Ok(None) };
    let lifetime = KeyLifetime::parse(text).context("--expiry")?;
    Ok(Some(i64::try_from(lifetime.as_seconds()).context("--expiry")?))
}

/// A comma-separated list, blanks dropped.
pub fn comma_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// What revoking `what` `id` did: `revoked key k…`, or `key k… was already revoked`.
pub fn revoked(what: &str, id: &str, already_revoked: bool) -> String {
    if already_revoked {
        format!("{what} {id} was already revoked\n")
    } else {
        format!("revoked {what} {id}\n")
    }
}

/// An id as a URL path segment. Ids are letters and digits; anything else cannot name a key,
/// and is refused here rather than sent as a different path.
pub fn path_segment(id: &str) -> anyhow::Result<&str> {
    let ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
    anyhow::ensure!(
        ok,
        "{id:?} is not a key or token id: ids are letters and digits, such as kQ3xT9mPzR7aB"
    );
    Ok(id)
}
