//! A node's long-term keys ([`NodeIdentity`]) and the small JSON state file that keeps them
//! across restarts, so a restarted node is the same machine to the server.
//!
//! | key | role | sent to the server as |
//! |---|---|---|
//! | machine key | Noise static key: the machine's identity | nothing: the server learns it from the handshake |
//! | node key | WireGuard key; rotates (`OldNodeKey`) | `NodeKey` in register and map requests |
//! | disco key | NAT-traversal pings between peers | `DiscoKey` in map requests |
//!
//! State file (mode 0600, written atomically through a temporary file and a rename), in the
//! `privkey:<64 hex>` form tailscaled uses for its machine and node keys:
//!
//! ```json
//! {"MachineKey":"privkey:…","NodeKey":"privkey:…","DiscoKey":"privkey:…"}
//! ```
//!
//! Go's tailscaled makes a fresh disco key at every start; keeping it is harmless and makes the
//! file the node's complete identity.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use keygate_key::{DiscoPrivateKey, KeyParseError, MachinePrivateKey, NodePrivateKey};
use keygate_tailcfg::{DiscoPublicKey, MachinePublicKey, NodePublicKey};
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::{NodeError, StateError};

/// A node's three private keys (each caches its public half).
///
/// `Clone` copies the secrets (they are zeroed when each copy is dropped); `Debug` shows only
/// public keys. About 200 bytes, so thousands of identities cost nothing.
#[derive(Clone)]
pub struct NodeIdentity {
    machine_key: MachinePrivateKey,
    node_key: NodePrivateKey,
    disco_key: DiscoPrivateKey,
}

impl NodeIdentity {
    /// A fresh identity from the operating system's random number generator.
    pub fn generate() -> Self {
        Self::generate_from(&mut OsRng)
    }

    /// A fresh identity from `rng` (tests and benchmarks may pass a seeded generator).
    pub fn generate_from<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            machine_key: MachinePrivateKey::generate(rng),
            node_key: NodePrivateKey::generate(rng),
            disco_key: DiscoPrivateKey::generate(rng),
        }
    }

    /// The machine (Noise static) private key.
    pub fn machine_key(&self) -> &MachinePrivateKey {
        &self.machine_key
    }

    /// The machine public key (`mkey:`), as the server sees it after the handshake.
    pub fn machine_public(&self) -> MachinePublicKey {
        self.machine_key.public_key()
    }

    /// The current node public key (`nodekey:`).
    pub fn node_public(&self) -> NodePublicKey {
        self.node_key.public_key()
    }

    /// The disco public key (`discokey:`).
    pub fn disco_public(&self) -> DiscoPublicKey {
        self.disco_key.public_key()
    }

    /// Replaces the node key with a fresh one and returns the previous public key, to send as
    /// `OldNodeKey` (what Go does when the server says `NodeKeyExpired`). The machine key stays.
    pub fn rotate_node_key(&mut self) -> NodePublicKey {
        let old = self.node_key.public_key();
        self.node_key = NodePrivateKey::generate(&mut OsRng);
        old
    }

    /// Reads an identity from a state file written by [`NodeIdentity::save`].
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        Self::read_file(path).map_err(|source| NodeError::State { path: path.into(), source })
    }

    /// Writes the identity to `path` with mode 0600, replacing the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), NodeError> {
        self.write_file(path).map_err(|source| NodeError::State { path: path.into(), source })
    }

    /// Loads `path` if it exists, else generates an identity and saves it there. The flag is
    /// true when the identity is new.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), NodeError> {
        match fs::metadata(path) {
            Ok(_) => Ok((Self::load(path)?, false)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let identity = Self::generate();
                identity.save(path)?;
                Ok((identity, true))
            }
            Err(err) => Err(NodeError::State { path: path.into(), source: err.into() }),
        }
    }

    fn read_file(path: &Path) -> Result<Self, StateError> {
        let text = Zeroizing::new(fs::read(path)?);
        let file: StateFile = serde_json::from_slice(&text)?;
        Ok(Self {
            machine_key: parse_private(&file.machine_key, "MachineKey")?,
            node_key: parse_private(&file.node_key, "NodeKey")?,
            disco_key: parse_private(&file.disco_key, "DiscoKey")?,
        })
    }

    fn write_file(&self, path: &Path) -> Result<(), StateError> {
        let file = StateFile {
            machine_key: self.machine_key.to_text().to_string(),
            node_key: self.node_key.to_text().to_string(),
            disco_key: self.disco_key.to_text().to_string(),
        };
        let json = Zeroizing::new(serde_json::to_vec_pretty(&file)?);
        let tmp = temporary_path(path);
        let result = write_private(&tmp, &json).and_then(|()| fs::rename(&tmp, path));
        if result.is_err() {
            // Best effort: do not leave a copy of the keys behind.
            let _ = fs::remove_file(&tmp);
        }
        Ok(result?)
    }
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("machine", &self.machine_public())
            .field("node", &self.node_public())
            .field("disco", &self.disco_public())
            .finish_non_exhaustive()
    }
}

/// The state file's JSON. The strings are zeroed when dropped.
#[derive(Serialize, Deserialize)]
struct StateFile {
    #[serde(rename = "MachineKey")]
    machine_key: String,
    #[serde(rename = "NodeKey")]
    node_key: String,
    #[serde(rename = "DiscoKey")]
    disco_key: String,
}

impl Drop for StateFile {
    fn drop(&mut self) {
        self.machine_key.zeroize();
        self.node_key.zeroize();
        self.disco_key.zeroize();
    }
}

/// Parses `privkey:<64 hex>` (the same text form for all three keys).
fn parse_private<K: std::str::FromStr<Err = KeyParseError>>(
    text: &str,
    field: &'static str,
) -> Result<K, StateError> {
    text.trim().parse().map_err(|source| StateError::Key { field, source })
}

/// `<file>.tmp` next to `path`, so the final rename stays on one file system.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Creates (or truncates) `path` readable by the owner only and writes `data` durably.
fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let mut file = options.open(path)?;
        // `mode` only applies when the file is created; a leftover temporary file keeps its
        // old mode, so set it explicitly.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(data)?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        file.write_all(data)?;
        file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "keygate-node-{name}-{}-{}",
                std::process::id(),
                OsRng.next_u64()
            ));
            fs::create_dir_all(&dir).expect("creating a temporary directory");
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn save_then_load_gives_the_same_machine() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("node.json");
        let identity = NodeIdentity::generate();
        identity.save(&path).unwrap();
        let loaded = NodeIdentity::load(&path).unwrap();
        assert_eq!(loaded.machine_public(), identity.machine_public());
        assert_eq!(loaded.node_public(), identity.node_public());
        assert_eq!(loaded.disco_public(), identity.disco_public());
        assert_eq!(*loaded.machine_key().to_bytes(), *identity.machine_key().to_bytes());
        assert!(!dir.0.join("node.json.tmp").exists(), "temporary file renamed away");
    }

    #[cfg(unix)]
    #[test]
    fn state_file_is_private_even_when_replacing_a_readable_one() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new("mode");
        let path = dir.0.join("node.json");
        fs::write(&path, "{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        NodeIdentity::generate().save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn file_uses_privkey_text_and_is_valid_json() {
        let dir = TempDir::new("format");
        let path = dir.0.join("node.json");
        let identity = NodeIdentity::generate();
        identity.save(&path).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        for field in ["MachineKey", "NodeKey", "DiscoKey"] {
            let text = json[field].as_str().unwrap();
            assert!(text.starts_with("privkey:") && text.len() == 8 + 64, "{field}");
        }
        assert_eq!(json["MachineKey"].as_str().unwrap(), identity.machine_key().to_text().as_str());
    }

    #[test]
    fn load_or_generate_creates_once_then_reuses() {
        let dir = TempDir::new("load-or-generate");
        let path = dir.0.join("state.json");
        let (first, created) = NodeIdentity::load_or_generate(&path).unwrap();
        assert!(created);
        let (second, created) = NodeIdentity::load_or_generate(&path).unwrap();
        assert!(!created);
        assert_eq!(first.machine_public(), second.machine_public());
    }

    #[test]
    fn corrupt_files_are_errors_naming_the_field_not_the_key() {
        let dir = TempDir::new("corrupt");
        let path = dir.0.join("node.json");
        fs::write(&path, "not json").unwrap();
        assert!(matches!(
            NodeIdentity::load(&path),
            Err(NodeError::State { source: StateError::Json(_), .. })
        ));
        let secret = format!("privkey:{}", "zz".repeat(32));
        let body = serde_json::json!({
            "MachineKey": format!("privkey:{}", "11".repeat(32)),
            "NodeKey": secret,
            "DiscoKey": format!("privkey:{}", "22".repeat(32)),
        });
        fs::write(&path, body.to_string()).unwrap();
        let err = NodeIdentity::load(&path).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(chain.contains("NodeKey"), "{chain}");
        assert!(!chain.contains("zzzz"), "{chain}");
        assert!(matches!(
            NodeIdentity::load(&dir.0.join("missing.json")),
            Err(NodeError::State { source: StateError::Io(_), .. })
        ));
    }

    #[test]
    fn rotation_keeps_the_machine_and_returns_the_old_node_key() {
        let mut identity = NodeIdentity::generate();
        let machine = identity.machine_public();
        let before = identity.node_public();
        let old = identity.rotate_node_key();
        assert_eq!(old, before);
        assert_ne!(identity.node_public(), before);
        assert_eq!(identity.machine_public(), machine);
    }

    #[test]
    fn debug_shows_public_keys_only() {
        let identity = NodeIdentity::generate();
        let text = format!("{identity:?}");
        assert!(text.contains("mkey:") && text.contains("nodekey:"), "{text}");
        assert!(!text.contains("privkey:"), "{text}");
    }
}
