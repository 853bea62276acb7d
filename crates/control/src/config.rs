//! Settings of the control protocol surface.

use std::path::{Path, PathBuf};
use std::time::Duration;

use keygate_tailcfg::DERPMap;

/// The tailnet's default DNS domain: nodes are named `<name>.keygate.internal.`.
/// `.internal` is reserved for private use (ICANN, 2024), so it never collides with a
/// public name, and it is short enough to type. The same as the live tailnet's default
/// (`keygate_service::TailnetConfig::base_domain`), which the API's device names use.
pub const DEFAULT_BASE_DOMAIN: &str = keygate_service::DEFAULT_BASE_DOMAIN;

/// Tunables of the control protocol.
#[derive(Clone, Debug)]
pub struct ControlConfig {
    /// Time between keep-alives on an idle map stream (Tailscale's and Headscale's: 50 s).
    /// Clients give up on a stream that is silent for 120 s.
    pub keepalive_interval: Duration,
    /// Up to this much random time is added to each keep-alive interval, so thousands of
    /// streams opened together do not tick together.
    pub keepalive_jitter: Duration,
    /// The DERP map sent to nodes. Empty (`{"Regions":{}}`) by default: nodes register and
    /// get their addresses, but a lone node stays in `Starting` without a reachable DERP
    /// region (protocol.md §5.6). Load one with [`load_derp_map_file`].
    pub derp_map: DERPMap,
    /// The tailnet's DNS domain (MagicDNS suffix), without dots at either end. Must equal the
    /// tailnet's `TailnetConfig::base_domain`.
    pub base_domain: String,
    /// The server's public URL (`--login-server`), quoted in messages to users.
    pub server_url: String,
    /// Frames queued for one map stream before the node is considered too slow and
    /// disconnected (it reconnects and gets a fresh full map).
    pub session_queue_len: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            keepalive_interval: Duration::from_secs(50),
            keepalive_jitter: Duration::from_secs(9),
            derp_map: DERPMap::default(),
            base_domain: DEFAULT_BASE_DOMAIN.to_owned(),
            server_url: String::new(),
            session_queue_len: 256,
        }
    }
}

/// Why a DERP map file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DerpMapError {
    #[error("reading the DERP map file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the DERP map file {path} is not a DERP map (Tailscale's tailcfg.DERPMap JSON)")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Reads a DERP map in Tailscale's JSON form (`{"Regions":{"900":{…}}}`), the format of
/// Tailscale's public map and of Headscale's `derp.paths` files (as JSON). Fetching a map
/// from a URL is not supported yet.
pub fn load_derp_map_file(path: &Path) -> Result<DERPMap, DerpMapError> {
    let text = std::fs::read(path)
        .map_err(|source| DerpMapError::Read { path: path.to_owned(), source })?;
    keygate_tailcfg::from_slice_case_insensitive(&text)
        .map_err(|source| DerpMapError::Parse { path: path.to_owned(), source })
}
