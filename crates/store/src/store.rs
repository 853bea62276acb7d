//! The storage interface every backend implements.
//!
//! The credentials (auth keys, API tokens, OAuth clients and access tokens) share one set of
//! operations, [`Credentials`] and [`RevocableCredentials`], implemented once for every kind.
//! [`Store`] sections: users; pre-authentication keys (what is theirs alone: consuming a use);
//! nodes; settings; console admins, sessions and setup tokens; audit log; OAuth access tokens
//! (deleting the expired); ACL policy file.
//!
//! Naming: `insert_*` creates, `get_*` errors with [`StoreError::NotFound`] when missing,
//! `find_*` returns `Option`, `list_*` returns everything, `update_*` and `delete_*` change.
//! Each method is one transaction.

use async_trait::async_trait;
use keygate_domain::{
    ApiToken, AuthKey, AuthKeyId, Credential, KeyRejected, MachineKey, NewNode, Node, NodeId,
    NodeKey, OAuthClient, OAuthToken, TailnetSettings, Timestamp, User, UserId, UserName,
};

use crate::StoreError;

/// Result of revoking something that can only be revoked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome<T> {
    /// Revoked now; the value as stored afterwards.
    Revoked(T),
    /// It had been revoked before; the value unchanged.
    AlreadyRevoked(T),
}

impl<T> RevokeOutcome<T> {
    /// The value, and whether it had been revoked before.
    pub fn into_parts(self) -> (T, bool) {
        match self {
            RevokeOutcome::Revoked(value) => (value, false),
            RevokeOutcome::AlreadyRevoked(value) => (value, true),
        }
    }
}

/// Result of trying to use a key once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome<T> {
    /// The use was counted (and, with a node, the node inserted): the key and the value.
    Consumed { key: AuthKey, value: T },
    /// The key cannot be used; nothing was written.
    Rejected(KeyRejected),
}

/// The operations on one kind of credential, written once for every kind
/// (`credentials.rs`). `C` is the credential's domain type.
#[async_trait]
pub trait Credentials<C: Credential>: Send + Sync {
    /// Stores a new credential; [`StoreError::Conflict`] if its id exists,
    /// [`StoreError::NotFound`] if what it refers to (its user, its client) does not.
    async fn insert_credential(&self, credential: &C) -> Result<(), StoreError>;
    async fn find_credential(&self, id: &C::Id) -> Result<Option<C>, StoreError>;
    /// All of them, newest first.
    async fn list_credentials(&self) -> Result<Vec<C>, StoreError>;
}

/// The operations on a kind of credential that is revoked and records its last use.
#[async_trait]
pub trait RevocableCredentials<C: Credential>: Credentials<C> {
    /// Sets `revoked_at` unless already set; [`StoreError::NotFound`] for an unknown id.
    async fn revoke_credential(
        &self,
        id: &C::Id,
        at: Timestamp,
    ) -> Result<RevokeOutcome<C>, StoreError>;
    /// Records a use at `at`; [`StoreError::NotFound`] for an unknown id.
    async fn touch_credential(&self, id: &C::Id, at: Timestamp) -> Result<(), StoreError>;
}

/// Persistent storage of users, credentials, nodes and settings. The credentials are the
/// supertraits: `Credentials::<ApiToken>::find_credential(&*store, &id)`.
#[async_trait]
pub trait Store:
    RevocableCredentials<AuthKey>
    + RevocableCredentials<ApiToken>
    + RevocableCredentials<OAuthClient>
    + Credentials<OAuthToken>
    + Send
    + Sync
    + 'static
{
    /// Which backend this is, for logs ("sqlite" or "postgres").
    fn backend_name(&self) -> &'static str;

    // ---- users ----
    /// Creates a user; [`StoreError::Conflict`] (`Unique::UserName`) when the name is taken.
    async fn insert_user(&self, name: &UserName, created: Timestamp) -> Result<User, StoreError>;
    async fn get_user(&self, id: UserId) -> Result<User, StoreError>;
    async fn find_user_by_name(&self, name: &UserName) -> Result<Option<User>, StoreError>;
    /// All users, by id.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    // ---- pre-authentication keys ----
    /// Counts one use of the key if, at `now`, it is not revoked, not expired and not used up:
    /// a single guarded `UPDATE` (compare-and-set), so concurrent callers can never exceed a
    /// one-off key's single use or a limited key's limit. Sets `last_used_at = now`.
    /// [`StoreError::NotFound`] for an unknown id.
    async fn consume_auth_key(
        &self,
        id: &AuthKeyId,
        now: Timestamp,
    ) -> Result<ConsumeOutcome<()>, StoreError>;

    // ---- nodes ----
    /// In one transaction: consumes one use of `key` exactly as [`Store::consume_auth_key`]
    /// does, and inserts `node`. If the key is rejected nothing is written; if the insert
    /// fails (for example [`StoreError::Conflict`] (`Unique::NodeIpv4`)) the use is not counted.
    async fn insert_node_consuming_key(
        &self,
        node: &NewNode,
        key: &AuthKeyId,
        now: Timestamp,
    ) -> Result<ConsumeOutcome<Node>, StoreError>;
    /// In one transaction: consumes one use of `key` exactly as [`Store::consume_auth_key`]
    /// does, and writes every field of `node` (found by id), for a known machine enrolling
    /// again with a new key. If the key is rejected nothing is written; if the update fails
    /// ([`StoreError::NotFound`]`("node")`, a conflict) the use is not counted.
    async fn update_node_consuming_key(
        &self,
        node: &Node,
        key: &AuthKeyId,
        now: Timestamp,
    ) -> Result<ConsumeOutcome<Node>, StoreError>;
    /// Inserts a node without a key (for nodes created by other means, and tests).
    async fn insert_node(&self, node: &NewNode) -> Result<Node, StoreError>;
    async fn get_node(&self, id: NodeId) -> Result<Node, StoreError>;
    async fn find_node_by_machine_key(&self, key: &MachineKey) -> Result<Option<Node>, StoreError>;
    async fn find_node_by_node_key(&self, key: &NodeKey) -> Result<Option<Node>, StoreError>;
    /// All nodes, by id.
    async fn list_nodes(&self) -> Result<Vec<Node>, StoreError>;
    /// Writes every field of `node` (found by id); [`StoreError::NotFound`] if it is gone.
    async fn update_node(&self, node: &Node) -> Result<(), StoreError>;
    /// Records that the node was seen at `at`.
    async fn touch_node(&self, id: NodeId, at: Timestamp) -> Result<(), StoreError>;
    /// Deletes a node; `false` when it did not exist.
    async fn delete_node(&self, id: NodeId) -> Result<bool, StoreError>;
    /// Where the tailnet address allocator continues (a pool offset), as last saved; `None`
    /// until first saved.
    async fn get_address_cursor(&self) -> Result<Option<u32>, StoreError>;
    /// Saves where the tailnet address allocator continues.
    async fn put_address_cursor(&self, next_offset: u32) -> Result<(), StoreError>;

    // ---- settings ----
    /// The tailnet settings (defaults until first saved).
    async fn get_settings(&self) -> Result<TailnetSettings, StoreError>;
    async fn put_settings(&self, settings: &TailnetSettings) -> Result<(), StoreError>;

    // ---- console admins, sessions and setup tokens (admin web console) ----
    /// Creates a console admin; [`StoreError::Conflict`] (`Unique::ConsoleAdminName`) when taken.
    async fn insert_console_admin(
        &self,
        name: &UserName,
        password_hash: &crate::PasswordHash,
        created: Timestamp,
    ) -> Result<crate::ConsoleAdmin, StoreError>;
    async fn get_console_admin(
        &self,
        id: crate::ConsoleAdminId,
    ) -> Result<crate::ConsoleAdmin, StoreError>;
    async fn find_console_admin_by_name(
        &self,
        name: &UserName,
    ) -> Result<Option<crate::ConsoleAdmin>, StoreError>;
    /// All console admins, by id.
    async fn list_console_admins(&self) -> Result<Vec<crate::ConsoleAdmin>, StoreError>;
    async fn count_console_admins(&self) -> Result<u64, StoreError>;
    /// [`StoreError::NotFound`]`("console admin")` when its admin does not exist.
    async fn insert_console_session(
        &self,
        session: &crate::ConsoleSession,
    ) -> Result<(), StoreError>;
    async fn find_console_session(
        &self,
        id_hash: &keygate_domain::SecretHash,
    ) -> Result<Option<crate::ConsoleSession>, StoreError>;
    /// Ends a session; `false` when there was none.
    async fn delete_console_session(
        &self,
        id_hash: &keygate_domain::SecretHash,
    ) -> Result<bool, StoreError>;
    /// Deletes the sessions that expired at or before `now`; how many.
    async fn delete_expired_console_sessions(&self, now: Timestamp) -> Result<u64, StoreError>;
    async fn insert_console_setup_token(&self, token: &crate::SetupToken)
        -> Result<(), StoreError>;
    async fn find_console_setup_token(
        &self,
        token_hash: &keygate_domain::SecretHash,
    ) -> Result<Option<crate::SetupToken>, StoreError>;
    /// In one transaction: uses the setup token (a guarded update: unused and `now` before its
    /// expiry), checks that no console admin exists, and inserts the admin. Nothing is written
    /// unless the outcome is [`crate::SetupOutcome::Created`].
    async fn insert_first_console_admin(
        &self,
        token_hash: &keygate_domain::SecretHash,
        now: Timestamp,
        name: &UserName,
        password_hash: &crate::PasswordHash,
    ) -> Result<crate::SetupOutcome, StoreError>;

    // ---- audit log ----
    /// Appends an entry to the audit log; the entry as stored (with its id).
    async fn insert_audit_event(
        &self,
        event: &keygate_domain::NewAuditEvent,
    ) -> Result<keygate_domain::AuditEvent, StoreError>;
    /// Entries matching `filter`, newest first, at most `filter.limit`.
    async fn list_audit_events(
        &self,
        filter: &keygate_domain::AuditFilter,
    ) -> Result<Vec<keygate_domain::AuditEvent>, StoreError>;
    // ---- OAuth access tokens ----
    /// Deletes access tokens that expired at or before `now`; how many were deleted.
    async fn delete_expired_oauth_tokens(&self, now: Timestamp) -> Result<u64, StoreError>;

    // ---- ACL policy file ----
    /// Saves a revision of the policy file if its `parent` is the newest revision (0 when none
    /// was saved yet); [`StoreError::Conflict`] (`Unique::PolicyRevision`) otherwise, so that of two
    /// saves made from the same revision exactly one is stored.
    async fn insert_policy_revision(
        &self,
        revision: &crate::NewPolicyRevision,
    ) -> Result<crate::PolicyRevision, StoreError>;
    /// The newest revision; `None` while the default policy is in force.
    async fn find_latest_policy_revision(
        &self,
    ) -> Result<Option<crate::PolicyRevision>, StoreError>;
    /// Every revision, newest first.
    async fn list_policy_revisions(&self) -> Result<Vec<crate::PolicyRevision>, StoreError>;
}
