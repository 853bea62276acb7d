//! [`MapStream`]: the body of a streaming `/machine/map` response, read as [`MapResponse`]s.
//!
//! Framing (protocol.md §5.3, `keygate_tailcfg::framing`):
//!
//! ```text
//! [0..4)    payload length N, u32 little-endian
//! [4..4+N)  payload: zstd frame (magic 28 B5 2F FD) or plain JSON MapResponse
//! ```
//!
//! The client asks for zstd by default, as Go does, but accepts either kind of payload in
//! either case: a zstd frame is recognised by its magic number, which no JSON text can start
//! with. Keep-alives (`{"KeepAlive":true}`) are counted and skipped unless asked for.
//!
//! Memory while idle: the frame buffer is released after each complete frame, so a stream
//! waiting for its next delta holds no map-sized buffer.

use std::io::Read as _;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use keygate_tailcfg::framing::DEFAULT_MAX_FRAME_LEN;
use keygate_tailcfg::{FrameDecoder, FrameError, Hostinfo, MapResponse};

use crate::error::NodeError;

/// Go's client watchdog: with no map bytes for this long the poll is considered dead. Servers
/// send a keep-alive about every 50–60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The zstd frame magic number 0xFD2FB528, as it appears on the wire (little-endian).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How to open and read a map stream.
#[derive(Debug, Clone)]
pub struct MapOptions {
    /// Ask for zstd-compressed frames (`"Compress":"zstd"`), as Go clients always do.
    pub compress_zstd: bool,
    /// Ask the server for keep-alives (`KeepAlive: true`), as Go clients always do.
    pub keep_alive: bool,
    /// Return keep-alive messages from [`MapStream::next`] instead of skipping them.
    pub report_keep_alives: bool,
    /// Endpoints to send with the poll (Go sends them on lite updates instead).
    pub endpoints: Vec<SocketAddr>,
    /// Hostinfo to send with the poll (servers ignore it on streams for capver ≥ 68).
    pub hostinfo: Option<Hostinfo>,
    /// Largest frame accepted, compressed and decompressed.
    pub max_frame_len: usize,
    /// Longest wait for the next bytes of the stream; `None` waits forever.
    pub idle_timeout: Option<Duration>,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self {
            compress_zstd: true,
            keep_alive: true,
            report_keep_alives: false,
            endpoints: Vec::new(),
            hostinfo: None,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }
}

/// Counters of one map stream, for benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapStreamStats {
    /// Body bytes received (frame headers and compressed payloads).
    pub body_bytes: u64,
    /// JSON bytes decoded (after decompression).
    pub json_bytes: u64,
    /// Messages decoded, keep-alives included.
    pub messages: u64,
    /// Of which keep-alives.
    pub keep_alives: u64,
    /// Of which zstd-compressed.
    pub compressed: u64,
}

/// The open map poll. Read it with [`MapStream::next`]; drop it to end the poll.
#[derive(Debug)]
pub struct MapStream {
    body: Incoming,
    decoder: FrameDecoder,
    max_frame_len: usize,
    report_keep_alives: bool,
    idle_timeout: Option<Duration>,
    stats: MapStreamStats,
}

impl MapStream {
    pub(crate) fn new(body: Incoming, options: &MapOptions) -> Self {
        Self {
            body,
            decoder: raw_decoder(options.max_frame_len),
            max_frame_len: options.max_frame_len,
            report_keep_alives: options.report_keep_alives,
            idle_timeout: options.idle_timeout,
            stats: MapStreamStats::default(),
        }
    }

    /// The next message, or `None` when the server ended the stream cleanly.
    ///
    /// Fails on a malformed or oversized frame, a stream that ends mid-frame, a broken
    /// connection, or no bytes for the idle timeout. After an error the stream is unusable.
    pub async fn next(&mut self) -> Result<Option<MapResponse>, NodeError> {
        loop {
            if let Some(payload) = self.decoder.next_payload()? {
                if self.decoder.buffered_len() == 0 {
                    // Drop the (possibly map-sized) receive buffer while waiting.
                    self.decoder = raw_decoder(self.max_frame_len);
                }
                let compressed = is_zstd(&payload);
                let message = decode_map_payload(&payload, self.max_frame_len)?;
                self.stats.messages += 1;
                self.stats.compressed += u64::from(compressed);
                self.stats.json_bytes += message.json_len as u64;
                // Go ignores every other field of a keep-alive but `PingRequest`,
                // `ControlTime` and `PopBrowserURL`, none of which a netmap needs.
                if message.response.keep_alive {
                    self.stats.keep_alives += 1;
                    if !self.report_keep_alives {
                        continue;
                    }
                }
                return Ok(Some(message.response));
            }
            let frame = match self.idle_timeout {
                Some(limit) => tokio::time::timeout(limit, self.body.frame())
                    .await
                    .map_err(|_| NodeError::MapIdle(limit))?,
                None => self.body.frame().await,
            };
            match frame {
                Some(frame) => {
                    let frame = frame.map_err(|source| NodeError::Http2 {
                        step: "reading the map stream",
                        source,
                    })?;
                    if let Ok(data) = frame.into_data() {
                        self.stats.body_bytes += data.len() as u64;
                        self.decoder.push(&data);
                    }
                }
                None if self.decoder.buffered_len() == 0 => return Ok(None),
                None => {
                    return Err(NodeError::TruncatedFrame { buffered: self.decoder.buffered_len() })
                }
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> MapStreamStats {
        self.stats
    }
}

/// A frame decoder that hands out payloads as they are (decompression is done here, so both
/// kinds of payload are accepted).
fn raw_decoder(max_frame_len: usize) -> FrameDecoder {
    FrameDecoder::new(false).with_max_len(max_frame_len)
}

fn is_zstd(payload: &[u8]) -> bool {
    payload.starts_with(&ZSTD_MAGIC)
}

/// A decoded payload and its JSON size.
#[derive(Debug)]
pub struct DecodedPayload {
    /// The message.
    pub response: MapResponse,
    /// Length of its JSON text.
    pub json_len: usize,
}

/// Decodes one frame payload: zstd (recognised by its magic) is inflated to at most `max_len`
/// bytes, then the JSON is parsed as a [`MapResponse`].
pub fn decode_map_payload(payload: &[u8], max_len: usize) -> Result<DecodedPayload, FrameError> {
    let inflated;
    let json = if is_zstd(payload) {
        inflated = inflate(payload, max_len)?;
        &inflated[..]
    } else {
        payload
    };
    let response = serde_json::from_slice(json).map_err(FrameError::Json)?;
    Ok(DecodedPayload { response, json_len: json.len() })
}

/// Inflates a zstd payload, refusing to produce more than `max_len` bytes.
fn inflate(payload: &[u8], max_len: usize) -> Result<Vec<u8>, FrameError> {
    let decoder = zstd::stream::read::Decoder::with_buffer(payload).map_err(FrameError::Zstd)?;
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    let mut json = Vec::new();
    decoder.take(limit).read_to_end(&mut json).map_err(FrameError::Zstd)?;
    if json.len() > max_len {
        return Err(FrameError::DecompressedTooLarge { max: max_len });
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use keygate_tailcfg::{encode_frame, encode_map_response};

    use super::*;

    const LIMIT: usize = 1 << 20;

    fn message() -> MapResponse {
        MapResponse { domain: "tail.test".into(), ..MapResponse::default() }
    }

    #[test]
    fn plain_and_compressed_payloads_both_decode() {
        for compress in [false, true] {
            let frame = encode_map_response(&message(), compress).unwrap();
            let decoded = decode_map_payload(&frame[4..], LIMIT).unwrap();
            assert_eq!(decoded.response, message(), "compress={compress}");
            assert_eq!(decoded.json_len, serde_json::to_vec(&message()).unwrap().len());
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut seed = 0x1234_5678_u32;
        for len in 0..300 {
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 24) as u8
                })
                .collect();
            assert!(decode_map_payload(&garbage, LIMIT).is_err(), "len {len}");
            // The same bytes behind a zstd magic: corrupt zstd.
            let mut fake_zstd = ZSTD_MAGIC.to_vec();
            fake_zstd.extend_from_slice(&garbage);
            assert!(decode_map_payload(&fake_zstd, LIMIT).is_err(), "zstd len {len}");
        }
        assert!(matches!(decode_map_payload(b"[1,2]", LIMIT), Err(FrameError::Json(_))));
    }

    #[test]
    fn truncated_zstd_is_an_error() {
        let frame = encode_map_response(&message(), true).unwrap();
        let payload = &frame[4..frame.len() - 3];
        assert!(matches!(decode_map_payload(payload, LIMIT), Err(FrameError::Zstd(_))));
    }

    #[test]
    fn zstd_bomb_is_stopped_at_the_limit() {
        let json = format!(r#"{{"Domain":"{}"}}"#, "a".repeat(200_000));
        let frame = encode_frame(json.as_bytes(), true).unwrap();
        assert!(matches!(
            decode_map_payload(&frame[4..], 10_000),
            Err(FrameError::DecompressedTooLarge { max: 10_000 })
        ));
    }
}
