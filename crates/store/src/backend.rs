//! [`Store`], implemented once for both databases.
//!
//! A [`Backend`] only hands out connections: one for reads, one for single-statement writes,
//! and transactions. Everything else, which SQL runs on which connection and in which
//! transaction, is written here once, on top of the table modules.
//!
//! Each method uses one connection at a time and never waits for a second while holding one:
//! the SQLite writer pool has a single connection (and in-memory SQLite a single connection
//! for everything), so doing otherwise would deadlock.

use std::future::Future;
use std::ops::DerefMut;

use async_trait::async_trait;
use keygate_domain::{
    AuthKeyId, MachineKey, NewNode, Node, NodeId, NodeKey, TailnetSettings, Timestamp, User,
    UserId, UserName,
};

use crate::auth_keys;
use crate::conn::Conn;
use crate::credentials::{self, Revocable, Stored};
use crate::oauth_tokens::OAuthTokens;
use crate::{
    address_cursor, nodes, settings, users, ConsumeOutcome, Credentials, RevocableCredentials,
    RevokeOutcome, Store, StoreError,
};

/// Where a store gets its connections. Implemented by [`crate::SqliteStore`] and
/// [`crate::PostgresStore`].
pub(crate) trait Backend: Send + Sync + 'static {
    /// The backend's name in logs.
    const NAME: &'static str;
    /// The driver's connection type.
    type Conn: Conn;
    /// A connection checked out of a pool.
    type Pooled: DerefMut<Target = Self::Conn> + Send;
    /// An open transaction; dropping it uncommitted rolls it back.
    type Tx: DerefMut<Target = Self::Conn> + Send;

    /// A connection for reads.
    fn reader(&self) -> impl Future<Output = Result<Self::Pooled, sqlx::Error>> + Send;
    /// A connection for a write that is a single statement (atomic on its own).
    fn writer(&self) -> impl Future<Output = Result<Self::Pooled, sqlx::Error>> + Send;
    /// A transaction for writes of several statements.
    fn begin(&self) -> impl Future<Output = Result<Self::Tx, sqlx::Error>> + Send;
    /// Commits `tx`.
    fn commit(tx: Self::Tx) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// Every kind of credential, once.
#[async_trait]
impl<B: Backend, C: Stored> Credentials<C> for B {
    async fn insert_credential(&self, credential: &C) -> Result<(), StoreError> {
        credentials::insert::<C::Table, _>(&mut *self.writer().await?, credential).await
    }

    async fn find_credential(&self, id: &C::Id) -> Result<Option<C>, StoreError> {
        credentials::find::<C::Table, _>(&mut *self.reader().await?, id).await
    }

    async fn list_credentials(&self) -> Result<Vec<C>, StoreError> {
        credentials::list::<C::Table, _>(&mut *self.reader().await?).await
    }
}

#[async_trait]
impl<B: Backend, C: Stored> RevocableCredentials<C> for B
where
    C::Table: Revocable,
{
    async fn revoke_credential(
        &self,
        id: &C::Id,
        at: Timestamp,
    ) -> Result<RevokeOutcome<C>, StoreError> {
        let mut tx = self.begin().await?;
        let outcome = credentials::revoke::<C::Table, _>(&mut *tx, id, at).await?;
        B::commit(tx).await?;
        Ok(outcome)
    }

    async fn touch_credential(&self, id: &C::Id, at: Timestamp) -> Result<(), StoreError> {
        credentials::touch::<C::Table, _>(&mut *self.writer().await?, id, at).await
    }
}

#[async_trait]
impl<B: Backend> Store for B {
    fn backend_name(&self) -> &'static str {
        B::NAME
    }

    async fn insert_user(&self, name: &UserName, created: Timestamp) -> Result<User, StoreError> {
        users::insert(&mut *self.writer().await?, name, created).await
    }

    async fn get_user(&self, id: UserId) -> Result<User, StoreError> {
        users::get(&mut *self.reader().await?, id).await
    }

    async fn find_user_by_name(&self, name: &UserName) -> Result<Option<User>, StoreError> {
        users::find_by_name(&mut *self.reader().await?, name).await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        users::list(&mut *self.reader().await?).await
    }

    async fn consume_auth_key(
        &self,
        id: &AuthKeyId,
        now: Timestamp,
    ) -> Result<ConsumeOutcome<()>, StoreError> {
        // The guarded UPDATE is one statement and atomic by itself; the read that may follow
        // only explains a refusal. No transaction needed: this is the hot path of enrolment.
        match auth_keys::consume(&mut *self.writer().await?, id, now).await? {
            Ok(key) => Ok(ConsumeOutcome::Consumed { key, value: () }),
            Err(rejected) => Ok(ConsumeOutcome::Rejected(rejected)),
        }
    }

    async fn insert_node_consuming_key(
        &self,
        node: &NewNode,
        key: &AuthKeyId,
        now: Timestamp,
    ) -> Result<ConsumeOutcome<Node>, StoreError> {
        let mut tx = self.begin().await?;
        // On any early return below, `tx` is dropped uncommitted and rolls back: a rejected
        // key wrote nothing, and a failed insert un-counts the use.
        let key = match auth_keys::consume(&mut *tx, key, now).await? {
            Ok(key) => key,
            Err(rejected) => return Ok(ConsumeOutcome::Rejected(rejected)),
        };
        let node = nodes::insert(&mut *tx, node).await?;
        B::commit(tx).await?;
        Ok(ConsumeOutcome::Consumed { key, value: node })
    }

    async fn update_node_consuming_key(
        &self,
        node: &Node,
        key: &AuthKeyId,
        now: Timestamp,
    ) -> Result<ConsumeOutcome<Node>, StoreError> {
        let mut tx = self.begin().await?;
        // As in `insert_node_consuming_key`: any early return drops `tx` uncommitted, so a
        // rejected key writes nothing and a failed update un-counts the use.
        let key = match auth_keys::consume(&mut *tx, key, now).await? {
            Ok(key) => key,
            Err(rejected) => return Ok(ConsumeOutcome::Rejected(rejected)),
        };
        nodes::update(&mut *tx, node).await?;
        B::commit(tx).await?;
        Ok(ConsumeOutcome::Consumed { key, value: node.clone() })
    }

    async fn insert_node(&self, node: &NewNode) -> Result<Node, StoreError> {
        nodes::insert(&mut *self.writer().await?, node).await
    }

    async fn get_node(&self, id: NodeId) -> Result<Node, StoreError> {
        nodes::get(&mut *self.reader().await?, id).await
    }

    async fn find_node_by_machine_key(&self, key: &MachineKey) -> Result<Option<Node>, StoreError> {
        nodes::find_by_machine_key(&mut *self.reader().await?, key).await
    }

    async fn find_node_by_node_key(&self, key: &NodeKey) -> Result<Option<Node>, StoreError> {
        nodes::find_by_node_key(&mut *self.reader().await?, key).await
    }

    async fn list_nodes(&self) -> Result<Vec<Node>, StoreError> {
        nodes::list(&mut *self.reader().await?).await
    }

    async fn update_node(&self, node: &Node) -> Result<(), StoreError> {
        nodes::update(&mut *self.writer().await?, node).await
    }

    async fn touch_node(&self, id: NodeId, at: Timestamp) -> Result<(), StoreError> {
        nodes::touch(&mut *self.writer().await?, id, at).await
    }

    async fn delete_node(&self, id: NodeId) -> Result<bool, StoreError> {
        nodes::delete(&mut *self.writer().await?, id).await
    }

    async fn get_address_cursor(&self) -> Result<Option<u32>, StoreError> {
        address_cursor::get(&mut *self.reader().await?).await
    }

    async fn put_address_cursor(&self, next_offset: u32) -> Result<(), StoreError> {
        address_cursor::put(&mut *self.writer().await?, next_offset).await
    }

    async fn get_settings(&self) -> Result<TailnetSettings, StoreError> {
        settings::get(&mut *self.reader().await?).await
    }

    async fn put_settings(&self, settings: &TailnetSettings) -> Result<(), StoreError> {
        settings::put(&mut *self.writer().await?, settings).await
    }

    async fn insert_console_admin(
        &self,
        name: &UserName,
        password_hash: &crate::PasswordHash,
        created: Timestamp,
    ) -> Result<crate::ConsoleAdmin, StoreError> {
        crate::console_admins::insert(&mut *self.writer().await?, name, password_hash, created)
            .await
    }

    async fn get_console_admin(
        &self,
        id: crate::ConsoleAdminId,
    ) -> Result<crate::ConsoleAdmin, StoreError> {
        crate::console_admins::get(&mut *self.reader().await?, id).await
    }

    async fn find_console_admin_by_name(
        &self,
        name: &UserName,
    ) -> Result<Option<crate::ConsoleAdmin>, StoreError> {
        crate::console_admins::find_by_name(&mut *self.reader().await?, name).await
    }

    async fn list_console_admins(&self) -> Result<Vec<crate::ConsoleAdmin>, StoreError> {
        crate::console_admins::list(&mut *self.reader().await?).await
    }

    async fn count_console_admins(&self) -> Result<u64, StoreError> {
        crate::console_admins::count(&mut *self.reader().await?).await
    }

    async fn insert_console_session(
        &self,
        session: &crate::ConsoleSession,
    ) -> Result<(), StoreError> {
        crate::console_sessions::insert(&mut *self.writer().await?, session).await
    }

    async fn find_console_session(
        &self,
        id_hash: &keygate_domain::SecretHash,
    ) -> Result<Option<crate::ConsoleSession>, StoreError> {
        crate::console_sessions::find(&mut *self.reader().await?, id_hash).await
    }

    async fn delete_console_session(
        &self,
        id_hash: &keygate_domain::SecretHash,
    ) -> Result<bool, StoreError> {
        crate::console_sessions::delete(&mut *self.writer().await?, id_hash).await
    }

    async fn delete_expired_console_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        crate::console_sessions::delete_expired(&mut *self.writer().await?, now).await
    }

    async fn insert_console_setup_token(
        &self,
        token: &crate::SetupToken,
    ) -> Result<(), StoreError> {
        crate::console_setup_tokens::insert(&mut *self.writer().await?, token).await
    }

    async fn find_console_setup_token(
        &self,
        token_hash: &keygate_domain::SecretHash,
    ) -> Result<Option<crate::SetupToken>, StoreError> {
        crate::console_setup_tokens::find(&mut *self.reader().await?, token_hash).await
    }

    async fn insert_first_console_admin(
        &self,
        token_hash: &keygate_domain::SecretHash,
        now: Timestamp,
        name: &UserName,
        password_hash: &crate::PasswordHash,
    ) -> Result<crate::SetupOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let outcome = crate::console_setup_tokens::create_first_admin(
            &mut *tx,
            token_hash,
            now,
            name,
            password_hash,
        )
        .await?;
        // Any other outcome drops `tx` uncommitted: the token's use rolls back.
        if matches!(outcome, crate::SetupOutcome::Created(_)) {
            B::commit(tx).await?;
        }
        Ok(outcome)
    }

    // ---- audit log, OAuth clients and their access tokens ----

    async fn insert_audit_event(
        &self,
        event: &keygate_domain::NewAuditEvent,
    ) -> Result<keygate_domain::AuditEvent, StoreError> {
        crate::audit_events::insert(&mut *self.writer().await?, event).await
    }

    async fn list_audit_events(
        &self,
        filter: &keygate_domain::AuditFilter,
    ) -> Result<Vec<keygate_domain::AuditEvent>, StoreError> {
        crate::audit_events::list(&mut *self.reader().await?, filter).await
    }

    async fn delete_expired_oauth_tokens(&self, now: Timestamp) -> Result<u64, StoreError> {
        credentials::delete_expired::<OAuthTokens, _>(&mut *self.writer().await?, now).await
    }

    async fn insert_policy_revision(
        &self,
        revision: &crate::NewPolicyRevision,
    ) -> Result<crate::PolicyRevision, StoreError> {
        // One guarded statement (see policies.rs): atomic without a transaction.
        crate::policies::insert(&mut *self.writer().await?, revision).await
    }

    async fn find_latest_policy_revision(
        &self,
    ) -> Result<Option<crate::PolicyRevision>, StoreError> {
        crate::policies::find_latest(&mut *self.reader().await?).await
    }

    async fn list_policy_revisions(&self) -> Result<Vec<crate::PolicyRevision>, StoreError> {
        crate::policies::list(&mut *self.reader().await?).await
    }
}
