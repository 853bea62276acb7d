//! `keygate oauth`: OAuth clients, which machines exchange at `POST /api/v2/oauth/token` for
//! one-hour access tokens (the client-credentials grant) to create tagged keys.

use clap::{Args, Subcommand};
use keygate_api::{
    AnyKey, AnyRevokedKey, CreateOAuthClientRequest, OAuthClientKey, OAuthClientList,
    KEY_TYPE_CLIENT,
};

use crate::client::{Client, TAILNET};
use crate::keys::{comma_list, path_segment, revoked as revoked_message};
use crate::output::{self, fields, maybe_time, or_dash, short_time, Table};
use crate::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum OAuthCommand {
    /// Create an OAuth client and print its secret (shown only this once).
    ///
    /// With --json, prints the client object with the secret in `key`.
    Create(CreateArgs),
    /// List OAuth clients. With --json: {"clients": […]}.
    List,
    /// Revoke an OAuth client; its access tokens stop working at once. Revoking it again
    /// changes nothing and says so.
    Revoke {
        /// The client's id (tXXXXXXXXXXXX).
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Comma-separated scopes: auth_keys, auth_keys:read, devices:core, devices:core:read,
    /// all, all:read.
    #[arg(long, value_name = "SCOPES", required = true)]
    scopes: String,
    /// Comma-separated tags the client may give keys (required with auth_keys or devices:core).
    #[arg(long, value_name = "TAGS")]
    tags: Option<String>,
    /// A note shown in listings (at most 50 characters).
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
}

pub async fn run(global: &GlobalArgs, cmd: OAuthCommand) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    match cmd {
        OAuthCommand::Create(args) => {
            let request = CreateOAuthClientRequest {
                key_type: KEY_TYPE_CLIENT.to_owned(),
                scopes: comma_list(&args.scopes),
                tags: args.tags.as_deref().map(comma_list),
                description: args.description,
            };
            let reply = client.post::<AnyKey>(&format!("{TAILNET}/keys"), &request).await?;
            if global.json {
                return output::print_json(&reply.text);
            }
            let AnyKey::Client(c) = reply.value else {
                anyhow::bail!("the server answered with an auth key instead of an OAuth client");
            };
            let mut text = format!("{}\n\n", c.key.as_deref().unwrap_or_default());
            text.push_str(&fields(&[
                ("client id", c.id.clone()),
                ("scopes", c.scopes.join(", ")),
                ("tags", or_dash(&c.tags.join(", "))),
            ]));
            text.push_str(
                "\nThis secret is shown only once. Exchange it for an access token with:\n  \
                 curl -d client_secret=SECRET SERVER/api/v2/oauth/token\n",
            );
            output::print(&text)
        }
        OAuthCommand::List => {
            let reply = client.get::<OAuthClientList>(&format!("{TAILNET}/oauth/clients")).await?;
            if global.json {
                return output::print_json(&reply.text);
            }
            if reply.value.clients.is_empty() {
                return output::print(
                    "No OAuth clients. Create one with: keygate oauth create --scopes auth_keys --tags tag:ci\n",
                );
            }
            let mut table = Table::new(&[
                "ID",
                "DESCRIPTION",
                "SCOPES",
                "TAGS",
                "STATE",
                "CREATED",
                "LAST USED",
            ]);
            for c in &reply.value.clients {
                table.row(vec![
                    c.id.clone(),
                    or_dash(&c.description),
                    c.scopes.join(","),
                    or_dash(&c.tags.join(",")),
                    state(c).to_owned(),
                    short_time(&c.created),
                    maybe_time(c.last_used.as_deref()),
                ]);
            }
            output::print(&table.render())
        }
        OAuthCommand::Revoke { id } => {
            let reply = client
                .delete::<AnyRevokedKey>(&format!("{TAILNET}/keys/{}", path_segment(&id)?))
                .await?;
            if global.json {
                return output::print_json(&reply.text);
            }
            let AnyRevokedKey::Client(revoked) = reply.value else {
                anyhow::bail!(
                    "{id} is an auth key, not an OAuth client: use `keygate keys revoke`"
                );
            };
            output::print(&revoked_message(
                "OAuth client",
                &revoked.client.id,
                revoked.already_revoked,
            ))
        }
    }
}

fn state(c: &OAuthClientKey) -> &'static str {
    if c.invalid {
        "revoked"
    } else {
        "valid"
    }
}
