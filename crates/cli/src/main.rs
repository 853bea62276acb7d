//! `keygate`: runs the server (`keygate serve`) and administers it (users, keys, tokens,
//! settings) through the REST API.
//!
//! On the server's machine the admin commands talk to the admin socket in the data directory
//! and need no token; elsewhere they take `--server URL --token …`. Every command prints a
//! human form, or the API's JSON with `--json`. Failures are one `error: …` line on stderr and
//! exit status 1 (usage errors: clap's message and status 2).

mod admin;
mod audit;
mod client;
mod keys;
mod nodes;
mod oauth;
mod output;
mod policy;
mod serve;
mod settings;
mod tokens;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// keygate: a self-hosted control server for Tailscale clients.
// No `Debug` here or on `GlobalArgs`: it would print the API token.
#[derive(Parser)]
#[command(name = "keygate", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command accepts.
#[derive(Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file (TOML); see config.example.toml. Admin commands read only `data_dir`
    /// from it, to find the admin socket.
    #[arg(long, global = true, env = "KEYGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: the server keeps its database there, and the admin socket that
    /// commands on the same machine use [default: ./keygate-data]
    #[arg(long, global = true, env = "KEYGATE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Admin socket to use instead of <DIR>/admin.sock.
    #[arg(long, global = true, env = "KEYGATE_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// URL of a keygate server to administer remotely (needs --token).
    #[arg(long, global = true, env = "KEYGATE_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// API token for --server (prefer the KEYGATE_TOKEN variable: a flag shows in `ps`).
    #[arg(
        long,
        global = true,
        env = "KEYGATE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: HTTP listener and admin socket.
    Serve(serve::ServeArgs),
    /// Users, who own keys and nodes.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Pre-authentication keys, for `tailscale up --authkey`.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Nodes (devices): list, show, approve, tag, expire, delete.
    #[command(subcommand)]
    Nodes(nodes::NodesCommand),
    /// API tokens, for the REST API and for `keygate --server URL --token …`.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Tailnet settings.
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
    /// OAuth clients, which machines exchange for short-lived tokens to create tagged keys.
    #[command(subcommand)]
    Oauth(oauth::OAuthCommand),
    /// The audit log: who created, revoked or used what, newest first.
    Audit(audit::AuditArgs),
    /// Accounts of the admin web console (/console).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The ACL policy file: who may reach what, and who may apply which tags.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error (a bug in keygate, please report it): {info}");
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Serve(args) => serve::run(&global, args),
        Command::Users(cmd) => client::block_on(users::run(&global, cmd)),
        Command::Keys(cmd) => client::block_on(keys::run(&global, cmd)),
        Command::Nodes(cmd) => client::block_on(nodes::run(&global, cmd)),
        Command::Tokens(cmd) => client::block_on(tokens::run(&global, cmd)),
        Command::Settings(cmd) => client::block_on(settings::run(&global, cmd)),
        Command::Oauth(cmd) => client::block_on(oauth::run(&global, cmd)),
        Command::Audit(args) => client::block_on(audit::run(&global, args)),
        Command::Admin(cmd) => admin::run(&global, cmd),
        Command::Policy(cmd) => client::block_on(policy::run(&global, cmd)),
    }
}

/// The error and its causes on one line, joined with ": ", skipping a cause whose text the
/// line already holds (some errors repeat their source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn errors_print_their_chain_on_one_line() {
        let e = anyhow::anyhow!("inner\nproblem").context("outer step");
        assert_eq!(one_line(&e), "outer step: inner problem");
    }
}
