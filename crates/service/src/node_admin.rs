//! What administrators and API callers do to nodes: see them, approve them, change their tags
//! and key expiry, expire their key, delete them. Every change goes through the live
//! [`Tailnet`] (store first, then memory and the change bus, so connected nodes and their peers
//! hear of it at once) and is recorded in the audit log.
//!
//! Who may do what:
//!
//! | operation | admin | user API token | OAuth access token |
//! |---|---|---|---|
//! | see (list, read) | every node | its own nodes; others are "not found" | every node, with `devices:core:read` |
//! | delete, expire the key, set tags | every node | its own nodes | every node, with `devices:core` |
//! | approve, turn key expiry off or on | every node | no (403 on its own nodes) | every node, with `devices:core` |
//!
//! Approval and key expiry are the administrator's controls over users' devices, so a user
//! cannot lift them from their own nodes. Tags are checked against the policy's `tagOwners`
//! (`policy.rs`): a user must own the tags it applies; an OAuth client may apply its own tags
//! and those they own; an administrator may apply any tag the policy defines.

use std::sync::Arc;

use keygate_domain::{AuditAction, Node, NodeId, NodeOwner, Scope, TagSet};
use keygate_policy::{OwnerRef, TagOwnerError};

use crate::actor::Actor;
use crate::error::ServiceError;
use crate::node_terms::{key_expiry_from, owner_text};
use crate::tailnet::{not_found, NodeEntry, Tailnet, WriteKind};

/// Whether `actor` may see `entry` (the first column of the module's table).
fn may_see(actor: &Actor, entry: &NodeEntry) -> bool {
    match actor {
        Actor::Admin => true,
        Actor::User(me) => entry.node.owner.user() == Some(*me),
        Actor::OAuth(grant) => grant.scopes.grants(Scope::DevicesCoreRead),
    }
}

impl Tailnet {
    /// Nodes visible to `actor` (admins: all; users: the nodes they own; OAuth clients: all,
    /// with scope `devices:core:read`), by id, with their online state.
    pub fn list_nodes(&self, actor: &Actor) -> Vec<Arc<NodeEntry>> {
        self.read().nodes().filter(|e| may_see(actor, e)).cloned().collect()
    }

    /// Node `id`, if `actor` may see it: "not found" for a user's view of another's node,
    /// 403 for an OAuth token without `devices:core:read`.
    pub fn visible_node(&self, actor: &Actor, id: NodeId) -> Result<Arc<NodeEntry>, ServiceError> {
        actor.require_scope(Scope::DevicesCoreRead, "reading devices")?;
        self.node(id).filter(|e| may_see(actor, e)).ok_or_else(|| not_found(id))
    }

    /// Deletes a node: its addresses are freed, peers are told, and its open map stream gets
    /// a last `Node` message with its key expired (so the client goes to `NeedsLogin`) and is
    /// closed. Admins, the owning user, or OAuth with `devices:core`.
    pub async fn delete_node(&self, actor: &Actor, id: NodeId) -> Result<(), ServiceError> {
        self.check_may_manage(actor, id)?;
        let entry = self.remove_node(id, "deleted").await?.ok_or_else(|| not_found(id))?;
        let detail = serde_json::json!({ "name": entry.node.given_name });
        self.service().record_audit(actor, AuditAction::NodeDelete, &id.to_string(), detail).await;
        Ok(())
    }

    /// Approves (`true`) or un-approves a node. An approved node's open map stream brings it
    /// its peers at once (no new registration); an un-approved one loses them, and its peers
    /// lose it. Admins, or OAuth with `devices:core`.
    pub async fn set_node_authorized(
        &self,
        actor: &Actor,
        id: NodeId,
        authorized: bool,
    ) -> Result<Arc<NodeEntry>, ServiceError> {
        self.check_may_administer(actor, id, "approving devices")?;
        let (entry, changed) = self
            .change_node(id, |node| {
                node.authorized = authorized;
                Ok(())
            })
            .await?;
        if changed {
            let detail = serde_json::json!({
                "name": entry.node.given_name,
                "authorized": authorized,
            });
            self.service()
                .record_audit(actor, AuditAction::NodeApprove, &id.to_string(), detail)
                .await;
        }
        Ok(entry)
    }

    /// Expires a node's key now: the node is told in its map and must log in again (with a
    /// key). Admins, the owning user, or OAuth with `devices:core`.
    pub async fn expire_node(
        &self,
        actor: &Actor,
        id: NodeId,
    ) -> Result<Arc<NodeEntry>, ServiceError> {
        self.check_may_manage(actor, id)?;
        let now = self.service().now();
        let (entry, changed) = self
            .change_node(id, |node| {
                if !node.is_key_expired(now) {
                    node.key_expiry = Some(now);
                }
                Ok(())
            })
            .await?;
        if changed {
            let detail = serde_json::json!({ "name": entry.node.given_name, "expired": true });
            self.service()
                .record_audit(actor, AuditAction::NodeExpiry, &id.to_string(), detail)
                .await;
        }
        Ok(entry)
    }

    /// Turns a user-owned node's key expiry off (`true`: the key never expires) or back on
    /// (the key then expires after the tailnet's node-key lifetime, counted from now). Tagged
    /// nodes have no key expiry: turning it off changes nothing, turning it on is refused.
    /// Admins, or OAuth with `devices:core`.
    pub async fn set_node_key_expiry_disabled(
        &self,
        actor: &Actor,
        id: NodeId,
        disabled: bool,
    ) -> Result<Arc<NodeEntry>, ServiceError> {
        self.check_may_administer(actor, id, "changing a device's key expiry")?;
        let settings = self.service().settings().await?;
        let now = self.service().now();
        let (entry, changed) = self
            .change_node(id, |node| {
                match (&node.owner, disabled) {
                    (_, true) => node.key_expiry = None,
                    (NodeOwner::Tags(_), false) => {
                        return Err(ServiceError::Invalid(format!(
                            "node {id} is tagged, and tagged nodes have no key expiry"
                        )))
                    }
                    (NodeOwner::User(_), false) if node.key_expiry.is_none() => {
                        node.key_expiry = Some(key_expiry_from(&settings, now));
                    }
                    (NodeOwner::User(_), false) => {}
                }
                Ok(())
            })
            .await?;
        if changed {
            let detail = serde_json::json!({
                "name": entry.node.given_name,
                "keyExpiryDisabled": disabled,
                "expires": entry.node.key_expiry.map(|t| t.to_rfc3339()),
            });
            self.service()
                .record_audit(actor, AuditAction::NodeExpiry, &id.to_string(), detail)
                .await;
        }
        Ok(entry)
    }

    /// Gives a node `tags` as its identity: a user's node becomes a tagged node (no owner, no
    /// key expiry); a tagged node's tags are replaced. Peers see the change as a delta. An
    /// empty list leaves a user's node as it is and is refused for a tagged node, which would
    /// have no owner left. Admins, the owning user, or OAuth with `devices:core`; the tags are
    /// checked against the policy (see the module docs).
    pub async fn set_node_tags(
        &self,
        actor: &Actor,
        id: NodeId,
        tags: &[String],
    ) -> Result<Arc<NodeEntry>, ServiceError> {
        let entry = self.check_may_manage(actor, id)?;
        let wanted = TagSet::parse(tags.iter().map(String::as_str))?;
        if wanted.is_empty() {
            return match entry.node.owner {
                NodeOwner::User(_) => Ok(entry),
                NodeOwner::Tags(_) => Err(ServiceError::Invalid(format!(
                    "node {id} is tagged and must keep at least one tag: to give it to a user, \
                     enrol it again with that user's key"
                ))),
            };
        }
        self.check_may_apply_tags(actor, &entry, &wanted).await?;
        let previous = owner_text(&entry.node.owner);
        let (entry, changed) = self
            .change_node(id, |node| {
                node.owner = NodeOwner::Tags(wanted.clone());
                // Tagged nodes never expire (reference: KB 1085, tailscale#4109).
                node.key_expiry = None;
                Ok(())
            })
            .await?;
        if changed {
            let detail = serde_json::json!({
                "name": entry.node.given_name,
                "tags": wanted.to_strings(),
                "previousOwner": previous,
            });
            self.service()
                .record_audit(actor, AuditAction::NodeTags, &id.to_string(), detail)
                .await;
        }
        Ok(entry)
    }

    /// Fails unless `actor` may apply `wanted` to `entry` under the policy in force.
    async fn check_may_apply_tags(
        &self,
        actor: &Actor,
        entry: &NodeEntry,
        wanted: &TagSet,
    ) -> Result<(), ServiceError> {
        let service = self.service();
        match actor {
            Actor::User(_) => {
                let Some(user) = &entry.user else {
                    return Err(ServiceError::Invalid("the node's owner is unknown".into()));
                };
                service.check_tag_ownership(&OwnerRef::User(&user.name), wanted).await
            }
            Actor::OAuth(grant) => {
                if wanted.iter().all(|t| grant.tags.contains(t)) {
                    return Ok(());
                }
                let current = service.current_policy().await?;
                if current.policy.has_tag_owners() {
                    return service.check_tag_ownership(&OwnerRef::Tags(&grant.tags), wanted).await;
                }
                Err(not_permitted(
                    wanted.iter().filter(|t| !grant.tags.contains(t)).map(|t| t.as_str()),
                    &format!("an OAuth client may apply only its own tags ({})", grant.tags),
                ))
            }
            Actor::Admin => {
                // Administrators may apply any tag the policy defines; with no `tagOwners`
                // section every tag is defined.
                let current = service.current_policy().await?;
                let owner = OwnerRef::Tags(wanted);
                let undefined: Vec<&str> = wanted
                    .iter()
                    .filter(|t| {
                        matches!(
                            current.policy.check_tag_owner(&owner, t),
                            Err(TagOwnerError::Undefined(_))
                        )
                    })
                    .map(|t| t.as_str())
                    .collect();
                if undefined.is_empty() {
                    Ok(())
                } else {
                    let why = "the policy's tagOwners does not define them".to_owned();
                    Err(not_permitted(undefined.into_iter(), &why))
                }
            }
        }
    }

    /// Fails unless `actor` may change node `id` (delete it, expire it, tag it); the node.
    pub(crate) fn check_may_manage(
        &self,
        actor: &Actor,
        id: NodeId,
    ) -> Result<Arc<NodeEntry>, ServiceError> {
        let entry = self.node(id).ok_or_else(|| not_found(id))?;
        match actor {
            Actor::Admin => Ok(entry),
            Actor::User(me) if entry.node.owner.user() == Some(*me) => Ok(entry),
            // Users learn nothing about nodes that are not theirs.
            Actor::User(_) => Err(not_found(id)),
            Actor::OAuth(_) => {
                actor.require_scope(Scope::DevicesCore, "changing devices")?;
                Ok(entry)
            }
        }
    }

    /// Fails unless `actor` may use an administrator's control (`what`) on node `id`.
    fn check_may_administer(
        &self,
        actor: &Actor,
        id: NodeId,
        what: &str,
    ) -> Result<Arc<NodeEntry>, ServiceError> {
        let entry = self.node(id).ok_or_else(|| not_found(id))?;
        match actor {
            Actor::Admin => Ok(entry),
            Actor::User(me) if entry.node.owner.user() == Some(*me) => {
                Err(ServiceError::Forbidden(format!("{what} needs an administrator")))
            }
            Actor::User(_) => Err(not_found(id)),
            Actor::OAuth(_) => {
                actor.require_scope(Scope::DevicesCore, what)?;
                Ok(entry)
            }
        }
    }

    /// Read-modify-write of one node under its machine lock: the node as it is now, and
    /// whether `change` changed anything (nothing is written or published otherwise).
    async fn change_node(
        &self,
        id: NodeId,
        change: impl FnOnce(&mut Node) -> Result<(), ServiceError>,
    ) -> Result<(Arc<NodeEntry>, bool), ServiceError> {
        let machine = self.node(id).ok_or_else(|| not_found(id))?.node.machine_key;
        let lock = self.lock_machine(&machine).await;
        let entry = self.node(id).ok_or_else(|| not_found(id))?;
        let mut node = entry.node.clone();
        change(&mut node)?;
        if node == entry.node {
            return Ok((entry, false));
        }
        let user = if node.owner.user().is_some() { entry.user.clone() } else { None };
        Ok((self.persist_and_commit(&lock, node, user, WriteKind::Changed).await?, true))
    }
}

/// Tailscale's refusal for tags (reference §6): `requested tags [...] are invalid or not
/// permitted`, with keygate's reason.
fn not_permitted<'a>(tags: impl Iterator<Item = &'a str>, why: &str) -> ServiceError {
    let tags: Vec<&str> = tags.collect();
    ServiceError::Invalid(format!(
        "requested tags [{}] are invalid or not permitted: {why}",
        tags.join(", ")
    ))
}
