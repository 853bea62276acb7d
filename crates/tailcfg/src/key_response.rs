//! Server key discovery: `GET /key?v=<capver>` over plain HTTP(S)
//! (`tailcfg.OverTLSPublicKeyResponse`).
//!
//! Direction: server → client, before any Noise. The client pins
//! `publicKey` as the server's Noise static key; if it is zero the client
//! fails with "control server is too old; no noise key". Both keys are
//! always written (lower-camel names); a zero key is written as
//! `mkey:` + 64 zeros, never `""` (protocol.md §2).

use serde::{Deserialize, Serialize};

use crate::key::MachinePublicKey;

/// Body of the `/key` response (`tailcfg.OverTLSPublicKeyResponse`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OverTLSPublicKeyResponse {
    /// The old NaCl key; zero for every Noise-capable client (capver ≥ 39).
    #[serde(rename = "legacyPublicKey")]
    pub legacy_public_key: MachinePublicKey,
    /// The server's Noise static public key.
    #[serde(rename = "publicKey")]
    pub public_key: MachinePublicKey,
}

impl OverTLSPublicKeyResponse {
    /// The response for a Noise-only server: `publicKey` set, legacy key zero.
    pub fn noise_only(public_key: MachinePublicKey) -> Self {
        Self { legacy_public_key: MachinePublicKey::ZERO, public_key }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_both_keys_in_lower_camel() {
        let response =
            OverTLSPublicKeyResponse::noise_only(MachinePublicKey::from_bytes([0xab; 32]));
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"legacyPublicKey":"mkey:{}","publicKey":"mkey:{}"}}"#,
                "0".repeat(64),
                "ab".repeat(32)
            )
        );
        assert_eq!(serde_json::from_str::<OverTLSPublicKeyResponse>(&json).unwrap(), response);
    }
}
