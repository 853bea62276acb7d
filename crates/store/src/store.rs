//! The storage interface every backend implements.
//!
//! Naming: `insert_*` creates, `get_*` errors with [`StoreError::NotFound`] when missing,
//! `find_*` returns `Option`, `list_*` returns everything, `update_*` and `delete_*` change.
//! Each method is one transaction.

use async_trait::async_trait;
use keygate_domain::{
    ApiToken, AuthKey, AuthKeyId, KeyRejected, MachineKey, NewNode, Node, NodeId, NodeKey,
    TailnetSettings, Timestamp, TokenId, User, UserId, UserName,
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

/// Result of trying to use a key once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome<T> {
    /// The use was counted (and, with a node, the node inserted): the key and the value.
    Consumed { key: AuthKey, value: T },
    /// The key cannot be used; nothing was written.
    Rejected(KeyRejected),
}

/// Persistent storage of users, keys, tokens, nodes and settings.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is, for logs ("sqlite" or "postgres").
    fn backend_name(&self) -> &'static str;

    // ---- users ----
    /// Creates a user; [`StoreError::Conflict`]`("user name")` when the name is taken.
    async fn insert_user(&self, name: &UserName, created: Timestamp) -> Result<User, StoreError>;
    async fn get_user(&self, id: UserId) -> Result<User, StoreError>;
    async fn find_user_by_name(&self, name: &UserName) -> Result<Option<User>, StoreError>;
    /// All users, by id.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    // ---- pre-authentication keys ----
    /// Stores a new key; [`StoreError::Conflict`]`("auth key id")` if the id exists.
    async fn insert_auth_key(&self, key: &AuthKey) -> Result<(), StoreError>;
    async fn find_auth_key(&self, id: &AuthKeyId) -> Result<Option<AuthKey>, StoreError>;
    /// All keys, newest first.
    async fn list_auth_keys(&self) -> Result<Vec<AuthKey>, StoreError>;
    /// Sets `revoked_at` unless already set; [`StoreError::NotFound`] for an unknown id.
    async fn revoke_auth_key(
        &self,
        id: &AuthKeyId,
        at: Timestamp,
    ) -> Result<RevokeOutcome<AuthKey>, StoreError>;
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
    /// fails (for example [`StoreError::Conflict`]`("node ipv4")`) the use is not counted.
    async fn insert_node_consuming_key(
        &self,
        node: &NewNode,
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

    // ---- API tokens ----
    async fn insert_api_token(&self, token: &ApiToken) -> Result<(), StoreError>;
    async fn find_api_token(&self, id: &TokenId) -> Result<Option<ApiToken>, StoreError>;
    /// All tokens, newest first.
    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    async fn revoke_api_token(
        &self,
        id: &TokenId,
        at: Timestamp,
    ) -> Result<RevokeOutcome<ApiToken>, StoreError>;
    /// Records a use of the token.
    async fn touch_api_token(&self, id: &TokenId, at: Timestamp) -> Result<(), StoreError>;

    // ---- settings ----
    /// The tailnet settings (defaults until first saved).
    async fn get_settings(&self) -> Result<TailnetSettings, StoreError>;
    async fn put_settings(&self, settings: &TailnetSettings) -> Result<(), StoreError>;
}
