//! Typed 32-byte public keys and their text form.
//!
//! Every key travels in JSON as `<type prefix><64 hex digits>`, e.g.
//! `nodekey:4f…`. The prefix names the key's role so a node key can never be
//! parsed as a machine key by accident. Upstream: `types/key/*.go`, with the
//! shared hex helpers in `types/key/util.go`.
//!
//! Rules shared by all kinds (mirroring Go's `parseHex`):
//! - the exact prefix is required (case-sensitive);
//! - exactly 64 hex digits must follow; upper-case digits are accepted on input,
//!   output is always lower-case;
//! - the zero key renders as the prefix plus 64 `0`s, never as `""` (Go's parser
//!   rejects an empty string);
//! - on input, JSON `null` and `""` are tolerated and read as the zero key (Go
//!   leaves a field untouched on `null`; some non-Go clients send `""`);
//! - equality is constant-time (`subtle`), as in Go.
//!
//! Another crate (`keygate-noise`) has its own machine-key type; convert with
//! [`MachinePublicKey::from_bytes`] and [`MachinePublicKey::as_bytes`].

mod challenge;
mod disco;
mod machine;
mod nl;
mod node;

pub use challenge::ChallengePublicKey;
pub use disco::DiscoPublicKey;
pub use machine::MachinePublicKey;
pub use nl::NLPublicKey;
pub use node::NodePublicKey;

use crate::error::KeyParseError;

/// Length in bytes of every key handled here.
pub const KEY_LEN: usize = 32;

/// Number of hex digits after the prefix (two per byte).
pub const KEY_HEX_LEN: usize = KEY_LEN * 2;

/// Decodes `<prefix><64 hex>` into raw key bytes.
///
/// Errors never include `text`: callers may pass private material by mistake.
pub(crate) fn parse_hex(text: &str, prefix: &'static str) -> Result<[u8; KEY_LEN], KeyParseError> {
    let digits =
        text.strip_prefix(prefix).ok_or(KeyParseError::WrongPrefix { expected: prefix })?;
    if digits.len() != KEY_HEX_LEN {
        return Err(KeyParseError::WrongLength { expected: KEY_HEX_LEN, got: digits.len() });
    }
    let mut out = [0u8; KEY_LEN];
    hex::decode_to_slice(digits, &mut out).map_err(|_| KeyParseError::InvalidHex)?;
    Ok(out)
}

/// Defines a public-key newtype over `[u8; 32]` with a fixed text prefix.
///
/// Each kind lives in its own file and only states its name, prefix and docs.
macro_rules! public_key_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Default)]
        pub struct $name([u8; $crate::key::KEY_LEN]);

        impl $name {
            /// Text prefix of this key kind on the wire.
            pub const PREFIX: &'static str = $prefix;

            /// The all-zero key, which Go treats as "no key".
            pub const ZERO: Self = Self([0; $crate::key::KEY_LEN]);

            /// Wraps raw key bytes.
            pub const fn from_bytes(bytes: [u8; $crate::key::KEY_LEN]) -> Self {
                Self(bytes)
            }

            /// The raw key bytes.
            pub const fn as_bytes(&self) -> &[u8; $crate::key::KEY_LEN] {
                &self.0
            }

            /// Whether this is the all-zero key (Go's `IsZero`).
            pub fn is_zero(&self) -> bool {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    &self.0[..],
                    &[0u8; $crate::key::KEY_LEN][..],
                ))
            }

            /// Parses the text form `<prefix><64 hex digits>`.
            pub fn parse(text: &str) -> Result<Self, $crate::error::KeyParseError> {
                $crate::key::parse_hex(text, Self::PREFIX).map(Self)
            }
        }

        /// Constant-time comparison, as Go's `key` package does.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                bool::from(subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..]))
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

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(Self::PREFIX)?;
                for byte in &self.0 {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(self, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::KeyParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl From<[u8; $crate::key::KEY_LEN]> for $name {
            fn from(bytes: [u8; $crate::key::KEY_LEN]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; $crate::key::KEY_LEN] {
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
                let text: Option<String> = serde::Deserialize::deserialize(deserializer)?;
                match text.as_deref() {
                    None | Some("") => Ok(Self::ZERO),
                    Some(text) => Self::parse(text).map_err(serde::de::Error::custom),
                }
            }
        }
    };
}

pub(crate) use public_key_type;

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
        assert_eq!(key.as_bytes()[0], 0x4f);
        assert_eq!(NodePublicKey::from_bytes(*key.as_bytes()), key);
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
    }

    #[test]
    fn non_hex_is_rejected_without_echoing_input() {
        let bad = format!("nodekey:{}zz", &HEX[..62]);
        let err = NodePublicKey::parse(&bad).unwrap_err();
        assert_eq!(err, KeyParseError::InvalidHex);
        assert!(!err.to_string().contains(&HEX[..10]));
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
        assert!(!NodePublicKey::parse(&node_text()).unwrap().is_zero());
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
    fn equality_and_order_follow_bytes() {
        let a = NodePublicKey::from_bytes([1; KEY_LEN]);
        let b = NodePublicKey::from_bytes([2; KEY_LEN]);
        assert_ne!(a, b);
        assert_eq!(a, NodePublicKey::from_bytes([1; KEY_LEN]));
        assert!(a < b);
    }
}
