//! The pepper generated into the data directory when the config sets none.
//!
//! Every stored key and token hash depends on the pepper, so it is created exactly once (two
//! servers starting together cannot both write one) and only ever read afterwards, by
//! `keygate-key`'s secret file loader. Mode 0600, and a file readable by other users is
//! refused: anyone who can read it and the database can test guesses offline.
//!
//! File format: 64 hex digits (32 bytes); surrounding whitespace is ignored.

use std::path::Path;

use keygate_domain::Pepper;
use keygate_key::file::SecretFile;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

/// The pepper file, as its errors name it.
const PEPPER: SecretFile = SecretFile {
    what: "pepper",
    expected: "64 hexadecimal characters",
    remedy: "restore it from a backup; every key and token depends on it (only on a server that never issued any, delete it)",
    // 64 hex digits and room for whitespace an editor may have added.
    max_len: 256,
};

/// Reads the pepper at `path`, creating it with fresh random bytes when it does not exist.
pub fn load_or_create(path: &Path) -> anyhow::Result<Pepper> {
    let loaded = PEPPER.load_or_create(path, parse, || {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        let mut text = Zeroizing::new(hex::encode(*bytes));
        text.push('\n');
        (Pepper::from_bytes(*bytes), text)
    })?;
    Ok(loaded.value)
}

fn parse(text: &str) -> Option<Pepper> {
    let bytes = Zeroizing::new(hex::decode(text.trim()).ok()?);
    let bytes: [u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(Pepper::from_bytes(bytes))
}
