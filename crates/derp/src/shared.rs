//! The state shared by every connection of one relay: its key, admission, settings, the
//! registry of connected clients and the counters. The relay ([`crate::server`]) creates it;
//! each connection's session ([`crate::session`]) reads and updates it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::admission::Admission;
use crate::key::{NodePrivateKey, PublicKey};
use crate::registry::Registry;

/// Tunables of the relay. The defaults are upstream's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerpConfig {
    /// Interval between `KeepAlive` frames to each client (upstream `derp.KeepAlive`, 60 s).
    /// Clients treat two missed keep-alives as a dead connection.
    pub keep_alive: Duration,
    /// Random extra delay, per connection, added to `keep_alive` so keep-alives of clients that
    /// connected together do not all fire at once (upstream: up to 5 s).
    pub keep_alive_jitter: Duration,
    /// Packets queued per client and lane (data, disco) before the oldest is dropped
    /// (upstream `defaultPerClientSendQueueDepth`, 32).
    pub send_queue_depth: usize,
    /// How long one write to a client may take before the client is dropped as dead
    /// (upstream `DefaultTCPWiteTimeout`, 2 s).
    pub write_timeout: Duration,
    /// How long a new connection has to complete the handshake (upstream: 10 s).
    pub handshake_timeout: Duration,
}

impl Default for DerpConfig {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(60),
            keep_alive_jitter: Duration::from_secs(5),
            send_queue_depth: 32,
            write_timeout: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub packets_relayed: AtomicU64,
    pub bytes_relayed: AtomicU64,
    pub dropped_denied: AtomicU64,
    pub dropped_unknown_destination: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_disconnected: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// State shared by every connection of one server.
pub(crate) struct Shared {
    pub key: NodePrivateKey,
    pub public_key: PublicKey,
    pub admission: Arc<dyn Admission>,
    pub config: DerpConfig,
    pub registry: Registry,
    pub counters: Counters,
    pub next_conn_id: AtomicU64,
    pub shut_down: AtomicBool,
}
