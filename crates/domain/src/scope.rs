//! OAuth scopes: what an OAuth client (and the access tokens it obtains) may do.
//!
//! Names and meanings follow Tailscale's (KB 1215, reference §5): a scope `x` allows reading
//! and writing, `x:read` only reading, `all` and `all:read` every scope keygate knows. keygate
//! knows the scopes of the routes it has; any other name is refused rather than silently
//! granting nothing, so a typo shows at creation instead of as a 403 later.

use std::collections::BTreeSet;
use std::fmt;

/// One scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Everything below, read and write.
    All,
    /// Everything below, read only.
    AllRead,
    /// Create, list, read and revoke auth keys.
    AuthKeys,
    /// List and read auth keys.
    AuthKeysRead,
    /// Read and change the device list: approve, delete, tag, expire.
    DevicesCore,
    /// Read the device list.
    DevicesCoreRead,
}

/// A scope name keygate does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}: use one of all, all:read, auth_keys, auth_keys:read, devices:core, devices:core:read")]
pub struct ScopeError(pub String);

impl Scope {
    /// Every scope, in the order listings show them.
    pub const ALL: [Scope; 6] = [
        Scope::All,
        Scope::AllRead,
        Scope::AuthKeys,
        Scope::AuthKeysRead,
        Scope::DevicesCore,
        Scope::DevicesCoreRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::AllRead => "all:read",
            Scope::AuthKeys => "auth_keys",
            Scope::AuthKeysRead => "auth_keys:read",
            Scope::DevicesCore => "devices:core",
            Scope::DevicesCoreRead => "devices:core:read",
        }
    }

    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| ScopeError(text.to_owned()))
    }

    /// Whether holding `self` grants `needed`.
    pub fn grants(self, needed: Scope) -> bool {
        use Scope::*;
        self == needed
            || match self {
                All => true,
                AllRead => matches!(needed, AuthKeysRead | DevicesCoreRead),
                AuthKeys => needed == AuthKeysRead,
                DevicesCore => needed == DevicesCoreRead,
                AuthKeysRead | DevicesCoreRead => false,
            }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes; may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses each name; duplicates collapse.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ScopeError> {
        names.into_iter().map(|n| Scope::parse(n.trim())).collect::<Result<_, _>>().map(Self)
    }

    /// Parses names separated by spaces or commas (OAuth's `scope` parameter uses spaces,
    /// the CLI's `--scopes` commas); empty text is the empty set.
    pub fn parse_list(text: &str) -> Result<Self, ScopeError> {
        Self::parse(text.split([' ', ',']).filter(|n| !n.is_empty()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Whether some scope in the set grants `needed`.
    pub fn grants(&self, needed: Scope) -> bool {
        self.0.iter().any(|s| s.grants(needed))
    }

    /// Whether every scope of `other` is granted by this set (so a token asking for `other`
    /// gets nothing its client lacks).
    pub fn covers(&self, other: &ScopeSet) -> bool {
        other.0.iter().all(|s| self.grants(*s))
    }

    /// The names, in a stable order.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// Space-separated, as OAuth's `scope` parameter and response field.
impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused_by_name() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Ok(s));
        }
        let err = Scope::parse("policy_file").unwrap_err();
        assert!(err.to_string().contains("\"policy_file\""), "{err}");
        assert!(Scope::parse("AUTH_KEYS").is_err());
    }

    #[test]
    fn write_scopes_grant_their_read_scope_and_all_grants_everything() {
        use Scope::*;
        assert!(AuthKeys.grants(AuthKeysRead));
        assert!(!AuthKeysRead.grants(AuthKeys));
        assert!(!AuthKeys.grants(DevicesCoreRead));
        assert!(DevicesCore.grants(DevicesCoreRead));
        for s in Scope::ALL {
            assert!(All.grants(s), "{s}");
        }
        assert!(AllRead.grants(AuthKeysRead) && AllRead.grants(DevicesCoreRead));
        assert!(!AllRead.grants(AuthKeys) && !AllRead.grants(All));
    }

    #[test]
    fn sets_parse_lists_and_cover_narrower_sets() {
        let client = ScopeSet::parse_list("auth_keys, devices:core:read").unwrap();
        assert_eq!(client.to_string(), "auth_keys devices:core:read");
        assert!(client.covers(&ScopeSet::parse_list("auth_keys:read").unwrap()));
        assert!(client.covers(&ScopeSet::default()));
        assert!(!client.covers(&ScopeSet::parse_list("devices:core").unwrap()));
        assert!(!client.covers(&ScopeSet::parse_list("all:read").unwrap()));
        assert!(ScopeSet::parse_list("auth_keys nope").is_err());
        assert!(ScopeSet::parse_list("").unwrap().is_empty());
    }
}
