//! The NaCl box that seals `ClientInfo` and `ServerInfo`.
//!
//! ```text
//! sealed = nonce(24, random) ‖ tag(16) ‖ ciphertext(len(message))
//! ```
//!
//! `crypto_box` (curve25519-xsalsa20poly1305): the X25519 shared secret of the sender's private
//! and the recipient's public key, through HSalsa20, keys XSalsa20-Poly1305. This is Go's
//! `box.Seal(nonce, msg, nonce, peer, priv)` as used by `key.NodePrivate.SealTo`/`OpenFrom`
//! (`types/key/node.go`). Only the holder of the client's node private key can produce a box
//! the server opens with that node's public key, which is how a client proves its node key.

use crypto_box::aead::Aead as _;
use rand::{CryptoRng, RngCore};

use crate::frame::{BOX_TAG_LEN, NONCE_LEN};
use crate::key::{NodePrivateKey, PublicKey};

/// Seals `message` from `ours` to `theirs`: `nonce ‖ box`.
pub fn seal<R: RngCore + CryptoRng>(
    ours: &NodePrivateKey,
    theirs: &PublicKey,
    message: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let sealed = salsa_box(ours, theirs)
        .encrypt(crypto_box::Nonce::from_slice(&nonce), message)
        .expect("XSalsa20-Poly1305 encryption of an in-memory message cannot fail");
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Opens `nonce ‖ box` sealed by `theirs` to `ours`; `None` if it is short, was sealed with
/// other keys, or was altered.
pub fn open(ours: &NodePrivateKey, theirs: &PublicKey, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + BOX_TAG_LEN {
        return None;
    }
    let (nonce, boxed) = sealed.split_at(NONCE_LEN);
    salsa_box(ours, theirs).decrypt(crypto_box::Nonce::from_slice(nonce), boxed).ok()
}

fn salsa_box(ours: &NodePrivateKey, theirs: &PublicKey) -> crypto_box::SalsaBox {
    let secret = crypto_box::SecretKey::from(*ours.to_bytes());
    crypto_box::SalsaBox::new(&crypto_box::PublicKey::from(theirs.0), &secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn sealed_by_one_side_opens_on_the_other_only() {
        let client = NodePrivateKey::generate(&mut OsRng);
        let server = NodePrivateKey::generate(&mut OsRng);
        let sealed = seal(&client, &server.public_key(), b"{\"version\":2}", &mut OsRng);
        assert_eq!(sealed.len(), NONCE_LEN + BOX_TAG_LEN + 13);
        let opened = open(&server, &client.public_key(), &sealed).unwrap();
        assert_eq!(opened, b"{\"version\":2}");

        let impostor = NodePrivateKey::generate(&mut OsRng);
        assert!(open(&server, &impostor.public_key(), &sealed).is_none());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&server, &client.public_key(), &altered).is_none());
        assert!(open(&server, &client.public_key(), &sealed[..NONCE_LEN + 15]).is_none());
    }

    /// NaCl's published crypto_box test vector (Bernstein, "Cryptography in NaCl", §10, the
    /// first 32 bytes of the 131-byte message): the tag comes first, as Go's `box.Seal` writes.
    #[test]
    fn matches_the_nacl_test_vector() {
        let alice = NodePrivateKey::from_bytes(hex32(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob_public = hex32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let nonce = hex::decode("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37").unwrap();
        let message =
            hex::decode("be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc")
                .unwrap();
        let sealed = salsa_box(&alice, &bob_public.into())
            .encrypt(crypto_box::Nonce::from_slice(&nonce), &message[..])
            .unwrap();
        // Tag of the full message differs; the keystream part of the ciphertext does not.
        assert_eq!(
            hex::encode(&sealed[BOX_TAG_LEN..]),
            "8e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186a"
        );
    }

    fn hex32(text: &str) -> [u8; 32] {
        hex::decode(text).unwrap().try_into().unwrap()
    }
}
