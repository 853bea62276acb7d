//! Curve25519 keys used by the control protocol, with Tailscale's self-describing text forms.
//!
//! | type | text form | Go type (`types/key/`) |
//! |---|---|---|
//! | [`MachinePrivateKey`] | `privkey:<64 hex>` | `key.MachinePrivate` (`machine.go`) |
//! | [`MachinePublicKey`] | `mkey:<64 hex>` | `key.MachinePublic` |
//! | [`ChallengePrivateKey`] | never rendered | `key.ChallengePrivate` (`chal.go`) |
//! | [`ChallengePublicKey`] | `chalpub:<64 hex>` | `key.ChallengePublic` |
//!
//! Text is emitted as lowercase hex. Parsing requires the exact prefix and exactly 64 hex
//! digits, like Go's `parseHex` in `types/key/util.go` (which, like us, also accepts uppercase
//! digits). The machine key is the node's identity on the control plane: the server learns the
//! client's from the Noise handshake, never from JSON. Public keys compare in constant time.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use rand::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, SharedSecret, StaticSecret};
use zeroize::Zeroizing;

use crate::frame::KEY_LEN;

/// Text prefix of a machine public key.
pub const MACHINE_PUBLIC_PREFIX: &str = "mkey:";
/// Text prefix of a private key (machine and node keys share it in Go).
pub const PRIVATE_KEY_PREFIX: &str = "privkey:";
/// Text prefix of an early-payload challenge public key.
pub const CHALLENGE_PUBLIC_PREFIX: &str = "chalpub:";

/// Number of hex digits in the text form of a 32-byte key.
const HEX_LEN: usize = KEY_LEN * 2;

/// Why a key's text form was rejected. Never includes the offending text: key strings may be
/// secrets, and attacker-supplied ones should not be echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// The text does not start with the prefix of this key kind.
    #[error("key text must start with {expected:?}")]
    MissingPrefix {
        /// The prefix this key kind requires.
        expected: &'static str,
    },
    /// The part after the prefix is not 64 characters long.
    #[error("key text must have exactly 64 hex digits after the prefix, got {got} characters")]
    WrongLength {
        /// Number of characters found after the prefix.
        got: usize,
    },
    /// The part after the prefix contains a non-hex character.
    #[error("key text contains a non-hex character")]
    InvalidHex,
}

/// Parses `<prefix><64 hex>` into 32 bytes.
fn parse_prefixed_hex(text: &str, prefix: &'static str) -> Result<[u8; KEY_LEN], KeyParseError> {
    let hex_part =
        text.strip_prefix(prefix).ok_or(KeyParseError::MissingPrefix { expected: prefix })?;
    if hex_part.len() != HEX_LEN {
        return Err(KeyParseError::WrongLength { got: hex_part.chars().count() });
    }
    let mut out = [0u8; KEY_LEN];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| KeyParseError::InvalidHex)?;
    Ok(out)
}

/// Writes `<prefix><64 lowercase hex>`.
fn write_prefixed_hex(
    f: &mut fmt::Formatter<'_>,
    prefix: &str,
    bytes: &[u8; KEY_LEN],
) -> fmt::Result {
    let mut hex_buf = [0u8; HEX_LEN];
    // Cannot fail: the output buffer is exactly twice the input length.
    hex::encode_to_slice(bytes, &mut hex_buf).map_err(|_| fmt::Error)?;
    f.write_str(prefix)?;
    // hex output is always ASCII.
    f.write_str(std::str::from_utf8(&hex_buf).map_err(|_| fmt::Error)?)
}

/// Defines a 32-byte public key newtype with text form, serde-as-string and constant-time
/// equality. Public keys are not secret, but comparing them in constant time costs nothing
/// and keeps key lookups from leaking prefixes.
macro_rules! public_key_type {
    ($(#[$doc:meta])* $name:ident, $prefix:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// The all-zero key, which Tailscale uses for "no key" (`<prefix>` + 64 zeros).
            pub const ZERO: Self = Self([0u8; KEY_LEN]);

            /// Wraps raw key bytes.
            pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }

            /// The raw key bytes.
            pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }

            /// Whether this is the all-zero "no key" value.
            pub fn is_zero(&self) -> bool {
                self.ct_eq(&Self::ZERO).into()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::ZERO
            }
        }

        impl ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> subtle::Choice {
                self.0.ct_eq(&other.0)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.ct_eq(other).into()
            }
        }

        impl Eq for $name {}

        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_prefixed_hex(f, $prefix, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = KeyParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_prefixed_hex(text, $prefix).map(Self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

public_key_type!(
    /// A machine's long-term Noise public key (`mkey:<64 hex>`).
    ///
    /// The control server's is served on `/key`; a node's arrives encrypted in the handshake
    /// initiation and identifies the machine for the lifetime of the connection.
    MachinePublicKey,
    MACHINE_PUBLIC_PREFIX
);

public_key_type!(
    /// A per-connection challenge public key sent in the early payload (`chalpub:<64 hex>`).
    ChallengePublicKey,
    CHALLENGE_PUBLIC_PREFIX
);

/// A machine's long-term Noise private key (X25519 static secret).
///
/// The control server holds one (its public half is served on `/key`); each node holds one.
/// Its `Debug` shows only the public half; the bytes are zeroed on drop. The public half is
/// computed once: the server's handshake needs it for every connection, and deriving it costs a
/// scalar multiplication (about 5% of a server's CPU time per enrolment).
#[derive(Clone)]
pub struct MachinePrivateKey {
    secret: StaticSecret,
    public: MachinePublicKey,
}

impl MachinePrivateKey {
    /// Generates a fresh key from `rng` (pass `&mut rand::rngs::OsRng` in production).
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_secret(StaticSecret::random_from_rng(rng))
    }

    fn from_secret(secret: StaticSecret) -> Self {
        let public = MachinePublicKey(PublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    /// Wraps raw secret bytes. Clamping happens inside X25519, so any 32 bytes are usable,
    /// including a Go-generated (pre-clamped) key.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self::from_secret(StaticSecret::from(bytes))
    }

    /// The raw secret bytes, zeroed when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> MachinePublicKey {
        self.public
    }

    /// The `privkey:<64 hex>` text form, as Headscale stores it in its `noise.private_key_path`
    /// file (one line). The returned string is zeroed when dropped.
    pub fn to_text(&self) -> Zeroizing<String> {
        let bytes = self.to_bytes();
        let mut text = Zeroizing::new(String::with_capacity(PRIVATE_KEY_PREFIX.len() + HEX_LEN));
        text.push_str(PRIVATE_KEY_PREFIX);
        text.push_str(&Zeroizing::new(hex::encode(*bytes)));
        text
    }

    /// Parses the `privkey:<64 hex>` text form. Strict: trim a file's trailing newline first.
    pub fn parse_text(text: &str) -> Result<Self, KeyParseError> {
        let bytes = Zeroizing::new(parse_prefixed_hex(text, PRIVATE_KEY_PREFIX)?);
        Ok(Self::from_bytes(*bytes))
    }

    /// The underlying secret, for the handshake's Diffie-Hellman steps.
    pub(crate) fn secret(&self) -> &StaticSecret {
        &self.secret
    }
}

impl FromStr for MachinePrivateKey {
    type Err = KeyParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_text(text)
    }
}

impl fmt::Debug for MachinePrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachinePrivateKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// Keeps a shared secret only if it is contributory (not all zeros).
pub(crate) fn contributory(shared: SharedSecret) -> Option<SharedSecret> {
    shared.was_contributory().then_some(shared)
}

/// A per-connection challenge private key, whose public half goes in the early payload.
///
/// Go's server keeps it to open messages a node seals to the challenge; keygate only needs
/// to generate one. `Debug` is redacted and the bytes are zeroed on drop.
pub struct ChallengePrivateKey(StaticSecret);

impl ChallengePrivateKey {
    /// Generates a fresh challenge key from `rng`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(StaticSecret::random_from_rng(rng))
    }

    /// The matching public key, to send as `nodeKeyChallenge`.
    pub fn public_key(&self) -> ChallengePublicKey {
        ChallengePublicKey(PublicKey::from(&self.0).to_bytes())
    }
}

impl fmt::Debug for ChallengePrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChallengePrivateKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_A: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn machine_public_key_text_round_trips() {
        let text = format!("mkey:{HEX_A}");
        let key: MachinePublicKey = text.parse().unwrap();
        assert_eq!(key.to_string(), text);
        assert_eq!(format!("{key:?}"), text);
    }

    #[test]
    fn uppercase_hex_parses_and_renders_lowercase() {
        let key: MachinePublicKey = format!("mkey:{}", HEX_A.to_uppercase()).parse().unwrap();
        assert_eq!(key.to_string(), format!("mkey:{HEX_A}"));
    }

    #[test]
    fn parse_requires_the_exact_prefix() {
        for bad in [
            format!("nodekey:{HEX_A}"),
            format!("MKEY:{HEX_A}"),
            format!(" mkey:{HEX_A}"),
            HEX_A.to_owned(),
        ] {
            assert_eq!(
                bad.parse::<MachinePublicKey>(),
                Err(KeyParseError::MissingPrefix { expected: "mkey:" }),
                "{bad}"
            );
        }
    }

    #[test]
    fn parse_requires_exactly_64_hex_digits() {
        assert_eq!(
            format!("mkey:{}", &HEX_A[..63]).parse::<MachinePublicKey>(),
            Err(KeyParseError::WrongLength { got: 63 })
        );
        assert_eq!(
            format!("mkey:{HEX_A}0").parse::<MachinePublicKey>(),
            Err(KeyParseError::WrongLength { got: 65 })
        );
        assert_eq!(
            format!("mkey:{HEX_A}\n").parse::<MachinePublicKey>(),
            Err(KeyParseError::WrongLength { got: 65 })
        );
        assert_eq!("mkey:".parse::<MachinePublicKey>(), Err(KeyParseError::WrongLength { got: 0 }));
        let not_hex = format!("mkey:{}g", &HEX_A[..63]);
        assert_eq!(not_hex.parse::<MachinePublicKey>(), Err(KeyParseError::InvalidHex));
        // A multi-byte character must not panic on slicing.
        let unicode = format!("mkey:{}é", &HEX_A[..62]);
        assert_eq!(unicode.parse::<MachinePublicKey>(), Err(KeyParseError::InvalidHex));
    }

    #[test]
    fn zero_key_renders_as_64_zeros() {
        assert_eq!(MachinePublicKey::ZERO.to_string(), format!("mkey:{}", "0".repeat(64)));
        assert!(MachinePublicKey::ZERO.is_zero());
        assert!(!MachinePublicKey::from_bytes([1; 32]).is_zero());
    }

    #[test]
    fn public_key_serde_is_a_string() {
        let key = MachinePublicKey::from_bytes([0xab; 32]);
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, format!("\"mkey:{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<MachinePublicKey>(&json).unwrap(), key);
        assert!(serde_json::from_str::<MachinePublicKey>("\"\"").is_err());
        let chal = ChallengePublicKey::from_bytes([1; 32]);
        assert_eq!(
            serde_json::to_string(&chal).unwrap(),
            format!("\"chalpub:{}\"", "01".repeat(32))
        );
    }

    #[test]
    fn equality_and_hash_follow_the_bytes() {
        use std::collections::HashSet;
        let a = MachinePublicKey::from_bytes([1; 32]);
        let b = MachinePublicKey::from_bytes([1; 32]);
        let c = MachinePublicKey::from_bytes([2; 32]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let set: HashSet<_> = [a, b, c].into_iter().collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn private_key_text_round_trips_and_debug_is_redacted() {
        let key = MachinePrivateKey::from_bytes([7; 32]);
        let text = key.to_text();
        assert_eq!(*text, format!("privkey:{}", "07".repeat(32)));
        let parsed = MachinePrivateKey::parse_text(&text).unwrap();
        assert_eq!(parsed.public_key(), key.public_key());
        let debug = format!("{key:?}");
        assert!(!debug.contains(&"07".repeat(32)), "{debug}");
        assert!(debug.contains("mkey:"), "{debug}");
        assert!(MachinePrivateKey::parse_text(&format!("mkey:{}", "07".repeat(32))).is_err());
        assert!(format!("{:?}", ChallengePrivateKey::generate(&mut rand::rngs::OsRng))
            .contains("redacted"));
    }

    #[test]
    fn public_key_matches_rfc7748_vector() {
        // RFC 7748 §6.1, Alice's key pair.
        let private: [u8; 32] =
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap()
                .try_into()
                .unwrap();
        let key = MachinePrivateKey::from_bytes(private);
        assert_eq!(
            key.public_key().to_string(),
            "mkey:8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }

    #[test]
    fn low_order_points_are_not_contributory() {
        let key = MachinePrivateKey::generate(&mut rand::rngs::OsRng);
        let dh =
            |public: [u8; 32]| contributory(key.secret().diffie_hellman(&PublicKey::from(public)));
        assert!(dh([0; 32]).is_none());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(dh(one).is_none());
        let peer = MachinePrivateKey::generate(&mut rand::rngs::OsRng).public_key();
        assert!(dh(*peer.as_bytes()).is_some());
    }
}
