//! Serde helper for Go `[]byte` fields: standard base64 (with padding).
//!
//! Go marshals a nil `[]byte` as `null` and a non-nil one as a base64 string.
//! Here an empty `Vec<u8>` stands for nil: it serializes as `null` (pair it
//! with `skip_serializing_if = "Vec::is_empty"` for `omitempty` fields), and
//! `null` or `""` read back as empty.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Serializes bytes as standard base64, or `null` when empty.
pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    if bytes.is_empty() {
        serializer.serialize_none()
    } else {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }
}

/// Reads standard base64; `null` and `""` become empty.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    match text.as_deref() {
        None | Some("") => Ok(Vec::new()),
        Some(text) => STANDARD.decode(text).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Sig {
        #[serde(with = "super", default)]
        sig: Vec<u8>,
    }

    #[test]
    fn bytes_are_standard_base64_and_empty_is_null() {
        let sig = Sig { sig: vec![0xfb, 0xff, 0x01] };
        let json = serde_json::to_string(&sig).unwrap();
        assert_eq!(json, r#"{"sig":"+/8B"}"#);
        assert_eq!(serde_json::from_str::<Sig>(&json).unwrap(), sig);
        assert_eq!(serde_json::to_string(&Sig { sig: vec![] }).unwrap(), r#"{"sig":null}"#);
        for empty in [r#"{"sig":null}"#, r#"{"sig":""}"#, "{}"] {
            assert!(serde_json::from_str::<Sig>(empty).unwrap().sig.is_empty());
        }
        assert!(serde_json::from_str::<Sig>(r#"{"sig":"not base64!"}"#).is_err());
    }
}
