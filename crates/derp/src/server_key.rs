//! The relay's own curve25519 key, kept in the data directory.
//!
//! File format: one line `privkey:<64 lowercase hex>` (a trailing newline is fine), the same
//! text as the control machine key and Headscale's `derp.server.private_key_path`. Created with
//! mode 0600 on first start; a file holding anything else is refused, never overwritten (a
//! damaged key file deserves a human's look). Losing the key is harmless: clients learn the
//! server key from each connection's greeting.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use rand::rngs::OsRng;
use zeroize::Zeroizing;

use crate::error::ServerKeyError;
use crate::key::{NodePrivateKey, ShortKey};

/// Conventional file name of the DERP server key in the data directory.
pub const DERP_KEY_FILE: &str = "derp_server_private.key";

/// Loads the DERP server key from `path`, creating a fresh one (mode 0600) if the file does
/// not exist.
pub fn load_or_create_server_key(path: &Path) -> Result<NodePrivateKey, ServerKeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let key = NodePrivateKey::parse_text(text.trim_end_matches(['\n', '\r']))
                .map_err(|_| ServerKeyError::Malformed { path: path.to_owned() })?;
            warn_if_readable_by_others(path);
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => create(path),
        Err(e) if e.kind() == ErrorKind::InvalidData => {
            Err(ServerKeyError::Malformed { path: path.to_owned() })
        }
        Err(source) => Err(ServerKeyError::Read { path: path.to_owned(), source }),
    }
}

fn create(path: &Path) -> Result<NodePrivateKey, ServerKeyError> {
    let key = NodePrivateKey::generate(&mut OsRng);
    let err = |source| ServerKeyError::Create { path: path.to_owned(), source };
    // `create_new`: if another process created the file meanwhile, fail rather than replace
    // the key it may already be serving.
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(err)?;
    let mut line = key.to_text();
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    tracing::info!(path = %path.display(), public_key = %ShortKey(&key.public_key()), "created the DERP server key");
    Ok(key)
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
                "the DERP server key file is readable by other users: chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("privkey:") && text.ends_with('\n') && text.len() == 8 + 64 + 1);
        let loaded = load_or_create_server_key(&path).unwrap();
        assert_eq!(loaded.public_key(), created.public_key());
    }

    #[test]
    fn reads_a_headscale_style_file_without_newline() {
        let path = temp_path("headscale");
        std::fs::write(&path, format!("privkey:{}", "a8".repeat(32))).unwrap();
        let key = load_or_create_server_key(&path).unwrap();
        assert_eq!(key.public_key(), NodePrivateKey::from_bytes([0xa8; 32]).public_key());
    }

    #[test]
    fn refuses_other_content_without_repeating_it() {
        let path = temp_path("garbage");
        std::fs::write(&path, "nodekey:secret-looking-stuff\n").unwrap();
        let err = load_or_create_server_key(&path).unwrap_err();
        assert!(matches!(err, ServerKeyError::Malformed { .. }));
        let text = err.to_string();
        assert!(text.contains("privkey:") && !text.contains("secret-looking-stuff"), "{text}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "nodekey:secret-looking-stuff\n");
    }
}
