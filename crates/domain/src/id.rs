//! Identifiers.
//!
//! Users and nodes get database integers (Tailscale's wire protocol wants numeric node and
//! user ids). Auth keys and API tokens get short random text ids that are embedded in the
//! secret itself (`keygate-auth-<id>-<secret>`), so the server finds the row from the id and
//! then checks the secret; the id alone grants nothing and is safe to show and log.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A user's database id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// A node's database id; also its `tailcfg.NodeID` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The alphabet of public ids: letters and digits only, so an id can never contain the `-`
/// that separates the parts of a secret, nor the `--TL` marker the Tailscale client splits
/// auth keys on.
const ID_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Random characters in a public id (after the one-letter kind prefix): 12 characters of a
/// 57-letter alphabet is about 70 bits, plenty to make collisions a non-event.
pub const ID_RANDOM_CHARS: usize = 12;

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $letter:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The first letter of every id of this kind.
            pub const LETTER: char = $letter;

            /// Builds a fresh id from caller-supplied random bytes (one byte per character).
            pub fn from_random(bytes: &[u8; ID_RANDOM_CHARS]) -> Self {
                let mut s = String::with_capacity(ID_RANDOM_CHARS + 1);
                s.push($letter);
                for b in bytes {
                    s.push(char::from(ID_ALPHABET[usize::from(*b) % ID_ALPHABET.len()]));
                }
                Self(s)
            }

            /// Parses an id as shown to users; `None` when it cannot be one of ours.
            pub fn parse(text: &str) -> Option<Self> {
                let mut chars = text.chars();
                let ok = chars.next() == Some($letter)
                    && text.len() == ID_RANDOM_CHARS + 1
                    && chars.all(|c| c.is_ascii() && ID_ALPHABET.contains(&(c as u8)));
                ok.then(|| Self(text.to_owned()))
            }

            /// Wraps an id read back from storage, trusting it.
            pub fn from_stored(text: String) -> Self {
                Self(text)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl crate::CredentialId for $name {
            fn parse(text: &str) -> Option<Self> {
                $name::parse(text)
            }

            fn from_stored(text: String) -> Self {
                $name::from_stored(text)
            }

            fn as_str(&self) -> &str {
                $name::as_str(self)
            }
        }
    };
}

text_id!(
    /// The public id of a pre-authentication key, e.g. `kQ3xT9mPzR7aB`.
    AuthKeyId,
    'k'
);
text_id!(
    /// The public id of an API access token or OAuth client, e.g. `tZp4Wn8sKd2Lm`.
    TokenId,
    't'
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_random_bytes_parse_back() {
        let id = AuthKeyId::from_random(&[0, 1, 2, 3, 4, 5, 200, 201, 202, 203, 254, 255]);
        assert_eq!(id.as_str().len(), 13);
        assert!(id.as_str().starts_with('k'));
        assert_eq!(AuthKeyId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn ids_of_other_kinds_or_shapes_are_refused() {
        let id = TokenId::from_random(&[7; ID_RANDOM_CHARS]);
        assert!(AuthKeyId::parse(id.as_str()).is_none());
        assert!(AuthKeyId::parse("k").is_none());
        assert!(AuthKeyId::parse("kabc-efghijkm").is_none());
        assert!(AuthKeyId::parse("kabcdefghijkmn").is_none());
        assert!(AuthKeyId::parse("kabcdéfghijk").is_none());
    }
}
