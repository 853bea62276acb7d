//! `keygate tokens`: API tokens for the REST API and for remote `keygate --server … --token …`.

use clap::{Args, Subcommand};
use keygate_api::{CreateTokenRequest, RevokedToken, Token, TokenList};

use crate::client::{Client, TAILNET};
use crate::keys::{expiry_seconds, path_segment, revoked};
use crate::output::{self, fields, long_time, maybe_time, or_dash, short_time, Table};
use crate::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Create an API token and print it (shown only this once).
    ///
    /// With --json, prints the token object with the secret in `key`.
    Create(CreateArgs),
    /// List API tokens. With --json: {"tokens": […]}.
    List,
    /// Revoke an API token. Revoking it again changes nothing and says so.
    Revoke {
        /// The token's id (tXXXXXXXXXXXX).
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The user the token acts as [default: the server's default user].
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// How long the token stays usable: 1d to 90d [default: 90d].
    #[arg(long, value_name = "DAYS")]
    expiry: Option<String>,
    /// A note shown in listings (at most 50 characters).
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
}

pub async fn run(global: &GlobalArgs, cmd: TokensCommand) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    match cmd {
        TokensCommand::Create(args) => {
            let expiry_seconds = expiry_seconds(args.expiry.as_deref())?;
            let request = CreateTokenRequest {
                user: args.user,
                expiry_seconds,
                description: args.description,
            };
            let reply = client.post::<Token>(&format!("{TAILNET}/tokens"), &request).await?;
            if global.json {
                return output::print_json(&reply.text);
            }
            let t = reply.value;
            let mut text = format!("{}\n\n", t.key.as_deref().unwrap_or_default());
            text.push_str(&fields(&[
                ("id", t.id.clone()),
                ("user", or_dash(&t.user)),
                ("expires", long_time(&t.expires)),
            ]));
            text.push_str(
                "\nThis token is shown only once. Use it with: keygate --server URL keys list \
                 (with KEYGATE_TOKEN=TOKEN in the environment), or as a Bearer token for the API.\n",
            );
            output::print(&text)
        }
        TokensCommand::List => {
            let reply = client.get::<TokenList>(&format!("{TAILNET}/tokens")).await?;
            if global.json {
                return output::print_json(&reply.text);
            }
            if reply.value.tokens.is_empty() {
                return output::print("No API tokens. Create one with: keygate tokens create\n");
            }
            let mut table = Table::new(&[
                "ID",
                "DESCRIPTION",
                "USER",
                "STATE",
                "CREATED",
                "EXPIRES",
                "LAST USED",
            ]);
            for t in &reply.value.tokens {
                table.row(vec![
                    t.id.clone(),
                    or_dash(&t.description),
                    or_dash(&t.user),
                    state(t).to_owned(),
                    short_time(&t.created),
                    short_time(&t.expires),
                    maybe_time(t.last_used.as_deref()),
                ]);
            }
            output::print(&table.render())
        }
        TokensCommand::Revoke { id } => {
            let reply = client
                .delete::<RevokedToken>(&format!("{TAILNET}/tokens/{}", path_segment(&id)?))
                .await?;
            if global.json {
                return output::print_json(&reply.text);
            }
            output::print(&revoked("token", &reply.value.token.id, reply.value.already_revoked))
        }
    }
}

/// `valid`, `revoked` or `expired`.
fn state(t: &Token) -> &'static str {
    match (t.invalid, t.revoked.as_deref()) {
        (false, _) => "valid",
        // The API reports when a token became invalid; it was revoked unless that is its expiry.
        (true, Some(since)) if since != t.expires => "revoked",
        (true, _) => "expired",
    }
}
