//! Tailnet-wide settings that an admin changes at run time.

/// Default node-key expiry for user-owned nodes, in days.
pub const DEFAULT_NODE_KEY_EXPIRY_DAYS: u32 = 180;

/// Settings of the (single) tailnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailnetSettings {
    /// New nodes wait for an admin unless their key was pre-approved.
    pub device_approval: bool,
    /// Node-key lifetime for user-owned nodes, in days (tagged nodes never expire).
    pub node_key_expiry_days: u32,
}

impl Default for TailnetSettings {
    fn default() -> Self {
        Self { device_approval: false, node_key_expiry_days: DEFAULT_NODE_KEY_EXPIRY_DAYS }
    }
}
