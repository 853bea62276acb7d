//! What the use cases of every kind of credential share: checking a presented secret,
//! revoking (with its log line and audit entry), and sorting valid from recently invalid.
//! Each kind's module (`auth_keys`, `api_tokens`, `oauth`) keeps what is its own: who may
//! create one, with which options, and what using it means.

use std::time::Duration;

use keygate_domain::secret::masked;
use keygate_domain::{AuditAction, Credential, CredentialId, SecretToken, Timestamp};
use keygate_store::{Credentials, RevocableCredentials, RevokeOutcome, Store, StoreError};

use crate::{Actor, Service, ServiceError};

/// Credentials as listed: the valid ones, and those that became invalid recently.
#[derive(Debug)]
pub struct Listing<C> {
    pub valid: Vec<C>,
    pub recently_invalid: Vec<C>,
}

impl<C> Default for Listing<C> {
    fn default() -> Self {
        Self { valid: Vec::new(), recently_invalid: Vec::new() }
    }
}

impl<C: Credential> Listing<C> {
    /// Sorts `all` (in its order) at `now`; credentials invalid for longer than `window` are
    /// left out.
    pub fn sort(all: impl IntoIterator<Item = C>, now: Timestamp, window: Duration) -> Self {
        let mut listing = Self::default();
        for credential in all {
            if credential.is_usable(now) {
                listing.valid.push(credential);
            } else if credential.is_recently_invalid(now, window) {
                listing.recently_invalid.push(credential);
            }
        }
        listing
    }
}

impl Service {
    /// The stored credential whose secret `presented` is, if it is one: text of kind
    /// `C::KIND`, an id of the kind, a stored row, and a secret matching its peppered hash
    /// (compared in constant time). Whether it is still usable is the caller's question.
    /// `None` for every other case alike, so that callers answer one uniform refusal.
    pub(crate) async fn verify_presented<C>(&self, presented: &str) -> Result<Option<C>, StoreError>
    where
        C: Credential,
        dyn Store: Credentials<C>,
    {
        let Ok(secret) = SecretToken::parse(presented, C::KIND) else { return Ok(None) };
        let Some(id) = C::Id::parse(secret.id()) else { return Ok(None) };
        let stored = Credentials::<C>::find_credential(&*self.store, &id).await?;
        Ok(stored.filter(|c| self.pepper.verify(&secret, c.secret_hash())))
    }

    /// One credential of kind `C` by its id; [`ServiceError::NotFound`] when there is none.
    pub(crate) async fn credential<C>(&self, id: &str) -> Result<C, ServiceError>
    where
        C: Credential,
        dyn Store: Credentials<C>,
    {
        let not_found = || ServiceError::NotFound { what: C::NAME, id: id.to_owned() };
        let parsed = C::Id::parse(id).ok_or_else(not_found)?;
        Credentials::<C>::find_credential(&*self.store, &parsed).await?.ok_or_else(not_found)
    }

    /// Revokes the credential `id`, then logs and audits it as `action` unless it had been
    /// revoked before. An unknown id is [`ServiceError::NotFound`].
    pub(crate) async fn revoke_credential<C>(
        &self,
        actor: &Actor,
        id: &str,
        action: AuditAction,
    ) -> Result<RevokeOutcome<C>, ServiceError>
    where
        C: Credential,
        dyn Store: RevocableCredentials<C>,
    {
        let not_found = || ServiceError::NotFound { what: C::NAME, id: id.to_owned() };
        let parsed = C::Id::parse(id).ok_or_else(not_found)?;
        let revoked =
            RevocableCredentials::<C>::revoke_credential(&*self.store, &parsed, self.now());
        let outcome = revoked.await.map_err(|e| match e {
            StoreError::NotFound(_) => not_found(),
            e => e.into(),
        })?;
        if let RevokeOutcome::Revoked(c) = &outcome {
            let id = c.id().as_str();
            tracing::info!(credential = %masked(C::KIND, id), "{} revoked", C::NAME);
            self.record_audit(actor, action, id, serde_json::json!({})).await;
        }
        Ok(outcome)
    }
}
