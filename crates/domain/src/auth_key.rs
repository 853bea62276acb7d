//! Pre-authentication keys: what they are, and every rule about when they may be used.

use crate::credential::credential;
use crate::{
    AuthKeyId, Description, KeyLifetime, SecretHash, SecretKind, TagSet, Timestamp, UserId,
};

/// The options a key is created with, already validated field by field.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AuthKeySpec {
    /// Usable more than once.
    pub reusable: bool,
    /// For reusable keys, how many enrolments at most (`None`: unlimited).
    pub usage_limit: Option<u32>,
    /// Nodes enrolled with it are removed soon after they go offline.
    pub ephemeral: bool,
    /// Nodes enrolled with it skip device approval.
    pub preauthorized: bool,
    /// Non-empty: enrolled nodes take these tags as their identity.
    pub tags: TagSet,
    pub description: Description,
    pub lifetime: KeyLifetime,
}

/// A combination of options that cannot go together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("a usage limit needs a reusable key: a one-off key is already limited to one use")]
    LimitOnOneOffKey,
    #[error("a usage limit must be at least 1")]
    ZeroLimit,
}

impl AuthKeySpec {
    /// Checks the rules that span several fields.
    pub fn validate(&self) -> Result<(), SpecError> {
        match self.usage_limit {
            Some(0) => Err(SpecError::ZeroLimit),
            Some(_) if !self.reusable => Err(SpecError::LimitOnOneOffKey),
            _ => Ok(()),
        }
    }
}

/// A pre-authentication key as stored (the secret itself never is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthKey {
    pub id: AuthKeyId,
    /// The user who generated it; `None` for keys minted by an OAuth client (always tagged).
    pub creator: Option<UserId>,
    pub reusable: bool,
    pub usage_limit: Option<u32>,
    /// Enrolments so far.
    pub use_count: u32,
    pub ephemeral: bool,
    pub preauthorized: bool,
    pub tags: TagSet,
    pub description: Description,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub secret_hash: SecretHash,
}

/// A key's state, derived from its fields and the time; never stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Valid,
    /// A one-off key once used, or a reusable key at its usage limit.
    UsedUp,
    Expired,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Valid => "valid",
            KeyState::UsedUp => "used",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }
}

/// Why a key cannot enrol a node. The messages are shown to the person running
/// `tailscale up`, so each names its cause in plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejected {
    #[error("invalid auth key: no such key (check that it was copied whole)")]
    Unknown,
    #[error("auth key has expired: generate a new key")]
    Expired,
    #[error("auth key has been revoked: generate a new key")]
    Revoked,
    #[error("auth key was a one-off key and has already been used: generate a new key or use a reusable one")]
    AlreadyUsed,
    #[error("auth key has reached its usage limit: generate a new key or raise the limit")]
    UsageLimitReached,
}

impl AuthKey {
    /// Builds a fresh key from a validated spec.
    pub fn new(
        id: AuthKeyId,
        creator: Option<UserId>,
        spec: &AuthKeySpec,
        secret_hash: SecretHash,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            creator,
            reusable: spec.reusable,
            usage_limit: if spec.reusable { spec.usage_limit } else { None },
            use_count: 0,
            ephemeral: spec.ephemeral,
            preauthorized: spec.preauthorized,
            tags: spec.tags.clone(),
            description: spec.description.clone(),
            created: now,
            expires: now.plus(spec.lifetime.as_duration()),
            revoked_at: None,
            last_used_at: None,
            secret_hash,
        }
    }

    /// Whether no further enrolment is allowed by count alone.
    pub fn is_used_up(&self) -> bool {
        if self.reusable {
            self.usage_limit.is_some_and(|limit| self.use_count >= limit)
        } else {
            self.use_count >= 1
        }
    }

    /// Whether `now` is at or past the expiry.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires
    }

    /// The key's one state at `now`. An explicit revocation wins; a key that ran out of uses
    /// stays "used" even after its expiry passes, because that happened first.
    pub fn state(&self, now: Timestamp) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.is_used_up() {
            KeyState::UsedUp
        } else if self.is_expired(now) {
            KeyState::Expired
        } else {
            KeyState::Valid
        }
    }

    /// `Ok` when the key may enrol one more node at `now`.
    pub fn check_usable(&self, now: Timestamp) -> Result<(), KeyRejected> {
        match self.state(now) {
            KeyState::Valid => Ok(()),
            KeyState::Revoked => Err(KeyRejected::Revoked),
            KeyState::Expired => Err(KeyRejected::Expired),
            KeyState::UsedUp if self.reusable => Err(KeyRejected::UsageLimitReached),
            KeyState::UsedUp => Err(KeyRejected::AlreadyUsed),
        }
    }

    /// Uses left, when the key is limited.
    pub fn uses_left(&self) -> Option<u32> {
        if self.reusable {
            self.usage_limit.map(|l| l.saturating_sub(self.use_count))
        } else {
            Some(u32::from(self.use_count == 0))
        }
    }
}

// Invalid since its revocation, the use that used it up, or its expiry.
credential!(AuthKey, AuthKeyId, SecretKind::Auth, "auth key", |key, now| {
    match key.state(now) {
        KeyState::Valid => None,
        KeyState::Revoked => key.revoked_at,
        KeyState::UsedUp => key.last_used_at.or(Some(key.created)),
        KeyState::Expired => Some(key.expires),
    }
});

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Credential;

    const DAY: Duration = Duration::from_secs(86_400);

    fn t0() -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000)
    }

    fn key(spec: AuthKeySpec) -> AuthKey {
        spec.validate().unwrap();
        AuthKey::new(
            AuthKeyId::from_random(&[1; 12]),
            Some(UserId(1)),
            &spec,
            SecretHash([0; 32]),
            t0(),
        )
    }

    fn one_off() -> AuthKey {
        key(AuthKeySpec { lifetime: KeyLifetime::from_days(30).unwrap(), ..Default::default() })
    }

    #[test]
    fn a_fresh_key_is_valid_until_its_expiry() {
        let k = one_off();
        assert_eq!(k.expires, t0().plus(30 * DAY));
        assert_eq!(k.state(t0()), KeyState::Valid);
        assert_eq!(k.state(t0().plus(30 * DAY).minus(Duration::from_millis(1))), KeyState::Valid);
        assert_eq!(k.state(t0().plus(30 * DAY)), KeyState::Expired);
        assert_eq!(k.check_usable(t0().plus(31 * DAY)), Err(KeyRejected::Expired));
    }

    #[test]
    fn a_one_off_key_is_used_up_after_one_use() {
        let mut k = one_off();
        assert_eq!(k.uses_left(), Some(1));
        k.use_count = 1;
        k.last_used_at = Some(t0().plus(DAY));
        assert_eq!(k.state(t0().plus(DAY)), KeyState::UsedUp);
        assert_eq!(k.check_usable(t0().plus(DAY)), Err(KeyRejected::AlreadyUsed));
        assert_eq!(k.uses_left(), Some(0));
        // Still "used", not "expired", after the expiry passes: it was used up first.
        assert_eq!(k.state(t0().plus(60 * DAY)), KeyState::UsedUp);
        assert_eq!(k.invalid_since(t0().plus(60 * DAY)), Some(t0().plus(DAY)));
    }

    #[test]
    fn a_reusable_key_with_a_limit_admits_exactly_that_many() {
        let mut k = key(AuthKeySpec { reusable: true, usage_limit: Some(5), ..Default::default() });
        for used in 0..5 {
            k.use_count = used;
            assert_eq!(k.check_usable(t0()), Ok(()), "use {}", used + 1);
        }
        k.use_count = 5;
        assert_eq!(k.check_usable(t0()), Err(KeyRejected::UsageLimitReached));
    }

    #[test]
    fn an_unlimited_reusable_key_never_runs_out() {
        let mut k = key(AuthKeySpec { reusable: true, ..Default::default() });
        k.use_count = u32::MAX;
        assert_eq!(k.state(t0()), KeyState::Valid);
        assert_eq!(k.uses_left(), None);
    }

    #[test]
    fn revocation_wins_over_every_other_state() {
        let mut k = one_off();
        k.use_count = 1;
        k.revoked_at = Some(t0().plus(2 * DAY));
        assert_eq!(k.state(t0().plus(100 * DAY)), KeyState::Revoked);
        assert_eq!(k.check_usable(t0()), Err(KeyRejected::Revoked));
        assert_eq!(k.invalid_since(t0()), Some(t0().plus(2 * DAY)));
    }

    #[test]
    fn recently_invalid_uses_the_window() {
        let mut k = one_off();
        k.revoked_at = Some(t0());
        assert!(k.is_recently_invalid(t0().plus(30 * DAY), 30 * DAY));
        assert!(!k.is_recently_invalid(t0().plus(31 * DAY), 30 * DAY));
        assert!(!one_off().is_recently_invalid(t0(), 30 * DAY));
    }

    #[test]
    fn usage_limits_need_reusable_keys_and_at_least_one_use() {
        let s = AuthKeySpec { usage_limit: Some(3), ..Default::default() };
        assert_eq!(s.validate(), Err(SpecError::LimitOnOneOffKey));
        let s = AuthKeySpec { reusable: true, usage_limit: Some(0), ..Default::default() };
        assert_eq!(s.validate(), Err(SpecError::ZeroLimit));
    }

    #[test]
    fn rejection_messages_name_their_cause() {
        assert!(KeyRejected::Expired.to_string().contains("expired"));
        assert!(KeyRejected::Revoked.to_string().contains("revoked"));
        assert!(KeyRejected::AlreadyUsed.to_string().contains("already been used"));
        assert!(KeyRejected::UsageLimitReached.to_string().contains("usage limit"));
        assert!(KeyRejected::Unknown.to_string().contains("no such key"));
    }
}
