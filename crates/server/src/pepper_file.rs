//! The pepper generated into the data directory when the config sets none.
//!
//! Every stored key and token hash depends on the pepper, so it is created exactly once (with
//! `create_new`, so two servers starting together cannot both write one) and only ever read
//! afterwards. Mode 0600: anyone who can read it and the database can test guesses offline.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context};
use keygate_domain::Pepper;
use rand::rngs::OsRng;
use rand::RngCore;

/// Reads the pepper at `path`, creating it with fresh random bytes when it does not exist.
pub fn load_or_create(path: &Path) -> anyhow::Result<Pepper> {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let created = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    match created {
        Ok(mut file) => {
            let mut text = zeroize::Zeroizing::new(hex::encode(bytes));
            text.push('\n');
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing the new pepper to {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new pepper");
            Ok(Pepper::from_bytes(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(e).with_context(|| format!("creating the pepper file {}", path.display())),
    }
}

fn read(path: &Path) -> anyhow::Result<Pepper> {
    let meta = fs::metadata(path)
        .with_context(|| format!("reading the pepper file {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
            "the pepper file can be read by other users: run chmod 600 on it");
    }
    let text = zeroize::Zeroizing::new(
        fs::read_to_string(path)
            .with_context(|| format!("reading the pepper file {}", path.display()))?,
    );
    let Some(bytes) = hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok())
    else {
        bail!(
            "the pepper file {} is damaged: expected 64 hexadecimal characters. Restore it from a backup; \
             every key and token depends on it (only on a server that never issued any, delete it)",
            path.display()
        );
    };
    Ok(Pepper::from_bytes(bytes))
}
