//! The `policies` table: every saved revision of the tailnet's ACL policy file.
//!
//! # Why saves cannot lose each other's updates
//!
//! Each revision names its parent, the revision it replaced, and a new revision is stored only
//! if its parent is the newest revision (0 when there is none): one `INSERT … SELECT … WHERE`
//! statement. Two saves made from the same revision therefore cannot both be stored:
//! - SQLite: writes run one at a time (one writer connection, the database lock across
//!   processes), so the second save's `WHERE` already sees the first's revision and inserts
//!   nothing;
//! - PostgreSQL, READ COMMITTED: both statements may see the same newest revision, but the
//!   unique constraint on `parent` makes the second wait for the first and then fail.
//!
//! Either way the loser gets [`StoreError::Conflict`] (`Unique::PolicyRevision`), which the service
//! turns into HTTP 412 for a client that sent `If-Match`, or a retry for one that did not.
//!
//! The types live here rather than in the domain: they carry no rules; the policy's rules are
//! the `keygate-policy` crate's.

use keygate_domain::Timestamp;

use crate::conn::Conn;
use crate::{StoreError, Unique};

/// A stored revision of the policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRevision {
    /// Revision number: increasing, never reused.
    pub id: i64,
    /// The revision this one replaced; 0 for the first.
    pub parent: i64,
    /// The file as written (HuJSON).
    pub text: String,
    /// Who saved it, as the service describes them.
    pub saved_by: String,
    pub created: Timestamp,
}

/// A revision about to be saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPolicyRevision {
    /// The revision the writer started from: the newest when it read (0 for none).
    pub parent: i64,
    pub text: String,
    pub saved_by: String,
    pub created: Timestamp,
}

/// A `policies` row.
#[derive(sqlx::FromRow)]
struct PolicyRow {
    id: i64,
    parent: i64,
    body: String,
    saved_by: String,
    created_at: i64,
}

impl From<PolicyRow> for PolicyRevision {
    fn from(row: PolicyRow) -> Self {
        PolicyRevision {
            id: row.id,
            parent: row.parent,
            text: row.body,
            saved_by: row.saved_by,
            created: Timestamp::from_unix_millis(row.created_at),
        }
    }
}

macro_rules! columns {
    () => {
        "id, parent, body, saved_by, created_at"
    };
}

/// Inserts the revision only if `$1` (its parent) is the newest revision, 0 when none.
const INSERT_IF_NEWEST: &str = concat!(
    "INSERT INTO policies (parent, body, saved_by, created_at) \
     SELECT $1, $2, $3, $4 \
     WHERE $1 = (SELECT COALESCE(MAX(id), 0) FROM policies) \
     RETURNING ",
    columns!()
);
const SELECT_LATEST: &str =
    concat!("SELECT ", columns!(), " FROM policies ORDER BY id DESC LIMIT 1");
const SELECT_ALL: &str = concat!("SELECT ", columns!(), " FROM policies ORDER BY id DESC");

pub(crate) async fn insert<C: Conn>(
    c: &mut C,
    revision: &NewPolicyRevision,
) -> Result<PolicyRevision, StoreError> {
    let row: Option<PolicyRow> = c
        .fetch_optional(
            INSERT_IF_NEWEST,
            &[
                revision.parent.into(),
                revision.text.as_str().into(),
                revision.saved_by.as_str().into(),
                revision.created.into(),
            ],
        )
        .await
        .map_err(|e| StoreError::from_write(e, "policy revision"))?;
    row.map(PolicyRevision::from).ok_or(StoreError::Conflict(Unique::PolicyRevision))
}

pub(crate) async fn find_latest<C: Conn>(c: &mut C) -> Result<Option<PolicyRevision>, StoreError> {
    let row: Option<PolicyRow> = c.fetch_optional(SELECT_LATEST, &[]).await?;
    Ok(row.map(PolicyRevision::from))
}

pub(crate) async fn list<C: Conn>(c: &mut C) -> Result<Vec<PolicyRevision>, StoreError> {
    let rows: Vec<PolicyRow> = c.fetch_all(SELECT_ALL, &[]).await?;
    Ok(rows.into_iter().map(PolicyRevision::from).collect())
}
