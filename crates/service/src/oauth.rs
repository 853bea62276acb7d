//! OAuth clients, the client-credentials exchange, and what an OAuth access token may do.
//!
//! An admin creates a client with scopes and tags; its secret (`keygate-client-<id>-<hex>`) is
//! shown once. The client exchanges it for an access token (`keygate-oauthtok-<id>-<hex>`,
//! one hour) that authenticates API requests as [`Actor::OAuth`]. Such a caller acts on keys
//! owned by the tailnet (those with no creator), within its scopes, and may give the keys it
//! creates only its own tags (reference §5; ACL `tagOwners` may widen this later). Secrets
//! are stored as peppered HMACs, like every other secret.

use keygate_domain::oauth::ACCESS_TOKEN_LIFETIME;
use keygate_domain::secret::{masked, SecretKind};
use keygate_domain::{
    AuditAction, AuthKeySpec, Credential, Description, OAuthClient, OAuthClientSpec, OAuthToken,
    Scope, ScopeSet, SecretToken, TagSet, TokenId,
};
use keygate_store::{Credentials, RevocableCredentials, RevokeOutcome, StoreError};

use crate::actor::{Actor, OAuthGrant};
use crate::random::{id_bytes, secret_bytes};
use crate::users::require_admin;
use crate::{Service, ServiceError};

/// A request to create an OAuth client, as any surface receives it.
#[derive(Clone, Debug, Default)]
pub struct NewOAuthClient {
    pub scopes: Vec<String>,
    pub tags: Vec<String>,
    pub description: String,
}

/// A client just created, with its secret (shown once).
#[derive(Debug)]
pub struct CreatedOAuthClient {
    pub client: OAuthClient,
    pub secret: SecretToken,
}

/// The form of a client-credentials token request, already taken apart by the surface.
#[derive(Clone, Debug, Default)]
pub struct AccessTokenRequest {
    /// The client secret, `keygate-client-<id>-<hex>`. (The client id is the one embedded in
    /// it; like Tailscale, the `client_id` parameter is not needed to find the client.)
    pub client_secret: String,
    /// Space-separated scopes to narrow the token to; absent or empty: all of the client's.
    pub scope: Option<String>,
    /// Space- or comma-separated tags to narrow the token to; absent or empty: the client's.
    pub tags: Option<String>,
}

/// An access token just issued, with its secret.
#[derive(Debug)]
pub struct IssuedAccessToken {
    pub token: OAuthToken,
    pub secret: SecretToken,
}

/// Why a token request was refused, as RFC 6749 §5.2 names it.
#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    /// Unknown, malformed, wrong or revoked client secret. Deliberately uniform.
    #[error("client authentication failed")]
    InvalidClient,
    /// A scope unknown to keygate, or not granted to the client.
    #[error("{0}")]
    InvalidScope(String),
    /// A tag that is malformed or not one of the client's.
    #[error("{0}")]
    InvalidTarget(String),
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl Service {
    /// Creates an OAuth client. Admins only.
    pub async fn create_oauth_client(
        &self,
        actor: &Actor,
        req: NewOAuthClient,
    ) -> Result<CreatedOAuthClient, ServiceError> {
        require_admin(actor)?;
        let spec = OAuthClientSpec {
            scopes: ScopeSet::parse(req.scopes.iter().map(String::as_str))
                .map_err(|e| ServiceError::Invalid(e.to_string()))?,
            tags: TagSet::parse(req.tags.iter().map(String::as_str))?,
            description: Description::parse(&req.description)?,
        };
        spec.validate().map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let now = self.now();
        let id = TokenId::from_random(&id_bytes());
        let secret = SecretToken::new(SecretKind::Client, id.as_str(), &secret_bytes());
        let client = OAuthClient {
            id,
            scopes: spec.scopes,
            tags: spec.tags,
            description: spec.description,
            created: now,
            revoked_at: None,
            last_used_at: None,
            secret_hash: self.pepper.hash(&secret),
        };
        self.store.insert_credential(&client).await?;
        tracing::info!(client = %secret.masked(), scopes = %client.scopes, tags = %client.tags, "OAuth client created");
        let detail = serde_json::json!({
            "scopes": client.scopes.to_strings(),
            "tags": client.tags.to_strings(),
            "description": client.description.as_str(),
        });
        self.record_audit(actor, AuditAction::OAuthClientCreate, client.id.as_str(), detail).await;
        Ok(CreatedOAuthClient { client, secret })
    }

    /// All OAuth clients, newest first. Admins only.
    pub async fn list_oauth_clients(
        &self,
        actor: &Actor,
    ) -> Result<Vec<OAuthClient>, ServiceError> {
        require_admin(actor)?;
        Ok(Credentials::<OAuthClient>::list_credentials(&*self.store).await?)
    }

    /// One OAuth client by id. Admins only.
    pub async fn oauth_client(&self, actor: &Actor, id: &str) -> Result<OAuthClient, ServiceError> {
        require_admin(actor)?;
        self.credential::<OAuthClient>(id).await
    }

    /// Revokes an OAuth client, which also cuts off every access token it obtained.
    /// Idempotent. Admins only.
    pub async fn revoke_oauth_client(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<RevokeOutcome<OAuthClient>, ServiceError> {
        require_admin(actor)?;
        self.revoke_credential::<OAuthClient>(actor, id, AuditAction::OAuthClientRevoke).await
    }

    /// The client-credentials grant: checks the client secret and issues an access token for
    /// [`ACCESS_TOKEN_LIFETIME`], narrowed to the requested scopes and tags.
    pub async fn issue_access_token(
        &self,
        req: AccessTokenRequest,
    ) -> Result<IssuedAccessToken, AccessTokenError> {
        let client = self.authenticate_oauth_client(&req.client_secret).await?;

        let scopes = match req.scope.as_deref().map(str::trim) {
            None | Some("") => client.scopes.clone(),
            Some(text) => {
                let asked = ScopeSet::parse_list(text)
                    .map_err(|e| AccessTokenError::InvalidScope(e.to_string()))?;
                if let Some(missing) = asked.iter().find(|s| !client.scopes.grants(*s)) {
                    return Err(AccessTokenError::InvalidScope(format!(
                        "scope {missing} is not granted to this client (it has: {})",
                        client.scopes
                    )));
                }
                asked
            }
        };
        let tags = match req.tags.as_deref().map(str::trim) {
            None | Some("") => client.tags.clone(),
            Some(text) => {
                let asked = TagSet::parse(text.split([' ', ',']).filter(|t| !t.is_empty()))
                    .map_err(|e| AccessTokenError::InvalidTarget(e.to_string()))?;
                if let Some(missing) = asked.iter().find(|t| !client.tags.contains(t)) {
                    return Err(AccessTokenError::InvalidTarget(format!(
                        "tag {missing} is not one of this client's tags ({})",
                        client.tags
                    )));
                }
                asked
            }
        };

        let now = self.now();
        // Expired tokens are useless; clearing them here keeps the table at about one row per
        // client per hour without a background task.
        self.store.delete_expired_oauth_tokens(now).await?;
        let id = TokenId::from_random(&id_bytes());
        let secret = SecretToken::new(SecretKind::OAuthToken, id.as_str(), &secret_bytes());
        let token = OAuthToken {
            id,
            client: client.id.clone(),
            scopes,
            tags,
            created: now,
            expires: now.plus(ACCESS_TOKEN_LIFETIME),
            secret_hash: self.pepper.hash(&secret),
        };
        self.store.insert_credential(&token).await?;
        RevocableCredentials::<OAuthClient>::touch_credential(&*self.store, &client.id, now)
            .await?;
        tracing::info!(client = %masked(SecretKind::Client, client.id.as_str()), token = %secret.masked(),
            scopes = %token.scopes, "OAuth access token issued");
        Ok(IssuedAccessToken { token, secret })
    }

    /// Authenticates an API request's credential, whichever kind it is: an OAuth access token
    /// (`keygate-oauthtok-…`) or an API token. Every failure is the same
    /// [`ServiceError::Unauthenticated`].
    pub async fn authenticate(&self, presented: &str) -> Result<Actor, ServiceError> {
        if SecretToken::parse(presented, SecretKind::OAuthToken).is_ok() {
            self.authenticate_oauth_token(presented).await
        } else {
            self.authenticate_api_token(presented).await
        }
    }

    /// Authenticates an OAuth access token: known, matching, unexpired, and its client not
    /// revoked.
    pub async fn authenticate_oauth_token(&self, presented: &str) -> Result<Actor, ServiceError> {
        let token = self
            .verify_presented::<OAuthToken>(presented)
            .await?
            .filter(|t| t.is_usable(self.now()))
            .ok_or(ServiceError::Unauthenticated)?;
        let client: Option<OAuthClient> = self.store.find_credential(&token.client).await?;
        if !client.is_some_and(|c| c.is_usable(self.now())) {
            return Err(ServiceError::Unauthenticated);
        }
        Ok(Actor::OAuth(OAuthGrant {
            client: token.client,
            scopes: token.scopes,
            tags: token.tags,
        }))
    }

    /// The usable client whose secret is `presented`.
    async fn authenticate_oauth_client(
        &self,
        presented: &str,
    ) -> Result<OAuthClient, AccessTokenError> {
        let client = self.verify_presented::<OAuthClient>(presented).await?;
        client.filter(|c| c.is_usable(self.now())).ok_or(AccessTokenError::InvalidClient)
    }
}

/// Checks a key that an OAuth token is about to create: the token needs scope `auth_keys`,
/// the key is owned by the tailnet (no `user`), and it carries tags, each one of the token's.
pub(crate) fn check_tailnet_key(
    grant: &OAuthGrant,
    spec: &AuthKeySpec,
    user: Option<&str>,
) -> Result<(), ServiceError> {
    if !grant.scopes.grants(Scope::AuthKeys) {
        return Err(ServiceError::Forbidden(format!(
            "creating auth keys requires scope {}",
            Scope::AuthKeys
        )));
    }
    if user.is_some() {
        return Err(ServiceError::Invalid(
            "a key created with an OAuth token is owned by the tailnet: leave out `user`".into(),
        ));
    }
    if spec.tags.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "a key created with an OAuth token must have tags: give one or more of the OAuth \
             client's tags ({})",
            grant.tags
        )));
    }
    let foreign: Vec<&str> =
        spec.tags.iter().filter(|t| !grant.tags.contains(t)).map(|t| t.as_str()).collect();
    if !foreign.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "requested tags [{}] are invalid or not permitted: an OAuth client may only give \
             keys its own tags ({})",
            foreign.join(", "),
            grant.tags
        )));
    }
    Ok(())
}
