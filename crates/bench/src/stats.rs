//! Latency samples and their percentiles.

use std::time::Duration;

/// Durations collected during a run.
#[derive(Default, Clone)]
pub struct Samples {
    values: Vec<Duration>,
}

impl Samples {
    pub fn push(&mut self, value: Duration) {
        self.values.push(value);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The `p`-th percentile (0–100) by the nearest-rank method, in milliseconds; 0 when empty.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.values.is_empty() {
            return 0.0;
        }
        let mut sorted = self.values.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        let index = rank.clamp(1, sorted.len()) - 1;
        sorted[index].as_secs_f64() * 1000.0
    }

    /// The largest sample in milliseconds; 0 when empty.
    pub fn max_ms(&self) -> f64 {
        self.values.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

/// Numbers (bytes, counts) collected during a run.
#[derive(Default, Clone)]
pub struct Counts {
    values: Vec<u64>,
}

impl Counts {
    pub fn push(&mut self, value: u64) {
        self.values.push(value);
    }

    pub fn mean(&self) -> f64 {
        if self.values.is_empty() {
            return 0.0;
        }
        self.values.iter().sum::<u64>() as f64 / self.values.len() as f64
    }

    pub fn max(&self) -> u64 {
        self.values.iter().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        for ms in 1..=100 {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.percentile_ms(50.0), 50.0);
        assert_eq!(s.percentile_ms(99.0), 99.0);
        assert_eq!(s.percentile_ms(100.0), 100.0);
        assert_eq!(s.max_ms(), 100.0);
        assert_eq!(Samples::default().percentile_ms(99.0), 0.0);
    }

    #[test]
    fn counts_mean_and_max() {
        let mut c = Counts::default();
        c.push(10);
        c.push(30);
        assert_eq!(c.mean(), 20.0);
        assert_eq!(c.max(), 30);
    }
}
