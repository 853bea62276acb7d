//! The relay's own curve25519 key, kept in the data directory.
//!
//! File format: one line `privkey:<64 lowercase hex>` (a trailing newline is fine), the same
//! text as the control machine key and Headscale's `derp.server.private_key_path`. Created with
//! mode 0600 on first start and read strictly by `keygate-key`'s secret file loader: a file
//! holding anything else, or readable by other users, is refused, never overwritten (a damaged
//! key file deserves a human's look). Losing the key is harmless: clients learn the server key
//! from each connection's greeting.

use std::path::Path;

use keygate_key::file::{SecretFile, PRIVATE_KEY_FILE_MAX_LEN, PRIVATE_KEY_LINE};

use crate::error::ServerKeyError;
use crate::key::{NodePrivateKey, ShortKey};

/// Conventional file name of the DERP server key in the data directory.
pub const DERP_KEY_FILE: &str = "derp_server_private.key";

/// The DERP server key file, as its errors name it.
const SERVER_KEY_FILE: SecretFile = SecretFile {
    what: "DERP server key",
    expected: PRIVATE_KEY_LINE,
    remedy: "restore it from a backup, or delete it to make a new key (clients reconnect and learn the new key)",
    max_len: PRIVATE_KEY_FILE_MAX_LEN,
};

/// Loads the DERP server key from `path`, creating a fresh one (mode 0600) if the file does
/// not exist.
pub fn load_or_create_server_key(path: &Path) -> Result<NodePrivateKey, ServerKeyError> {
    let loaded = SERVER_KEY_FILE.load_or_create_private_key::<NodePrivateKey>(path)?;
    if loaded.created {
        tracing::info!(path = %path.display(), public_key = %ShortKey(&loaded.value.public_key()), "created the DERP server key");
    }
    Ok(loaded.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keygate-derp-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(DERP_KEY_FILE)
    }

    #[test]
    fn creates_a_private_file_once_and_reads_it_back() {
        let path = temp_path("create");
        let created = load_or_create_server_key(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = load_or_create_server_key(&path).unwrap();
        assert_eq!(loaded.public_key(), created.public_key());
    }

    #[test]
    fn reads_a_headscale_style_file_and_names_itself_in_errors() {
        let path = temp_path("headscale");
        std::fs::write(&path, format!("privkey:{}", "a8".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = load_or_create_server_key(&path).unwrap();
        assert_eq!(key.public_key(), NodePrivateKey::from_bytes([0xa8; 32]).public_key());
        std::fs::write(&path, "nodekey:secret-looking-stuff\n").unwrap();
        let err = load_or_create_server_key(&path).unwrap_err();
        assert!(matches!(err, ServerKeyError::Malformed { .. }));
        let text = err.to_string();
        assert!(text.contains("DERP server key file") && text.contains("privkey:"), "{text}");
        assert!(!text.contains("secret-looking-stuff"), "{text}");
    }
}
