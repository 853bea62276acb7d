//! Node-key challenge public keys: `chalpub:<64 hex>`.

super::public_key_type!(
    /// A per-connection challenge key, text form `chalpub:<64 hex>`, sent by
    /// the server in the optional early Noise payload
    /// ([`EarlyNoise`](crate::EarlyNoise)). Upstream: `types/key/chal.go`.
    ChallengePublicKey,
    "chalpub:"
);
