//! `keygate users`: create and list users.

use clap::Subcommand;
use keygate_api::{CreateUserRequest, User, UserList};

use crate::client::{Client, TAILNET};
use crate::output::{self, short_time, Table};
use crate::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a user. With --json, prints the user object.
    Create {
        /// Lowercase letters, digits, '.', '_', '-' or '@' (alice, ci-bot, alice@example.com).
        name: String,
    },
    /// List users. With --json: {"users": […]}.
    List,
}

pub async fn run(global: &GlobalArgs, cmd: UsersCommand) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    match cmd {
        UsersCommand::Create { name } => {
            let reply = client
                .post::<User>(&format!("{TAILNET}/users"), &CreateUserRequest { name })
                .await?;
            if global.json {
                return output::print_json(&reply.text);
            }
            output::print(&format!("created user {} (id {})\n", reply.value.name, reply.value.id))
        }
        UsersCommand::List => {
            let reply = client.get::<UserList>(&format!("{TAILNET}/users")).await?;
            if global.json {
                return output::print_json(&reply.text);
            }
            if reply.value.users.is_empty() {
                return output::print("No users yet. Create one with: keygate users create NAME\n");
            }
            let mut table = Table::new(&["ID", "NAME", "LOGIN NAME", "CREATED"]);
            for u in &reply.value.users {
                table.row(vec![
                    u.id.clone(),
                    u.name.clone(),
                    u.login_name.clone(),
                    short_time(&u.created),
                ]);
            }
            output::print(&table.render())
        }
    }
}
