//! The crate's error types: one per thing a caller can get wrong.

/// Why a key's text form (`<prefix><64 hex>`) was rejected.
///
/// Like Go's `types/key` parser, the messages never echo the input: the same
/// code path may see a private key or part of one.
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

/// Why a map-stream frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A frame header announced more bytes than the decoder accepts.
    #[error("map frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Length announced by the 4-byte header.
        len: usize,
        /// The decoder's limit.
        max: usize,
    },
    /// A compressed frame inflated to more than the decoder accepts.
    #[error("decompressed map frame exceeds the limit of {max} bytes")]
    DecompressedTooLarge {
        /// The decoder's limit.
        max: usize,
    },
    /// A payload to encode does not fit the 32-bit length header.
    #[error("map frame payload of {len} bytes does not fit a 32-bit length")]
    PayloadTooLarge {
        /// Length of the (possibly compressed) payload.
        len: usize,
    },
    /// A map message could not be serialized or a payload was not a valid
    /// `MapResponse`.
    #[error("map frame JSON")]
    Json(#[source] serde_json::Error),
    /// zstd failed to compress or decompress.
    #[error("zstd")]
    Zstd(#[source] std::io::Error),
}
