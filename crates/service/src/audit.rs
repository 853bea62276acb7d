//! The audit log: recording what was done, and listing it.
//!
//! Other use cases call [`Service::record_audit`] (or [`Service::record_audit_as`] when the
//! actor is not an API caller, such as a node enrolling) right after they succeed. Recording is
//! best effort: a failure to write the entry is logged at error level and does not undo or fail
//! the operation, which has already happened. Entries never hold secrets: targets are public
//! ids, and details are built from non-secret fields only.

use keygate_domain::audit::{AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT};
use keygate_domain::{AuditAction, AuditActor, AuditEvent, AuditFilter, NewAuditEvent};

use crate::users::require_admin;
use crate::{Actor, Service, ServiceError};

impl Service {
    /// Records that `actor` did `action` to `target` (a public id or name), with `detail` (a
    /// JSON object of further non-secret facts, `json!({})` for none).
    pub async fn record_audit(
        &self,
        actor: &Actor,
        action: AuditAction,
        target: &str,
        detail: serde_json::Value,
    ) {
        let actor = self.audit_actor(actor).await;
        self.record_audit_as(actor, action, target, detail).await;
    }

    /// Like [`Service::record_audit`], for actors that are not API callers: a node
    /// (`AuditActor::Node`, e.g. for [`AuditAction::KeyUse`]) or keygate itself.
    pub async fn record_audit_as(
        &self,
        actor: AuditActor,
        action: AuditAction,
        target: &str,
        detail: serde_json::Value,
    ) {
        let event = NewAuditEvent {
            at: self.now(),
            actor,
            action,
            target: target.to_owned(),
            detail: detail.to_string(),
        };
        if let Err(e) = self.store.insert_audit_event(&event).await {
            tracing::error!(error = %e, action = %action, target, "could not write an audit entry");
        }
    }

    /// Audit entries matching `filter`, newest first. Admins only. `filter.limit` must be 1
    /// to [`AUDIT_MAX_LIMIT`]; 0 means the default ([`AUDIT_DEFAULT_LIMIT`]).
    pub async fn list_audit(
        &self,
        actor: &Actor,
        mut filter: AuditFilter,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        require_admin(actor)?;
        if filter.limit == 0 {
            filter.limit = AUDIT_DEFAULT_LIMIT;
        }
        if filter.limit > AUDIT_MAX_LIMIT {
            return Err(ServiceError::Invalid(format!(
                "limit {} is too large: at most {AUDIT_MAX_LIMIT} entries are listed at once",
                filter.limit
            )));
        }
        Ok(self.store.list_audit_events(&filter).await?)
    }

    /// How `actor` is named in the log. A user is named by login name (stable: users are
    /// never renamed), which is what `?actor=user:alice` filters on.
    async fn audit_actor(&self, actor: &Actor) -> AuditActor {
        match actor {
            Actor::Admin => AuditActor::Admin,
            Actor::OAuth(grant) => AuditActor::OAuthClient(grant.client.clone()),
            Actor::User(id) => match self.store.get_user(*id).await {
                Ok(user) => AuditActor::User(user.name),
                Err(e) => {
                    tracing::warn!(error = %e, user = %id, "audit entry without the user's name");
                    AuditActor::User(keygate_domain::UserName::from_stored(format!("#{id}")))
                }
            },
        }
    }
}
