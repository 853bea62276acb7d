//! The optional early Noise payload (`tailcfg.EarlyNoise`), capver ≥ 49.
//!
//! Direction: server → client, inside Noise right after the handshake and
//! before HTTP/2, framed by the control crate as magic `FF FF FF 54 53`,
//! a 4-byte big-endian length, then this JSON (protocol.md §3.7). Sending it
//! is optional; the open-source client only stores the challenge.

use serde::{Deserialize, Serialize};

use crate::key::ChallengePublicKey;

/// JSON body of the early payload (`tailcfg.EarlyNoise`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EarlyNoise {
    /// Fresh per-connection key the client may use to prove possession of
    /// its node key (lower-camel on the wire).
    #[serde(rename = "nodeKeyChallenge")]
    pub node_key_challenge: ChallengePublicKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_lower_camel_name() {
        let payload = EarlyNoise { node_key_challenge: ChallengePublicKey::from_bytes([1; 32]) };
        assert_eq!(
            serde_json::to_string(&payload).unwrap(),
            format!(r#"{{"nodeKeyChallenge":"chalpub:{}"}}"#, "01".repeat(32))
        );
    }
}
