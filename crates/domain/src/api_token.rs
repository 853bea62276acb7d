//! API access tokens: credentials for the REST API and the CLI's remote mode.

use crate::credential::{credential, revoked_or_expired};
use crate::{Description, SecretHash, SecretKind, Timestamp, TokenId, UserId};

/// An API access token as stored. It acts with the permissions of its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: TokenId,
    pub user: UserId,
    pub description: Description,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub secret_hash: SecretHash,
}

/// Why a token was not accepted. Callers show one uniform message for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejected {
    #[error("unknown API token")]
    Unknown,
    #[error("API token has expired")]
    Expired,
    #[error("API token has been revoked")]
    Revoked,
}

impl ApiToken {
    /// `Ok` when the token may authenticate a request at `now`.
    pub fn check_usable(&self, now: Timestamp) -> Result<(), TokenRejected> {
        if self.revoked_at.is_some() {
            Err(TokenRejected::Revoked)
        } else if now >= self.expires {
            Err(TokenRejected::Expired)
        } else {
            Ok(())
        }
    }
}

credential!(ApiToken, TokenId, SecretKind::Api, "API token", |token, now| {
    revoked_or_expired(token.revoked_at, token.expires, now)
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_revoke() {
        let now = Timestamp::from_unix_millis(1_000_000);
        let mut t = ApiToken {
            id: TokenId::from_random(&[3; 12]),
            user: UserId(1),
            description: Description::default(),
            created: now,
            expires: now.plus(std::time::Duration::from_secs(60)),
            revoked_at: None,
            last_used_at: None,
            secret_hash: SecretHash([0; 32]),
        };
        assert_eq!(t.check_usable(now), Ok(()));
        assert_eq!(t.check_usable(t.expires), Err(TokenRejected::Expired));
        t.revoked_at = Some(now);
        assert_eq!(t.check_usable(now), Err(TokenRejected::Revoked));
    }
}
