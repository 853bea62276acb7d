//! Users: the people that own keys and the nodes enrolled with untagged keys.

use std::fmt;

use crate::{Timestamp, UserId};

/// Longest user name.
pub const MAX_USER_NAME_LEN: usize = 63;

/// Why a user name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserNameError {
    #[error("invalid user name {0:?}: use 1 to 63 lowercase letters, digits, '.', '_', '-' or '@', starting with a letter or digit")]
    Syntax(String),
}

/// A user's login name, e.g. `alice` or `alice@example.com`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserName(String);

impl UserName {
    pub fn parse(text: &str) -> Result<Self, UserNameError> {
        let err = || UserNameError::Syntax(text.to_owned());
        let mut chars = text.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_@".contains(c));
        if !first_ok || !rest_ok || text.len() > MAX_USER_NAME_LEN {
            return Err(err());
        }
        Ok(Self(text.to_owned()))
    }

    /// Wraps a name read back from storage.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The login name in e-mail form that Tailscale clients display (`alice@keygate` when the
    /// name has no domain of its own).
    pub fn login_name(&self) -> String {
        if self.0.contains('@') {
            self.0.clone()
        } else {
            format!("{}@keygate", self.0)
        }
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user of the tailnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: UserName,
    pub created: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in ["alice", "a", "bob.smith", "ci-bot_2", "alice@example.com", "9lives"] {
            assert!(UserName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Alice", "-a", "a b", "a/b", &"a".repeat(64)] {
            assert!(UserName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn login_names_get_a_domain_when_missing() {
        assert_eq!(UserName::parse("alice").unwrap().login_name(), "alice@keygate");
        assert_eq!(UserName::parse("a@x.org").unwrap().login_name(), "a@x.org");
    }
}
