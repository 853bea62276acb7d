//! Reading whole frames from a byte stream, with a size limit checked before any payload byte is
//! buffered.
//!
//! The reader owns its buffer, so bytes that arrived before the DERP stream was handed over (an
//! HTTP request head read past its end, a fast-start client that wrote its `ClientInfo` right
//! behind its request) are simply its first bytes. Payloads come out as [`Bytes`] split off the
//! buffer: a relayed packet is read once and never copied until it is written out again.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::error::FrameError;
use crate::frame::{FrameHeader, FRAME_HEADER_LEN};

/// How much the reader asks the socket for at once: many small frames per read system call.
const READ_CHUNK: usize = 64 << 10;

/// One frame: its type byte's meaning and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The decoded header (type and payload length).
    pub header: FrameHeader,
    /// The payload, exactly `header.len` bytes.
    pub payload: Bytes,
}

/// Reads frames from `io`.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader whose first bytes are `already_read`, then whatever `io` yields.
    pub fn new(io: R, already_read: &[u8]) -> Self {
        let mut buf = BytesMut::with_capacity(READ_CHUNK.max(already_read.len()));
        buf.extend_from_slice(already_read);
        Self { io, buf }
    }

    /// Reads the next frame. `Ok(None)` means the peer closed the stream cleanly between two
    /// frames. A header announcing more than `max_len` payload bytes is an error before any of
    /// the payload is read, so a peer cannot make us buffer more than `max_len`.
    pub async fn read_frame(&mut self, max_len: usize) -> Result<Option<Frame>, FrameError> {
        if !self.fill(FRAME_HEADER_LEN).await? {
            return if self.buf.is_empty() {
                Ok(None)
            } else {
                Err(FrameError::Truncated { got: self.buf.len(), want: FRAME_HEADER_LEN })
            };
        }
        let header_bytes: [u8; FRAME_HEADER_LEN] =
            self.buf[..FRAME_HEADER_LEN].try_into().expect("fill guarantees the header bytes");
        let header = FrameHeader::decode(&header_bytes);
        let len = header.len as usize;
        if len > max_len {
            return Err(FrameError::TooLong {
                frame_type: header.frame_type.to_byte(),
                len: header.len,
                max: max_len,
            });
        }
        let want = FRAME_HEADER_LEN + len;
        if !self.fill(want).await? {
            return Err(FrameError::Truncated { got: self.buf.len(), want });
        }
        let mut frame = self.buf.split_to(want);
        let payload = frame.split_off(FRAME_HEADER_LEN).freeze();
        Ok(Some(Frame { header, payload }))
    }

    /// Reads until the buffer holds `want` bytes; `false` if the stream ended first.
    async fn fill(&mut self, want: usize) -> Result<bool, FrameError> {
        while self.buf.len() < want {
            // Reserve at least a chunk so small frames are read many at a time, and at least
            // the rest of this frame so a large one needs one allocation.
            self.buf.reserve(READ_CHUNK.max(want - self.buf.len()));
            let n = self.io.read_buf(&mut self.buf).await.map_err(FrameError::Io)?;
            if n == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameType;

    async fn read_all(input: &[u8], max_len: usize) -> Vec<Result<Option<Frame>, String>> {
        let mut reader = FrameReader::new(input, &[]);
        let mut out = Vec::new();
        loop {
            let r = reader.read_frame(max_len).await.map_err(|e| e.to_string());
            let stop = !matches!(r, Ok(Some(_)));
            out.push(r);
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn reads_consecutive_frames_then_clean_end() {
        let input = [0x06, 0, 0, 0, 0, 0x12, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        let frames = read_all(&input, 100).await;
        assert_eq!(frames.len(), 3);
        let ping = frames[1].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(ping.header.frame_type, FrameType::Ping);
        assert_eq!(&ping.payload[..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(frames[2], Ok(None));
    }

    #[tokio::test]
    async fn prefix_bytes_come_first() {
        let mut reader = FrameReader::new(&[0, 0, 0, 1, 9][..], &[0x07]);
        let frame = reader.read_frame(10).await.unwrap().unwrap();
        assert_eq!(frame.header.frame_type, FrameType::NotePreferred);
        assert_eq!(&frame.payload[..], &[9]);
    }

    #[tokio::test]
    async fn truncated_header_and_payload_are_errors() {
        let frames = read_all(&[0x04, 0, 0], 100).await;
        assert!(frames[0].as_ref().unwrap_err().contains("middle of a frame (3 of 5 bytes)"));
        let frames = read_all(&[0x04, 0, 0, 0, 40, 1, 2], 100).await;
        assert!(frames[0].as_ref().unwrap_err().contains("(7 of 45 bytes)"));
    }

    #[tokio::test]
    async fn oversize_header_is_refused_before_reading_the_payload() {
        let frames = read_all(&[0x04, 0xff, 0xff, 0xff, 0xff], 65_568).await;
        let err = frames[0].as_ref().unwrap_err();
        assert!(err.contains("announces 4294967295 bytes, more than the 65568 allowed"), "{err}");
    }

    #[tokio::test]
    async fn random_input_never_panics() {
        // A small deterministic generator: the point is many shapes, not cryptographic quality.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let len = (next() % 64) as usize;
            let mut input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Bias some lengths small so that some frames complete.
            if input.len() >= 5 && next() % 2 == 0 {
                input[1..5].copy_from_slice(&((next() % 16) as u32).to_be_bytes());
            }
            let frames = read_all(&input, 32).await;
            let consumed: usize = frames
                .iter()
                .filter_map(|f| f.as_ref().ok().and_then(|f| f.as_ref()))
                .map(|f| FRAME_HEADER_LEN + f.payload.len())
                .sum();
            assert!(consumed <= input.len());
        }
    }
}
