//! Framing of map responses on the `/machine/map` HTTP/2 response body.
//!
//! Every message, keep-alives included, is one frame:
//!
//! | bytes | content |
//! |---|---|
//! | `[0..4)` | payload length `N`, `u32` **little-endian** (Noise lengths are big-endian; these are not) |
//! | `[4..4+N)` | payload: a JSON [`MapResponse`], zstd-compressed iff the request said `"Compress":"zstd"` |
//!
//! Compression rule (protocol.md §5.3): the Go client *always* zstd-decodes
//! and always asks for `zstd`; tailscale-rs and arkitekt-mesh send no
//! `Compress` and accept plain JSON. So compress iff
//! [`MapRequest::wants_zstd`](crate::MapRequest::wants_zstd), keep-alives too.
//! Any standard zstd frame works; level [`ZSTD_LEVEL`] keeps CPU low, as
//! Headscale's fastest setting does.
//!
//! Non-streaming map responses use the same framing, once. Upstream:
//! `sendMapRequest`/`decodeMsg` in `control/controlclient/direct.go`.

use std::io::Read as _;

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};

use crate::error::FrameError;
use crate::map_response::MapResponse;

/// Size of the little-endian length header.
pub const FRAME_HEADER_LEN: usize = 4;

/// zstd level used for map frames (1 = fastest).
pub const ZSTD_LEVEL: i32 = 1;

/// Default limit for one frame's wire length and for its decompressed
/// payload in [`FrameDecoder`]. Go's client sets no limit; netmaps of a few
/// thousand nodes stay well below this.
pub const DEFAULT_MAX_FRAME_LEN: usize = 64 << 20;

/// Frames an already-serialized JSON payload: 4-byte little-endian length,
/// then the payload, zstd-compressed when `compress` is true.
pub fn encode_frame(msg_json: &[u8], compress: bool) -> Result<Bytes, FrameError> {
    let compressed;
    let body: &[u8] = if compress {
        compressed = zstd::bulk::compress(msg_json, ZSTD_LEVEL).map_err(FrameError::Zstd)?;
        &compressed
    } else {
        msg_json
    };
    let len =
        u32::try_from(body.len()).map_err(|_| FrameError::PayloadTooLarge { len: body.len() })?;
    let mut frame = BytesMut::with_capacity(FRAME_HEADER_LEN + body.len());
    frame.put_u32_le(len);
    frame.extend_from_slice(body);
    Ok(frame.freeze())
}

/// Serializes `message` and frames it (see [`encode_frame`]).
pub fn encode_map_response(message: &MapResponse, compress: bool) -> Result<Bytes, FrameError> {
    let json = serde_json::to_vec(message).map_err(FrameError::Json)?;
    encode_frame(&json, compress)
}

/// The framed keep-alive `{"KeepAlive":true}` (compressed when asked: the Go
/// client cannot read a plain one).
pub fn keep_alive_frame(compress: bool) -> Result<Bytes, FrameError> {
    encode_map_response(&MapResponse::keep_alive(), compress)
}

/// Client-side reader of a map response body: feed it bytes as they arrive
/// with [`push`](Self::push), take whole payloads with
/// [`next_payload`](Self::next_payload).
///
/// After an error the stream is out of sync; drop the connection.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: BytesMut,
    compressed: bool,
    max_len: usize,
}

impl FrameDecoder {
    /// A decoder for a response to a request with (`compressed = true`) or
    /// without `"Compress":"zstd"`, limited to [`DEFAULT_MAX_FRAME_LEN`].
    pub fn new(compressed: bool) -> Self {
        Self { buffer: BytesMut::new(), compressed, max_len: DEFAULT_MAX_FRAME_LEN }
    }

    /// Sets the limit for a frame's wire length and decompressed size.
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// Bytes received but not yet returned as a payload.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete payload (decompressed if needed) as JSON bytes, or
    /// `None` until more bytes arrive. A header announcing more than the limit
    /// fails at once, before its body is buffered.
    pub fn next_payload(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(&[b0, b1, b2, b3]) = self.buffer.get(..FRAME_HEADER_LEN) else {
            return Ok(None);
        };
        let len = usize::try_from(u32::from_le_bytes([b0, b1, b2, b3])).unwrap_or(usize::MAX);
        if len > self.max_len {
            return Err(FrameError::TooLarge { len, max: self.max_len });
        }
        if self.buffer.len() < FRAME_HEADER_LEN + len {
            return Ok(None);
        }
        self.buffer.advance(FRAME_HEADER_LEN);
        let body = self.buffer.split_to(len).freeze();
        if !self.compressed {
            return Ok(Some(body));
        }
        decompress(&body, self.max_len).map(|payload| Some(Bytes::from(payload)))
    }

    /// Like [`next_payload`](Self::next_payload), parsed as a [`MapResponse`].
    pub fn next_map_response(&mut self) -> Result<Option<MapResponse>, FrameError> {
        match self.next_payload()? {
            None => Ok(None),
            Some(payload) => serde_json::from_slice(&payload).map(Some).map_err(FrameError::Json),
        }
    }
}

/// Inflates one zstd payload, refusing to produce more than `max_len` bytes.
fn decompress(body: &[u8], max_len: usize) -> Result<Vec<u8>, FrameError> {
    let decoder = zstd::stream::read::Decoder::with_buffer(body).map_err(FrameError::Zstd)?;
    let mut payload = Vec::new();
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    decoder.take(limit).read_to_end(&mut payload).map_err(FrameError::Zstd)?;
    if payload.len() > max_len {
        return Err(FrameError::DecompressedTooLarge { max: max_len });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = br#"{"Domain":"tail.test","Peers":[]}"#;

    #[test]
    fn plain_frame_is_length_then_json() {
        let frame = encode_frame(MESSAGE, false).unwrap();
        assert_eq!(&frame[..4], &(MESSAGE.len() as u32).to_le_bytes());
        assert_eq!(&frame[4..], MESSAGE);
        let mut decoder = FrameDecoder::new(false);
        decoder.push(&frame);
        assert_eq!(decoder.next_payload().unwrap().unwrap(), MESSAGE);
        assert_eq!(decoder.next_payload().unwrap(), None);
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn compressed_frame_round_trips_and_is_a_zstd_frame() {
        let frame = encode_frame(MESSAGE, true).unwrap();
        // zstd frame magic number 0xFD2FB528, little-endian.
        assert_eq!(&frame[4..8], &[0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(zstd::stream::decode_all(&frame[4..]).unwrap(), MESSAGE);
        let mut decoder = FrameDecoder::new(true);
        decoder.push(&frame);
        assert_eq!(decoder.next_payload().unwrap().unwrap(), MESSAGE);
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&keep_alive_frame(true).unwrap());
        stream.extend_from_slice(&encode_frame(MESSAGE, true).unwrap());
        let mut decoder = FrameDecoder::new(true);
        let mut payloads = Vec::new();
        for byte in stream {
            decoder.push(&[byte]);
            while let Some(payload) = decoder.next_payload().unwrap() {
                payloads.push(payload);
            }
        }
        assert_eq!(payloads.len(), 2);
        assert_eq!(payloads[0], &br#"{"KeepAlive":true}"#[..]);
        assert_eq!(payloads[1], MESSAGE);
    }

    #[test]
    fn keep_alive_is_compressed_when_asked() {
        let plain = keep_alive_frame(false).unwrap();
        assert_eq!(&plain[4..], br#"{"KeepAlive":true}"#);
        let compressed = keep_alive_frame(true).unwrap();
        assert_ne!(&compressed[4..], br#"{"KeepAlive":true}"#);
        let mut decoder = FrameDecoder::new(true);
        decoder.push(&compressed);
        assert!(decoder.next_map_response().unwrap().unwrap().keep_alive);
    }

    #[test]
    fn oversized_header_is_rejected_before_the_body_arrives() {
        let mut decoder = FrameDecoder::new(false).with_max_len(1024);
        decoder.push(&1025u32.to_le_bytes());
        assert!(matches!(
            decoder.next_payload(),
            Err(FrameError::TooLarge { len: 1025, max: 1024 })
        ));
        let mut huge = FrameDecoder::new(true);
        huge.push(&u32::MAX.to_le_bytes());
        assert!(matches!(huge.next_payload(), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn decompression_bomb_is_rejected() {
        let big = vec![b' '; 100_000];
        let frame = encode_frame(&big, true).unwrap();
        assert!(frame.len() < 1_000, "spaces compress well");
        let mut decoder = FrameDecoder::new(true).with_max_len(10_000);
        decoder.push(&frame);
        assert!(matches!(
            decoder.next_payload(),
            Err(FrameError::DecompressedTooLarge { max: 10_000 })
        ));
    }

    #[test]
    fn corrupt_zstd_is_an_error() {
        let mut decoder = FrameDecoder::new(true);
        decoder.push(&encode_frame(b"not zstd at all", false).unwrap());
        assert!(matches!(decoder.next_payload(), Err(FrameError::Zstd(_))));
    }
}
