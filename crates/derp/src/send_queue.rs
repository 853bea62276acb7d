//! A connected client's outgoing queue: bounded, never blocking the sender.
//!
//! Every other client's reader task pushes packets here; only this client's writer task drains
//! them. A push never waits: when the queue is full the oldest packet is dropped (fresh packets
//! matter more to WireGuard than stale ones, as upstream's `sendPkt` decides), so one slow
//! client costs only its own packets and never stalls the relay for others.
//!
//! Three lanes, drained in this order: control frames (peer gone, pong), disco packets
//! (path discovery must get through even when bulk data fills the queue, upstream's
//! `discoSendQueue`), then data packets.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::frame::{looks_like_disco, PeerGoneReason, PING_LEN};
use crate::key::PublicKey;

/// Control frames queued beyond this are dropped: they are advisory, and a client that does not
/// read them is about to hit the write timeout anyway.
const MAX_CONTROL: usize = 64;

/// A packet waiting to be written as a `RecvPacket` frame.
#[derive(Debug)]
pub(crate) struct QueuedPacket {
    pub src: PublicKey,
    pub data: Bytes,
}

/// A non-packet frame waiting to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    PeerGone(PublicKey, PeerGoneReason),
    Pong([u8; PING_LEN]),
}

/// What the writer takes out in one go.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub control: VecDeque<Control>,
    pub disco: VecDeque<QueuedPacket>,
    pub data: VecDeque<QueuedPacket>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.control.is_empty() && self.disco.is_empty() && self.data.is_empty()
    }
}

/// Outcome of [`SendQueue::push_packet`], for the relay's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// Queued, and the oldest queued packet of the same lane was dropped to make room.
    DroppedOldest,
    /// The client is gone; the packet was dropped.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    batch: Batch,
    pong_queued: bool,
    closed: bool,
}

/// The queue. Cheap critical sections under a std mutex; the writer sleeps on a [`Notify`].
#[derive(Debug)]
pub(crate) struct SendQueue {
    state: Mutex<State>,
    notify: Notify,
    depth: usize,
}

impl SendQueue {
    /// A queue holding at most `depth` packets per lane.
    pub fn new(depth: usize) -> Self {
        Self { state: Mutex::new(State::default()), notify: Notify::new(), depth: depth.max(1) }
    }

    /// Queues a packet for the client, dropping the oldest one of its lane if full.
    pub fn push_packet(&self, packet: QueuedPacket) -> Pushed {
        let outcome = {
            let mut state = self.lock();
            if state.closed {
                return Pushed::Closed;
            }
            let lane = if looks_like_disco(&packet.data) {
                &mut state.batch.disco
            } else {
                &mut state.batch.data
            };
            let outcome = if lane.len() >= self.depth {
                lane.pop_front();
                Pushed::DroppedOldest
            } else {
                Pushed::Queued
            };
            lane.push_back(packet);
            outcome
        };
        self.notify.notify_one();
        outcome
    }

    /// Queues a control frame; `false` if it was dropped (closed, full, or a pong already
    /// waiting: a client pinging faster than it reads gets one answer, as upstream).
    pub fn push_control(&self, control: Control) -> bool {
        {
            let mut state = self.lock();
            if state.closed || state.batch.control.len() >= MAX_CONTROL {
                return false;
            }
            if matches!(control, Control::Pong(_)) {
                if state.pong_queued {
                    return false;
                }
                state.pong_queued = true;
            }
            state.batch.control.push_back(control);
        }
        self.notify.notify_one();
        true
    }

    /// Waits until something is queued and swaps it into `into` (which must be empty; its
    /// allocations are reused). `false` once the queue is closed.
    pub async fn next_batch(&self, into: &mut Batch) -> bool {
        loop {
            {
                let mut state = self.lock();
                if state.closed {
                    return false;
                }
                if !state.batch.is_empty() {
                    std::mem::swap(&mut state.batch, into);
                    state.pong_queued = false;
                    return true;
                }
            }
            // A push between the unlock above and this await stores a permit in the Notify,
            // so the wake-up is not lost.
            self.notify.notified().await;
        }
    }

    /// Closes the queue: later pushes fail, the writer stops. Returns how many packets were
    /// still queued (now dropped).
    pub fn close(&self) -> usize {
        let dropped = {
            let mut state = self.lock();
            state.closed = true;
            let dropped = state.batch.disco.len() + state.batch.data.len();
            state.batch = Batch::default();
            dropped
        };
        self.notify.notify_one();
        dropped
    }

    /// Whether [`SendQueue::close`] was called.
    #[cfg(test)]
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent (every critical
        // section is a few deque operations), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(byte: u8) -> QueuedPacket {
        QueuedPacket { src: PublicKey([byte; 32]), data: Bytes::from(vec![byte; 10]) }
    }

    #[tokio::test]
    async fn full_queue_drops_the_oldest_packet() {
        let queue = SendQueue::new(2);
        assert_eq!(queue.push_packet(packet(1)), Pushed::Queued);
        assert_eq!(queue.push_packet(packet(2)), Pushed::Queued);
        assert_eq!(queue.push_packet(packet(3)), Pushed::DroppedOldest);
        let mut batch = Batch::default();
        assert!(queue.next_batch(&mut batch).await);
        let srcs: Vec<u8> = batch.data.iter().map(|p| p.src.0[0]).collect();
        assert_eq!(srcs, [2, 3]);
    }

    #[tokio::test]
    async fn one_pong_at_a_time_and_closed_queue_refuses() {
        let queue = SendQueue::new(4);
        assert!(queue.push_control(Control::Pong([1; 8])));
        assert!(!queue.push_control(Control::Pong([2; 8])));
        let mut batch = Batch::default();
        assert!(queue.next_batch(&mut batch).await);
        assert_eq!(batch.control.pop_front(), Some(Control::Pong([1; 8])));
        assert!(queue.push_control(Control::Pong([3; 8])));
        assert_eq!(queue.push_packet(packet(1)), Pushed::Queued);
        assert_eq!(queue.close(), 1);
        assert_eq!(queue.push_packet(packet(2)), Pushed::Closed);
        assert!(!queue.next_batch(&mut Batch::default()).await);
    }

    #[tokio::test]
    async fn writer_wakes_for_a_later_push() {
        let queue = std::sync::Arc::new(SendQueue::new(4));
        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut batch = Batch::default();
                queue.next_batch(&mut batch).await && batch.data.len() == 1
            })
        };
        tokio::task::yield_now().await;
        queue.push_packet(packet(7));
        assert!(waiter.await.unwrap());
    }
}
