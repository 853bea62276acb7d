//! Pre-authentication keys: creation, listing, revocation, and checking a presented key.

use keygate_domain::secret::SecretKind;
use keygate_domain::{
    AuditAction, AuthKey, AuthKeyId, AuthKeySpec, Description, KeyLifetime, KeyRejected, Scope,
    SecretToken, TagSet, User,
};
use keygate_store::{Credentials, RevokeOutcome, StoreError};

use crate::credentials::Listing;
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
pub type KeyListing = Listing<AuthKey>;

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
            match self.store.insert_credential(&key).await {
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
        let keys = Credentials::<AuthKey>::list_credentials(&*self.store).await?;
        let visible = keys.into_iter().filter(|k| visible_to(actor, k));
        Ok(Listing::sort(visible, self.now(), self.config.recently_invalid_window))
    }

    /// Every key visible to `actor`, whatever its state (for `?all=true`-style listings).
    pub async fn all_auth_keys(&self, actor: &Actor) -> Result<Vec<AuthKey>, ServiceError> {
        actor.require_scope(Scope::AuthKeysRead, "listing auth keys")?;
        let keys = Credentials::<AuthKey>::list_credentials(&*self.store).await?;
        Ok(keys.into_iter().filter(|k| visible_to(actor, k)).collect())
    }

    /// One key by its public id.
    pub async fn auth_key(&self, actor: &Actor, id: &str) -> Result<AuthKey, ServiceError> {
        actor.require_scope(Scope::AuthKeysRead, "reading auth keys")?;
        let key = self.credential::<AuthKey>(id).await?;
        if visible_to(actor, &key) {
            Ok(key)
        } else {
            Err(ServiceError::NotFound { what: "auth key", id: id.to_owned() })
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
        // Only keys the actor may see can be revoked: others are "not found".
        self.auth_key(actor, id).await?;
        self.revoke_credential::<AuthKey>(actor, id, AuditAction::KeyRevoke).await
    }

    /// Checks a key presented by a node, without using it: the key must exist, its secret must
    /// match (compared in constant time), and it must be usable now. Unknown ids, malformed
    /// strings and wrong secrets all give [`KeyRejected::Unknown`], so a caller learns nothing
    /// about which part was wrong.
    pub async fn check_presented_auth_key(
        &self,
        presented: &str,
    ) -> Result<AuthKey, PresentedKeyError> {
        let key = self.verify_presented::<AuthKey>(presented).await?.ok_or(KeyRejected::Unknown)?;
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
