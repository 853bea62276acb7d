//! [`NoisePeer`]: the machine at the other end of a Noise connection, as the handlers see it.

use keygate_domain::MachineKey;

/// The machine at the other end of the Noise connection.
#[derive(Clone, Debug)]
pub struct NoisePeer {
    /// Its machine key, proved by the handshake.
    pub machine_key: MachineKey,
    /// The protocol (capability) version it announced in the handshake.
    pub version: i64,
}
