//! `GET /api/v2/tailnet/{tailnet}/audit`: the audit log, newest first, with filters (a keygate
//! extension, admins only). Entries never hold secrets.

use axum::extract::State;
use keygate_domain::audit::AUDIT_DEFAULT_LIMIT;
use keygate_domain::{AuditAction, AuditEvent, AuditFilter, Timestamp};
use keygate_service::Service;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{AdminOnly, Authorized};
use crate::error::ApiError;
use crate::extract::{Query, Tailnet};
use crate::openapi::{ReadErrors, TailnetName};

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Increases with every entry.
    pub id: i64,
    /// When it happened (RFC 3339).
    pub at: String,
    /// `admin`, `user:<name>`, `oauth:<client id>`, `node:<id>` or `system`.
    pub actor: String,
    /// E.g. `key.create`, `key.revoke`, `key.use`, `token.create`, `settings.change`.
    pub action: String,
    /// The id or name of what was acted on.
    pub target: String,
    /// Further facts (never a secret).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl AuditEntry {
    fn from_domain(event: AuditEvent) -> Self {
        // Written by the service as a JSON object; anything else is shown as text rather than
        // failing the whole listing.
        let detail = serde_json::from_str(&event.detail)
            .ok()
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({ "text": event.detail }));
        Self {
            id: event.id,
            at: event.at.to_rfc3339(),
            actor: event.actor,
            action: event.action,
            target: event.target,
            detail,
        }
    }
}

/// `GET …/audit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditLog {
    pub events: Vec<AuditEntry>,
}

/// The filters of `GET …/audit`; each given one must match exactly.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// e.g. `admin`, `user:alice`, `oauth:tAbc…`, `node:7`.
    actor: Option<String>,
    /// e.g. `key.create`.
    action: Option<String>,
    /// e.g. a key id.
    target: Option<String>,
    /// Only entries at or after this RFC 3339 time.
    since: Option<String>,
    /// At most this many entries, 1 to 1000 (default 100).
    limit: Option<u32>,
}

pub(crate) fn routes() -> OpenApiRouter<Service> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Lists audit entries, newest first (admins only).
#[utoipa::path(
    get,
    path = "/tailnet/{tailnet}/audit",
    tag = "audit",
    params(("tailnet" = TailnetName, Path, description = "`-` (or `keygate`)"), AuditQuery),
    responses((status = 200, body = AuditLog), ReadErrors)
)]
async fn list_audit(
    Authorized(actor, ..): Authorized<AdminOnly>,
    State(service): State<Service>,
    _: Tailnet,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<AuditLog>, ApiError> {
    let since = match query.since.as_deref() {
        None | Some("") => None,
        Some(text) => Some(Timestamp::parse_rfc3339(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "since: {text:?} is not an RFC 3339 time (such as 2025-06-01T12:00:00Z)"
            ))
        })?),
    };
    if let Some(action) = query.action.as_deref() {
        if AuditAction::parse(action).is_none() {
            let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
            return Err(ApiError::bad_request(format!(
                "action: unknown action {action:?}: use one of {}",
                known.join(", ")
            )));
        }
    }
    if query.limit == Some(0) {
        return Err(ApiError::bad_request("limit: must be at least 1"));
    }
    let filter = AuditFilter {
        actor: query.actor.filter(|a| !a.is_empty()),
        action: query.action,
        target: query.target.filter(|t| !t.is_empty()),
        since,
        limit: query.limit.unwrap_or(AUDIT_DEFAULT_LIMIT),
    };
    let events = service.list_audit(&actor, filter).await?;
    Ok(axum::Json(AuditLog { events: events.into_iter().map(AuditEntry::from_domain).collect() }))
}
