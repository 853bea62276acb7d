//! The server's machine key: its long-term Noise static key, kept in the data directory.
//!
//! File format: one line `privkey:<64 lowercase hex>` (a trailing newline is fine), the same
//! as Headscale's `noise.private_key_path`, so a Headscale key file can be reused and nodes
//! keep trusting the server. Created with mode 0600 on first start and read strictly by
//! `keygate-key`'s secret file loader: a file that holds anything else, or is readable by
//! other users, is refused (never overwritten: replacing the key would make every node fetch
//! `/key` again, and a damaged file deserves a human's look).

use std::path::Path;

use keygate_key::file::{SecretFile, PRIVATE_KEY_FILE_MAX_LEN, PRIVATE_KEY_LINE};
use keygate_noise::MachinePrivateKey;

/// Conventional file name of the machine key in the data directory.
pub const MACHINE_KEY_FILE: &str = "machine.key";

/// Why the machine key could not be loaded or created (the secret file loader's error,
/// naming the machine key file).
pub use keygate_key::file::SecretFileError as MachineKeyError;

/// The machine key file, as its errors name it.
const MACHINE_KEY: SecretFile = SecretFile {
    what: "machine key",
    expected: PRIVATE_KEY_LINE,
    remedy: "restore it from a backup, or delete it to make a new key (every node will then fetch the new key)",
    max_len: PRIVATE_KEY_FILE_MAX_LEN,
};

/// Loads the machine key from `path`, creating a fresh one (mode 0600) if the file does not
/// exist.
pub fn load_or_create_machine_key(path: &Path) -> Result<MachinePrivateKey, MachineKeyError> {
    let loaded = MACHINE_KEY.load_or_create_private_key::<MachinePrivateKey>(path)?;
    if loaded.created {
        tracing::info!(path = %path.display(), public_key = %loaded.value.public_key(), "created the machine key");
    }
    Ok(loaded.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;

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
        let loaded = load_or_create_machine_key(&path).unwrap();
        assert_eq!(loaded.public_key(), created.public_key());
    }

    #[test]
    fn reads_a_headscale_style_file_and_names_itself_in_errors() {
        let path = temp_path("headscale");
        std::fs::write(&path, format!("privkey:{}", "ab".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = load_or_create_machine_key(&path).unwrap();
        assert_eq!(*key.to_bytes(), [0xab; 32]);
        std::fs::write(&path, "nodekey:secret-looking-stuff\n").unwrap();
        let err = load_or_create_machine_key(&path).unwrap_err();
        assert!(matches!(err, MachineKeyError::Malformed { .. }));
        let text = err.to_string();
        assert!(text.contains("machine key file") && text.contains("privkey:"), "{text}");
        assert!(!text.contains("secret-looking-stuff"), "{text}");
    }
}
