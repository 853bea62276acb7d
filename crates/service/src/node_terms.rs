//! Rules about nodes that both enrolment (`nodes.rs`) and administration (`node_admin.rs`)
//! apply: when a user-owned node's key expires, and how a node's owner is named in logs and
//! the audit log.

use keygate_domain::{NodeOwner, TailnetSettings, Timestamp};

/// When a user-owned node's key, (re)issued at `now`, expires: after the tailnet's node-key
/// lifetime.
pub(crate) fn key_expiry_from(settings: &TailnetSettings, now: Timestamp) -> Timestamp {
    now.plus(std::time::Duration::from_secs(u64::from(settings.node_key_expiry_days) * 86_400))
}

/// The owner as the audit log names it: `user <id>` or the tags.
pub(crate) fn owner_text(owner: &NodeOwner) -> String {
    match owner {
        NodeOwner::User(u) => format!("user {u}"),
        NodeOwner::Tags(t) => t.to_string(),
    }
}
