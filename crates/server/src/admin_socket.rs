//! The admin channel's Unix socket: `<data_dir>/admin.sock`, mode 0600.
//!
//! Whoever can open the socket is the server's administrator, no token needed: the file's
//! mode (and the 0700 data directory around it) limit that to root and the user running
//! `keygate serve`, which is what lets `keygate keys create` just work on the server's machine.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tokio::net::UnixListener;

/// Longest socket path the kernel accepts (`sun_path` is 108 bytes including the final NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Removes the socket file when dropped, so a stopped server leaves no stale socket behind.
#[derive(Debug)]
pub struct SocketFile(PathBuf);

impl SocketFile {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            if e.kind() != ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), error = %e, "could not remove the admin socket");
            }
        }
    }
}

/// Binds the admin socket at `path`: refuses when another server answers on it, removes a
/// stale one, and restricts the new one to mode 0600. Must run inside a Tokio runtime.
pub fn bind(path: &Path) -> anyhow::Result<(UnixListener, SocketFile)> {
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        bail!(
            "the admin socket path {} is longer than the {MAX_SOCKET_PATH} bytes a Unix socket allows: use a shorter --data-dir",
            path.display()
        );
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => bail!(
                "another keygate server is running with this data directory (its admin socket {} answers): stop it first, or use another --data-dir",
                path.display()
            ),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                tracing::info!(path = %path.display(), "removing a stale admin socket");
                std::fs::remove_file(path)
                    .with_context(|| format!("removing the stale admin socket {}", path.display()))?;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("checking the existing admin socket {}", path.display()))
            }
        },
        Ok(_) => bail!("{} exists and is not a socket: move it away so that keygate can create its admin socket there", path.display()),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("checking for an admin socket at {}", path.display())),
    }

    let listener = UnixListener::bind(path)
        .with_context(|| format!("creating the admin socket {}", path.display()))?;
    let file = SocketFile(path.to_owned());
    // The data directory is 0700, so nobody else can reach the socket in the moment between
    // bind and chmod; the chmod keeps it private even if the directory's mode is later widened.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting the admin socket {} to mode 0600", path.display()))?;
    Ok((listener, file))
}
