//! The open-file limit: each simulated node holds a TCP connection, and so does the server for
//! it, so 10,000 nodes need over 20,000 descriptors between the two processes. The child
//! server inherits the limit raised here.

use anyhow::Context as _;
use rlimit::Resource;

/// What we ask for: room for 30,000 nodes in one process.
const WANTED: u64 = 65_536;

/// Raises the soft limit on open files to [`WANTED`] (the hard limit too, where the process may,
/// as root can), else to the hard limit; returns the new soft limit.
pub fn raise() -> anyhow::Result<u64> {
    let (soft, hard) = Resource::NOFILE.get().context("reading the open-file limit")?;
    if soft >= WANTED {
        return Ok(soft);
    }
    if hard < WANTED && Resource::NOFILE.set(WANTED, WANTED).is_ok() {
        return Ok(WANTED);
    }
    let target = hard.min(WANTED);
    if soft < target {
        Resource::NOFILE.set(target, hard).context("raising the open-file limit")?;
    }
    Ok(target.max(soft))
}
