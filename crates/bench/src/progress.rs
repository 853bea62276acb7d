//! A one-line progress bar on stderr, drawn only when stderr is a terminal, so logs and CI
//! output stay clean.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// Redraws at most this often.
const REDRAW: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

/// A progress bar for one phase of a scenario.
pub struct Progress {
    label: String,
    total: u64,
    started: Instant,
    last_draw: Option<Instant>,
    enabled: bool,
}

impl Progress {
    /// A bar for `total` steps (0: a counter without a bar).
    pub fn new(label: impl Into<String>, total: u64) -> Self {
        Self {
            label: label.into(),
            total,
            started: Instant::now(),
            last_draw: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Shows `done` steps (throttled).
    pub fn set(&mut self, done: u64) {
        if !self.enabled || self.last_draw.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        self.last_draw = Some(Instant::now());
        self.draw(done);
    }

    fn draw(&self, done: u64) {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let line = if self.total > 0 {
            let filled = (done.min(self.total) as usize * WIDTH) / self.total as usize;
            format!(
                "{} [{}{}] {done}/{} {rate:.0}/s {secs:.0}s",
                self.label,
                "#".repeat(filled),
                "-".repeat(WIDTH - filled),
                self.total
            )
        } else {
            format!("{} {done} {rate:.0}/s {secs:.0}s", self.label)
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    /// Draws the final state and moves to the next line.
    pub fn finish(&mut self, done: u64) {
        if self.enabled {
            self.draw(done);
            eprintln!();
        }
    }
}
