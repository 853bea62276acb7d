//! The keys of the control protocol's Noise handshake: the machine keys (Noise static keys,
//! `mkey:` / `privkey:` text forms) and the early-payload challenge key (`chalpub:`).
//!
//! The types are `keygate-key`'s, shared with the wire types, DERP and the domain. The
//! machine key is the node's identity on the control plane: the server learns the client's
//! from the Noise handshake, never from JSON.

use x25519_dalek::SharedSecret;

pub use keygate_key::{
    ChallengePrivateKey, ChallengePublicKey, KeyParseError, MachinePrivateKey, MachinePublicKey,
};

/// Keeps a shared secret only if it is contributory (not all zeros): a zero or low-order
/// peer key would give a secret anyone can compute.
pub(crate) fn contributory(shared: SharedSecret) -> Option<SharedSecret> {
    shared.was_contributory().then_some(shared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use x25519_dalek::PublicKey;

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
