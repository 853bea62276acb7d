//! OAuth clients and the access tokens they obtain (client-credentials grant).
//!
//! An OAuth client is a credential of the tailnet, not of a user (KB 1215): it never expires,
//! it carries scopes and tags, and its secret (`keygate-client-<id>-<hex>`) is exchanged at
//! `POST /api/v2/oauth/token` for an access token (`keygate-oauthtok-<id>-<hex>`) that lives one
//! hour. Keys minted with such a token belong to the tailnet and must carry the client's tags.

use std::time::Duration;

use crate::credential::credential;
use crate::{Description, Scope, ScopeSet, SecretHash, SecretKind, TagSet, Timestamp, TokenId};

/// How long an access token is accepted (Tailscale's: one hour).
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The options an OAuth client is created with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OAuthClientSpec {
    pub scopes: ScopeSet,
    pub tags: TagSet,
    pub description: Description,
}

/// A combination of client options that cannot go together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthClientSpecError {
    #[error("an OAuth client needs at least one scope (for example auth_keys)")]
    NoScopes,
    #[error("an OAuth client with scope {0} needs tags: keys and devices it creates are owned by those tags")]
    TagsRequired(Scope),
}

impl OAuthClientSpec {
    /// Checks the rules that span several fields: some scope, and tags whenever the scopes
    /// allow creating keys or changing devices (KB 1215: "tags are mandatory on a client whose
    /// scopes include devices:core or auth_keys").
    pub fn validate(&self) -> Result<(), OAuthClientSpecError> {
        if self.scopes.is_empty() {
            return Err(OAuthClientSpecError::NoScopes);
        }
        if self.tags.is_empty() {
            for needs_tags in [Scope::AuthKeys, Scope::DevicesCore] {
                if self.scopes.grants(needs_tags) {
                    return Err(OAuthClientSpecError::TagsRequired(needs_tags));
                }
            }
        }
        Ok(())
    }
}

/// An OAuth client as stored (the secret itself never is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: TokenId,
    pub scopes: ScopeSet,
    pub tags: TagSet,
    pub description: Description,
    pub created: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// When it last obtained an access token.
    pub last_used_at: Option<Timestamp>,
    pub secret_hash: SecretHash,
}

// An OAuth client does not expire: it is revoked.
credential!(OAuthClient, TokenId, SecretKind::Client, "OAuth client", |client, _now| {
    client.revoked_at
});

/// An access token obtained from an OAuth client, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthToken {
    pub id: TokenId,
    /// The client that obtained it; revoking the client makes its tokens worthless.
    pub client: TokenId,
    /// At most the client's scopes (narrowed by the request's `scope`).
    pub scopes: ScopeSet,
    /// At most the client's tags (narrowed by the request's `tags`).
    pub tags: TagSet,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub secret_hash: SecretHash,
}

// An access token lives until its expiry (its client's state aside); it is not revoked on its
// own.
credential!(OAuthToken, TokenId, SecretKind::OAuthToken, "OAuth token", |token, now| {
    (now >= token.expires).then_some(token.expires)
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credential;

    fn spec(scopes: &str, tags: &str) -> OAuthClientSpec {
        OAuthClientSpec {
            scopes: ScopeSet::parse_list(scopes).unwrap(),
            tags: TagSet::parse_list(tags).unwrap(),
            description: Description::default(),
        }
    }

    #[test]
    fn writing_keys_or_devices_needs_tags() {
        assert_eq!(
            spec("auth_keys", "").validate(),
            Err(OAuthClientSpecError::TagsRequired(Scope::AuthKeys))
        );
        assert_eq!(
            spec("devices:core", "").validate(),
            Err(OAuthClientSpecError::TagsRequired(Scope::DevicesCore))
        );
        assert!(spec("all", "").validate().is_err());
        assert_eq!(spec("auth_keys:read devices:core:read all:read", "").validate(), Ok(()));
        assert_eq!(spec("auth_keys,devices:core", "tag:ci").validate(), Ok(()));
        assert_eq!(spec("", "tag:ci").validate(), Err(OAuthClientSpecError::NoScopes));
    }

    #[test]
    fn access_tokens_expire_after_their_hour() {
        let t0 = Timestamp::from_unix_millis(1_000_000);
        let token = OAuthToken {
            id: TokenId::from_random(&[1; 12]),
            client: TokenId::from_random(&[2; 12]),
            scopes: ScopeSet::default(),
            tags: TagSet::default(),
            created: t0,
            expires: t0.plus(ACCESS_TOKEN_LIFETIME),
            secret_hash: SecretHash([0; 32]),
        };
        assert!(token.is_usable(t0.plus(ACCESS_TOKEN_LIFETIME - Duration::from_millis(1))));
        assert!(!token.is_usable(t0.plus(ACCESS_TOKEN_LIFETIME)));
    }
}
