//! [`ControlState`]: what every control handler shares.

use std::sync::Arc;

use bytes::Bytes;
use keygate_noise::{MachinePrivateKey, MachinePublicKey};
use keygate_service::Tailnet;
use keygate_tailcfg::keep_alive_frame;
use tokio::task::JoinHandle;

use crate::sessions::{self, Sessions};
use crate::ControlConfig;

/// The control surface's state: the live tailnet, the server's machine key, the settings and
/// the open map sessions. Cheap to clone.
#[derive(Clone)]
pub struct ControlState {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) tailnet: Tailnet,
    pub(crate) machine_key: MachinePrivateKey,
    pub(crate) public_key: MachinePublicKey,
    pub(crate) config: ControlConfig,
    pub(crate) sessions: Sessions,
    /// `{"KeepAlive":true}`, framed plain and zstd-compressed.
    pub(crate) keep_alive_plain: Bytes,
    pub(crate) keep_alive_zstd: Bytes,
    fan_out: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self.fan_out.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl ControlState {
    /// Builds the state and starts the map fan-out task. Call within a tokio runtime.
    ///
    /// `tailnet` is the one live tailnet of the process (the API lists nodes from the same
    /// value); `machine_key` is the server's Noise key, usually from
    /// [`crate::load_or_create_machine_key`].
    pub fn new(tailnet: Tailnet, machine_key: MachinePrivateKey, config: ControlConfig) -> Self {
        let events = tailnet.subscribe();
        let shared = Arc::new(Shared {
            public_key: machine_key.public_key(),
            machine_key,
            keep_alive_plain: keep_alive_frame(false).expect("the keep-alive message encodes"),
            keep_alive_zstd: keep_alive_frame(true).expect("the keep-alive message compresses"),
            tailnet,
            config,
            sessions: Sessions::default(),
            fan_out: std::sync::Mutex::new(None),
        });
        let task = tokio::spawn(sessions::fan_out(Arc::downgrade(&shared), events));
        if let Ok(mut slot) = shared.fan_out.lock() {
            *slot = Some(task);
        }
        Self { shared }
    }

    /// The server's Noise public key, as served on `/key`.
    pub fn public_key(&self) -> MachinePublicKey {
        self.shared.public_key
    }

    /// The live tailnet.
    pub fn tailnet(&self) -> &Tailnet {
        &self.shared.tailnet
    }

    /// Number of open map streams.
    pub fn open_streams(&self) -> usize {
        self.shared.sessions.len()
    }
}
