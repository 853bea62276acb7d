//! One client connection on the server: handshake, then a reader and a writer running side by
//! side until either ends.
//!
//! ```text
//! server                                         client
//!   ── ServerKey   MAGIC ‖ server key ──────────▶
//!   ◀─ ClientInfo  node key ‖ nonce ‖ box(JSON) ──     box sealed by the node key to the server
//!      (open the box: proves the node key; ask Admission::may_connect)
//!   ── ServerInfo  nonce ‖ box({"version":2}) ──▶      refused: Health(reason), then close
//!   ◀─ SendPacket / Ping / NotePreferred ─────────
//!   ── RecvPacket / Pong / PeerGone / KeepAlive ─▶
//! ```
//!
//! The reader relays each `SendPacket` by pushing onto the recipient's queue, which never
//! blocks; the writer drains this client's own queue and the keep-alive ticker. Upstream:
//! `derp/derpserver/derpserver.go` (`accept`, `run`, `sendLoop`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::rngs::OsRng;
use rand::Rng as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::time::{timeout, Instant};

use crate::client_info::{ClientInfo, ServerInfo};
use crate::error::{FrameError, SessionError};
use crate::frame::{
    looks_like_disco, put_frame, FrameType, PeerGoneReason, BOX_TAG_LEN, KEY_LEN, MAGIC,
    MAX_CLIENT_FRAME_LEN, MAX_CLIENT_INFO_LEN, MAX_PING_LEN, NONCE_LEN, PING_LEN, PROTOCOL_VERSION,
};
use crate::frame_reader::FrameReader;
use crate::key::{is_contributory, PublicKey, ShortKey};
use crate::registry::ClientConn;
use crate::send_queue::{Batch, Control, Pushed, QueuedPacket};
use crate::shared::{Counters, Shared};

/// The writer hands bytes to the socket once this many are encoded, so a large batch does not
/// build one huge buffer.
const WRITE_CHUNK: usize = 64 << 10;

/// Health text sent to a refused client before closing; tailscaled shows it as the DERP
/// region's health problem.
const NOT_ADMITTED: &str = "keygate: this node key is not allowed to use this DERP server (not registered, expired or removed)";

/// `PeerGone(NotHere)` replies to disco packets for absent peers: a burst of 3, then one per
/// second, per connection (upstream `peerGoneLim`).
const NOT_HERE_BURST: f64 = 3.0;

/// Runs one client connection, read through `reader` and written through `write_half`:
/// handshake, admission, then relaying until it ends.
pub(crate) async fn run<R, W>(
    shared: &Arc<Shared>,
    mut reader: FrameReader<R>,
    mut write_half: W,
    remote: Option<SocketAddr>,
) -> Result<(), SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if shared.shut_down.load(Ordering::SeqCst) {
        return Err(SessionError::ClosedByServer);
    }

    let (client_key, info) =
        timeout(shared.config.handshake_timeout, handshake(shared, &mut reader, &mut write_half))
            .await
            .map_err(|_| SessionError::HandshakeTimeout)??;

    if !shared.admission.may_connect(&client_key) {
        Counters::add(&shared.counters.refused, 1);
        tracing::info!(node = %ShortKey(&client_key), ?remote, "DERP connection refused: node key not admitted");
        let mut out = BytesMut::new();
        put_frame(&mut out, FrameType::Health, &[NOT_ADMITTED.as_bytes()]);
        let _ = timeout(shared.config.write_timeout, async {
            write_half.write_all(&out).await?;
            write_half.shutdown().await
        })
        .await;
        return Err(SessionError::NotAdmitted { key: ShortKey(&client_key).to_string() });
    }

    let id = shared.next_conn_id.fetch_add(1, Ordering::Relaxed);
    let conn = Arc::new(ClientConn::new(id, client_key, shared.config.send_queue_depth));
    shared.registry.register(conn.clone());
    // Unregisters even if this future is dropped mid-way (the task aborted).
    let _registered = Registered { shared: shared.clone(), conn: conn.clone() };
    if shared.shut_down.load(Ordering::SeqCst) {
        // `shutdown` ran between the check above and the registration, and missed this one.
        return Err(SessionError::ClosedByServer);
    }
    Counters::add(&shared.counters.accepted, 1);
    tracing::debug!(node = %ShortKey(&client_key), ?remote, version = info.version, "DERP client connected");

    let mut out = BytesMut::new();
    let server_info =
        serde_json::to_vec(&ServerInfo { version: PROTOCOL_VERSION, ..ServerInfo::default() })
            .expect("ServerInfo serializes");
    let sealed = crate::naclbox::seal(&shared.key, &client_key, &server_info, &mut OsRng);
    put_frame(&mut out, FrameType::ServerInfo, &[&sealed]);
    write_out(shared, &mut write_half, &mut out).await?;

    let result = tokio::select! {
        r = read_loop(shared, &conn, &mut reader) => r,
        r = write_loop(shared, &conn, &mut write_half) => r,
    };
    tracing::debug!(node = %ShortKey(&client_key), ?remote, result = ?result.as_ref().err().map(ToString::to_string), "DERP client disconnected");
    result
}

/// Sends `ServerKey`, reads and checks `ClientInfo`. Returns the proven node key.
async fn handshake<R, W>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    writer: &mut W,
) -> Result<(PublicKey, ClientInfo), SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = BytesMut::new();
    put_frame(&mut out, FrameType::ServerKey, &[&MAGIC, shared.public_key.as_bytes()]);
    writer.write_all(&out).await.map_err(SessionError::Write)?;
    writer.flush().await.map_err(SessionError::Write)?;

    // ClientInfo payload: client node key(32) ‖ nonce(24) ‖ box(JSON) (tag 16 ‖ ciphertext).
    let frame = reader
        .read_frame(MAX_CLIENT_INFO_LEN)
        .await?
        .ok_or(FrameError::Closed { expected: "ClientInfo" })?;
    if frame.header.frame_type != FrameType::ClientInfo {
        return Err(FrameError::Unexpected {
            expected: "ClientInfo",
            got: frame.header.frame_type.to_byte(),
        }
        .into());
    }
    let payload = &frame.payload;
    if payload.len() < KEY_LEN + NONCE_LEN + BOX_TAG_LEN {
        return Err(FrameError::Malformed {
            frame: "ClientInfo",
            len: payload.len(),
            why: "shorter than key, nonce and box tag",
        }
        .into());
    }
    let (key_bytes, sealed) = payload.split_at(KEY_LEN);
    let client_key: PublicKey = key_bytes.try_into().expect("split at KEY_LEN");
    if !is_contributory(&shared.key, &client_key) {
        return Err(SessionError::InvalidClientKey);
    }
    let json = crate::naclbox::open(&shared.key, &client_key, sealed)
        .ok_or(SessionError::ClientInfoBox)?;
    let info: ClientInfo = serde_json::from_slice(&json).map_err(SessionError::ClientInfoJson)?;
    Ok((client_key, info))
}

/// Reads the client's frames until it hangs up or breaks the protocol.
async fn read_loop<R: AsyncRead + Unpin>(
    shared: &Arc<Shared>,
    conn: &Arc<ClientConn>,
    reader: &mut FrameReader<R>,
) -> Result<(), SessionError> {
    let mut relay = Relay::new(shared, conn);
    loop {
        let Some(frame) = reader.read_frame(MAX_CLIENT_FRAME_LEN).await? else {
            return Ok(());
        };
        shared.registry.note_activity(conn);
        let payload = frame.payload;
        match frame.header.frame_type {
            // SendPacket: destination key(32) ‖ packet (≤ MAX_PACKET_SIZE, by the frame limit).
            FrameType::SendPacket => {
                if payload.len() < KEY_LEN {
                    return Err(malformed("SendPacket", &payload, "shorter than a key"));
                }
                let dst: PublicKey = payload[..KEY_LEN].try_into().expect("length checked");
                relay.send(dst, payload.slice(KEY_LEN..));
            }
            // NotePreferred: exactly one byte, non-zero = this server is the client's home.
            FrameType::NotePreferred => {
                let [preferred] = payload[..] else {
                    return Err(malformed("NotePreferred", &payload, "must be one byte"));
                };
                conn.preferred.store(preferred != 0, Ordering::Relaxed);
            }
            // Ping: 8 bytes echoed in a Pong; up to MAX_PING_LEN for future extensions.
            FrameType::Ping => {
                if payload.len() < PING_LEN || payload.len() > MAX_PING_LEN {
                    return Err(malformed("Ping", &payload, "must be 8 to 1000 bytes"));
                }
                let data: [u8; PING_LEN] = payload[..PING_LEN].try_into().expect("length checked");
                conn.queue.push_control(Control::Pong(data));
            }
            FrameType::ForwardPacket => {
                return Err(SessionError::MeshFrame { frame: "ForwardPacket" })
            }
            FrameType::WatchConns => return Err(SessionError::MeshFrame { frame: "WatchConns" }),
            FrameType::ClosePeer => return Err(SessionError::MeshFrame { frame: "ClosePeer" }),
            // Pongs answer pings this server never sends; anything else (including frame types
            // only a server sends) is skipped, as upstream does, so newer clients keep working.
            _ => {}
        }
    }
}

/// Writes this client's queued frames and keep-alives until the queue closes or a write fails.
async fn write_loop<W: AsyncWrite + Unpin>(
    shared: &Shared,
    conn: &ClientConn,
    writer: &mut W,
) -> Result<(), SessionError> {
    let config = &shared.config;
    let jitter_ms = u64::try_from(config.keep_alive_jitter.as_millis()).unwrap_or(u64::MAX);
    let period = config.keep_alive + Duration::from_millis(OsRng.gen_range(0..=jitter_ms));
    let mut keep_alive = tokio::time::interval_at(Instant::now() + period, period);
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let mut batch = Batch::default();
    let mut out = BytesMut::with_capacity(WRITE_CHUNK);
    loop {
        tokio::select! {
            open = conn.queue.next_batch(&mut batch) => {
                if !open {
                    return Err(SessionError::ClosedByServer);
                }
                while let Some(control) = batch.control.pop_front() {
                    encode_control(&mut out, &control);
                }
                for lane in [&mut batch.disco, &mut batch.data] {
                    while let Some(packet) = lane.pop_front() {
                        put_frame(&mut out, FrameType::RecvPacket, &[packet.src.as_bytes(), &packet.data]);
                        Counters::add(&shared.counters.packets_relayed, 1);
                        Counters::add(&shared.counters.bytes_relayed, packet.data.len() as u64);
                        if out.len() >= WRITE_CHUNK {
                            write_out(shared, writer, &mut out).await?;
                        }
                    }
                }
            }
            _ = keep_alive.tick() => put_frame(&mut out, FrameType::KeepAlive, &[]),
        }
        write_out(shared, writer, &mut out).await?;
    }
}

fn encode_control(out: &mut BytesMut, control: &Control) {
    match control {
        // PeerGone: peer key(32) ‖ reason(1).
        Control::PeerGone(peer, reason) => {
            put_frame(out, FrameType::PeerGone, &[peer.as_bytes(), &[reason.to_byte()]]);
        }
        Control::Pong(data) => put_frame(out, FrameType::Pong, &[data]),
    }
}

/// Writes and clears `out`, within the write timeout.
async fn write_out<W: AsyncWrite + Unpin>(
    shared: &Shared,
    writer: &mut W,
    out: &mut BytesMut,
) -> Result<(), SessionError> {
    if out.is_empty() {
        return Ok(());
    }
    timeout(shared.config.write_timeout, async {
        writer.write_all(out).await?;
        writer.flush().await
    })
    .await
    .map_err(|_| SessionError::WriteTimeout)?
    .map_err(SessionError::Write)?;
    out.clear();
    Ok(())
}

/// The sending side of one connection: admission, lookup, enqueue, peer-gone bookkeeping.
struct Relay<'a> {
    shared: &'a Shared,
    conn: &'a Arc<ClientConn>,
    /// Connections already registered as watchers of this key (a cache: the registry's map
    /// is the truth, so clearing this only costs a re-registration).
    watched_by: HashSet<u64>,
    not_here_tokens: f64,
    not_here_at: Instant,
}

/// Past this many entries `watched_by` is cleared rather than grown.
const MAX_WATCHED_BY: usize = 4096;

impl<'a> Relay<'a> {
    fn new(shared: &'a Shared, conn: &'a Arc<ClientConn>) -> Self {
        Self {
            shared,
            conn,
            watched_by: HashSet::new(),
            not_here_tokens: NOT_HERE_BURST,
            not_here_at: Instant::now(),
        }
    }

    fn send(&mut self, dst: PublicKey, data: Bytes) {
        let counters = &self.shared.counters;
        if !self.shared.admission.may_send(&self.conn.key, &dst) {
            Counters::add(&counters.dropped_denied, 1);
            return;
        }
        let Some(to) = self.shared.registry.active(&dst) else {
            Counters::add(&counters.dropped_unknown_destination, 1);
            // Tell the sender its peer is not here, so it stops using this path; only for
            // disco (path discovery) packets, rate-limited, as upstream.
            if looks_like_disco(&data) && self.take_not_here_token() {
                self.conn.queue.push_control(Control::PeerGone(dst, PeerGoneReason::NotHere));
            }
            return;
        };
        match to.queue.push_packet(QueuedPacket { src: self.conn.key, data }) {
            Pushed::Queued => {}
            Pushed::DroppedOldest => Counters::add(&counters.dropped_queue_full, 1),
            Pushed::Closed => {
                Counters::add(&counters.dropped_disconnected, 1);
                return;
            }
        }
        if self.watched_by.len() >= MAX_WATCHED_BY {
            self.watched_by.clear();
        }
        if self.watched_by.insert(to.id) {
            self.shared.registry.add_watcher(self.conn.key, &to);
        }
    }

    fn take_not_here_token(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.not_here_at).as_secs_f64();
        self.not_here_at = now;
        self.not_here_tokens = (self.not_here_tokens + refill).min(NOT_HERE_BURST);
        if self.not_here_tokens >= 1.0 {
            self.not_here_tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Removes the connection from the registry when the session ends, however it ends.
struct Registered {
    shared: Arc<Shared>,
    conn: Arc<ClientConn>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let dropped = self.conn.queue.close();
        Counters::add(&self.shared.counters.dropped_disconnected, dropped as u64);
        self.shared.registry.unregister(&self.conn);
    }
}

fn malformed(frame: &'static str, payload: &[u8], why: &'static str) -> SessionError {
    FrameError::Malformed { frame, len: payload.len(), why }.into()
}

/// Whether a connection ended by the client breaking the protocol (counted in
/// `DerpStats::protocol_errors`), not by a network failure, a timeout or the server.
pub(crate) fn is_protocol_error(e: &SessionError) -> bool {
    match e {
        SessionError::Frame(FrameError::Io(_)) => false,
        SessionError::Frame(_)
        | SessionError::InvalidClientKey
        | SessionError::ClientInfoBox
        | SessionError::ClientInfoJson(_)
        | SessionError::MeshFrame { .. } => true,
        SessionError::HandshakeTimeout
        | SessionError::NotAdmitted { .. }
        | SessionError::Write(_)
        | SessionError::WriteTimeout
        | SessionError::ClosedByServer => false,
    }
}
