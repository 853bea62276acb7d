//! `keygate admin`: accounts of the admin web console.
//!
//! Creating one goes through the admin socket only (whoever can open it administers the
//! server), so it runs on the server's machine. The password is typed twice at a prompt that
//! does not echo, or read from standard input with `--password-stdin` (for scripts); it never
//! appears on the command line, where `ps` would show it.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::client::{self, Client};
use crate::output;
use crate::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an admin of the web console (on the server's machine). Prompts for the
    /// password twice; with --json, prints {"name": …, "created": …}.
    Create {
        /// Lowercase letters, digits, '.', '_', '-' or '@' (alice, ops@example.com).
        name: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Body of the admin socket's `POST /console/admins` (keygate-console's `CreateAdminRequest`).
#[derive(Serialize)]
struct CreateAdminRequest<'a> {
    name: &'a str,
    password: &'a str,
}

/// Its answer (keygate-console's `CreatedAdmin`).
#[derive(Deserialize)]
struct CreatedAdmin {
    name: String,
}

pub fn run(global: &GlobalArgs, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Create { name, password_stdin } => {
            if global.server.is_some() {
                bail!("`keygate admin create` works only on the server's machine, through its admin socket: run it there without --server");
            }
            // The client first, so a wrong data directory is reported before any prompt.
            let client = Client::from_args(global)?;
            let password = if password_stdin {
                password_from(std::io::stdin().lock())?
            } else {
                prompt_twice(&name)?
            };
            client::block_on(async {
                let request = CreateAdminRequest { name: &name, password: &password };
                let reply = client.post::<CreatedAdmin>("/console/admins", &request).await?;
                if global.json {
                    return output::print_json(&reply.text);
                }
                output::print(&format!(
                    "created console admin {}: sign in at <server URL>/console\n",
                    reply.value.name
                ))
            })
        }
    }
}

/// The first line of `input`, without its line ending.
fn password_from(mut input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input.read_line(&mut line).context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("no password on standard input: pipe it in, e.g. `keygate admin create NAME --password-stdin < file`");
    }
    Ok(password.to_owned())
}

/// Asks for the password twice on the terminal, without echo.
fn prompt_twice(name: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "no terminal to ask for the password: pass --password-stdin and pipe the password in"
        );
    }
    let first = rpassword::prompt_password(format!("Password for {name}: "))
        .context("reading the password")?;
    let second =
        rpassword::prompt_password("Same password again: ").context("reading the password")?;
    if first != second {
        bail!("the two passwords differ; nothing was created");
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_first_line_without_its_ending() {
        assert_eq!(password_from(&b"hunter2 hunter2\n"[..]).unwrap(), "hunter2 hunter2");
        assert_eq!(password_from(&b"pw\r\nsecond line\n"[..]).unwrap(), "pw");
        assert_eq!(password_from(&b"no newline"[..]).unwrap(), "no newline");
        assert!(password_from(&b"\n"[..]).is_err());
        assert!(password_from(&b""[..]).is_err());
    }
}
