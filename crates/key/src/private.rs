//! Private keys: X25519 static secrets, zeroed on drop, never shown by `Debug`.
//!
//! Machine, node and disco private keys share the text form `privkey:<64 hex>` (as in Go), the
//! one-line content of a key file (Headscale's `noise.private_key_path` and
//! `derp.server.private_key_path` hold the same). Each caches its public half: the server's
//! handshake needs it for every connection, and deriving it costs a scalar multiplication.

use std::fmt;
use std::str::FromStr;

use rand::{CryptoRng, RngCore};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::public::{ChallengePublicKey, DiscoPublicKey, MachinePublicKey, NodePublicKey};
use crate::text::{parse_hex, secret_text, KeyParseError, KEY_LEN, PRIVATE_KEY_PREFIX};

/// Random key bytes, clamped as X25519 requires (as Go's `key.NewMachine`/`key.NewNode` do).
fn random_clamped<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> StaticSecret {
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(bytes.as_mut());
    bytes[0] &= 248;
    bytes[31] = (bytes[31] & 127) | 64;
    StaticSecret::from(*bytes)
}

/// Defines a private key type whose public half is `$public`.
macro_rules! private_key_type {
    ($(#[$meta:meta])* $name:ident, $public:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name {
            secret: StaticSecret,
            public: $public,
        }

        impl $name {
            /// Generates a fresh key from `rng` (pass `&mut rand::rngs::OsRng` in production).
            pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
                Self::from_secret(random_clamped(rng))
            }

            fn from_secret(secret: StaticSecret) -> Self {
                let public = $public(PublicKey::from(&secret).to_bytes());
                Self { secret, public }
            }

            /// Wraps raw secret bytes, kept as given. Clamping happens inside X25519, so any
            /// 32 bytes are usable, including a Go-generated (pre-clamped) key.
            pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self::from_secret(StaticSecret::from(bytes))
            }

            /// The raw secret bytes, zeroed when dropped. Never log them.
            pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
                Zeroizing::new(self.secret.to_bytes())
            }

            /// The matching public key.
            pub fn public_key(&self) -> $public {
                self.public
            }

            /// The underlying X25519 secret, for the protocols' Diffie-Hellman steps.
            pub fn secret(&self) -> &StaticSecret {
                &self.secret
            }

            /// The `privkey:<64 hex>` text form (a key file's line). Zeroed when dropped.
            pub fn to_text(&self) -> Zeroizing<String> {
                secret_text(PRIVATE_KEY_PREFIX, &self.to_bytes())
            }

            /// Parses the `privkey:<64 hex>` text form. Strict: trim a file's trailing newline
            /// first.
            pub fn parse_text(text: &str) -> Result<Self, KeyParseError> {
                let bytes = Zeroizing::new(parse_hex(text, PRIVATE_KEY_PREFIX)?);
                Ok(Self::from_bytes(*bytes))
            }
        }

        impl FromStr for $name {
            type Err = KeyParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse_text(text)
            }
        }

        #[cfg(feature = "file")]
        impl crate::file::PrivateKeyFile for $name {
            fn generate(rng: &mut rand::rngs::OsRng) -> Self {
                Self::generate(rng)
            }

            fn to_text(&self) -> Zeroizing<String> {
                self.to_text()
            }

            fn parse_text(text: &str) -> Result<Self, KeyParseError> {
                Self::parse_text(text)
            }
        }

        /// Shows only the public half.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("public", &self.public)
                    .finish_non_exhaustive()
            }
        }
    };
}

private_key_type!(
    /// A machine's long-term Noise private key (Go's `key.MachinePrivate`).
    ///
    /// The control server holds one (its public half is served on `/key`); each node holds one.
    MachinePrivateKey,
    MachinePublicKey
);

private_key_type!(
    /// A node's WireGuard private key (Go's `key.NodePrivate`); a DERP server identifies itself
    /// with one too.
    NodePrivateKey,
    NodePublicKey
);

private_key_type!(
    /// A node's disco private key (Go's `key.DiscoPrivate`). Go keeps it in memory only; the
    /// Rust node client stores it in its state file in the same `privkey:` form as the others.
    DiscoPrivateKey,
    DiscoPublicKey
);

/// A per-connection challenge private key, whose public half goes in the early payload.
///
/// Go's server keeps it to open messages a node seals to the challenge; keygate only needs
/// to generate one. `Debug` is redacted and the bytes are zeroed on drop.
pub struct ChallengePrivateKey(StaticSecret);

impl ChallengePrivateKey {
    /// Generates a fresh challenge key from `rng`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(random_clamped(rng))
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
    use rand::rngs::OsRng;

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
        assert!(format!("{:?}", ChallengePrivateKey::generate(&mut OsRng)).contains("redacted"));
    }

    #[test]
    fn node_private_text_form_round_trips_and_is_strict() {
        let key = NodePrivateKey::generate(&mut OsRng);
        let text = key.to_text();
        assert!(text.starts_with("privkey:") && text.len() == 8 + 64);
        let parsed = NodePrivateKey::parse_text(&text).unwrap();
        assert_eq!(parsed.public_key(), key.public_key());
        for bad in ["", "privkey:", "nodekey:00", &format!("privkey:{}", "zz".repeat(32))] {
            assert!(NodePrivateKey::parse_text(bad).is_err(), "{bad}");
        }
        assert!(NodePrivateKey::parse_text(&format!("{}\n", &*text)).is_err());
    }

    #[test]
    fn node_private_debug_shows_only_the_public_half() {
        let key = NodePrivateKey::from_bytes([7; 32]);
        let debug = format!("{key:?}");
        assert!(debug.starts_with("NodePrivateKey { public: nodekey:"), "{debug}");
        assert!(!debug.contains("0707"), "{debug}");
    }

    #[test]
    fn from_bytes_keeps_the_bytes_and_generate_clamps() {
        assert_eq!(*MachinePrivateKey::from_bytes([0xab; 32]).to_bytes(), [0xab; 32]);
        let bytes = NodePrivateKey::generate(&mut OsRng).to_bytes();
        assert_eq!(bytes[0] & 7, 0);
        assert_eq!(bytes[31] & 0xc0, 0x40);
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
}
