//! The relay: its public handle, the counters snapshot, and the entry point
//! that runs the DERP protocol on an upgraded stream.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::admission::Admission;
use crate::error::SessionError;
use crate::frame_reader::FrameReader;
use crate::key::{NodePrivateKey, PublicKey};
use crate::registry::Registry;
use crate::session;
pub use crate::shared::DerpConfig;
use crate::shared::{Counters, Shared};

/// A snapshot of the relay's counters (totals since start, except `clients`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DerpStats {
    /// Distinct node keys connected now.
    pub clients: u64,
    /// Connections that completed the handshake and were admitted.
    pub accepted: u64,
    /// Connections refused by [`Admission::may_connect`].
    pub refused: u64,
    /// Connections closed because of a protocol error (bad handshake, malformed frame).
    pub protocol_errors: u64,
    /// Packets written to their recipient.
    pub packets_relayed: u64,
    /// Payload bytes of those packets.
    pub bytes_relayed: u64,
    /// Packets dropped because [`Admission::may_send`] refused the pair.
    pub dropped_denied: u64,
    /// Packets dropped because no client with the destination key was connected.
    pub dropped_unknown_destination: u64,
    /// Packets dropped because the recipient's queue was full (a slow reader).
    pub dropped_queue_full: u64,
    /// Packets dropped because the recipient disconnected before they were written.
    pub dropped_disconnected: u64,
}

/// The DERP relay. Cheap to clone (all clones share one state).
///
/// Serve it with [`DerpServer::router`] (axum, on the main listener), with
/// [`crate::standalone::serve`] (a dedicated listener, with fast start), or hand it any
/// upgraded stream with [`DerpServer::serve_upgraded`].
#[derive(Clone)]
pub struct DerpServer {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for DerpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerpServer")
            .field("public_key", &crate::key::ShortKey(&self.shared.public_key))
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl DerpServer {
    /// A relay identified by `key`, letting in whom `admission` allows.
    pub fn new(key: NodePrivateKey, admission: Arc<dyn Admission>, config: DerpConfig) -> Self {
        let public_key = key.public_key();
        Self {
            shared: Arc::new(Shared {
                key,
                public_key,
                admission,
                config,
                registry: Registry::default(),
                counters: Counters::default(),
                next_conn_id: AtomicU64::new(1),
                shut_down: AtomicBool::new(false),
            }),
        }
    }

    /// The server's public DERP key (sent in the `ServerKey` frame).
    pub fn public_key(&self) -> PublicKey {
        self.shared.public_key
    }

    /// Runs the DERP protocol on `io`, a stream whose HTTP upgrade is complete, until the
    /// client leaves. `already_read` are bytes of the stream read past the HTTP request head.
    /// Returns why the connection ended; a client hanging up is `Ok`.
    pub async fn serve_upgraded<IO>(
        &self,
        io: IO,
        already_read: &[u8],
        remote: Option<SocketAddr>,
    ) -> Result<(), SessionError>
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(io);
        let reader = FrameReader::new(read_half, already_read);
        let result = session::run(&self.shared, reader, write_half, remote).await;
        if result.as_ref().is_err_and(session::is_protocol_error) {
            Counters::add(&self.shared.counters.protocol_errors, 1);
        }
        result
    }

    /// Whether a client with `key` is connected.
    pub fn is_connected(&self, key: &PublicKey) -> bool {
        self.shared.registry.active(key).is_some()
    }

    /// Closes every connection of `key` (e.g. its node was deleted); returns how many. The
    /// client may reconnect: make [`Admission::may_connect`] refuse it first.
    pub fn close_client(&self, key: &PublicKey) -> usize {
        let conns = self.shared.registry.connections_of(key);
        for conn in &conns {
            self.drop_queued(conn.queue.close());
        }
        conns.len()
    }

    /// Closes every connection and refuses new ones.
    pub fn shutdown(&self) {
        self.shared.shut_down.store(true, Ordering::SeqCst);
        for conn in self.shared.registry.all() {
            self.drop_queued(conn.queue.close());
        }
    }

    /// The counters.
    pub fn stats(&self) -> DerpStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DerpStats {
            clients: self.shared.registry.key_count() as u64,
            accepted: get(&c.accepted),
            refused: get(&c.refused),
            protocol_errors: get(&c.protocol_errors),
            packets_relayed: get(&c.packets_relayed),
            bytes_relayed: get(&c.bytes_relayed),
            dropped_denied: get(&c.dropped_denied),
            dropped_unknown_destination: get(&c.dropped_unknown_destination),
            dropped_queue_full: get(&c.dropped_queue_full),
            dropped_disconnected: get(&c.dropped_disconnected),
        }
    }

    fn drop_queued(&self, n: usize) {
        Counters::add(&self.shared.counters.dropped_disconnected, n as u64);
    }
}
