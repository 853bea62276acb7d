//! Tailnet settings.

use keygate_domain::{AuditAction, TailnetSettings};

use crate::users::require_admin;
use crate::{Actor, Service, ServiceError};

/// Bounds of the node-key expiry setting, in days.
pub const NODE_KEY_EXPIRY_DAYS: std::ops::RangeInclusive<u32> = 1..=180;

impl Service {
    pub async fn settings(&self) -> Result<TailnetSettings, ServiceError> {
        Ok(self.store.get_settings().await?)
    }

    /// Turns device approval on or off. Admins only.
    pub async fn set_device_approval(
        &self,
        actor: &Actor,
        on: bool,
    ) -> Result<TailnetSettings, ServiceError> {
        require_admin(actor)?;
        let mut s = self.store.get_settings().await?;
        s.device_approval = on;
        self.store.put_settings(&s).await?;
        tracing::info!(device_approval = on, "settings changed");
        let detail = serde_json::json!({ "devicesApprovalOn": on });
        self.record_audit(actor, AuditAction::SettingsChange, "devicesApprovalOn", detail).await;
        Ok(s)
    }

    /// Sets the node-key lifetime of user-owned nodes. Admins only.
    pub async fn set_node_key_expiry_days(
        &self,
        actor: &Actor,
        days: u32,
    ) -> Result<TailnetSettings, ServiceError> {
        require_admin(actor)?;
        if !NODE_KEY_EXPIRY_DAYS.contains(&days) {
            return Err(ServiceError::Invalid(format!(
                "node key expiry of {days} days is out of range: choose from {} to {} days",
                NODE_KEY_EXPIRY_DAYS.start(),
                NODE_KEY_EXPIRY_DAYS.end()
            )));
        }
        let mut s = self.store.get_settings().await?;
        s.node_key_expiry_days = days;
        self.store.put_settings(&s).await?;
        tracing::info!(node_key_expiry_days = days, "settings changed");
        let detail = serde_json::json!({ "devicesKeyDurationDays": days });
        self.record_audit(actor, AuditAction::SettingsChange, "devicesKeyDurationDays", detail)
            .await;
        Ok(s)
    }
}
