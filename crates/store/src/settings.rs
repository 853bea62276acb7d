//! The `settings` table: the tailnet's settings, in a single row with `id = 1`.
//!
//! The row is absent until the settings are first saved, and reads fall back to
//! [`TailnetSettings::default`]; so the defaults live in the domain only, not also in a
//! migration that would have to change whenever they do.

use keygate_domain::TailnetSettings;

use crate::conn::Conn;
use crate::StoreError;

/// The `settings` row.
#[derive(sqlx::FromRow)]
struct SettingsRow {
    device_approval: bool,
    node_key_expiry_days: i64,
}

impl TryFrom<SettingsRow> for TailnetSettings {
    type Error = StoreError;

    fn try_from(row: SettingsRow) -> Result<Self, StoreError> {
        Ok(TailnetSettings {
            device_approval: row.device_approval,
            node_key_expiry_days: u32::try_from(row.node_key_expiry_days).map_err(|e| {
                StoreError::corrupt("settings", format_args!("node_key_expiry_days: {e}"))
            })?,
        })
    }
}

const SELECT: &str = "SELECT device_approval, node_key_expiry_days FROM settings WHERE id = 1";
const UPSERT: &str = "INSERT INTO settings (id, device_approval, node_key_expiry_days) \
     VALUES (1, $1, $2) \
     ON CONFLICT (id) DO UPDATE SET device_approval = excluded.device_approval, \
       node_key_expiry_days = excluded.node_key_expiry_days";

pub(crate) async fn get<C: Conn>(c: &mut C) -> Result<TailnetSettings, StoreError> {
    let row: Option<SettingsRow> = c.fetch_optional(SELECT, &[]).await?;
    row.map_or_else(|| Ok(TailnetSettings::default()), TailnetSettings::try_from)
}

pub(crate) async fn put<C: Conn>(c: &mut C, settings: &TailnetSettings) -> Result<(), StoreError> {
    let days = i64::from(settings.node_key_expiry_days);
    c.execute(UPSERT, &[settings.device_approval.into(), days.into()]).await?;
    Ok(())
}
