//! `/api/v2/tailnet/{tailnet}/settings`: the tailnet settings keygate has, under the names
//! Tailscale's tailnet-settings API uses for them. Anyone authenticated may read them; only
//! admins may change them.

use axum::extract::State;
use keygate_domain::TailnetSettings;
use keygate_service::Service;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{AdminOnly, Authorized, People};
use crate::error::ApiError;
use crate::extract::{Json, Tailnet};
use crate::openapi::{ReadErrors, TailnetName, WriteErrors};

/// The settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices_approval_on: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices_key_duration_days: Option<u32>,
}

pub(crate) fn routes() -> OpenApiRouter<Service> {
    OpenApiRouter::new().routes(routes!(get_settings, patch_settings))
}

/// Reads the tailnet settings (admins and user tokens).
#[utoipa::path(
    get,
    path = "/tailnet/{tailnet}/settings",
    tag = "settings",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)")),
    responses((status = 200, body = Settings), ReadErrors)
)]
async fn get_settings(
    _: Authorized<People>,
    State(service): State<Service>,
    _: Tailnet,
) -> Result<axum::Json<Settings>, ApiError> {
    Ok(axum::Json(service.settings().await?.into()))
}

/// Changes tailnet settings (admins only); absent fields stay as they are.
#[utoipa::path(
    patch,
    path = "/tailnet/{tailnet}/settings",
    tag = "settings",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)")),
    request_body = SettingsPatch,
    responses((status = 200, body = Settings), WriteErrors)
)]
async fn patch_settings(
    Authorized(actor, ..): Authorized<AdminOnly>,
    State(service): State<Service>,
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
        // An empty patch changes nothing (the requirement already made it an admin's).
        None => service.settings().await?,
    };
    Ok(axum::Json(settings.into()))
}
