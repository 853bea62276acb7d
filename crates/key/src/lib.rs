//! keygate-key: the Curve25519 keys of the Tailscale protocol and their text forms, one type
//! per kind for the whole workspace (wire types, Noise, DERP, domain and the node client).
//!
//! | type | text form | Go type (`types/key/`) |
//! |---|---|---|
//! | [`NodePublicKey`] | `nodekey:<64 hex>` | `key.NodePublic` (`node.go`) |
//! | [`NodePrivateKey`] | `privkey:<64 hex>` | `key.NodePrivate` |
//! | [`MachinePublicKey`] | `mkey:<64 hex>` | `key.MachinePublic` (`machine.go`) |
//! | [`MachinePrivateKey`] | `privkey:<64 hex>` | `key.MachinePrivate` |
//! | [`DiscoPublicKey`] | `discokey:<64 hex>` | `key.DiscoPublic` (`disco.go`) |
//! | [`DiscoPrivateKey`] | `privkey:<64 hex>` (ours; Go keeps it in memory) | `key.DiscoPrivate` |
//! | [`ChallengePublicKey`] | `chalpub:<64 hex>` | `key.ChallengePublic` (`chal.go`) |
//! | [`ChallengePrivateKey`] | never rendered | `key.ChallengePrivate` |
//!
//! Text rules ([`text`]) are those of Go's `parseHex`. Public keys compare in constant time;
//! private keys zero their bytes on drop and show only their public half in `Debug`.
//!
//! With the `file` feature, [`file`] keeps a secret (a private key, the pepper) in a file of
//! its own: created once with mode 0600, read back strictly.
//!
//! No I/O, clock or randomness outside [`file`]: generation takes the RNG as a parameter.

#[cfg(feature = "file")]
pub mod file;
mod private;
mod public;
pub mod text;

pub use private::{ChallengePrivateKey, DiscoPrivateKey, MachinePrivateKey, NodePrivateKey};
pub use public::{ChallengePublicKey, DiscoPublicKey, MachinePublicKey, NodePublicKey};
pub use text::{KeyParseError, KEY_HEX_LEN, KEY_LEN, PRIVATE_KEY_PREFIX};
