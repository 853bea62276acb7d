//! The audit log: who did what to which key, token, node, user or setting, and when.
//!
//! Entries are written with typed values ([`AuditActor`], [`AuditAction`]) and read back as
//! text ([`AuditEvent`]), so a log written by a newer keygate with actions this one does not
//! know still lists. An entry never holds a secret: targets are public ids, details are JSON
//! built by the service from non-secret fields.

use std::fmt;

use crate::{NodeId, Timestamp, TokenId, UserName};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A pre-authentication key was created (target: key id).
    KeyCreate,
    /// A pre-authentication key was revoked (target: key id).
    KeyRevoke,
    /// A key enrolled a node (target: key id; detail names the node).
    KeyUse,
    /// A node was approved or de-authorised (target: node id).
    NodeApprove,
    /// A node was deleted (target: node id).
    NodeDelete,
    /// A node's tags changed (target: node id).
    NodeTags,
    /// A node's key expiry changed or was forced (target: node id).
    NodeExpiry,
    /// An API token was created (target: token id).
    TokenCreate,
    /// An API token was revoked (target: token id).
    TokenRevoke,
    /// A user was created (target: user name).
    UserCreate,
    /// A tailnet setting changed (target: the setting's API name).
    SettingsChange,
    /// An OAuth client was created (target: client id).
    OAuthClientCreate,
    /// An OAuth client was revoked (target: client id).
    OAuthClientRevoke,
}

impl AuditAction {
    /// Every action, for documentation and validation of filters.
    pub const ALL: [AuditAction; 13] = [
        AuditAction::KeyCreate,
        AuditAction::KeyRevoke,
        AuditAction::KeyUse,
        AuditAction::NodeApprove,
        AuditAction::NodeDelete,
        AuditAction::NodeTags,
        AuditAction::NodeExpiry,
        AuditAction::TokenCreate,
        AuditAction::TokenRevoke,
        AuditAction::UserCreate,
        AuditAction::SettingsChange,
        AuditAction::OAuthClientCreate,
        AuditAction::OAuthClientRevoke,
    ];

    /// The stored and displayed name, `noun.verb`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::KeyCreate => "key.create",
            AuditAction::KeyRevoke => "key.revoke",
            AuditAction::KeyUse => "key.use",
            AuditAction::NodeApprove => "node.approve",
            AuditAction::NodeDelete => "node.delete",
            AuditAction::NodeTags => "node.tags",
            AuditAction::NodeExpiry => "node.expiry",
            AuditAction::TokenCreate => "token.create",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::UserCreate => "user.create",
            AuditAction::SettingsChange => "settings.change",
            AuditAction::OAuthClientCreate => "oauth_client.create",
            AuditAction::OAuthClientRevoke => "oauth_client.revoke",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did it, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditActor {
    /// The admin channel (the local socket) or a console admin: `admin`.
    Admin,
    /// A user's API token: `user:<name>`.
    User(UserName),
    /// An OAuth access token: `oauth:<client id>`.
    OAuthClient(TokenId),
    /// A node, e.g. enrolling with a key: `node:<id>`.
    Node(NodeId),
    /// keygate itself (expiry sweeps, ephemeral clean-up): `system`.
    System,
}

impl fmt::Display for AuditActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditActor::Admin => f.write_str("admin"),
            AuditActor::User(name) => write!(f, "user:{name}"),
            AuditActor::OAuthClient(id) => write!(f, "oauth:{id}"),
            AuditActor::Node(id) => write!(f, "node:{id}"),
            AuditActor::System => f.write_str("system"),
        }
    }
}

/// An entry to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub at: Timestamp,
    pub actor: AuditActor,
    pub action: AuditAction,
    /// The public id of what was acted on (key, token, node, client id; user or setting name).
    pub target: String,
    /// A JSON object with further non-secret facts (`{}` when there are none).
    pub detail: String,
}

/// An entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Ascending in insertion order.
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// JSON object text.
    pub detail: String,
}

/// Which entries to list: each `Some` field must match exactly; newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<Timestamp>,
    /// At most this many entries.
    pub limit: u32,
}

impl Default for AuditFilter {
    fn default() -> Self {
        Self { actor: None, action: None, target: None, since: None, limit: AUDIT_DEFAULT_LIMIT }
    }
}

/// Entries listed when no limit is given.
pub const AUDIT_DEFAULT_LIMIT: u32 = 100;
/// The most entries one listing returns.
pub const AUDIT_MAX_LIMIT: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_their_names() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("key.frobnicate"), None);
    }

    #[test]
    fn actors_render_as_kind_and_id() {
        assert_eq!(AuditActor::Admin.to_string(), "admin");
        assert_eq!(AuditActor::User(UserName::parse("alice").unwrap()).to_string(), "user:alice");
        assert_eq!(AuditActor::Node(NodeId(7)).to_string(), "node:7");
        let client = TokenId::from_random(&[1; 12]);
        assert_eq!(AuditActor::OAuthClient(client.clone()).to_string(), format!("oauth:{client}"));
        assert_eq!(AuditActor::System.to_string(), "system");
    }
}
