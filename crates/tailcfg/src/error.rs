//! The crate's error types: one per thing a caller can get wrong.

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
