//! Wiring of the embedded DERP relay: who may use it (registered nodes only, and only towards
//! peers they can see), and closing relay connections of nodes that are deleted or expire.

use std::sync::Arc;

use keygate_derp::{Admission, DerpServer, PublicKey};
use keygate_service::{NodeEntry, Tailnet, TailnetChange};

/// Admits nodes by asking the live tailnet state (memory only: `may_send` runs per packet).
pub struct TailnetAdmission(pub Tailnet);

impl TailnetAdmission {
    fn usable(&self, key: &PublicKey) -> Option<Arc<NodeEntry>> {
        let entry = self.0.node_by_node_key(key)?;
        let now = self.0.service().now();
        (entry.node.authorized && !entry.node.is_key_expired(now)).then_some(entry)
    }
}

impl Admission for TailnetAdmission {
    fn may_connect(&self, node_key: &PublicKey) -> bool {
        self.usable(node_key).is_some()
    }

    fn may_send(&self, from: &PublicKey, to: &PublicKey) -> bool {
        // Only towards a peer the ACL policy lets it see (memory only, cached per node).
        self.usable(from).is_some() && self.usable(to).is_some() && self.0.may_talk(from, to)
    }
}

/// Closes the relay connection of every node that is removed, expires or is de-authorized,
/// since admission is only checked when a client connects. Runs until the tailnet's event bus
/// closes.
pub async fn close_departed_clients(tailnet: Tailnet, derp: DerpServer) {
    let mut events = tailnet.subscribe();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            // Missed events: nothing to resynchronise, a departed node simply stays connected
            // until its next reconnect check; carry on with the newest.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let entry = match &event.change {
            TailnetChange::Removed { entry, .. } => entry,
            TailnetChange::Changed { entry, .. }
                if !entry.node.authorized || entry.node.is_key_expired(tailnet.service().now()) =>
            {
                entry
            }
            _ => continue,
        };
        derp.close_client(&entry.node.node_key);
    }
}
