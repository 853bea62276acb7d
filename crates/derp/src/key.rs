//! Curve25519 keys as DERP uses them: the server's own key and the clients' node keys.
//!
//! Both are Tailscale `key.NodePrivate`/`key.NodePublic` (`types/key/node.go`), the types of
//! `keygate-key`: a DERP server identifies itself with a node-style key, and clients are
//! addressed by their WireGuard node key. On the wire a public key is its raw 32 bytes; a
//! private key's text form (key files) is `privkey:<64 lowercase hex>`.

use std::fmt;

pub use keygate_key::NodePrivateKey;

/// A public key (`NodePublicKey`): on the wire, the raw curve25519 point.
pub use keygate_key::NodePublicKey as PublicKey;

/// A public key shortened for logs, like Tailscale's `ShortString`: `[abcde]` (the first five
/// characters of its base64 form).
pub struct ShortKey<'a>(pub &'a PublicKey);

impl fmt::Display for ShortKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode(&self.0.as_bytes()[..4]);
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
    ours.secret().diffie_hellman(&x25519_dalek::PublicKey::from(theirs.0)).was_contributory()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn low_order_points_are_not_contributory() {
        let key = NodePrivateKey::generate(&mut OsRng);
        assert!(!is_contributory(&key, &PublicKey::from_bytes([0; 32])));
        let mut one = [0; 32];
        one[0] = 1; // the identity's u-coordinate, order 1
        assert!(!is_contributory(&key, &PublicKey::from_bytes(one)));
        let other = NodePrivateKey::generate(&mut OsRng);
        assert!(is_contributory(&key, &other.public_key()));
    }

    #[test]
    fn short_key_is_five_base64_characters() {
        assert_eq!(ShortKey(&PublicKey::ZERO).to_string(), "[AAAAA]");
    }
}
