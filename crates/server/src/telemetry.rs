//! Logging: `tracing` events to stderr, filtered by the config's `log` filter.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with `filter` (EnvFilter syntax). A second call (tests
/// building several servers in one process) keeps the first subscriber.
pub fn init(filter: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("reading the log filter {filter:?}"))?;
    // Colours only for a person at a terminal, not in a log file or a journal.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    Ok(())
}
