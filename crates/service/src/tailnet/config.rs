//! The live tailnet's tunables.

use std::time::Duration;

/// The tailnet's default DNS domain: nodes are named `<name>.keygate.internal`. `.internal`
/// is reserved for private use (ICANN, 2024), so it never collides with a public name.
pub const DEFAULT_BASE_DOMAIN: &str = "keygate.internal";

/// The default [`TailnetConfig::ephemeral_inactivity_timeout`] (see `lifecycle.rs` for why
/// it is three minutes).
pub const DEFAULT_EPHEMERAL_INACTIVITY_TIMEOUT: Duration = Duration::from_secs(180);

/// Tunables of the live tailnet.
#[derive(Clone, Debug)]
pub struct TailnetConfig {
    /// How long an ephemeral node may stay offline before it is deleted (see `lifecycle.rs`
    /// for why the default is three minutes).
    pub ephemeral_inactivity_timeout: Duration,
    /// Events buffered for a slow subscriber before it is told it lagged.
    pub event_capacity: usize,
    /// The tailnet's DNS domain (MagicDNS suffix), without dots at either end. The control
    /// protocol's `ControlConfig::base_domain` must be the same.
    pub base_domain: String,
}

impl Default for TailnetConfig {
    fn default() -> Self {
        Self {
            ephemeral_inactivity_timeout: DEFAULT_EPHEMERAL_INACTIVITY_TIMEOUT,
            event_capacity: 4096,
            base_domain: DEFAULT_BASE_DOMAIN.to_owned(),
        }
    }
}
