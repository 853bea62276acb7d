//! The admin channel's Unix socket: `<data_dir>/admin.sock`, mode 0600.
//!
//! Whoever can open the socket is the server's administrator, no token needed: the file's
//! mode (and the 0700 data directory around it) limit that to root and the user running
//! `keygate serve`, which is what lets `keygate keys create` just work on the server's machine.
//!
//! Three layers keep it that way: the data directory must belong to the server's user and be
//! writable by nobody else (checked at start), the socket is created mode 0600 in a private
//! staging directory and only then moved into place (so no umask can leave it open for a
//! moment), and every connection's peer credentials (`SO_PEERCRED`) are checked on accept:
//! only root and the server's own user are served, whatever the file modes became since.

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::{UnixListener, UnixStream};

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
pub fn bind(path: &Path) -> anyhow::Result<(AdminListener, SocketFile)> {
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

    // Bound in a staging directory only this user can enter, made 0600 there, then renamed
    // into place: the socket is never reachable with the mode the process's umask gave it.
    let staging = path.with_file_name(STAGING_DIR);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .with_context(|| format!("creating {}", staging.display()))?;
    let staged = staging.join(path.file_name().unwrap_or_else(|| "admin.sock".as_ref()));
    if staged.as_os_str().len() > MAX_SOCKET_PATH {
        bail!(
            "the admin socket's staging path {} is longer than the {MAX_SOCKET_PATH} bytes a Unix socket allows: use a shorter --data-dir",
            staged.display()
        );
    }
    let bound = (|| {
        let listener = UnixListener::bind(&staged)
            .with_context(|| format!("creating the admin socket {}", staged.display()))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600)).with_context(
            || format!("restricting the admin socket {} to mode 0600", staged.display()),
        )?;
        std::fs::rename(&staged, path)
            .with_context(|| format!("moving the admin socket into place at {}", path.display()))?;
        anyhow::Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    let listener = bound?;
    let file = SocketFile(path.to_owned());
    let server_uid = current_uid()?;
    Ok((AdminListener { listener, server_uid }, file))
}

/// The staging directory (inside the data directory) the socket is created in; short, so
/// that it costs few of the socket path's 107 bytes.
const STAGING_DIR: &str = ".s";

/// How long to pause after a failed `accept` (out of file descriptors, say) before retrying.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The admin socket's listener: serves connections from root and the server's own user only.
#[derive(Debug)]
pub struct AdminListener {
    listener: UnixListener,
    server_uid: u32,
}

impl AdminListener {
    /// Whether a peer running as `uid` may use the admin channel.
    fn admits(&self, uid: u32) -> bool {
        uid == 0 || uid == self.server_uid
    }
}

impl axum::serve::Listener for AdminListener {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting on the admin socket failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            match stream.peer_cred() {
                Ok(peer) if self.admits(peer.uid()) => return (stream, addr),
                Ok(peer) => tracing::warn!(
                    uid = peer.uid(),
                    pid = ?peer.pid(),
                    "refused an admin socket connection from another user"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "refused an admin socket connection whose peer is unknown")
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// The user id this process runs as (the owner of `/proc/self`, which is the effective uid).
pub fn current_uid() -> anyhow::Result<u32> {
    Ok(std::fs::metadata("/proc/self")
        .context("reading /proc/self to learn this process's user")?
        .uid())
}
