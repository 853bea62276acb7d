//! Randomness for ids and secrets, from the operating system's CSPRNG.

use keygate_domain::id::ID_RANDOM_CHARS;
use keygate_domain::secret::SECRET_BYTES;
use rand::rngs::OsRng;
use rand::RngCore;

/// Bytes for a new public id.
pub(crate) fn id_bytes() -> [u8; ID_RANDOM_CHARS] {
    let mut b = [0u8; ID_RANDOM_CHARS];
    OsRng.fill_bytes(&mut b);
    b
}

/// Bytes for a new secret.
pub(crate) fn secret_bytes() -> [u8; SECRET_BYTES] {
    let mut b = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut b);
    b
}
