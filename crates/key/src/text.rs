//! The text form shared by every key kind: `<prefix><64 hex digits>`.
//!
//! Rules (mirroring Go's `parseHex` in `types/key/util.go`):
//! - the exact prefix is required (case-sensitive);
//! - exactly 64 hex digits must follow; upper-case digits are accepted on input, output is
//!   always lower-case;
//! - the zero key renders as the prefix plus 64 `0`s, never as `""`.
//!
//! Errors never include the text: the same code path may see a private key or part of one,
//! and attacker-supplied text should not be echoed.

use std::fmt;

use zeroize::Zeroizing;

/// Length in bytes of every key handled here.
pub const KEY_LEN: usize = 32;

/// Number of hex digits after the prefix (two per byte).
pub const KEY_HEX_LEN: usize = KEY_LEN * 2;

/// Text prefix of a private key (machine and node keys share it, as in Go).
pub const PRIVATE_KEY_PREFIX: &str = "privkey:";

/// Why a key's text form (`<prefix><64 hex>`) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// The text does not start with the type prefix (`nodekey:`, `mkey:`, …).
    #[error("key does not have the expected type prefix {expected:?}")]
    WrongPrefix {
        /// The prefix this key type requires.
        expected: &'static str,
    },
    /// The part after the prefix is not exactly 64 characters long.
    #[error("key hex has the wrong length: got {got} characters, want {expected}")]
    WrongLength {
        /// Characters required after the prefix (64).
        expected: usize,
        /// Characters found after the prefix.
        got: usize,
    },
    /// A character after the prefix is not a hex digit.
    #[error("invalid hex character in key")]
    InvalidHex,
}

/// Decodes `<prefix><64 hex>` into raw key bytes.
pub(crate) fn parse_hex(text: &str, prefix: &'static str) -> Result<[u8; KEY_LEN], KeyParseError> {
    let digits =
        text.strip_prefix(prefix).ok_or(KeyParseError::WrongPrefix { expected: prefix })?;
    if digits.len() != KEY_HEX_LEN {
        return Err(KeyParseError::WrongLength {
            expected: KEY_HEX_LEN,
            got: digits.chars().count(),
        });
    }
    let mut out = [0u8; KEY_LEN];
    hex::decode_to_slice(digits, &mut out).map_err(|_| KeyParseError::InvalidHex)?;
    Ok(out)
}

/// Writes `<prefix><64 lowercase hex>`.
pub(crate) fn write_hex(
    f: &mut fmt::Formatter<'_>,
    prefix: &str,
    bytes: &[u8; KEY_LEN],
) -> fmt::Result {
    f.write_str(prefix)?;
    for byte in bytes {
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

/// `<prefix><64 lowercase hex>` as a string that is zeroed when dropped (for private keys).
pub(crate) fn secret_text(prefix: &str, bytes: &[u8; KEY_LEN]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(prefix.len() + KEY_HEX_LEN));
    text.push_str(prefix);
    text.push_str(&Zeroizing::new(hex::encode(bytes)));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn requires_the_exact_prefix() {
        for bad in [
            format!("nodekey:{HEX}"),
            format!("MKEY:{HEX}"),
            format!(" mkey:{HEX}"),
            HEX.to_owned(),
        ] {
            assert_eq!(
                parse_hex(&bad, "mkey:"),
                Err(KeyParseError::WrongPrefix { expected: "mkey:" }),
                "{bad}"
            );
        }
    }

    #[test]
    fn requires_exactly_64_hex_digits() {
        let wrong = |got| Err(KeyParseError::WrongLength { expected: 64, got });
        assert_eq!(parse_hex(&format!("mkey:{}", &HEX[..63]), "mkey:"), wrong(63));
        assert_eq!(parse_hex(&format!("mkey:{HEX}0"), "mkey:"), wrong(65));
        assert_eq!(parse_hex(&format!("mkey:{HEX}\n"), "mkey:"), wrong(65));
        assert_eq!(parse_hex("mkey:", "mkey:"), wrong(0));
        let not_hex = format!("mkey:{}g", &HEX[..63]);
        assert_eq!(parse_hex(&not_hex, "mkey:"), Err(KeyParseError::InvalidHex));
        // A multi-byte character must not panic on slicing.
        let unicode = format!("mkey:{}é", &HEX[..62]);
        assert_eq!(parse_hex(&unicode, "mkey:"), Err(KeyParseError::InvalidHex));
    }

    #[test]
    fn errors_do_not_echo_the_input() {
        let bad = format!("privkey:{}zz", &HEX[..62]);
        let err = parse_hex(&bad, PRIVATE_KEY_PREFIX).unwrap_err();
        assert_eq!(err, KeyParseError::InvalidHex);
        assert!(!err.to_string().contains(&HEX[..10]));
    }
}
