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
mod tests;
