//! Pre-authentication keys: creation, listing, revocation, and checking a presented key.

use keygate_domain::secret::SecretKind;
use keygate_domain::{
    AuditAction, AuthKey, AuthKeyId, AuthKeySpec, Description, KeyLifetime, KeyRejected, Scope,
    SecretToken, TagSet, User,
};
use keygate_store::{RevokeOutcome, StoreError};

use crate::random::{id_bytes, secret_bytes};
use crate::{Actor, Service, ServiceError};

/// A request to create a key, as any surface receives it. Text fields are checked here so
/// that every surface reports the same errors.
#[derive(Clone, Debug, Default)]
pub struct NewKeyRequest {
    /// The user the key is for (and who counts as its creator); `None`: the caller itself, or
    /// for an admin the default user.
    pub user: Option<String>,
    pub reusable: bool,
    pub usage_limit: Option<u32>,
    pub ephemeral: bool,
    pub preauthorized: bool,
    pub tags: Vec<String>,
    pub description: String,
    /// `None`: the default lifetime (90 days).
    pub lifetime: Option<KeyLifetime>,
}

/// A key just created, with its secret: the only time the secret exists outside the caller.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: AuthKey,
    pub secret: SecretToken,
}

/// Keys as listed: the valid ones, and those revoked, expired or used up recently.
#[derive(Debug, Default)]
pub struct KeyListing {
    pub valid: Vec<AuthKey>,
    pub recently_invalid: Vec<AuthKey>,
}

impl Service {
    /// Creates a pre-authentication key.
    pub async fn create_auth_key(
        &self,
        actor: &Actor,
        req: NewKeyRequest,
    ) -> Result<CreatedKey, ServiceError> {
        let spec = AuthKeySpec {
            reusable: req.reusable,
            usage_limit: req.usage_limit,
            ephemeral: req.ephemeral,
            preauthorized: req.preauthorized,
            tags: TagSet::parse(req.tags.iter().map(String::as_str))?,
            description: Description::parse(&req.description)?,
            lifetime: req.lifetime.unwrap_or_default(),
        };
        spec.validate()?;
        // Keys minted with an OAuth token belong to the tailnet: no creator.
        let creator = match actor {
            Actor::OAuth(grant) => {
                crate::oauth::check_tailnet_key(grant, &spec, req.user.as_deref())?;
                None
            }
            _ => Some(self.key_owner(actor, req.user.as_deref()).await?),
        };
        if spec.preauthorized {
            actor.require_pre_approval()?;
        }
        // The key's user must own its tags under the policy's tagOwners (policy.rs).
        if let Some(user) = &creator {
            let owner = keygate_policy::OwnerRef::User(&user.name);
            self.check_tag_ownership(&owner, &spec.tags).await?;
        }
        let owner = creator.as_ref().map_or_else(|| "tailnet".to_owned(), |u| u.name.to_string());

        let now = self.now();
        // A fresh id collides with probability ~2^-70; one retry covers even that.
        for _ in 0..2 {
            let id = AuthKeyId::from_random(&id_bytes());
            let secret = SecretToken::new(SecretKind::Auth, id.as_str(), &secret_bytes());
            let key = AuthKey::new(
                id,
                creator.as_ref().map(|u| u.id),
                &spec,
                self.pepper.hash(&secret),
                now,
            );
            match self.store.insert_auth_key(&key).await {
                Ok(()) => {
                    tracing::info!(key = %secret.masked(), user = %owner, reusable = key.reusable,
                        ephemeral = key.ephemeral, tags = %key.tags, "auth key created");
                    self.record_audit(
                        actor,
                        AuditAction::KeyCreate,
                        key.id.as_str(),
                        audit_detail(&key),
                    )
                    .await;
                    return Ok(CreatedKey { key, secret });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::AlreadyExists { what: "auth key", id: "(random id)".into() })
    }

    /// Lists keys visible to `actor`: valid keys, and separately those that became invalid
    /// within the configured window. Newest first.
    pub async fn list_auth_keys(&self, actor: &Actor) -> Result<KeyListing, ServiceError> {
        actor.require_scope(Scope::AuthKeysRead, "listing auth keys")?;
        let now = self.now();
        let window = self.config.recently_invalid_window;
        let mut listing = KeyListing::default();
        for key in self.store.list_auth_keys().await? {
            if !visible_to(actor, &key) {
                continue;
            }
            if key.check_usable(now).is_ok() {
                listing.valid.push(key);
            } else if key.is_recently_invalid(now, window) {
                listing.recently_invalid.push(key);
            }
        }
        Ok(listing)
    }

    /// Every key visible to `actor`, whatever its state (for `?all=true`-style listings).
    pub async fn all_auth_keys(&self, actor: &Actor) -> Result<Vec<AuthKey>, ServiceError> {
        actor.require_scope(Scope::AuthKeysRead, "listing auth keys")?;
        let keys = self.store.list_auth_keys().await?;
        Ok(keys.into_iter().filter(|k| visible_to(actor, k)).collect())
    }

    /// One key by its public id.
    pub async fn auth_key(&self, actor: &Actor, id: &str) -> Result<AuthKey, ServiceError> {
        actor.require_scope(Scope::AuthKeysRead, "reading auth keys")?;
        let not_found = || ServiceError::NotFound { what: "auth key", id: id.to_owned() };
        let parsed = AuthKeyId::parse(id).ok_or_else(not_found)?;
        match self.store.find_auth_key(&parsed).await? {
            Some(k) if visible_to(actor, &k) => Ok(k),
            _ => Err(not_found()),
        }
    }

    /// Revokes a key. Idempotent: revoking twice reports `AlreadyRevoked` and changes nothing.
    /// Nodes the key enrolled are not touched.
    pub async fn revoke_auth_key(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<RevokeOutcome<AuthKey>, ServiceError> {
        actor.require_scope(Scope::AuthKeys, "revoking auth keys")?;
        let key = self.auth_key(actor, id).await?;
        let outcome =
            self.store.revoke_auth_key(&key.id, self.now()).await.map_err(|e| match e {
                StoreError::NotFound(_) => {
                    ServiceError::NotFound { what: "auth key", id: id.to_owned() }
                }
                e => e.into(),
            })?;
        if let RevokeOutcome::Revoked(k) = &outcome {
            tracing::info!(key = %keygate_domain::secret::masked(SecretKind::Auth, k.id.as_str()), "auth key revoked");
            self.record_audit(actor, AuditAction::KeyRevoke, k.id.as_str(), serde_json::json!({}))
                .await;
        }
        Ok(outcome)
    }

    /// Checks a key presented by a node, without using it: the key must exist, its secret must
    /// match (compared in constant time), and it must be usable now. Unknown ids, malformed
    /// strings and wrong secrets all give [`KeyRejected::Unknown`], so a caller learns nothing
    /// about which part was wrong.
    pub async fn check_presented_auth_key(
        &self,
        presented: &str,
    ) -> Result<AuthKey, PresentedKeyError> {
        let token =
            SecretToken::parse(presented, SecretKind::Auth).map_err(|_| KeyRejected::Unknown)?;
        let id = AuthKeyId::parse(token.id()).ok_or(KeyRejected::Unknown)?;
        let key = self.store.find_auth_key(&id).await?.ok_or(KeyRejected::Unknown)?;
        if !self.pepper.verify(&token, &key.secret_hash) {
            return Err(KeyRejected::Unknown.into());
        }
        key.check_usable(self.now())?;
        Ok(key)
    }

    /// Whom a new key belongs to.
    async fn key_owner(&self, actor: &Actor, user: Option<&str>) -> Result<User, ServiceError> {
        match (actor, user) {
            (Actor::Admin, Some(name)) => self.user_by_name(name).await.map_err(|e| match e {
                ServiceError::NotFound { .. } => ServiceError::Invalid(format!(
                    "unknown user {name:?}: create it first with `keygate users create {name}`"
                )),
                e => e,
            }),
            (Actor::Admin, None) => self.default_user().await,
            (Actor::User(me), None) => Ok(self.store.get_user(*me).await?),
            (Actor::User(me), Some(name)) => {
                let u = self.user_by_name(name).await?;
                if u.id == *me {
                    Ok(u)
                } else {
                    Err(ServiceError::Forbidden(format!(
                        "an API token can only create keys for its own user, not {name:?}"
                    )))
                }
            }
            // `create_auth_key` makes tailnet-owned keys for these and never asks.
            (Actor::OAuth(_), _) => Err(ServiceError::Forbidden(
                "a key created with an OAuth token has no owning user".into(),
            )),
        }
    }
}

/// Why a presented key was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PresentedKeyError {
    #[error(transparent)]
    Rejected(#[from] KeyRejected),
    #[error("storage failure")]
    Store(#[from] StoreError),
}

fn visible_to(actor: &Actor, key: &AuthKey) -> bool {
    match actor {
        Actor::Admin => true,
        Actor::User(me) => key.creator == Some(*me),
        // OAuth tokens act on the keys owned by the tailnet (reference §4).
        Actor::OAuth(_) => key.creator.is_none(),
    }
}

/// The non-secret facts of a new key, for its audit entry.
fn audit_detail(key: &AuthKey) -> serde_json::Value {
    serde_json::json!({
        "reusable": key.reusable,
        "ephemeral": key.ephemeral,
        "preauthorized": key.preauthorized,
        "tags": key.tags.to_strings(),
        "expires": key.expires.to_rfc3339(),
        "creator": key.creator.map(|u| u.0),
    })
}
