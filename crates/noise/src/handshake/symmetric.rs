//! Noise's SymmetricState for `Noise_IK_25519_ChaChaPoly_BLAKE2s` (Noise spec §5.2), with
//! Tailscale's prologue and pre-message folded into [`SymmetricState::initialize`].
//!
//! Built from BLAKE2s-256 (`blake2`), HMAC-BLAKE2s (`hmac::SimpleHmac`), X25519
//! (`x25519-dalek`) and ChaCha20-Poly1305 (`chacha20poly1305`); nothing here is a primitive
//! of its own, only the composition the spec defines.

use blake2::{Blake2s256, Digest};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce, Tag};
use hmac::{Mac, SimpleHmac};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{HandshakeError, PROLOGUE_PREFIX, PROTOCOL_NAME};
use crate::frame::{KEY_LEN, TAG_LEN};
use crate::keys::{contributory, MachinePublicKey};

/// A 32-byte secret that is wiped on drop (chaining keys, handshake keys, split keys).
pub(crate) type SecretKey = Zeroizing<[u8; KEY_LEN]>;

/// Handshake hash `h` and chaining key `ck` of an in-flight handshake.
pub(crate) struct SymmetricState {
    h: [u8; KEY_LEN],
    ck: SecretKey,
}

/// A handshake encryption key `k` from one MixKey, good for exactly one EncryptAndHash or
/// DecryptAndHash. In IK every `k` is used at most once, so its nonce is always 0; consuming
/// the value makes reuse a compile error rather than a nonce reuse.
pub(crate) struct HandshakeKey(SecretKey);

impl SymmetricState {
    /// InitializeSymmetric(protocol name), then MixHash(prologue), then the IK pre-message
    /// `<- s`: MixHash(server static public key).
    ///
    /// The protocol name is 33 bytes, longer than BLAKE2s's 32-byte output, so the spec
    /// requires `h = HASH(name)` rather than zero padding. `ck` starts equal to `h`.
    pub(crate) fn initialize(version: u16, server_static: &MachinePublicKey) -> Self {
        const _: () = assert!(PROTOCOL_NAME.len() > KEY_LEN);
        let h: [u8; KEY_LEN] = Blake2s256::digest(PROTOCOL_NAME.as_bytes()).into();
        let mut state = Self { h, ck: Zeroizing::new(h) };
        // Prologue: "Tailscale Control Protocol v" + decimal version, e.g. "...v133". Both sides
        // use the version from the cleartext initiation header, so mixing it in proves they
        // agree on it.
        state.mix_hash(format!("{PROLOGUE_PREFIX}{version}").as_bytes());
        state.mix_hash(server_static.as_bytes());
        state
    }

    /// MixHash: `h = HASH(h || data)`.
    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.h = Blake2s256::new().chain_update(self.h).chain_update(data).finalize().into();
    }

    /// MixKey(DH(secret, public)): X25519, refusing an all-zero (non-contributory) result,
    /// then `ck, k = HKDF(ck, dh)`. `stage` names the token ("es", "ss", "ee", "se") for
    /// the error.
    pub(crate) fn mix_dh(
        &mut self,
        secret: &StaticSecret,
        public: &[u8; KEY_LEN],
        stage: &'static str,
    ) -> Result<HandshakeKey, HandshakeError> {
        let shared = contributory(secret.diffie_hellman(&PublicKey::from(*public)))
            .ok_or(HandshakeError::NonContributory(stage))?;
        let (ck, k) = hkdf2(&self.ck, shared.as_bytes());
        self.ck = ck;
        Ok(HandshakeKey(k))
    }

    /// EncryptAndHash: `out = ENCRYPT(k, n=0, ad=h, plaintext)`, then MixHash(out).
    /// `out` must be `plaintext.len() + 16` bytes.
    pub(crate) fn encrypt_and_hash(&mut self, key: HandshakeKey, plaintext: &[u8], out: &mut [u8]) {
        debug_assert_eq!(out.len(), plaintext.len() + TAG_LEN);
        let (body, tag_space) = out.split_at_mut(plaintext.len());
        body.copy_from_slice(plaintext);
        let tag = key
            .aead()
            .encrypt_in_place_detached(&Nonce::default(), &self.h, body)
            .expect("invariant: handshake payloads are far below ChaCha20-Poly1305's size limit");
        tag_space.copy_from_slice(&tag);
        self.mix_hash(out);
    }

    /// DecryptAndHash: `plaintext = DECRYPT(k, n=0, ad=h, ciphertext)`, then
    /// MixHash(ciphertext). `plaintext` must be `ciphertext.len() - 16` bytes. On failure
    /// nothing is mixed and the caller abandons the handshake.
    pub(crate) fn decrypt_and_hash(
        &mut self,
        key: HandshakeKey,
        ciphertext: &[u8],
        plaintext: &mut [u8],
    ) -> Result<(), chacha20poly1305::aead::Error> {
        debug_assert_eq!(ciphertext.len(), plaintext.len() + TAG_LEN);
        let (body, tag) = ciphertext.split_at(plaintext.len());
        plaintext.copy_from_slice(body);
        key.aead().decrypt_in_place_detached(
            &Nonce::default(),
            &self.h,
            plaintext,
            Tag::from_slice(tag),
        )?;
        self.mix_hash(ciphertext);
        Ok(())
    }

    /// The handshake hash `h`, usable for channel binding once the handshake is complete.
    pub(crate) fn handshake_hash(&self) -> [u8; KEY_LEN] {
        self.h
    }

    /// Split: `k1, k2 = HKDF(ck, empty)`; k1 protects client→server records, k2
    /// server→client.
    pub(crate) fn split(self) -> (SecretKey, SecretKey) {
        hkdf2(&self.ck, &[])
    }
}

impl HandshakeKey {
    fn aead(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&*self.0))
    }
}

/// Noise's HKDF with two outputs (spec §4.3), which is RFC 5869 HKDF with `salt = ck`, empty
/// info and 64 bytes of output: the same construction Go's `hkdf.New(blake2s, ikm, ck, nil)`
/// computes.
fn hkdf2(chaining_key: &[u8; KEY_LEN], input_key_material: &[u8]) -> (SecretKey, SecretKey) {
    let temp_key = hmac_blake2s(chaining_key, &[input_key_material]);
    let output1 = hmac_blake2s(&*temp_key, &[&[0x01]]);
    let output2 = hmac_blake2s(&*temp_key, &[&*output1, &[0x02]]);
    (output1, output2)
}

/// HMAC-BLAKE2s-256 over the concatenation of `parts`.
fn hmac_blake2s(key: &[u8], parts: &[&[u8]]) -> SecretKey {
    let mut mac = <SimpleHmac<Blake2s256> as Mac>::new_from_slice(key)
        .expect("invariant: HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_hash_is_blake2s_of_the_protocol_name() {
        // BLAKE2s-256("Noise_IK_25519_ChaChaPoly_BLAKE2s"), computed with Python's hashlib;
        // pinned so a change of name or padding rule is caught.
        let h: [u8; 32] = Blake2s256::digest(PROTOCOL_NAME.as_bytes()).into();
        assert_eq!(hex::encode(h), INITIAL_HASH);
    }
    const INITIAL_HASH: &str = "bbea022b948cf3bc5857d70804229179e1116bc40cb8cc074835349c464bca36";

    #[test]
    fn hkdf_matches_python_hmac_blake2s() {
        // Expected outputs computed independently with Python's hmac + hashlib.blake2s:
        //   t = HMAC(ck, ikm); o1 = HMAC(t, 01); o2 = HMAC(t, o1 || 02)
        let (o1, o2) = hkdf2(&[3u8; 32], &[5u8; 32]);
        assert_eq!(
            hex::encode(*o1),
            "dc4a68c355fd531bc81538b7a3590493450da3ced5df565a95c814b0acca12cc"
        );
        assert_eq!(
            hex::encode(*o2),
            "5ecd5649449ed51a0dac026341edaefa2495210523f80c8816cf2e497601421a"
        );
    }
}
