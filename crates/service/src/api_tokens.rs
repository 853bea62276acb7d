//! API access tokens: created for a user, shown once, hashed at rest, revocable.

use keygate_domain::secret::SecretKind;
use keygate_domain::{
    ApiToken, AuditAction, Credential, Description, KeyLifetime, SecretToken, TokenId,
};
use keygate_store::{Credentials, RevocableCredentials, RevokeOutcome};

use crate::random::{id_bytes, secret_bytes};
use crate::users::require_admin;
use crate::{Actor, Service, ServiceError};

/// A request to create a token.
#[derive(Clone, Debug, Default)]
pub struct TokenSpec {
    /// The user the token acts as; `None`: the default user.
    pub user: Option<String>,
    pub description: String,
    /// `None`: 90 days.
    pub lifetime: Option<KeyLifetime>,
}

/// A token just created, with its secret (shown once).
#[derive(Debug)]
pub struct CreatedToken {
    pub token: ApiToken,
    pub secret: SecretToken,
}

impl Service {
    /// Creates an API token. Admins only.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        spec: TokenSpec,
    ) -> Result<CreatedToken, ServiceError> {
        require_admin(actor)?;
        let description = Description::parse(&spec.description)?;
        let user = match spec.user.as_deref() {
            Some(name) => self.user_by_name(name).await?,
            None => self.default_user().await?,
        };
        let now = self.now();
        let id = TokenId::from_random(&id_bytes());
        let secret = SecretToken::new(SecretKind::Api, id.as_str(), &secret_bytes());
        let token = ApiToken {
            id,
            user: user.id,
            description,
            created: now,
            expires: now.plus(spec.lifetime.unwrap_or_default().as_duration()),
            revoked_at: None,
            last_used_at: None,
            secret_hash: self.pepper.hash(&secret),
        };
        self.store.insert_credential(&token).await?;
        tracing::info!(token = %secret.masked(), user = %user.name, "API token created");
        let detail = serde_json::json!({ "user": user.name.as_str(), "expires": token.expires.to_rfc3339() });
        self.record_audit(actor, AuditAction::TokenCreate, token.id.as_str(), detail).await;
        Ok(CreatedToken { token, secret })
    }

    /// All tokens. Admins only.
    pub async fn list_api_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>, ServiceError> {
        require_admin(actor)?;
        Ok(Credentials::<ApiToken>::list_credentials(&*self.store).await?)
    }

    /// Revokes a token; idempotent. Admins only.
    pub async fn revoke_api_token(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<RevokeOutcome<ApiToken>, ServiceError> {
        require_admin(actor)?;
        self.revoke_credential::<ApiToken>(actor, id, AuditAction::TokenRevoke).await
    }

    /// Authenticates a request's token. Every failure is the same
    /// [`ServiceError::Unauthenticated`], so callers cannot probe which part was wrong.
    pub async fn authenticate_api_token(&self, presented: &str) -> Result<Actor, ServiceError> {
        let stored = self
            .verify_presented::<ApiToken>(presented)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        let now = self.now();
        if !stored.is_usable(now) {
            return Err(ServiceError::Unauthenticated);
        }
        RevocableCredentials::<ApiToken>::touch_credential(&*self.store, &stored.id, now).await?;
        Ok(Actor::User(stored.user))
    }
}
