//! [`ControlState`]: what every control handler shares.

use std::sync::Arc;

use keygate_noise::{MachinePrivateKey, MachinePublicKey};
use keygate_service::Tailnet;
use tokio::task::JoinHandle;

use crate::sessions::{self, Hub};
use crate::ControlConfig;

/// The control surface's state: the live tailnet, the server's machine key, the settings and
/// the open map sessions. Cheap to clone.
#[derive(Clone)]
pub struct ControlState {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    /// The tailnet, settings and map sessions, shared with the sessions' fan-out.
    pub(crate) hub: Arc<Hub>,
    pub(crate) machine_key: MachinePrivateKey,
    pub(crate) public_key: MachinePublicKey,
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
        let hub = Arc::new(Hub::new(tailnet, config));
        let task = tokio::spawn(sessions::fan_out(Arc::downgrade(&hub), events));
        let shared = Arc::new(Shared {
            public_key: machine_key.public_key(),
            machine_key,
            hub,
            fan_out: std::sync::Mutex::new(Some(task)),
        });
        Self { shared }
    }

    /// The server's Noise public key, as served on `/key`.
    pub fn public_key(&self) -> MachinePublicKey {
        self.shared.public_key
    }

    /// The live tailnet.
    pub fn tailnet(&self) -> &Tailnet {
        &self.shared.hub.tailnet
    }

    /// Number of open map streams.
    pub fn open_streams(&self) -> usize {
        self.shared.hub.sessions.len()
    }
}
