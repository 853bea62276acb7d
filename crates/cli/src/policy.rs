//! `keygate policy`: read, replace and check the tailnet's ACL policy file.
//!
//! The file travels as HuJSON (`application/hujson`), so comments and formatting survive a
//! `get` / edit / `set` round trip. `set` and `check` print every problem the server finds,
//! each with its line and column in the file, and the failing `tests` assertions.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use http::Method;
use keygate_api::PolicyProblems;

use crate::client::{Client, TAILNET};
use crate::output;
use crate::GlobalArgs;

/// The media type of HuJSON, as Tailscale names it.
const HUJSON: &str = "application/hujson";

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Print the policy file as saved (HuJSON, comments kept). With --json, as plain JSON.
    Get,
    /// Replace the policy file with FILE ("-": standard input). The server refuses a file
    /// that does not parse, names something undefined, or fails its own tests.
    Set {
        /// The policy file (HuJSON).
        file: PathBuf,
    },
    /// Check FILE ("-": standard input) as `set` would, tests included, without saving it.
    Check {
        /// The policy file (HuJSON).
        file: PathBuf,
    },
}

pub async fn run(global: &GlobalArgs, cmd: PolicyCommand) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    let acl = format!("{TAILNET}/acl");
    match cmd {
        PolicyCommand::Get => {
            let accept = if global.json { "application/json" } else { HUJSON };
            let text = client.text(Method::GET, &acl, accept, None).await?;
            output::print(&with_newline(text))
        }
        PolicyCommand::Set { file } => {
            let text = read_policy(&file)?;
            let accept = if global.json { "application/json" } else { HUJSON };
            let saved = client
                .text(Method::POST, &acl, accept, Some((HUJSON, text)))
                .await
                .with_context(|| format!("{} was not saved", file.display()))?;
            if global.json {
                return output::print(&with_newline(saved));
            }
            output::print(&format!("policy saved from {}\n", file.display()))
        }
        PolicyCommand::Check { file } => {
            let text = read_policy(&file)?;
            let reply = client
                .text(
                    Method::POST,
                    &format!("{acl}/validate"),
                    "application/json",
                    Some((HUJSON, text)),
                )
                .await?;
            if global.json {
                return output::print_json(&reply);
            }
            let problems: PolicyProblems = serde_json::from_str(&reply)
                .context("the server's answer to the check is not what this keygate expects")?;
            match problems.message {
                Some(message) => bail!("{}: {message}", file.display()),
                None => output::print(&format!(
                    "{}: the policy is valid and its tests pass\n",
                    file.display()
                )),
            }
        }
    }
}

/// The text of `file`, or of standard input for `-`.
fn read_policy(file: &Path) -> anyhow::Result<String> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the policy from standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(file)
        .with_context(|| format!("reading the policy file {}", file.display()))
}

fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
