//! Network-lock (tailnet lock) public keys, kept as opaque text.

use serde::{Deserialize, Deserializer, Serialize};

/// A tailnet-lock public key, text form `nlpub:<64 hex>` (ed25519).
///
/// Sent as `RegisterRequest.NLKey`. keygate does not implement tailnet lock,
/// so the value is kept as the client sent it and never interpreted.
/// `null` reads as empty. Upstream: `types/key/nl.go` (`NLPublic`).
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct NLPublicKey(String);

impl NLPublicKey {
    /// Text prefix used by clients on the wire (`tlpub:` is a CLI-only form).
    pub const PREFIX: &'static str = "nlpub:";

    /// Wraps a key's text form without checking it.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the text is empty (the field was absent or `null`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the key is absent: empty, or the prefix followed only by zeros.
    pub fn is_zero(&self) -> bool {
        match self.0.strip_prefix(Self::PREFIX) {
            Some(digits) => digits.bytes().all(|b| b == b'0'),
            None => self.0.is_empty(),
        }
    }
}

impl std::fmt::Display for NLPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for NLPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NLPublicKey({:?})", self.0)
    }
}

impl<'de> Deserialize<'de> for NLPublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(Option::<String>::deserialize(deserializer)?.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_text_verbatim_and_detects_zero() {
        let text = format!("nlpub:{}", "ab".repeat(32));
        let key: NLPublicKey = serde_json::from_str(&format!("\"{text}\"")).unwrap();
        assert_eq!(key.as_str(), text);
        assert!(!key.is_zero());
        assert!(NLPublicKey::new(format!("nlpub:{}", "0".repeat(64))).is_zero());
        let from_null: NLPublicKey = serde_json::from_str("null").unwrap();
        assert!(from_null.is_zero());
    }
}
