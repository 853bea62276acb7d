//! The `audit_events` table: the append-only audit log.
//!
//! Filters are optional; each is one `($n IS NULL OR column = $n)` term, so one statement text
//! serves every combination and stays in the prepared-statement cache.

use keygate_domain::{AuditEvent, AuditFilter, NewAuditEvent, Timestamp};

use crate::conn::Conn;
use crate::StoreError;

/// An `audit_events` row.
#[derive(sqlx::FromRow)]
struct AuditEventRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

impl From<AuditEventRow> for AuditEvent {
    fn from(row: AuditEventRow) -> Self {
        AuditEvent {
            id: row.id,
            at: Timestamp::from_unix_millis(row.at),
            actor: row.actor,
            action: row.action,
            target: row.target,
            detail: row.detail,
        }
    }
}

macro_rules! columns {
    () => {
        "id, at, actor, action, target, detail"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO audit_events (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5) \
     RETURNING ",
    columns!()
);
/// Newest first. `$5` is the limit.
const SELECT_FILTERED: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM audit_events \
     WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
       AND ($3 IS NULL OR target = $3) AND ($4 IS NULL OR at >= $4) \
     ORDER BY id DESC LIMIT $5"
);

pub(crate) async fn insert<C: Conn>(
    c: &mut C,
    event: &NewAuditEvent,
) -> Result<AuditEvent, StoreError> {
    let actor = event.actor.to_string();
    let row: AuditEventRow = c
        .fetch_one(
            INSERT,
            &[
                event.at.into(),
                actor.as_str().into(),
                event.action.as_str().into(),
                event.target.as_str().into(),
                event.detail.as_str().into(),
            ],
        )
        .await?;
    Ok(row.into())
}

pub(crate) async fn list<C: Conn>(
    c: &mut C,
    filter: &AuditFilter,
) -> Result<Vec<AuditEvent>, StoreError> {
    let rows: Vec<AuditEventRow> = c
        .fetch_all(
            SELECT_FILTERED,
            &[
                filter.actor.as_deref().into(),
                filter.action.as_deref().into(),
                filter.target.as_deref().into(),
                filter.since.into(),
                i64::from(filter.limit).into(),
            ],
        )
        .await?;
    Ok(rows.into_iter().map(AuditEvent::from).collect())
}
