//! A secret kept in a file of its own in the data directory: a private key, the pepper.
//!
//! - **Created once, atomically.** The content goes to a temporary file (mode 0600) beside the
//!   target, is synced, then hard-linked to the target name. The link fails if the target
//!   exists, so a file is never overwritten, and a reader never sees it half-written; when two
//!   processes start together, the loser reads the winner's file. (On a file system without
//!   hard links the file is created in place with `O_EXCL`: still never overwritten.)
//! - **Read strictly.** The file must be a regular file of mode 0600 or stricter (its secret
//!   would otherwise be readable by other users), no longer than the format allows, and hold
//!   exactly the expected text. A damaged file is refused, never replaced: replacing a key or
//!   a pepper has consequences a human should decide on. Its content is never repeated in
//!   errors.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rand::rngs::OsRng;
use zeroize::Zeroizing;

use crate::text::KeyParseError;

/// The expected content of a private key file, for [`SecretFile::expected`].
pub const PRIVATE_KEY_LINE: &str = "one line \"privkey:\" followed by 64 hex digits";

/// Length of the longest private key file accepted: `privkey:`, 64 hex digits, `\r\n`.
pub const PRIVATE_KEY_FILE_MAX_LEN: u64 = 8 + 64 + 2;

/// One kind of secret file: how it is named in messages and what it must hold.
#[derive(Debug, Clone, Copy)]
pub struct SecretFile {
    /// Names the file in messages, e.g. `"machine key"`: "the machine key file … ".
    pub what: &'static str,
    /// The expected content, e.g. [`PRIVATE_KEY_LINE`].
    pub expected: &'static str,
    /// What an operator should do about a damaged file, and what that costs.
    pub remedy: &'static str,
    /// Longest accepted file, in bytes.
    pub max_len: u64,
}

/// A secret read from its file or just created there.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The secret.
    pub value: T,
    /// Whether this call created the file.
    pub created: bool,
}

/// Why a secret file could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Reading the file failed.
    #[error("reading the {what} file {path}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Creating the file failed.
    #[error("creating the {what} file {path}")]
    Create {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Other users may read or write the file.
    #[error("the {what} file {path} can be read or written by other users (mode {mode:o}): run chmod 600 on it")]
    Permissions { what: &'static str, path: PathBuf, mode: u32 },
    /// The file is not a regular file, is too long, or does not hold the expected text.
    #[error("the {what} file {path} is damaged: expected {expected}; {remedy}")]
    Malformed { what: &'static str, path: PathBuf, expected: &'static str, remedy: &'static str },
}

impl SecretFile {
    /// Reads the secret at `path` with `parse` (`None`: damaged), or, if there is no file,
    /// makes one with `new` (the value and its file text) and stores it.
    pub fn load_or_create<T>(
        &self,
        path: &Path,
        parse: impl Fn(&str) -> Option<T>,
        new: impl FnOnce() -> (T, Zeroizing<String>),
    ) -> Result<Loaded<T>, SecretFileError> {
        match self.read(path, &parse) {
            Err(SecretFileError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => {}
            other => return other.map(|value| Loaded { value, created: false }),
        }
        let (value, text) = new();
        match self.create(path, &text) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created the {} file", self.what);
                Ok(Loaded { value, created: true })
            }
            // Another process created it meanwhile: its secret is the one in use.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.read(path, &parse).map(|value| Loaded { value, created: false })
            }
            Err(source) => {
                Err(SecretFileError::Create { what: self.what, path: path.to_owned(), source })
            }
        }
    }

    /// Reads the private key at `path`, creating a fresh one from the OS CSPRNG if there is
    /// no file. The file holds the key's `privkey:` line; a trailing newline is fine.
    pub fn load_or_create_private_key<K: PrivateKeyFile>(
        &self,
        path: &Path,
    ) -> Result<Loaded<K>, SecretFileError> {
        self.load_or_create(
            path,
            |text| K::parse_text(text.trim_end_matches(['\n', '\r'])).ok(),
            || {
                let key = K::generate(&mut OsRng);
                let mut line = key.to_text();
                line.push('\n');
                (key, line)
            },
        )
    }

    fn read<T>(
        &self,
        path: &Path,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, SecretFileError> {
        let read_err =
            |source| SecretFileError::Read { what: self.what, path: path.to_owned(), source };
        let malformed = || SecretFileError::Malformed {
            what: self.what,
            path: path.to_owned(),
            expected: self.expected,
            remedy: self.remedy,
        };
        let file = File::open(path).map_err(read_err)?;
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() || meta.len() > self.max_len {
            return Err(malformed());
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretFileError::Permissions {
                what: self.what,
                path: path.to_owned(),
                mode,
            });
        }
        let mut text = Zeroizing::new(String::new());
        match file.take(self.max_len + 1).read_to_string(&mut text) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::InvalidData => return Err(malformed()),
            Err(source) => return Err(read_err(source)),
        }
        if text.len() as u64 > self.max_len {
            return Err(malformed());
        }
        parse(&text).ok_or_else(malformed)
    }

    /// Writes `text` to a temporary file and links it to `path` (fails if `path` exists).
    fn create(&self, path: &Path, text: &str) -> std::io::Result<()> {
        let name = path.file_name().ok_or(ErrorKind::InvalidInput)?.to_string_lossy();
        let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let result = write_new(&temp, text).and_then(|()| std::fs::hard_link(&temp, path));
        // The temporary name goes in every case; on success `path` keeps the content.
        let _ = std::fs::remove_file(&temp);
        match result {
            // A file system without hard links (vfat, some network mounts): write in place,
            // still never replacing an existing file.
            Err(e)
                if matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::PermissionDenied)
                    && !path.exists() =>
            {
                write_new(path, text)?
            }
            other => other?,
        }
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            // Make the new directory entry durable; a failure here is not worth refusing a
            // key that is already safely written.
            let _ = File::open(dir).and_then(|dir| dir.sync_all());
        }
        Ok(())
    }
}

/// Creates `path` (mode 0600, failing if it exists) with `text`, synced to disk.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// A private key type that [`SecretFile::load_or_create_private_key`] can keep in a file.
pub trait PrivateKeyFile: Sized {
    /// Draws a fresh key from the OS CSPRNG.
    fn generate(rng: &mut OsRng) -> Self;
    /// The key's one-line text form.
    fn to_text(&self) -> Zeroizing<String>;
    /// Parses the one-line text form (without its newline).
    fn parse_text(text: &str) -> Result<Self, KeyParseError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MachinePrivateKey, NodePrivateKey};
    use std::os::unix::fs::PermissionsExt as _;

    const KEY: SecretFile = SecretFile {
        what: "test key",
        expected: PRIVATE_KEY_LINE,
        remedy: "restore it from a backup",
        max_len: PRIVATE_KEY_FILE_MAX_LEN,
    };

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keygate-key-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("test.key")
    }

    fn write_private(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_a_private_file_once_and_reads_it_back() {
        let path = temp_path("create");
        let created = KEY.load_or_create_private_key::<NodePrivateKey>(&path).unwrap();
        assert!(created.created);
        assert_eq!(mode(&path), 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("privkey:") && text.ends_with('\n') && text.len() == 8 + 64 + 1);
        let loaded = KEY.load_or_create_private_key::<NodePrivateKey>(&path).unwrap();
        assert!(!loaded.created);
        assert_eq!(loaded.value.public_key(), created.value.public_key());
        // Only the key file is left in the directory.
        let entries = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1);
    }

    #[test]
    fn reads_a_file_without_newline_or_with_crlf() {
        let path = temp_path("crlf");
        write_private(&path, &format!("privkey:{}\r\n", "ab".repeat(32)));
        let key = KEY.load_or_create_private_key::<MachinePrivateKey>(&path).unwrap().value;
        assert_eq!(*key.to_bytes(), [0xab; 32]);
        write_private(&path, &format!("privkey:{}", "cd".repeat(32)));
        let key = KEY.load_or_create_private_key::<MachinePrivateKey>(&path).unwrap().value;
        assert_eq!(*key.to_bytes(), [0xcd; 32]);
    }

    #[test]
    fn refuses_other_content_without_repeating_it_or_overwriting() {
        let path = temp_path("garbage");
        write_private(&path, "nodekey:secret-looking-stuff\n");
        let err = KEY.load_or_create_private_key::<NodePrivateKey>(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::Malformed { .. }));
        let text = err.to_string();
        assert!(text.contains("privkey:") && text.contains("test key file"), "{text}");
        assert!(!text.contains("secret-looking-stuff"), "{text}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "nodekey:secret-looking-stuff\n");
    }

    #[test]
    fn refuses_a_file_that_is_too_long_or_not_utf8() {
        let path = temp_path("long");
        write_private(&path, &format!("privkey:{}\n\n\n", "ab".repeat(32)));
        let err = KEY.load_or_create_private_key::<NodePrivateKey>(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::Malformed { .. }), "{err}");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        let err = KEY.load_or_create_private_key::<NodePrivateKey>(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::Malformed { .. }), "{err}");
    }

    #[test]
    fn refuses_a_file_readable_by_others() {
        let path = temp_path("mode");
        write_private(&path, &format!("privkey:{}\n", "ab".repeat(32)));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = KEY.load_or_create_private_key::<NodePrivateKey>(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::Permissions { mode: 0o644, .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_file_created_meanwhile_is_read_not_replaced() {
        let path = temp_path("race");
        let winner = format!("privkey:{}\n", "ab".repeat(32));
        let loaded = KEY
            .load_or_create(
                &path,
                |text| MachinePrivateKey::parse_text(text.trim_end()).ok(),
                || {
                    // Another process wins the race between our read and our create.
                    write_private(&path, &winner);
                    (
                        MachinePrivateKey::from_bytes([1; 32]),
                        Zeroizing::new("privkey:lost\n".into()),
                    )
                },
            )
            .unwrap();
        assert!(!loaded.created);
        assert_eq!(*loaded.value.to_bytes(), [0xab; 32]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), winner);
    }
}
