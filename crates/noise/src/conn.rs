//! [`NoiseStream`]: the encrypted TS2021 byte stream over any async connection
//! (`control/controlbase/conn.go`).
//!
//! Writes are split into records of at most [`MAX_PLAINTEXT_SIZE`] bytes and sealed into a
//! send buffer that goes out on the next write that needs room, on `flush` or on `shutdown`.
//! Reads decrypt whole records in place and hand out their plaintext, looping over empty
//! records, which are legal.
//!
//! Errors are sticky: an undecryptable, oversized or mistyped record, a connection closed
//! mid-record, or a failed write leaves the stream dead, and every later read and write fails
//! with the same [`RecordError`] (inside an `io::Error`; find it with `get_ref` and
//! `downcast_ref`). A clean close between records is an ordinary EOF.
//!
//! Memory: a send buffer of [`SEND_BUFFER_LEN`] bytes and a receive buffer of
//! [`RECEIVE_BUFFER_LEN`] bytes, each only while bytes are in flight. An idle
//! connection (the usual state of a long-polling node) releases its receive buffer and waits
//! on a 3-byte stack probe instead, as Go does with its buffer pool.

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::cipher::{record_frame_len, RecordCipher, RecordError};
use crate::frame::{HEADER_LEN, MAX_MESSAGE_SIZE, MAX_PLAINTEXT_SIZE, RECORD_OVERHEAD, TAG_LEN};
use crate::handshake::TransportKeys;

/// Size of the receive buffer: room for two whole frames, so one read syscall can bring in
/// more than one record.
pub const RECEIVE_BUFFER_LEN: usize = 2 * MAX_MESSAGE_SIZE;
/// Size of the send buffer: two whole frames are sealed before the buffer must be written out.
pub const SEND_BUFFER_LEN: usize = 2 * MAX_MESSAGE_SIZE;

/// An encrypted TS2021 connection: plaintext in and out, records on `io`.
///
/// Implements tokio's `AsyncRead` and `AsyncWrite`; wrap it in `hyper_util::rt::TokioIo` to
/// serve or drive HTTP/2 over it. It is `Send` and `'static` whenever `S` is.
pub struct NoiseStream<S> {
    io: S,
    rx: Receiver,
    tx: Sender,
    /// Set by the first fatal error; every later operation reports it.
    dead: Option<RecordError>,
}

/// Receive state. `buf` is laid out as
///
/// ```text
/// [ consumed | plaintext not yet read | ... | ciphertext not yet opened | free ]
///             ^plain_start  plain_end^       ^start               end^
/// ```
struct Receiver {
    cipher: RecordCipher,
    /// Empty (unallocated) while idle, else exactly `RECEIVE_BUFFER_LEN` bytes.
    buf: Vec<u8>,
    plain_start: usize,
    plain_end: usize,
    start: usize,
    end: usize,
    /// Plaintext handed back by a reader that looked too far ahead (early-payload detection);
    /// served before anything else.
    unread: Vec<u8>,
}

/// Send state: `buf[written..]` holds sealed records not yet accepted by `io`.
struct Sender {
    cipher: RecordCipher,
    buf: Vec<u8>,
    written: usize,
}

impl<S> NoiseStream<S> {
    /// Wraps `io`, which must be positioned right after the handshake response, with the
    /// record ciphers from [`crate::Accepted::keys`] or [`crate::Established::keys`].
    pub fn new(io: S, keys: TransportKeys) -> Self {
        Self {
            io,
            rx: Receiver {
                cipher: keys.rx,
                buf: Vec::new(),
                plain_start: 0,
                plain_end: 0,
                start: 0,
                end: 0,
                unread: Vec::new(),
            },
            tx: Sender { cipher: keys.tx, buf: Vec::new(), written: 0 },
            dead: None,
        }
    }

    /// The underlying connection (e.g. for its peer address).
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The underlying connection, mutably. Reading or writing it directly corrupts the stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Number of records sealed so far (= the next send nonce).
    pub fn records_sent(&self) -> u64 {
        self.tx.cipher.counter()
    }

    /// Number of records opened so far (= the next receive nonce).
    pub fn records_received(&self) -> u64 {
        self.rx.cipher.counter()
    }

    /// Seals `data` into the send buffer without touching `io`; it goes out with the next
    /// write that needs room, `flush` or `shutdown`.
    ///
    /// Lets the server queue the early payload so that it leaves in the same TCP segment as
    /// the HTTP/2 server preface. May grow the send buffer past [`SEND_BUFFER_LEN`] for once.
    pub fn queue_write(&mut self, data: &[u8]) -> Result<(), RecordError> {
        if let Some(err) = self.dead {
            return Err(err);
        }
        for chunk in data.chunks(MAX_PLAINTEXT_SIZE) {
            self.tx.seal(&[IoSlice::new(chunk)], 0, chunk.len())?;
        }
        Ok(())
    }

    /// Puts already-read plaintext back in front of the receive queue.
    pub(crate) fn unread(&mut self, bytes: &[u8]) {
        self.rx.unread.splice(0..0, bytes.iter().copied());
    }

    /// Records the first fatal error and returns it as an `io::Error`.
    fn kill(&mut self, err: RecordError) -> io::Error {
        self.dead = Some(err);
        // Drop buffered bytes: nothing after a fatal error may be delivered or sent.
        self.rx.buf = Vec::new();
        self.rx.unread = Vec::new();
        self.tx.buf = Vec::new();
        self.tx.written = 0;
        to_io_error(err)
    }
}

/// Wraps a record error in the `io::Error` kind callers expect.
fn to_io_error(err: RecordError) -> io::Error {
    let kind = match err {
        RecordError::Truncated => io::ErrorKind::UnexpectedEof,
        RecordError::WriteFailed(kind) => kind,
        RecordError::NonceExhausted | RecordError::PlaintextTooLarge(_) => io::ErrorKind::Other,
        RecordError::FrameTooLarge(_)
        | RecordError::UnexpectedType(_)
        | RecordError::RecordTooShort(_)
        | RecordError::LengthMismatch { .. }
        | RecordError::Decrypt
        | RecordError::Poisoned => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, err)
}

impl Receiver {
    /// Copies pending plaintext (handed-back bytes first) into `out`. Returns whether any
    /// was available.
    fn take_plaintext(&mut self, out: &mut ReadBuf<'_>) -> bool {
        if !self.unread.is_empty() {
            let n = self.unread.len().min(out.remaining());
            out.put_slice(&self.unread[..n]);
            self.unread.drain(..n);
            return true;
        }
        if self.plain_start == self.plain_end {
            return false;
        }
        let n = (self.plain_end - self.plain_start).min(out.remaining());
        out.put_slice(&self.buf[self.plain_start..self.plain_start + n]);
        self.plain_start += n;
        true
    }

    /// Opens the next record if it is wholly buffered. Returns `Ok(false)` when more bytes
    /// are needed. The record's plaintext, possibly empty, becomes the pending plaintext.
    fn open_buffered(&mut self) -> Result<bool, RecordError> {
        let available = &self.buf[self.start..self.end];
        let Some(header) = available.first_chunk::<HEADER_LEN>() else {
            return Ok(false);
        };
        // Type and size are checked on the header alone, before waiting for the body.
        let frame_len = record_frame_len(header)?;
        if available.len() < frame_len {
            return Ok(false);
        }
        let frame = &mut self.buf[self.start..self.start + frame_len];
        let plaintext_len = self.cipher.open(frame)?.len();
        self.plain_start = self.start + HEADER_LEN;
        self.plain_end = self.plain_start + plaintext_len;
        self.start += frame_len;
        Ok(true)
    }

    /// Reads more ciphertext from `io`. Only called with no pending plaintext. Returns the
    /// number of bytes read; 0 means EOF.
    fn poll_fill<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
            (self.plain_start, self.plain_end) = (0, 0);
        }
        if self.buf.is_empty() {
            // Idle: wait on a small probe rather than holding a buffer for a quiet peer.
            let mut probe = [0u8; HEADER_LEN];
            let mut probe_buf = ReadBuf::new(&mut probe);
            ready!(Pin::new(io).poll_read(cx, &mut probe_buf))?;
            let n = probe_buf.filled().len();
            if n > 0 {
                self.buf = vec![0; RECEIVE_BUFFER_LEN];
                self.buf[..n].copy_from_slice(probe_buf.filled());
                self.end = n;
            }
            return Poll::Ready(Ok(n));
        }
        // Keep room for a whole maximum-size frame after `start`. The unopened tail is
        // shorter than one frame, so this moves at most a few KiB and leaves free space.
        if self.buf.len() - self.start < MAX_MESSAGE_SIZE {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let mut read_buf = ReadBuf::new(&mut self.buf[self.end..]);
        match Pin::new(io).poll_read(cx, &mut read_buf) {
            Poll::Pending => {
                if self.start == self.end {
                    self.buf = Vec::new();
                }
                Poll::Pending
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Ready(Ok(())) => {
                let n = read_buf.filled().len();
                self.end += n;
                Poll::Ready(Ok(n))
            }
        }
    }

    /// Whether part of a record has been received but not opened.
    fn mid_record(&self) -> bool {
        self.start != self.end
    }
}

impl Sender {
    /// Free space left in the send buffer.
    fn free(&self) -> usize {
        SEND_BUFFER_LEN.saturating_sub(self.buf.len())
    }

    /// Seals `len` plaintext bytes, starting `skip` bytes into the concatenation of `bufs`,
    /// as one record appended to the send buffer.
    fn seal(
        &mut self,
        bufs: &[IoSlice<'_>],
        mut skip: usize,
        len: usize,
    ) -> Result<(), RecordError> {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(SEND_BUFFER_LEN);
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; HEADER_LEN]);
        let mut remaining = len;
        for slice in bufs {
            if remaining == 0 {
                break;
            }
            if skip >= slice.len() {
                skip -= slice.len();
                continue;
            }
            let take = (slice.len() - skip).min(remaining);
            self.buf.extend_from_slice(&slice[skip..skip + take]);
            skip = 0;
            remaining -= take;
        }
        self.buf.extend_from_slice(&[0; TAG_LEN]);
        let sealed = self.cipher.seal_in_place(&mut self.buf[start..]);
        if sealed.is_err() {
            self.buf.truncate(start);
        }
        sealed
    }
}

impl<S: AsyncWrite + Unpin> NoiseStream<S> {
    /// Writes the send buffer out completely.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tx.written < self.tx.buf.len() {
            let pending = &self.tx.buf[self.tx.written..];
            match ready!(Pin::new(&mut self.io).poll_write(cx, pending)) {
                Ok(0) => {
                    return Poll::Ready(Err(
                        self.kill(RecordError::WriteFailed(io::ErrorKind::WriteZero))
                    ));
                }
                Ok(n) => self.tx.written += n,
                Err(err) => {
                    // The peer may have received part of a record: the stream is unusable.
                    self.kill(RecordError::WriteFailed(err.kind()));
                    return Poll::Ready(Err(err));
                }
            }
        }
        // Give the buffer back once it is drained, as the receive side does while idle: a map
        // stream is idle almost all the time, and 8 KiB held per connection was a sixth of
        // the server's heap per node (docs/benchmarks.md). The next record reserves it again.
        self.tx.buf = Vec::new();
        self.tx.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for NoiseStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(err) = this.dead {
                return Poll::Ready(Err(to_io_error(err)));
            }
            if out.remaining() == 0 || this.rx.take_plaintext(out) {
                return Poll::Ready(Ok(()));
            }
            match this.rx.open_buffered() {
                // An empty record opened: keep going, it delivered nothing.
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => return Poll::Ready(Err(this.kill(err))),
            }
            let n = ready!(this.rx.poll_fill(&mut this.io, cx))?;
            if n == 0 {
                if this.rx.mid_record() {
                    return Poll::Ready(Err(this.kill(RecordError::Truncated)));
                }
                // Clean EOF between records.
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for NoiseStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.dead {
            return Poll::Ready(Err(to_io_error(err)));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            // An empty write sends nothing; empty records are legal but pointless.
            return Poll::Ready(Ok(0));
        }
        if this.tx.free() < total.min(MAX_PLAINTEXT_SIZE) + RECORD_OVERHEAD {
            ready!(this.poll_drain(cx))?;
        }
        // Accept whole records while they fit; each is a maximum-size record or the tail.
        let mut accepted = 0;
        while accepted < total {
            let len = (total - accepted).min(MAX_PLAINTEXT_SIZE);
            if this.tx.free() < len + RECORD_OVERHEAD {
                break;
            }
            if let Err(err) = this.tx.seal(bufs, accepted, len) {
                let err = this.kill(err);
                if accepted == 0 {
                    return Poll::Ready(Err(err));
                }
                // Report what was accepted; the next call reports the error.
                break;
            }
            accepted += len;
        }
        Poll::Ready(Ok(accepted))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.dead {
            return Poll::Ready(Err(to_io_error(err)));
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A dead stream has nothing worth sending; still close the connection.
        if this.dead.is_none() {
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<S> fmt::Debug for NoiseStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseStream")
            .field("records_sent", &self.records_sent())
            .field("records_received", &self.records_received())
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use chacha20poly1305::aead::AeadInPlace;
    use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce, Tag};
    use rand::rngs::StdRng;
    use rand::{Rng, RngCore, SeedableRng};
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::frame::{MAX_CIPHERTEXT_SIZE, MSG_TYPE_RECORD};

    const CLIENT_TO_SERVER: [u8; 32] = [1; 32];
    const SERVER_TO_CLIENT: [u8; 32] = [2; 32];

    fn keys(tx: &[u8; 32], rx: &[u8; 32]) -> TransportKeys {
        TransportKeys { tx: RecordCipher::new(tx), rx: RecordCipher::new(rx) }
    }

    /// Client and server streams over an in-memory pipe of `capacity` bytes.
    fn pair(capacity: usize) -> (NoiseStream<DuplexStream>, NoiseStream<DuplexStream>) {
        let (a, b) = duplex(capacity);
        (
            NoiseStream::new(a, keys(&CLIENT_TO_SERVER, &SERVER_TO_CLIENT)),
            NoiseStream::new(b, keys(&SERVER_TO_CLIENT, &CLIENT_TO_SERVER)),
        )
    }

    /// A server stream whose peer is a raw pipe plus the cipher that peer would seal with,
    /// for feeding hand-made frames.
    fn raw_peer() -> (NoiseStream<DuplexStream>, DuplexStream, RecordCipher) {
        let (a, b) = duplex(64 * 1024);
        let stream = NoiseStream::new(a, keys(&SERVER_TO_CLIENT, &CLIENT_TO_SERVER));
        (stream, b, RecordCipher::new(&CLIENT_TO_SERVER))
    }

    fn sealed(cipher: &mut RecordCipher, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        cipher.seal(plaintext, &mut out).unwrap();
        out
    }

    /// The `RecordError` inside an `io::Error` from the stream.
    fn record_error(err: &io::Error) -> RecordError {
        *err.get_ref()
            .and_then(|inner| inner.downcast_ref::<RecordError>())
            .unwrap_or_else(|| panic!("not a record error: {err:?}"))
    }

    /// Splits raw wire bytes into frames.
    fn frames(mut wire: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        while !wire.is_empty() {
            let len = HEADER_LEN + usize::from(u16::from_be_bytes([wire[1], wire[2]]));
            out.push(&wire[..len]);
            wire = &wire[len..];
        }
        out
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut data = vec![0u8; len];
        StdRng::seed_from_u64(seed).fill_bytes(&mut data);
        data
    }

    /// Writes `data` in odd-sized pieces, flushing now and then.
    async fn write_odd_sizes<W: AsyncWrite + Unpin>(writer: &mut W, data: &[u8], seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut rest = data;
        while !rest.is_empty() {
            let n = rng.gen_range(1..=9_001).min(rest.len());
            writer.write_all(&rest[..n]).await.unwrap();
            if rng.gen_bool(0.3) {
                writer.flush().await.unwrap();
            }
            rest = &rest[n..];
        }
        writer.flush().await.unwrap();
    }

    /// Reads exactly `len` bytes in odd-sized reads.
    async fn read_odd_sizes<R: AsyncRead + Unpin>(
        reader: &mut R,
        len: usize,
        seed: u64,
    ) -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            let want = rng.gen_range(1..=5_003).min(len - filled);
            let n = reader.read(&mut out[filled..filled + want]).await.unwrap();
            assert_ne!(n, 0, "unexpected EOF after {filled} bytes");
            filled += n;
        }
        out
    }

    /// Sends `outgoing` while receiving `incoming_len` bytes, concurrently, on one stream.
    async fn exchange(
        stream: NoiseStream<DuplexStream>,
        outgoing: Vec<u8>,
        incoming_len: usize,
        seed: u64,
    ) -> (Vec<u8>, NoiseStream<DuplexStream>) {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let writing = tokio::spawn(async move {
            write_odd_sizes(&mut writer, &outgoing, seed).await;
            writer
        });
        let received = read_odd_sizes(&mut reader, incoming_len, seed + 1).await;
        let writer = writing.await.unwrap();
        (received, reader.unsplit(writer))
    }

    #[tokio::test]
    async fn one_mebibyte_each_way_in_odd_sizes() {
        const LEN: usize = 1 << 20;
        // A small pipe forces partial writes and reads that split records.
        let (client, server) = pair(7_919);
        let up = pseudo_random(LEN, 1);
        let down = pseudo_random(LEN, 2);
        let server_task = tokio::spawn(exchange(server, down.clone(), LEN, 10));
        let (client_received, client) = exchange(client, up.clone(), LEN, 20).await;
        let (server_received, server) = server_task.await.unwrap();
        assert!(client_received == down, "server → client data corrupted");
        assert!(server_received == up, "client → server data corrupted");
        assert!(client.records_sent() >= (LEN / MAX_PLAINTEXT_SIZE) as u64);
        assert_eq!(client.records_sent(), server.records_received());
        assert_eq!(server.records_sent(), client.records_received());
    }

    #[tokio::test]
    async fn many_small_records_cross_256_with_big_endian_nonces() {
        // 300 flushed writes are 300 records. Check the wire independently: record n must
        // open with nonce 00000000 || n big-endian, which differs from Noise's little-endian
        // layout for every n > 0 (n = 256 is where a one-byte counter would wrap).
        let (mut client, mut server) = pair(64 * 1024);
        let (mut raw_reader, raw_writer) = duplex(1 << 20);
        let mut tap = NoiseStream::new(raw_writer, keys(&CLIENT_TO_SERVER, &SERVER_TO_CLIENT));
        for i in 0..300u32 {
            let message = i.to_be_bytes();
            client.write_all(&message).await.unwrap();
            client.flush().await.unwrap();
            tap.write_all(&message).await.unwrap();
            tap.flush().await.unwrap();
        }
        let mut received = vec![0u8; 1200];
        server.read_exact(&mut received).await.unwrap();
        let expected: Vec<u8> = (0..300u32).flat_map(u32::to_be_bytes).collect();
        assert_eq!(received, expected);
        assert_eq!(server.records_received(), 300);

        drop(tap);
        let mut wire = Vec::new();
        raw_reader.read_to_end(&mut wire).await.unwrap();
        let frames = frames(&wire);
        assert_eq!(frames.len(), 300);
        let aead = ChaCha20Poly1305::new(Key::from_slice(&CLIENT_TO_SERVER));
        let open_with = |frame: &[u8], nonce: [u8; 12]| {
            let mut body = frame[HEADER_LEN..frame.len() - TAG_LEN].to_vec();
            let tag = Tag::from_slice(&frame[frame.len() - TAG_LEN..]);
            aead.decrypt_in_place_detached(Nonce::from_slice(&nonce), &[], &mut body, tag)
                .ok()
                .map(|()| body)
        };
        for (n, frame) in frames.iter().enumerate() {
            let mut big_endian = [0u8; 12];
            big_endian[4..].copy_from_slice(&(n as u64).to_be_bytes());
            assert_eq!(
                open_with(frame, big_endian).as_deref(),
                Some(&(n as u32).to_be_bytes()[..])
            );
            let mut little_endian = [0u8; 12];
            little_endian[4..].copy_from_slice(&(n as u64).to_le_bytes());
            if n > 0 {
                assert!(open_with(frame, little_endian).is_none(), "record {n}");
            }
        }
    }

    #[tokio::test]
    async fn large_writes_split_into_maximum_records() {
        let (mut stream, mut raw, _) = raw_peer();
        let data = pseudo_random(10_000, 7);
        stream.write_all(&data).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut wire = Vec::new();
        raw.read_to_end(&mut wire).await.unwrap();
        let sizes: Vec<usize> = frames(&wire).iter().map(|f| f.len()).collect();
        assert_eq!(
            sizes,
            [MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE, 10_000 - 2 * MAX_PLAINTEXT_SIZE + RECORD_OVERHEAD]
        );
        let mut rx = RecordCipher::new(&SERVER_TO_CLIENT);
        let mut plain = Vec::new();
        for frame in frames(&wire) {
            plain.extend_from_slice(rx.open(&mut frame.to_vec()).unwrap());
        }
        assert_eq!(plain, data);
    }

    #[tokio::test]
    async fn vectored_writes_gather_across_slices() {
        let (mut client, mut server) = pair(64 * 1024);
        let parts: Vec<Vec<u8>> =
            (0..5).map(|i| pseudo_random(1_500 + i * 977, i as u64)).collect();
        let total: usize = parts.iter().map(Vec::len).sum();
        let mut written = 0;
        while written < total {
            // Re-slice past what was accepted, as a vectored writer would.
            let mut skip = written;
            let rest: Vec<IoSlice<'_>> = parts
                .iter()
                .filter_map(|p| {
                    if skip >= p.len() {
                        skip -= p.len();
                        None
                    } else {
                        let s = IoSlice::new(&p[skip..]);
                        skip = 0;
                        Some(s)
                    }
                })
                .collect();
            written += client.write_vectored(&rest).await.unwrap();
        }
        client.flush().await.unwrap();
        let mut received = vec![0u8; total];
        server.read_exact(&mut received).await.unwrap();
        assert_eq!(received, parts.concat());
        assert!(client.is_write_vectored());
    }

    #[tokio::test]
    async fn empty_records_are_skipped_and_empty_writes_send_nothing() {
        let (mut stream, mut raw, mut peer) = raw_peer();
        let mut wire = sealed(&mut peer, b"");
        wire.extend(sealed(&mut peer, b""));
        wire.extend(sealed(&mut peer, b"data"));
        wire.extend(sealed(&mut peer, b""));
        raw.write_all(&wire).await.unwrap();
        drop(raw);
        let mut buf = [0u8; 16];
        assert_eq!(stream.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf[..4], b"data");
        assert_eq!(stream.read(&mut buf).await.unwrap(), 0, "clean EOF after an empty record");
        assert_eq!(stream.records_received(), 4);

        let (mut stream, mut raw, _) = raw_peer();
        assert_eq!(stream.write(b"").await.unwrap(), 0);
        stream.shutdown().await.unwrap();
        let mut wire = Vec::new();
        raw.read_to_end(&mut wire).await.unwrap();
        assert!(wire.is_empty());
    }

    #[tokio::test]
    async fn oversize_frame_is_refused_before_its_body_arrives() {
        let (mut stream, mut raw, _) = raw_peer();
        // Declares 4094 bytes of ciphertext: 4097 in total, one over the limit.
        raw.write_all(&[MSG_TYPE_RECORD, 0x0f, 0xfe]).await.unwrap();
        let err = stream.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(record_error(&err), RecordError::FrameTooLarge(4097));
        assert!(err.to_string().contains("exceeds the 4096-byte maximum"), "{err}");
        // Dead for good, in both directions.
        let err = stream.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(record_error(&err), RecordError::FrameTooLarge(4097));
        let err = stream.write_all(b"x").await.unwrap_err();
        assert_eq!(record_error(&err), RecordError::FrameTooLarge(4097));
    }

    #[tokio::test]
    async fn a_maximum_size_frame_is_accepted() {
        let (mut stream, mut raw, mut peer) = raw_peer();
        let data = pseudo_random(MAX_PLAINTEXT_SIZE, 9);
        let frame = sealed(&mut peer, &data);
        assert_eq!(frame.len(), MAX_MESSAGE_SIZE);
        raw.write_all(&frame).await.unwrap();
        let mut received = vec![0u8; MAX_PLAINTEXT_SIZE];
        stream.read_exact(&mut received).await.unwrap();
        assert_eq!(received, data);
    }

    #[tokio::test]
    async fn eof_mid_record_is_a_truncation_error() {
        let frame = sealed(&mut RecordCipher::new(&CLIENT_TO_SERVER), b"hello world");
        for cut in [1, 2, 3, 10, frame.len() - 1] {
            let (mut stream, mut raw, _) = raw_peer();
            raw.write_all(&frame[..cut]).await.unwrap();
            drop(raw);
            let err = stream.read(&mut [0u8; 32]).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
            assert_eq!(record_error(&err), RecordError::Truncated);
            assert!(stream.read(&mut [0u8; 32]).await.is_err(), "stays dead");
        }
        // The whole frame followed by EOF is fine.
        let (mut stream, mut raw, _) = raw_peer();
        raw.write_all(&frame).await.unwrap();
        drop(raw);
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"hello world");
    }

    #[tokio::test]
    async fn wrong_tag_kills_the_stream_for_good() {
        let (mut stream, mut raw, mut peer) = raw_peer();
        let mut bad = sealed(&mut peer, b"tampered");
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        raw.write_all(&bad).await.unwrap();
        raw.write_all(&sealed(&mut peer, b"valid later")).await.unwrap();
        let err = stream.read(&mut [0u8; 32]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(record_error(&err), RecordError::Decrypt);
        // The valid record after it is never delivered.
        let err = stream.read(&mut [0u8; 32]).await.unwrap_err();
        assert_eq!(record_error(&err), RecordError::Decrypt);
        assert!(stream.write_all(b"reply").await.is_err());
        assert!(stream.flush().await.is_err());
    }

    #[tokio::test]
    async fn non_record_frames_are_refused() {
        let (mut stream, mut raw, _) = raw_peer();
        // A handshake error frame has no place after the handshake.
        raw.write_all(&crate::handshake::error_frame("late error")).await.unwrap();
        let err = stream.read(&mut [0u8; 32]).await.unwrap_err();
        assert_eq!(record_error(&err), RecordError::UnexpectedType(0x03));

        let (mut stream, mut raw, _) = raw_peer();
        raw.write_all(&[MSG_TYPE_RECORD, 0, 3, 1, 2, 3]).await.unwrap();
        let err = stream.read(&mut [0u8; 32]).await.unwrap_err();
        assert_eq!(record_error(&err), RecordError::RecordTooShort(3));
    }

    #[tokio::test]
    async fn random_garbage_never_panics_the_reader() {
        let mut rng = StdRng::seed_from_u64(4077);
        for i in 0..300 {
            let (mut stream, mut raw, mut peer) = raw_peer();
            let mut wire = Vec::new();
            if i % 3 == 0 {
                wire.extend(sealed(&mut peer, b"a valid prefix"));
            }
            let mut garbage = vec![0u8; rng.gen_range(0..6_000)];
            rng.fill_bytes(&mut garbage);
            if i % 2 == 0 && garbage.len() >= 3 {
                // A plausible header so the garbage reaches the decryptor.
                garbage[0] = MSG_TYPE_RECORD;
                let len = rng.gen_range(0..=MAX_CIPHERTEXT_SIZE) as u16;
                garbage[1..3].copy_from_slice(&len.to_be_bytes());
            }
            wire.extend(garbage);
            raw.write_all(&wire).await.unwrap();
            drop(raw);
            let mut sink = Vec::new();
            // Either an error or (for an empty tail) a clean EOF; never a panic or a hang.
            let _ = stream.read_to_end(&mut sink).await;
            assert!(sink.len() <= MAX_PLAINTEXT_SIZE, "garbage produced plaintext");
        }
    }

    #[tokio::test]
    async fn shutdown_flushes_buffered_records_and_closes() {
        let (mut client, mut server) = pair(64 * 1024);
        client.write_all(b"unflushed").await.unwrap();
        client.shutdown().await.unwrap();
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"unflushed");
    }

    #[tokio::test]
    async fn write_failure_kills_the_stream() {
        let (mut client, server) = pair(64);
        drop(server);
        let err = async {
            client.write_all(&[0u8; 100]).await?;
            client.flush().await
        }
        .await
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let err = client.write_all(b"again").await.unwrap_err();
        assert_eq!(record_error(&err), RecordError::WriteFailed(io::ErrorKind::BrokenPipe));
        assert!(client.read(&mut [0u8; 4]).await.is_err());
    }

    #[tokio::test]
    async fn idle_stream_releases_its_receive_buffer() {
        let (mut client, mut server) = pair(64 * 1024);
        client.write_all(b"burst").await.unwrap();
        client.flush().await.unwrap();
        let mut buf = [0u8; 5];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(server.rx.buf.len(), RECEIVE_BUFFER_LEN, "allocated while data flows");
        // Nothing more to read: the next poll is Pending and gives the buffer back.
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = [0u8; 8];
        let mut read_buf = ReadBuf::new(&mut out);
        assert!(Pin::new(&mut server).poll_read(&mut cx, &mut read_buf).is_pending());
        assert_eq!(server.rx.buf.capacity(), 0);
        // And the stream still works afterwards.
        client.write_all(b"again").await.unwrap();
        client.flush().await.unwrap();
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"again");
        assert_eq!(client.tx.buf.capacity(), 0, "flushed: the send buffer is given back");
    }

    #[tokio::test]
    async fn queued_writes_go_out_with_the_next_flush() {
        let (mut client, mut server) = pair(64 * 1024);
        server.queue_write(&pseudo_random(20_000, 11)).unwrap();
        server.write_all(b"tail").await.unwrap();
        server.flush().await.unwrap();
        let mut received = vec![0u8; 20_004];
        client.read_exact(&mut received).await.unwrap();
        assert_eq!(&received[..20_000], &pseudo_random(20_000, 11)[..]);
        assert_eq!(&received[20_000..], b"tail");
        assert_eq!(server.tx.buf.capacity(), 0, "oversized buffer released");
    }

    #[test]
    fn stream_is_send_and_static_for_spawning() {
        fn assert_spawnable<T: Send + 'static>() {}
        assert_spawnable::<NoiseStream<tokio::net::TcpStream>>();
        assert_spawnable::<NoiseStream<DuplexStream>>();
    }
}
