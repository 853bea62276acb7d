//! Who may use the relay: the policy the control plane plugs in.
//!
//! A client proves it holds a node key during the handshake (the `ClientInfo` box only opens
//! with that key), so the node key passed here is authenticated. The relay asks
//! [`Admission::may_connect`] once per connection and [`Admission::may_send`] for every
//! relayed packet, so `may_send` sits on the hot path: answer from memory (e.g. a map of peer
//! sets rebuilt when the netmap changes), never from a database.

use crate::key::PublicKey;

/// The relay's admission policy.
pub trait Admission: Send + Sync {
    /// Whether the holder of `node_key` may connect (typically: a registered, unexpired node).
    fn may_connect(&self, node_key: &PublicKey) -> bool;

    /// Whether a packet from `from` may be relayed to `to` (typically: the netmap lets these
    /// two nodes see each other). A refused packet is dropped silently, like a packet to a
    /// node that is not connected, and counted in [`crate::DerpStats::dropped_denied`].
    fn may_send(&self, from: &PublicKey, to: &PublicKey) -> bool;
}

/// Admits every node key and every pair. For tests, benchmarks and the standalone example
/// server only: an open relay carries anyone's traffic.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmitAll;

impl Admission for AdmitAll {
    fn may_connect(&self, _node_key: &PublicKey) -> bool {
        true
    }

    fn may_send(&self, _from: &PublicKey, _to: &PublicKey) -> bool {
        true
    }
}
