//! `/api/v2/tailnet/{tailnet}/settings`: the tailnet settings keygate has, under the names
//! Tailscale's tailnet-settings API uses for them. Anyone authenticated may read them; only
//! admins may change them.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use keygate_domain::TailnetSettings;
use keygate_service::{Actor, Service, ServiceError};
use serde::{Deserialize, Serialize};

use crate::extract::{Json, Tailnet};
use crate::{ApiError, Caller};

/// The settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// New devices wait for an admin unless their key was pre-approved.
    pub devices_approval_on: bool,
    /// Node-key lifetime of user-owned devices, in days.
    pub devices_key_duration_days: u32,
}

impl From<TailnetSettings> for Settings {
    fn from(s: TailnetSettings) -> Self {
        Self {
            devices_approval_on: s.device_approval,
            devices_key_duration_days: s.node_key_expiry_days,
        }
    }
}

/// `PATCH …/settings`: the fields to change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices_approval_on: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices_key_duration_days: Option<u32>,
}

pub(crate) fn routes() -> Router<Service> {
    Router::new().route("/tailnet/{tailnet}/settings", get(get_settings).patch(patch_settings))
}

async fn get_settings(
    State(service): State<Service>,
    Caller(_): Caller,
    _: Tailnet,
) -> Result<axum::Json<Settings>, ApiError> {
    Ok(axum::Json(service.settings().await?.into()))
}

async fn patch_settings(
    State(service): State<Service>,
    Caller(actor): Caller,
    _: Tailnet,
    Json(patch): Json<SettingsPatch>,
) -> Result<axum::Json<Settings>, ApiError> {
    // The range check comes first, so that a patch with a bad duration changes nothing.
    // (The two fields are still two writes; the service has no single settings update.)
    let mut settings = None;
    if let Some(days) = patch.devices_key_duration_days {
        settings = Some(service.set_node_key_expiry_days(&actor, days).await?);
    }
    if let Some(on) = patch.devices_approval_on {
        settings = Some(service.set_device_approval(&actor, on).await?);
    }
    let settings = match settings {
        Some(s) => s,
        // An empty patch changes nothing, but is still an admin's request.
        None if actor == Actor::Admin => service.settings().await?,
        None => return Err(ServiceError::Forbidden("this needs an administrator".into()).into()),
    };
    Ok(axum::Json(settings.into()))
}
