//! Who is asking: the [`Actor`] that surfaces authenticate and hand to the service, and what
//! an OAuth access token grants.

use keygate_domain::{Scope, ScopeSet, TagSet, TokenId, UserId};

use crate::error::ServiceError;

/// Who is asking. Surfaces authenticate the caller and hand the service one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The server's own administrator: the local admin channel (a Unix socket only root or
    /// the server's user can open) or a console admin. May act for any user.
    Admin,
    /// A user, authenticated by an API token; acts on its own keys only.
    User(UserId),
    /// A machine client, authenticated by an OAuth access token: acts within its scopes on
    /// keys owned by the tailnet, and may give keys only its own tags (see `oauth.rs`).
    OAuth(OAuthGrant),
}

/// What an OAuth access token grants: its client, and the scopes and tags it was issued
/// with (at most the client's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthGrant {
    pub client: TokenId,
    pub scopes: ScopeSet,
    pub tags: TagSet,
}

impl Actor {
    /// Fails unless the actor may do what needs `scope`: admins and user tokens are not
    /// limited by scopes, OAuth tokens need a scope granting it. `what` starts the message
    /// (`"creating auth keys"` → "creating auth keys requires scope auth_keys").
    pub fn require_scope(&self, scope: Scope, what: &str) -> Result<(), ServiceError> {
        match self {
            Actor::Admin | Actor::User(_) => Ok(()),
            Actor::OAuth(grant) if grant.scopes.grants(scope) => Ok(()),
            Actor::OAuth(_) => {
                Err(ServiceError::Forbidden(format!("{what} requires scope {scope}")))
            }
        }
    }

    /// Fails unless the actor may create pre-approved keys. Such a key lets machines past
    /// device approval, so it is an administrator's power: the admin channel and console
    /// admins ([`Actor::Admin`]), and OAuth tokens with scope `devices:core` (which may
    /// approve devices anyway); not a user's own API token.
    pub fn require_pre_approval(&self) -> Result<(), ServiceError> {
        const REFUSAL: &str = "only an administrator may create pre-approved keys";
        match self {
            Actor::Admin => Ok(()),
            Actor::OAuth(grant) if grant.scopes.grants(Scope::DevicesCore) => Ok(()),
            Actor::OAuth(_) => Err(ServiceError::Forbidden(format!(
                "{REFUSAL}: an OAuth token needs scope {} for them",
                Scope::DevicesCore
            ))),
            Actor::User(_) => Err(ServiceError::Forbidden(format!(
                "{REFUSAL}: create the key without pre-approval, and an administrator approves \
                 each device it enrols"
            ))),
        }
    }
}
