//! The keys in the wire types.
//!
//! The Curve25519 keys (`nodekey:`, `mkey:`, `discokey:`, `chalpub:`) are `keygate-key`'s,
//! shared with the Noise transport, DERP and the domain; their text and JSON forms are
//! specified there (JSON `null` and `""` read as the zero key). The tailnet-lock key is
//! ours: keygate never interprets it, so it stays opaque text ([`NLPublicKey`]).

mod nl;

pub use keygate_key::{
    ChallengePublicKey, DiscoPublicKey, KeyParseError, MachinePublicKey, NodePublicKey,
    KEY_HEX_LEN, KEY_LEN,
};
pub use nl::NLPublicKey;
