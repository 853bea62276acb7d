//! The table of connected clients, and who must hear when a peer leaves.
//!
//! **Duplicates.** A node key may be connected more than once (a reconnect racing the old
//! connection's timeout, or a cloned node). All its connections stay open; packets go to the
//! one that spoke last (upstream's `lastWriterIsActive` policy), so a reconnect takes over at
//! once and an abandoned connection just times out.
//!
//! **Peer gone.** When a client has relayed a packet to some connection, that connection is
//! told `PeerGone(Disconnected)` once the sender's key has no connection left, so it can forget
//! the reverse path (upstream's `peerGoneWatchers`, issue tailscale/tailscale#150).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use crate::frame::PeerGoneReason;
use crate::key::PublicKey;
use crate::send_queue::{Control, SendQueue};

/// One client connection, shared between its own tasks and the registry.
#[derive(Debug)]
pub(crate) struct ClientConn {
    /// Unique per connection for the server's lifetime.
    pub id: u64,
    /// The authenticated node key.
    pub key: PublicKey,
    /// Frames waiting to be written to this client.
    pub queue: SendQueue,
    /// Whether another connection has the same key (then activity decides who is active).
    dup: AtomicBool,
    /// Whether the client said this server is its home (statistics only).
    pub preferred: AtomicBool,
}

impl ClientConn {
    pub fn new(id: u64, key: PublicKey, depth: usize) -> Self {
        Self {
            id,
            key,
            queue: SendQueue::new(depth),
            dup: AtomicBool::new(false),
            preferred: AtomicBool::new(false),
        }
    }
}

/// Connections of one key; the last one is active.
type ConnSet = Vec<Arc<ClientConn>>;

/// Connections that received packets from a key, by connection id.
type Watchers = HashMap<u64, Weak<ClientConn>>;

/// Watcher maps are pruned of closed connections whenever they reach a multiple of this size.
const WATCHER_PRUNE_EVERY: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Registry {
    clients: RwLock<HashMap<PublicKey, ConnSet>>,
    watchers: Mutex<HashMap<PublicKey, Watchers>>,
}

impl Registry {
    /// Adds a connection; it becomes the active one for its key.
    pub fn register(&self, conn: Arc<ClientConn>) {
        let mut clients = write(&self.clients);
        let set = clients.entry(conn.key).or_default();
        if !set.is_empty() {
            conn.dup.store(true, Ordering::Relaxed);
            for other in set.iter() {
                other.dup.store(true, Ordering::Relaxed);
            }
        }
        set.push(conn);
    }

    /// Removes a connection. When it was its key's last one, queues `PeerGone` for every
    /// connection that received packets from that key.
    pub fn unregister(&self, conn: &ClientConn) {
        let key_gone = {
            let mut clients = write(&self.clients);
            let Some(set) = clients.get_mut(&conn.key) else { return };
            set.retain(|c| c.id != conn.id);
            match set.len() {
                0 => {
                    clients.remove(&conn.key);
                    true
                }
                1 => {
                    set[0].dup.store(false, Ordering::Relaxed);
                    false
                }
                _ => false,
            }
        };
        if key_gone {
            let watchers = lock(&self.watchers).remove(&conn.key).unwrap_or_default();
            for watcher in watchers.values().filter_map(Weak::upgrade) {
                watcher
                    .queue
                    .push_control(Control::PeerGone(conn.key, PeerGoneReason::Disconnected));
            }
        }
    }

    /// The active connection for `key`.
    pub fn active(&self, key: &PublicKey) -> Option<Arc<ClientConn>> {
        read(&self.clients).get(key).and_then(|set| set.last().cloned())
    }

    /// Notes that `conn` sent something: if it shares its key with other connections, it
    /// becomes the active one.
    pub fn note_activity(&self, conn: &Arc<ClientConn>) {
        if !conn.dup.load(Ordering::Relaxed) {
            return;
        }
        let is_active = |clients: &HashMap<PublicKey, ConnSet>| {
            clients.get(&conn.key).and_then(|s| s.last()).is_some_and(|c| c.id == conn.id)
        };
        if is_active(&read(&self.clients)) {
            return;
        }
        let mut clients = write(&self.clients);
        if let Some(set) = clients.get_mut(&conn.key) {
            if let Some(pos) = set.iter().position(|c| c.id == conn.id) {
                let me = set.remove(pos);
                set.push(me);
            }
        }
    }

    /// Records that `dst` received packets from `src`, so it hears when `src` leaves.
    pub fn add_watcher(&self, src: PublicKey, dst: &Arc<ClientConn>) {
        let mut watchers = lock(&self.watchers);
        let entry = watchers.entry(src).or_default();
        entry.insert(dst.id, Arc::downgrade(dst));
        if entry.len().is_multiple_of(WATCHER_PRUNE_EVERY) {
            entry.retain(|_, w| w.strong_count() > 0);
        }
    }

    /// Every open connection.
    pub fn all(&self) -> Vec<Arc<ClientConn>> {
        read(&self.clients).values().flatten().cloned().collect()
    }

    /// All connections of `key`.
    pub fn connections_of(&self, key: &PublicKey) -> Vec<Arc<ClientConn>> {
        read(&self.clients).get(key).cloned().unwrap_or_default()
    }

    /// Number of distinct connected keys.
    pub fn key_count(&self) -> usize {
        read(&self.clients).len()
    }
}

// The critical sections above are map operations that cannot leave the maps inconsistent if
// they panic, so a poisoned lock is still safe to use.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send_queue::Batch;

    fn conn(id: u64, key: u8) -> Arc<ClientConn> {
        Arc::new(ClientConn::new(id, PublicKey::from_bytes([key; 32]), 8))
    }

    #[test]
    fn newest_connection_is_active_until_an_older_one_speaks() {
        let registry = Registry::default();
        let (old, new) = (conn(1, 7), conn(2, 7));
        registry.register(old.clone());
        registry.register(new.clone());
        assert_eq!(registry.active(&PublicKey([7; 32])).unwrap().id, 2);
        registry.note_activity(&old);
        assert_eq!(registry.active(&PublicKey([7; 32])).unwrap().id, 1);
        registry.unregister(&old);
        assert_eq!(registry.active(&PublicKey([7; 32])).unwrap().id, 2);
        assert!(!new.dup.load(Ordering::Relaxed));
        assert_eq!(registry.key_count(), 1);
    }

    #[tokio::test]
    async fn watchers_hear_peer_gone_only_when_the_last_connection_leaves() {
        let registry = Registry::default();
        let (sender_a, sender_b, receiver) = (conn(1, 1), conn(2, 1), conn(3, 2));
        for c in [&sender_a, &sender_b, &receiver] {
            registry.register(c.clone());
        }
        registry.add_watcher(PublicKey([1; 32]), &receiver);
        registry.unregister(&sender_a);
        assert!(!receiver.queue.is_closed());
        registry.unregister(&sender_b);
        let mut batch = Batch::default();
        assert!(receiver.queue.next_batch(&mut batch).await);
        assert_eq!(
            batch.control.pop_front(),
            Some(Control::PeerGone(PublicKey([1; 32]), PeerGoneReason::Disconnected))
        );
        assert!(batch.control.is_empty());
    }
}
