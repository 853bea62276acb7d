//! Tests of [`super`] (`conn.rs`), kept apart to keep that file about one thing.

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
async fn read_odd_sizes<R: AsyncRead + Unpin>(reader: &mut R, len: usize, seed: u64) -> Vec<u8> {
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
        assert_eq!(open_with(frame, big_endian).as_deref(), Some(&(n as u32).to_be_bytes()[..]));
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
    let parts: Vec<Vec<u8>> = (0..5).map(|i| pseudo_random(1_500 + i * 977, i as u64)).collect();
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
        // The valid record, if sent, is all that comes out: garbage never yields plaintext.
        let valid: &[u8] = if i % 3 == 0 { b"a valid prefix" } else { b"" };
        assert_eq!(sink, valid, "case {i}: garbage produced plaintext");
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
