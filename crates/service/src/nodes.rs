//! Node use cases of the control protocol: enrolment with a pre-auth key, re-registration,
//! node-key rotation, logout, and updates a node reports about itself. (What admins do to
//! nodes is in `node_admin.rs`; what time does, in `lifecycle.rs`.)
//!
//! [`Tailnet::register`] decides what a `RegisterRequest` means, in this order (after
//! Headscale's `handleRegister`, with keygate's choices marked):
//!
//! | request | outcome |
//! |---|---|
//! | node key held by another machine | refused ("node key already in use by another machine") |
//! | `Expiry` in the past (logout) | ephemeral node deleted; other nodes get `key_expiry = now` |
//! | unknown machine, auth key | new node, the key's use consumed in the same transaction |
//! | unknown machine, no auth key | refused: we have no interactive login |
//! | known machine, same node key, no key or the key it enrolled with | current state, **no key validation** (a restarted container re-sends its spent one-off key; Headscale #2830) |
//! | known machine, same node key, another key | re-enrolment with that key (validated, consumed) |
//! | known machine, `OldNodeKey` = its node key (rotation), not expired | keys swapped, **no key validation**: the machine key proves identity (keygate's choice; Headscale re-validates) |
//! | rotation of an expired node | needs a valid key: re-enrolment |
//! | known machine, new node key, no matching `OldNodeKey` | re-enrolment with the key, else refused |
//!
//! Re-enrolment keeps the node (its id, addresses and name) because the database binds one
//! node to one machine key; the owner, tags, approval and expiry follow the new key (so a
//! tagged key turns a user's node into a tagged one, and a key of another user moves the
//! node to that user). The key's use and the node's new state are written in one transaction
//! (`Store::update_node_consuming_key`), like a new node's insert.
//!
//! Keys versus nodes: a key is checked only when it enrols (or re-enrols) a node. Revoking a
//! key, or its expiry, never touches the nodes it enrolled: they keep their map streams and
//! come back after restarts (which re-send the key without it being checked). Every use of a
//! key is in the audit log (`key.use`, naming the node).
//!
//! Choices: a node is ephemeral when its key is ephemeral **or** the client asked for it
//! (`--state=mem:`, tsnet `Ephemeral`), as Tailscale does; `Hostinfo.RequestTags`
//! (`--advertise-tags`) must be a subset of the key's tags, since a node's tags come from its
//! key only; a requested future `Expiry` is ignored (user-owned nodes expire after the
//! tailnet's `node_key_expiry_days`, tagged nodes never).

use std::fmt;
use std::sync::Arc;

use keygate_domain::ip_pool;
use keygate_domain::secret::{masked, SecretKind};
use keygate_domain::{
    AuditAction, AuditActor, AuthKey, DiscoKey, KeyRejected, MachineKey, NewNode, Node, NodeId,
    NodeKey, NodeOwner, SecretToken, TagSet, TailnetSettings, Timestamp, User,
};
use keygate_store::{ConsumeOutcome, StoreError, Unique};

use crate::auth_keys::PresentedKeyError;
use crate::error::ServiceError;
use crate::node_terms::{key_expiry_from, owner_text};
use crate::tailnet::{not_found, MachineLock, NodeEntry, Tailnet, WriteKind};

/// How often an enrolment retries after the database refused an address or a name that the
/// in-memory state thought free (possible only with another writer on the same database).
const ENROL_ATTEMPTS: usize = 4;

/// One `POST /machine/register`, decoded by the control protocol.
#[derive(Clone)]
pub struct RegisterNode {
    /// The Noise peer: the machine that is talking.
    pub machine_key: MachineKey,
    pub node_key: NodeKey,
    /// The previous node key when rotating; zero when none.
    pub old_node_key: NodeKey,
    /// `Auth.AuthKey`, as typed by the user.
    pub auth_key: Option<String>,
    /// The requested expiry; a time in the past is a logout.
    pub expiry: Option<Timestamp>,
    /// `Hostinfo.Hostname`.
    pub hostname: String,
    /// The whole `Hostinfo`, as JSON.
    pub hostinfo_json: String,
    /// `RegisterRequest.Ephemeral`.
    pub ephemeral: bool,
    /// `Hostinfo.RequestTags` (`tailscale up --advertise-tags`).
    pub request_tags: Vec<String>,
}

impl fmt::Debug for RegisterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterNode")
            .field("machine_key", &self.machine_key)
            .field("node_key", &self.node_key)
            .field("old_node_key", &self.old_node_key)
            .field("auth_key", &self.auth_key.as_deref().map(masked_presented))
            .field("expiry", &self.expiry)
            .field("hostname", &self.hostname)
            .field("ephemeral", &self.ephemeral)
            .field("request_tags", &self.request_tags)
            .finish_non_exhaustive()
    }
}

/// What a registration did.
#[derive(Clone, Debug)]
pub enum RegisterOutcome {
    /// The node is registered: new, confirmed, rotated, re-enrolled, or logged out by expiring
    /// its key (then `node_key_expired` is true).
    Registered { entry: Arc<NodeEntry>, node_key_expired: bool },
    /// A logout that removed the node (ephemeral), or of a node we do not know (`None`).
    LoggedOut { entry: Option<Arc<NodeEntry>> },
    /// Nothing was registered; the message is for the person running `tailscale up`.
    Refused(Refusal),
}

/// Why a registration was refused. The texts reach users as `backend error: …`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Key(#[from] KeyRejected),
    #[error(
        "no auth key: this server enrols nodes with auth keys only; run tailscale up --authkey …"
    )]
    NoAuthKey,
    #[error("node key already in use by another machine")]
    NodeKeyInUse,
    #[error("invalid node key: the request carries none")]
    MissingNodeKey,
    #[error("node key has expired: log in again with tailscale up --force-reauth --authkey …")]
    NodeKeyExpired,
    #[error("requested tags {0} are not permitted: keygate gives a node the tags of its auth key; create a key with these tags, or drop --advertise-tags")]
    TagsNotPermitted(String),
    #[error("the tailnet has no free addresses left")]
    PoolExhausted,
}

/// What a node reported about itself in a map request (`Hostinfo`, `Endpoints`,
/// `DiscoKey`). `None` fields are unchanged.
#[derive(Clone, Debug, Default)]
pub struct ClientUpdate {
    /// The whole `Hostinfo`, as JSON, and its host name.
    pub hostinfo: Option<(String, String)>,
    pub endpoints: Option<Vec<String>>,
    pub disco_key: Option<DiscoKey>,
    /// The caller found that the Hostinfo changed only in ways peers learn from a patch
    /// (its network info, i.e. the home DERP), so peers need no full node.
    pub hostinfo_change_is_patchable: bool,
}

impl Tailnet {
    /// Handles a registration from machine `req.machine_key` (see the module docs).
    pub async fn register(&self, req: RegisterNode) -> Result<RegisterOutcome, ServiceError> {
        if req.node_key.is_zero() {
            return Ok(RegisterOutcome::Refused(Refusal::MissingNodeKey));
        }
        let lock = self.lock_machine(&req.machine_key).await;
        let now = self.service().now();
        let (existing, holder) = {
            let state = self.read();
            (state.by_machine(&req.machine_key).cloned(), state.by_node_key(&req.node_key).cloned())
        };
        if holder.is_some_and(|h| h.node.machine_key != req.machine_key) {
            tracing::info!(machine = ?req.machine_key, node_key = ?req.node_key,
                "registration refused: node key belongs to another machine");
            return Ok(RegisterOutcome::Refused(Refusal::NodeKeyInUse));
        }
        if req.expiry.is_some_and(|e| e <= now) {
            return self.logout(&lock, existing, &req, now).await;
        }
        let Some(entry) = existing else {
            return match req.auth_key.as_deref() {
                Some(presented) => self.enrol_with_key(&lock, None, &req, presented, now).await,
                None => Ok(RegisterOutcome::Refused(Refusal::NoAuthKey)),
            };
        };
        let node = &entry.node;
        let expired = node.is_key_expired(now);

        if node.node_key == req.node_key {
            match req.auth_key.as_deref() {
                Some(presented) if !is_same_key(presented, node) => {
                    self.enrol_with_key(&lock, Some(&entry), &req, presented, now).await
                }
                _ => {
                    tracing::debug!(node = %node.id, "registration confirmed (known node key)");
                    let entry = self.refresh_hostinfo(&lock, &entry, &req).await?;
                    Ok(RegisterOutcome::Registered { entry, node_key_expired: expired })
                }
            }
        } else if !req.old_node_key.is_zero() && req.old_node_key == node.node_key && !expired {
            self.rotate(&lock, &entry, &req).await
        } else {
            match req.auth_key.as_deref() {
                Some(presented) => {
                    self.enrol_with_key(&lock, Some(&entry), &req, presented, now).await
                }
                None if expired => Ok(RegisterOutcome::Refused(Refusal::NodeKeyExpired)),
                None => Ok(RegisterOutcome::Refused(Refusal::NoAuthKey)),
            }
        }
    }

    /// Logout: `Expiry` in the past.
    async fn logout(
        &self,
        lock: &MachineLock<'_>,
        existing: Option<Arc<NodeEntry>>,
        req: &RegisterNode,
        now: Timestamp,
    ) -> Result<RegisterOutcome, ServiceError> {
        let entry = match existing {
            Some(e) if e.node.node_key == req.node_key || e.node.node_key == req.old_node_key => e,
            // Nothing of ours to log out; the client discards its state regardless.
            _ => return Ok(RegisterOutcome::LoggedOut { entry: None }),
        };
        if entry.node.ephemeral {
            let id = entry.node.id;
            if self.remove_node_locked(lock, id, "ephemeral node logged out").await?.is_some() {
                let detail =
                    serde_json::json!({ "name": entry.node.given_name, "reason": "logout" });
                self.service()
                    .record_audit_as(
                        AuditActor::Node(id),
                        AuditAction::NodeDelete,
                        &id.to_string(),
                        detail,
                    )
                    .await;
            }
            return Ok(RegisterOutcome::LoggedOut { entry: Some(entry) });
        }
        let mut node = entry.node.clone();
        node.key_expiry = Some(now);
        let entry =
            self.persist_and_commit(lock, node, entry.user.clone(), WriteKind::Changed).await?;
        tracing::info!(node = %entry.node.id, name = %entry.node.given_name, "node logged out (key expired)");
        Ok(RegisterOutcome::Registered { entry, node_key_expired: true })
    }

    /// Enrols the machine with key `presented`: as a new node, or `existing` anew.
    async fn enrol_with_key(
        &self,
        lock: &MachineLock<'_>,
        existing: Option<&NodeEntry>,
        req: &RegisterNode,
        presented: &str,
        now: Timestamp,
    ) -> Result<RegisterOutcome, ServiceError> {
        let terms = match self.terms(req, presented).await? {
            Ok(terms) => terms,
            Err(refusal) => return Ok(RegisterOutcome::Refused(refusal)),
        };
        match existing {
            None => self.enrol(lock, req, terms, now).await,
            Some(entry) => self.reenrol(lock, entry, req, terms, now).await,
        }
    }

    /// A new machine with a key.
    async fn enrol(
        &self,
        lock: &MachineLock<'_>,
        req: &RegisterNode,
        Terms { key, owner, user, settings }: Terms,
        now: Timestamp,
    ) -> Result<RegisterOutcome, ServiceError> {
        let mut last_conflict = None;
        for _ in 0..ENROL_ATTEMPTS {
            let Some(offset) = self.allocator().allocate() else {
                tracing::error!("enrolment refused: the address pool is exhausted");
                return Ok(RegisterOutcome::Refused(Refusal::PoolExhausted));
            };
            let name = self.reserve_name(&req.hostname);
            let new = NewNode {
                machine_key: req.machine_key,
                node_key: req.node_key,
                disco_key: DiscoKey::from_bytes([0; 32]),
                hostname: req.hostname.clone(),
                given_name: name.clone(),
                owner: owner.clone(),
                auth_key_id: Some(key.id.clone()),
                ipv4: ip_pool::ipv4_at(offset),
                ipv6: ip_pool::ipv6_at(offset),
                hostinfo_json: req.hostinfo_json.clone(),
                endpoints: Vec::new(),
                created: now,
                last_seen: None,
                ephemeral: key.ephemeral || req.ephemeral,
                authorized: is_authorized(&key, &settings),
                key_expiry: key_expiry(&owner, &settings, now),
            };
            let result = self.insert_consuming_key(lock, &new, &key.id, now, user.clone()).await;
            let give_back = |tailnet: &Tailnet| {
                tailnet.allocator().give_back(offset);
                tailnet.release_name(&name);
            };
            match result {
                Ok(ConsumeOutcome::Consumed { value: entry, .. }) => {
                    self.release_name(&name);
                    if entry.node.ephemeral {
                        // Removed if it never connects, like one that disconnected.
                        let timeout = self.config().ephemeral_inactivity_timeout;
                        self.schedule_ephemeral_cleanup(entry.node.id, 0, timeout);
                    }
                    let n = &entry.node;
                    tracing::info!(node = %n.id, name = %n.given_name, ipv4 = %n.ipv4,
                        key = %masked(SecretKind::Auth, key.id.as_str()), owner = %owner_text(&n.owner),
                        ephemeral = n.ephemeral, authorized = n.authorized, "node enrolled");
                    self.record_key_use(&key, n, false).await;
                    return Ok(RegisterOutcome::Registered { entry, node_key_expired: false });
                }
                Ok(ConsumeOutcome::Rejected(rejected)) => {
                    give_back(self);
                    tracing::info!(key = %masked(SecretKind::Auth, key.id.as_str()), reason = %rejected,
                        "enrolment refused: key used up concurrently");
                    return Ok(RegisterOutcome::Refused(rejected.into()));
                }
                Err(StoreError::Conflict(what @ (Unique::NodeIpv4 | Unique::NodeIpv6))) => {
                    // Keep the offset marked used: the database says it is taken.
                    self.release_name(&name);
                    last_conflict = Some(what);
                }
                Err(StoreError::Conflict(what @ Unique::NodeGivenName)) => {
                    give_back(self);
                    self.block_name(&name);
                    last_conflict = Some(what);
                }
                Err(StoreError::Conflict(Unique::NodeNodeKey)) => {
                    give_back(self);
                    return Ok(RegisterOutcome::Refused(Refusal::NodeKeyInUse));
                }
                Err(e) => {
                    give_back(self);
                    return Err(e.into());
                }
            }
        }
        Err(StoreError::Conflict(last_conflict.unwrap_or(Unique::NodeIpv4)).into())
    }

    /// A known machine presenting a key: the node is enrolled anew with that key.
    async fn reenrol(
        &self,
        lock: &MachineLock<'_>,
        entry: &NodeEntry,
        req: &RegisterNode,
        Terms { key, owner, user, settings }: Terms,
        now: Timestamp,
    ) -> Result<RegisterOutcome, ServiceError> {
        let mut node = entry.node.clone();
        // An admin's approval stays with the node while it keeps its owner.
        node.authorized =
            (node.authorized && node.owner == owner) || is_authorized(&key, &settings);
        node.key_expiry = key_expiry(&owner, &settings, now);
        node.owner = owner;
        node.node_key = req.node_key;
        node.auth_key_id = Some(key.id.clone());
        node.ephemeral = key.ephemeral || req.ephemeral;
        node.hostname = req.hostname.clone();
        node.hostinfo_json = req.hostinfo_json.clone();
        // The key's use and the node's new state in one transaction: a failed write counts no
        // use, and a key used up meanwhile changes nothing.
        let entry = match self.update_consuming_key(lock, node, &key.id, now, user).await {
            Ok(ConsumeOutcome::Consumed { value: entry, .. }) => entry,
            Ok(ConsumeOutcome::Rejected(rejected)) => {
                return Ok(RegisterOutcome::Refused(rejected.into()))
            }
            Err(StoreError::NotFound("auth key")) => {
                return Ok(RegisterOutcome::Refused(KeyRejected::Unknown.into()))
            }
            Err(e) => return Err(node_key_conflict(e)),
        };
        let node = &entry.node;
        tracing::info!(node = %node.id, name = %node.given_name,
            key = %masked(SecretKind::Auth, key.id.as_str()), owner = %owner_text(&node.owner),
            "node re-enrolled");
        self.record_key_use(&key, node, true).await;
        Ok(RegisterOutcome::Registered { entry, node_key_expired: false })
    }

    /// Node-key rotation of a node that has not expired.
    async fn rotate(
        &self,
        lock: &MachineLock<'_>,
        entry: &NodeEntry,
        req: &RegisterNode,
    ) -> Result<RegisterOutcome, ServiceError> {
        let mut node = entry.node.clone();
        node.node_key = req.node_key;
        node.hostname = req.hostname.clone();
        node.hostinfo_json = req.hostinfo_json.clone();
        let entry = self
            .persist_and_commit(lock, node, entry.user.clone(), WriteKind::Changed)
            .await
            .map_err(node_key_conflict)?;
        let node = &entry.node;
        tracing::info!(node = %node.id, name = %node.given_name, new_key = ?node.node_key, "node key rotated");
        Ok(RegisterOutcome::Registered { entry, node_key_expired: false })
    }

    /// Stores a changed Hostinfo sent with a confirming registration.
    async fn refresh_hostinfo(
        &self,
        lock: &MachineLock<'_>,
        entry: &Arc<NodeEntry>,
        req: &RegisterNode,
    ) -> Result<Arc<NodeEntry>, ServiceError> {
        if req.hostinfo_json.is_empty() || req.hostinfo_json == entry.node.hostinfo_json {
            return Ok(entry.clone());
        }
        let mut node = entry.node.clone();
        node.hostname = req.hostname.clone();
        node.hostinfo_json = req.hostinfo_json.clone();
        Ok(self.persist_and_commit(lock, node, entry.user.clone(), WriteKind::Changed).await?)
    }

    /// Records in the audit log that `key` enrolled `node` (again, for a known machine).
    async fn record_key_use(&self, key: &AuthKey, node: &Node, again: bool) {
        let detail = serde_json::json!({
            "node": node.id.to_string(),
            "name": node.given_name,
            "reenrolment": again,
        });
        self.service()
            .record_audit_as(
                AuditActor::Node(node.id),
                AuditAction::KeyUse,
                key.id.as_str(),
                detail,
            )
            .await;
    }

    /// What enrolling with `presented` means: the key checked (with the tags the client asks
    /// for), the owner it gives the node, and what else the node's terms depend on.
    async fn terms(
        &self,
        req: &RegisterNode,
        presented: &str,
    ) -> Result<Result<Terms, Refusal>, ServiceError> {
        let key = match self.usable_key(req, presented).await? {
            Ok(key) => key,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Some(owner) = owner_for(&key) else {
            tracing::warn!(key = %masked(SecretKind::Auth, key.id.as_str()), "auth key has neither tags nor creator");
            return Ok(Err(Refusal::Key(KeyRejected::Unknown)));
        };
        let user = self.owner_user(&owner).await?;
        let settings = self.service().settings().await?;
        Ok(Ok(Terms { key, owner, user, settings }))
    }

    /// Checks a presented key and the tags the client asks for.
    async fn usable_key(
        &self,
        req: &RegisterNode,
        presented: &str,
    ) -> Result<Result<AuthKey, Refusal>, ServiceError> {
        let key = match self.service().check_presented_auth_key(presented).await {
            Ok(key) => key,
            Err(PresentedKeyError::Rejected(rejected)) => {
                tracing::info!(key = %masked_presented(presented), reason = %rejected,
                    machine = ?req.machine_key, "registration refused");
                return Ok(Err(rejected.into()));
            }
            Err(PresentedKeyError::Store(e)) => return Err(e.into()),
        };
        if !req.request_tags.is_empty() {
            let permitted = TagSet::parse(req.request_tags.iter().map(String::as_str))
                .is_ok_and(|wanted| wanted.iter().all(|t| key.tags.contains(t)));
            if !permitted {
                return Ok(Err(Refusal::TagsNotPermitted(req.request_tags.join(","))));
            }
        }
        Ok(Ok(key))
    }

    /// Applies what node `id` of machine `machine_key` reported in a map request, and tells
    /// peers if something they see changed. Returns the node as it is now.
    pub async fn update_from_client(
        &self,
        id: NodeId,
        machine_key: &MachineKey,
        update: ClientUpdate,
    ) -> Result<Arc<NodeEntry>, ServiceError> {
        let lock = self.lock_machine(machine_key).await;
        let entry = self.node(id).filter(|e| e.node.machine_key == *machine_key);
        let entry = entry.ok_or_else(|| not_found(id))?;
        let mut node = entry.node.clone();
        let mut patchable = true;
        if let Some((json, hostname)) = update.hostinfo {
            if json != node.hostinfo_json {
                patchable &= update.hostinfo_change_is_patchable;
                node.hostinfo_json = json;
            }
            if !hostname.is_empty() {
                patchable &= hostname == node.hostname;
                node.hostname = hostname;
            }
        }
        if let Some(endpoints) = update.endpoints {
            node.endpoints = endpoints;
        }
        if let Some(disco) = update.disco_key {
            node.disco_key = disco;
        }
        if node == entry.node {
            return Ok(entry);
        }
        let kind = if patchable { WriteKind::Endpoints } else { WriteKind::Changed };
        Ok(self.persist_and_commit(&lock, node, entry.user.clone(), kind).await?)
    }
}

/// The terms a node is enrolled (again) on, from a usable key.
struct Terms {
    key: AuthKey,
    /// The node's owner: the key's tags, else its creator.
    owner: NodeOwner,
    /// The owner's record, for a user.
    user: Option<User>,
    settings: TailnetSettings,
}

/// Whether `presented` is (textually) the key `node` was enrolled with. Only the public id
/// is compared: a restart re-sending the same key needs no validation at all.
fn is_same_key(presented: &str, node: &Node) -> bool {
    let id = SecretToken::parse(presented, SecretKind::Auth).ok();
    match (id, &node.auth_key_id) {
        (Some(token), Some(enrolled)) => token.id() == enrolled.as_str(),
        _ => false,
    }
}

/// Whom a node enrolled with `key` belongs to: the key's tags, else its creator.
fn owner_for(key: &AuthKey) -> Option<NodeOwner> {
    if key.tags.is_empty() {
        key.creator.map(NodeOwner::User)
    } else {
        Some(NodeOwner::Tags(key.tags.clone()))
    }
}

fn is_authorized(key: &AuthKey, settings: &TailnetSettings) -> bool {
    key.preauthorized || !settings.device_approval
}

/// Tagged nodes never expire; user-owned nodes after the tailnet's node-key lifetime.
fn key_expiry(owner: &NodeOwner, settings: &TailnetSettings, now: Timestamp) -> Option<Timestamp> {
    match owner {
        NodeOwner::Tags(_) => None,
        NodeOwner::User(_) => Some(key_expiry_from(settings, now)),
    }
}

/// The loggable form of a presented key: `keygate-auth-<id>-***`, or a fixed placeholder
/// when it is not one of ours (never the text itself).
pub(crate) fn masked_presented(presented: &str) -> String {
    match SecretToken::parse(presented, SecretKind::Auth) {
        Ok(token) => token.masked(),
        Err(_) => "<malformed key>".to_owned(),
    }
}

/// A node-key conflict on update means another machine took the key meanwhile.
fn node_key_conflict(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict(Unique::NodeNodeKey) => {
            ServiceError::Invalid(Refusal::NodeKeyInUse.to_string())
        }
        e => e.into(),
    }
}
