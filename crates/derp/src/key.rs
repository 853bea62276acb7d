//! Curve25519 keys as DERP uses them: the server's own key and the clients' node keys.
//!
//! Both are Tailscale `key.NodePrivate`/`key.NodePublic` (`types/key/node.go`): a DERP server
//! identifies itself with a node-style key, and clients are addressed by their WireGuard node
//! key. On the wire a public key is its raw 32 bytes; a private key's text form (key files) is
//! `privkey:<64 lowercase hex>`.

use std::fmt;

use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::error::KeyTextError;
use crate::frame::KEY_LEN;

/// A public key on the wire: the raw curve25519 point.
pub type PublicKey = [u8; KEY_LEN];

/// Text prefix of a private key.
pub const PRIVATE_KEY_PREFIX: &str = "privkey:";

/// A curve25519 private key (Tailscale `key.NodePrivate`). Zeroized on drop; `Debug` shows only
/// the public half.
#[derive(Clone)]
pub struct NodePrivateKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl NodePrivateKey {
    /// Draws a fresh key from `rng` (use the OS CSPRNG).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(*bytes)
    }

    /// Wraps raw bytes, clamped as X25519 requires (as Go's `NodePrivate` stores them).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut bytes = Zeroizing::new(bytes);
        bytes[0] &= 248;
        bytes[31] = (bytes[31] & 127) | 64;
        Self { bytes }
    }

    /// The raw private bytes (for sealing; never log them).
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        self.bytes.clone()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let secret = x25519_dalek::StaticSecret::from(*self.bytes);
        x25519_dalek::PublicKey::from(&secret).to_bytes()
    }

    /// The `privkey:<64 hex>` text form, for a key file.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text =
            Zeroizing::new(String::with_capacity(PRIVATE_KEY_PREFIX.len() + 2 * KEY_LEN));
        text.push_str(PRIVATE_KEY_PREFIX);
        text.push_str(&Zeroizing::new(hex::encode(*self.bytes)));
        text
    }

    /// Parses the `privkey:<64 hex>` text form (strict: trim a file's newline first).
    pub fn parse_text(text: &str) -> Result<Self, KeyTextError> {
        let digits = text.strip_prefix(PRIVATE_KEY_PREFIX).ok_or(KeyTextError)?;
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        if digits.len() != 2 * KEY_LEN {
            return Err(KeyTextError);
        }
        hex::decode_to_slice(digits, bytes.as_mut()).map_err(|_| KeyTextError)?;
        Ok(Self::from_bytes(*bytes))
    }
}

impl fmt::Debug for NodePrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodePrivateKey").field("public", &ShortKey(&self.public_key())).finish()
    }
}

/// A public key shortened for logs, like Tailscale's `ShortString`: `[abcde]` (the first five
/// characters of its base64 form).
pub struct ShortKey<'a>(pub &'a PublicKey);

impl fmt::Display for ShortKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode(&self.0[..4]);
        write!(f, "[{}]", &text[..5])
    }
}

impl fmt::Debug for ShortKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether a Diffie-Hellman between `ours` and `theirs` is contributory. A zero or low-order
/// `theirs` gives the all-zero shared secret, with which anyone could forge a box "from" that
/// key, so such keys are refused before any box is opened.
pub(crate) fn is_contributory(ours: &NodePrivateKey, theirs: &PublicKey) -> bool {
    let secret = x25519_dalek::StaticSecret::from(*ours.bytes);
    secret.diffie_hellman(&x25519_dalek::PublicKey::from(*theirs)).was_contributory()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn text_form_round_trips_and_is_strict() {
        let key = NodePrivateKey::generate(&mut OsRng);
        let text = key.to_text();
        assert!(text.starts_with("privkey:") && text.len() == 8 + 64);
        let parsed = NodePrivateKey::parse_text(&text).unwrap();
        assert_eq!(parsed.public_key(), key.public_key());
        for bad in ["", "privkey:", "nodekey:00", &format!("privkey:{}", "zz".repeat(32))] {
            assert_eq!(NodePrivateKey::parse_text(bad).unwrap_err(), KeyTextError);
        }
        assert!(NodePrivateKey::parse_text(&format!("{}\n", &*text)).is_err());
    }

    #[test]
    fn debug_shows_only_the_public_half() {
        let key = NodePrivateKey::from_bytes([7; 32]);
        let debug = format!("{key:?}");
        assert!(debug.starts_with("NodePrivateKey { public: ["), "{debug}");
        assert!(!debug.contains("0707"), "{debug}");
    }

    #[test]
    fn low_order_points_are_not_contributory() {
        let key = NodePrivateKey::generate(&mut OsRng);
        assert!(!is_contributory(&key, &[0; 32]));
        let mut one = [0; 32];
        one[0] = 1; // the identity's u-coordinate, order 1
        assert!(!is_contributory(&key, &one));
        let other = NodePrivateKey::generate(&mut OsRng);
        assert!(is_contributory(&key, &other.public_key()));
    }

    #[test]
    fn short_key_is_five_base64_characters() {
        assert_eq!(ShortKey(&[0; 32]).to_string(), "[AAAAA]");
    }
}
