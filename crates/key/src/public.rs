//! The public key kinds: 32 bytes each, told apart by their text prefix.
//!
//! Shared behaviour, beyond the [text rules](crate::text):
//! - equality is constant-time (`subtle`), as in Go (public keys are not secret, but comparing
//!   them in constant time costs nothing and keeps lookups from leaking prefixes);
//! - order and hash follow the bytes;
//! - `Debug` is the full text form; [`short`](NodePublicKey::short) is the log form;
//! - serde uses the text form; on input JSON `null` and `""` read as the zero key (Go leaves a
//!   field untouched on `null`; some non-Go clients send `""`).
//!
//! The bytes are a public field: any 32 bytes are a valid public key.

use std::fmt;

use subtle::ConstantTimeEq;

use crate::text::{parse_hex, write_hex, KeyParseError, KEY_LEN};

/// Defines a public-key newtype over `[u8; 32]` with a fixed text prefix.
macro_rules! public_key_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Default)]
        pub struct $name(pub [u8; KEY_LEN]);

        impl $name {
            /// Text prefix of this key kind on the wire.
            pub const PREFIX: &'static str = $prefix;

            /// The all-zero key, which Go treats as "no key".
            pub const ZERO: Self = Self([0; KEY_LEN]);

            /// Wraps raw key bytes.
            pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }

            /// The raw key bytes.
            pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }

            /// Whether this is the all-zero key (Go's `IsZero`).
            pub fn is_zero(&self) -> bool {
                self.ct_eq(&Self::ZERO).into()
            }

            /// Parses the text form `<prefix><64 hex digits>`.
            pub fn parse(text: &str) -> Result<Self, KeyParseError> {
                parse_hex(text, Self::PREFIX).map(Self)
            }

            /// A short form for logs: the prefix and the first 8 hex digits.
            pub fn short(&self) -> String {
                format!("{}{}", Self::PREFIX, hex::encode(&self.0[..4]))
            }
        }

        impl ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> subtle::Choice {
                self.0.ct_eq(&other.0)
            }
        }

        /// Constant-time comparison, as Go's `key` package does.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.ct_eq(other).into()
            }
        }

        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }

        /// Byte-wise order (not constant-time; public keys are not secret).
        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.cmp(&other.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, Self::PREFIX, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = KeyParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl From<[u8; KEY_LEN]> for $name {
            fn from(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }
        }

        /// The raw bytes of a binary protocol (DERP frames carry keys as 32 bytes).
        impl TryFrom<&[u8]> for $name {
            type Error = std::array::TryFromSliceError;

            fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
                bytes.try_into().map(Self)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl From<$name> for [u8; KEY_LEN] {
            fn from(key: $name) -> Self {
                key.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        /// Accepts the text form, and reads `null` or `""` as the zero key.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text: Option<std::borrow::Cow<'de, str>> =
                    serde::Deserialize::deserialize(deserializer)?;
                match text.as_deref() {
                    None | Some("") => Ok(Self::ZERO),
                    Some(text) => Self::parse(text).map_err(serde::de::Error::custom),
                }
            }
        }
    };
}

public_key_type!(
    /// A node's WireGuard public key, text form `nodekey:<64 hex>`.
    ///
    /// Sent by clients as `RegisterRequest.NodeKey`/`OldNodeKey` and `MapRequest.NodeKey`;
    /// sent back in `Node.Key`; a DERP client's address. It rotates (the machine key does
    /// not), so the server binds it 1:1 to a machine key. Upstream: `types/key/node.go`.
    NodePublicKey,
    "nodekey:"
);

public_key_type!(
    /// A machine key, text form `mkey:<64 hex>`: the Noise static key of a client
    /// (`Node.Machine`) or of the control server (`OverTLSPublicKeyResponse.publicKey`). A
    /// client's machine key never appears in its requests: the server takes it from the Noise
    /// handshake. Upstream: `types/key/machine.go`.
    MachinePublicKey,
    "mkey:"
);

public_key_type!(
    /// A node's disco key, text form `discokey:<64 hex>`, used by peers for NAT-traversal
    /// pings. Sent in `MapRequest.DiscoKey`, relayed in `Node.DiscoKey`.
    /// Upstream: `types/key/disco.go`.
    DiscoPublicKey,
    "discokey:"
);

public_key_type!(
    /// A per-connection challenge key, text form `chalpub:<64 hex>`, sent by the server in the
    /// optional early Noise payload. Upstream: `types/key/chal.go`.
    ChallengePublicKey,
    "chalpub:"
);

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "4f1a0b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeef";

    fn node_text() -> String {
        format!("nodekey:{HEX}")
    }

    #[test]
    fn node_key_text_round_trips() {
        let key = NodePublicKey::parse(&node_text()).expect("valid key");
        assert_eq!(key.to_string(), node_text());
        assert_eq!(format!("{key:?}"), node_text());
        assert_eq!(key.as_bytes()[0], 0x4f);
        assert_eq!(NodePublicKey::from_bytes(*key.as_bytes()), key);
        assert_eq!(node_text().parse::<NodePublicKey>().unwrap(), key);
    }

    #[test]
    fn every_kind_uses_its_own_prefix() {
        let bytes = [7u8; KEY_LEN];
        assert!(NodePublicKey::from_bytes(bytes).to_string().starts_with("nodekey:"));
        assert!(DiscoPublicKey::from_bytes(bytes).to_string().starts_with("discokey:"));
        assert!(MachinePublicKey::from_bytes(bytes).to_string().starts_with("mkey:"));
        assert!(ChallengePublicKey::from_bytes(bytes).to_string().starts_with("chalpub:"));
    }

    #[test]
    fn wrong_prefix_is_rejected() {
        let err = MachinePublicKey::parse(&node_text()).unwrap_err();
        assert_eq!(err, KeyParseError::WrongPrefix { expected: "mkey:" });
        // Prefix matching is exact, as in Go.
        let upper = format!("NODEKEY:{HEX}");
        assert!(matches!(NodePublicKey::parse(&upper), Err(KeyParseError::WrongPrefix { .. })));
    }

    #[test]
    fn wrong_length_is_rejected() {
        let short = format!("nodekey:{}", &HEX[..63]);
        assert_eq!(
            NodePublicKey::parse(&short).unwrap_err(),
            KeyParseError::WrongLength { expected: 64, got: 63 }
        );
        let long = format!("nodekey:{HEX}0");
        assert_eq!(
            NodePublicKey::parse(&long).unwrap_err(),
            KeyParseError::WrongLength { expected: 64, got: 65 }
        );
        assert!(NodePublicKey::parse("nodekey:").is_err());
        assert!(format!("nodekey:{}", "zz".repeat(32)).parse::<NodePublicKey>().is_err());
    }

    #[test]
    fn upper_case_hex_is_accepted_and_rendered_lower_case() {
        // Go's fromHexChar accepts A-F, so we do too.
        let upper = format!("nodekey:{}", HEX.to_uppercase());
        let key = NodePublicKey::parse(&upper).expect("upper-case hex is valid");
        assert_eq!(key.to_string(), node_text());
    }

    #[test]
    fn zero_key_renders_with_prefix_and_zeros() {
        let zero = MachinePublicKey::ZERO;
        assert!(zero.is_zero());
        assert_eq!(zero.to_string(), format!("mkey:{}", "0".repeat(64)));
        assert_eq!(serde_json::to_string(&zero).unwrap(), format!("\"mkey:{}\"", "0".repeat(64)));
        assert_eq!(DiscoPublicKey([0; 32]).to_string(), format!("discokey:{}", "0".repeat(64)));
        assert!(!NodePublicKey::parse(&node_text()).unwrap().is_zero());
        assert_eq!(MachinePublicKey::default(), MachinePublicKey::ZERO);
    }

    #[test]
    fn serde_uses_the_text_form() {
        let key = NodePublicKey::parse(&node_text()).unwrap();
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, format!("\"{}\"", node_text()));
        let back: NodePublicKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back, key);
        // Also through serde_json::Value (the case-insensitive input path).
        let via_value: NodePublicKey =
            serde_json::from_value(serde_json::json!(node_text())).unwrap();
        assert_eq!(via_value, key);
        let chal = ChallengePublicKey::from_bytes([1; 32]);
        assert_eq!(
            serde_json::to_string(&chal).unwrap(),
            format!("\"chalpub:{}\"", "01".repeat(32))
        );
    }

    #[test]
    fn null_and_empty_string_read_as_zero() {
        let from_null: DiscoPublicKey = serde_json::from_str("null").unwrap();
        assert!(from_null.is_zero());
        let from_empty: DiscoPublicKey = serde_json::from_str("\"\"").unwrap();
        assert!(from_empty.is_zero());
        assert!(serde_json::from_str::<DiscoPublicKey>("\"discokey:12\"").is_err());
    }

    #[test]
    fn equality_order_and_hash_follow_bytes() {
        use std::collections::HashSet;
        let a = NodePublicKey::from_bytes([1; KEY_LEN]);
        let b = NodePublicKey::from_bytes([2; KEY_LEN]);
        assert_ne!(a, b);
        assert_eq!(a, NodePublicKey::from_bytes([1; KEY_LEN]));
        assert!(a < b);
        let set: HashSet<_> = [a, b, NodePublicKey([1; KEY_LEN])].into_iter().collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn short_form_is_prefix_and_eight_hex_digits() {
        assert_eq!(NodePublicKey([0xa5; 32]).short(), "nodekey:a5a5a5a5");
    }
}
