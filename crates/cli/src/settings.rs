//! `keygate settings`: read and change the tailnet settings.

use clap::{Subcommand, ValueEnum};
use keygate_api::{Settings, SettingsPatch};

use crate::client::{Client, TAILNET};
use crate::output::{self, fields};
use crate::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum SettingsCommand {
    /// Show the settings. With --json, prints the API's settings object.
    Get,
    /// Change a setting, then show them all.
    #[command(subcommand)]
    Set(SetCommand),
}

#[derive(Subcommand, Debug)]
pub enum SetCommand {
    /// Whether new devices wait for an admin's approval (unless their key is pre-approved).
    DeviceApproval {
        #[arg(value_enum)]
        value: OnOff,
    },
    /// Node-key lifetime of user-owned devices, in days (tagged devices never expire).
    NodeKeyExpiry {
        /// Days, from 1 to 180.
        days: u32,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

pub async fn run(global: &GlobalArgs, cmd: SettingsCommand) -> anyhow::Result<()> {
    let client = Client::from_args(global)?;
    let path = format!("{TAILNET}/settings");
    let reply = match cmd {
        SettingsCommand::Get => client.get::<Settings>(&path).await?,
        SettingsCommand::Set(set) => {
            let patch = match set {
                SetCommand::DeviceApproval { value } => SettingsPatch {
                    devices_approval_on: Some(matches!(value, OnOff::On)),
                    ..Default::default()
                },
                SetCommand::NodeKeyExpiry { days } => {
                    SettingsPatch { devices_key_duration_days: Some(days), ..Default::default() }
                }
            };
            client.patch::<Settings>(&path, &patch).await?
        }
    };
    if global.json {
        return output::print_json(&reply.text);
    }
    let s = reply.value;
    output::print(&fields(&[
        ("device approval", if s.devices_approval_on { "on" } else { "off" }.to_owned()),
        ("node key expiry", format!("{} days", s.devices_key_duration_days)),
    ]))
}
