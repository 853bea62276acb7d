//! The three Curve25519 public keys that identify a node, in Tailscale's text forms.
//!
//! - machine key (`mkey:`): the node's Noise static key; proves which machine is talking.
//! - node key (`nodekey:`): the node's WireGuard key; rotates, and expires.
//! - disco key (`discokey:`): used by peers for path discovery.
//!
//! Text form: prefix + exactly 64 lowercase hex digits. Equality is constant time.

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;

/// Why a key's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: expected \"{prefix}\" followed by 64 hex digits")]
pub struct KeyTextError {
    kind: &'static str,
    prefix: &'static str,
}

macro_rules! public_key {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Eq)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The text prefix.
            pub const PREFIX: &'static str = $prefix;

            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The all-zero key, which the protocol uses for "none".
            pub fn is_zero(&self) -> bool {
                self.0 == [0; 32]
            }

            /// A short form for logs: prefix and the first 8 hex digits.
            pub fn short(&self) -> String {
                format!("{}{}", $prefix, hex::encode(&self.0[..4]))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }

        impl FromStr for $name {
            type Err = KeyTextError;

            fn from_str(s: &str) -> Result<Self, KeyTextError> {
                let err = KeyTextError { kind: $kind, prefix: $prefix };
                let digits = s.strip_prefix($prefix).ok_or(err.clone())?;
                if digits.len() != 64 {
                    return Err(err);
                }
                let mut out = [0u8; 32];
                hex::decode_to_slice(digits, &mut out).map_err(|_| err)?;
                Ok(Self(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.short())
            }
        }
    };
}

public_key!(
    /// A node's machine key (its Noise static public key).
    MachineKey,
    "mkey:",
    "machine key"
);
public_key!(
    /// A node's WireGuard public key.
    NodeKey,
    "nodekey:",
    "node key"
);
public_key!(
    /// A node's disco public key.
    DiscoKey,
    "discokey:",
    "disco key"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_exact_prefix() {
        let k = NodeKey([0xa5; 32]);
        let text = k.to_string();
        assert_eq!(text, format!("nodekey:{}", "a5".repeat(32)));
        assert_eq!(text.parse::<NodeKey>().unwrap(), k);
        assert!(format!("mkey:{}", "a5".repeat(32)).parse::<NodeKey>().is_err());
        assert!(format!("nodekey:{}", "a5".repeat(31)).parse::<NodeKey>().is_err());
        assert!(format!("nodekey:{}0", "a5".repeat(32)).parse::<NodeKey>().is_err());
        assert!(format!("nodekey:{}", "zz".repeat(32)).parse::<NodeKey>().is_err());
    }

    #[test]
    fn zero_key_renders_as_zeros_not_empty() {
        let z = DiscoKey([0; 32]);
        assert!(z.is_zero());
        assert_eq!(z.to_string(), format!("discokey:{}", "0".repeat(64)));
    }
}
