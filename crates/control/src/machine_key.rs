//! The server's machine key: its long-term Noise static key, kept in the data directory.
//!
//! File format: one line `privkey:<64 lowercase hex>` (a trailing newline is fine), the same
//! as Headscale's `noise.private_key_path`, so a Headscale key file can be reused and nodes
//! keep trusting the server. Created with mode 0600 on first start; a file that holds
//! anything else is refused (never overwritten: replacing the key would make every node
//! fetch `/key` again, and a damaged file deserves a human's look).

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use keygate_noise::MachinePrivateKey;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

/// Conventional file name of the machine key in the data directory.
pub const MACHINE_KEY_FILE: &str = "machine.key";

/// Why the machine key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum MachineKeyError {
    #[error("reading the machine key file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("creating the machine key file {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not one key line. Its content is never repeated.
    #[error("the machine key file {path} does not hold a key: expected one line \"privkey:\" followed by 64 hex digits; restore it from a backup, or delete it to make a new key (every node will then fetch the new key)")]
    Malformed { path: PathBuf },
}

/// Loads the machine key from `path`, creating a fresh one (mode 0600) if the file does not
/// exist.
pub fn load_or_create_machine_key(path: &Path) -> Result<MachinePrivateKey, MachineKeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let key = MachinePrivateKey::parse_text(text.trim_end_matches(['\n', '\r']))
                .map_err(|_| MachineKeyError::Malformed { path: path.to_owned() })?;
            warn_if_readable_by_others(path);
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => create(path),
        Err(e) if e.kind() == ErrorKind::InvalidData => {
            Err(MachineKeyError::Malformed { path: path.to_owned() })
        }
        Err(source) => Err(MachineKeyError::Read { path: path.to_owned(), source }),
    }
}

fn create(path: &Path) -> Result<MachinePrivateKey, MachineKeyError> {
    let key = MachinePrivateKey::generate(&mut OsRng);
    let err = |source| MachineKeyError::Create { path: path.to_owned(), source };
    // `create_new`: if another process created the file meanwhile, fail rather than
    // overwrite the key it may already be serving.
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(err)?;
    let mut line = key.to_text();
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    tracing::info!(path = %path.display(), public_key = %key.public_key(), "created the machine key");
    Ok(key)
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
                "the machine key file is readable by other users: chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("keygate-control-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(MACHINE_KEY_FILE)
    }

    #[test]
    fn creates_a_private_file_once_and_reads_it_back() {
        let path = temp_path("create");
        let created = load_or_create_machine_key(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("privkey:") && text.ends_with('\n') && text.len() == 8 + 64 + 1);
        let loaded = load_or_create_machine_key(&path).unwrap();
        assert_eq!(loaded.public_key(), created.public_key());
    }

    #[test]
    fn reads_a_headscale_style_file_without_newline() {
        let path = temp_path("headscale");
        std::fs::write(&path, format!("privkey:{}", "ab".repeat(32))).unwrap();
        let key = load_or_create_machine_key(&path).unwrap();
        assert_eq!(*key.to_bytes(), [0xab; 32]);
    }

    #[test]
    fn refuses_other_content_without_repeating_it() {
        let path = temp_path("garbage");
        std::fs::write(&path, "nodekey:secret-looking-stuff\n").unwrap();
        let err = load_or_create_machine_key(&path).unwrap_err();
        assert!(matches!(err, MachineKeyError::Malformed { .. }));
        let text = err.to_string();
        assert!(text.contains("privkey:") && !text.contains("secret-looking-stuff"), "{text}");
        // Never overwritten.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "nodekey:secret-looking-stuff\n");
    }
}
