//! Secret-bearing credentials: what every kind has in common.
//!
//! A credential is something whose secret is handed out once, as `keygate-<kind>-<id>-<hex>`
//! (see `secret.rs`), and kept only as a peppered hash: pre-authentication keys, API tokens,
//! OAuth clients and the access tokens they obtain. Every kind has a public id, a creation
//! time, and a moment from which it is no longer usable (revoked, expired, used up); the rest
//! is its own (the usage count of an auth key, the scopes of an OAuth client) and stays on its
//! type. What is the same for every kind (checking a presented secret, sorting valid from
//! recently invalid, revoking, the store's queries) is written once against [`Credential`].

use std::fmt;
use std::time::Duration;

use crate::{SecretHash, SecretKind, Timestamp};

/// The public id of a credential (`k…` or `t…`, see `id.rs`).
pub trait CredentialId: Clone + fmt::Display + fmt::Debug + Send + Sync + 'static {
    /// Parses an id as shown to users; `None` when it cannot be one of this kind.
    fn parse(text: &str) -> Option<Self>;
    /// Wraps an id read back from storage, trusting it.
    fn from_stored(text: String) -> Self;
    /// The id as text.
    fn as_str(&self) -> &str;
}

/// A credential as stored (the secret itself never is).
pub trait Credential: Clone + fmt::Debug + Send + Sync + 'static {
    type Id: CredentialId;
    /// The kind of its secret's text (`keygate-<kind>-…`).
    const KIND: SecretKind;
    /// What messages call it: "auth key", "API token", "OAuth client".
    const NAME: &'static str;

    fn id(&self) -> &Self::Id;
    /// The peppered HMAC of its secret.
    fn secret_hash(&self) -> &SecretHash;
    /// When it stopped being usable, if it has at `now`: its revocation, its expiry, or the
    /// use that used it up.
    fn invalid_since(&self, now: Timestamp) -> Option<Timestamp>;

    /// Whether it may be used at `now`.
    fn is_usable(&self, now: Timestamp) -> bool {
        self.invalid_since(now).is_none()
    }

    /// Whether it belongs in the "recently revoked or expired" list at `now`: invalid, and
    /// for at most `window`.
    fn is_recently_invalid(&self, now: Timestamp, window: Duration) -> bool {
        self.invalid_since(now).is_some_and(|since| now.since(since) <= window)
    }
}

/// When a credential with an expiry and a revocation time stopped being usable at `now`:
/// revocation wins, then the expiry.
pub fn revoked_or_expired(
    revoked_at: Option<Timestamp>,
    expires: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    revoked_at.or((now >= expires).then_some(expires))
}

/// Implements [`Credential`] for a struct with `id` and `secret_hash` fields:
/// `credential!(Type, IdType, SecretKind::…, "name", |value, now| <invalid_since>)`.
macro_rules! credential {
    ($type:ty, $id:ty, $kind:expr, $name:literal, |$value:ident, $now:ident| $invalid_since:expr) => {
        impl $crate::Credential for $type {
            type Id = $id;
            const KIND: $crate::SecretKind = $kind;
            const NAME: &'static str = $name;

            fn id(&self) -> &$id {
                &self.id
            }

            fn secret_hash(&self) -> &$crate::SecretHash {
                &self.secret_hash
            }

            fn invalid_since(&self, $now: $crate::Timestamp) -> Option<$crate::Timestamp> {
                let $value = self;
                $invalid_since
            }
        }
    };
}
pub(crate) use credential;
