//! The three Curve25519 public keys that identify a node, under the names the domain uses.
//!
//! - machine key (`mkey:`): the node's Noise static key; proves which machine is talking.
//! - node key (`nodekey:`): the node's WireGuard key; rotates, and expires.
//! - disco key (`discokey:`): used by peers for path discovery.
//!
//! The types, their text forms and their constant-time equality are `keygate-key`'s, shared
//! with the wire types and the transports; these are other names for the same types.

pub use keygate_key::{
    DiscoPublicKey as DiscoKey, KeyParseError as KeyTextError, MachinePublicKey as MachineKey,
    NodePublicKey as NodeKey,
};
