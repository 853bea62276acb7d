//! [`Report`]: a scenario's figures, printed as a table for people or as one JSON object for
//! machines (`--json`). Field names are the JSON keys, e.g. `enrolments_per_s`, `p99_ms`.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use crate::proc_stats::ProcStats;

/// One figure.
struct Row {
    name: String,
    value: Value,
    unit: &'static str,
}

/// The figures of one run, in the order they were added.
pub struct Report {
    scenario: &'static str,
    rows: Vec<Row>,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: &'static str) -> Self {
        Self { scenario, rows: Vec::new() }
    }

    /// Adds (or replaces) a whole number.
    pub fn int(&mut self, name: &str, value: u64, unit: &'static str) {
        self.set(name, Value::from(value), unit);
    }

    /// Adds a measured number, rounded to three decimals (non-finite values become null).
    pub fn float(&mut self, name: &str, value: f64, unit: &'static str) {
        let rounded = (value * 1000.0).round() / 1000.0;
        let value = Number::from_f64(rounded).map_or(Value::Null, Value::Number);
        self.set(name, value, unit);
    }

    /// Adds a text or boolean figure.
    pub fn value(&mut self, name: &str, value: impl Into<Value>) {
        self.set(name, value.into(), "");
    }

    fn set(&mut self, name: &str, value: Value, unit: &'static str) {
        if let Some(row) = self.rows.iter_mut().find(|r| r.name == name) {
            row.value = value;
            row.unit = unit;
        } else {
            self.rows.push(Row { name: name.to_owned(), value, unit });
        }
    }

    /// The server's peak and current resident set and the CPU time it used between two
    /// readings (null for a server given by URL, which cannot be read).
    pub fn server_figures(&mut self, before: Option<ProcStats>, after: Option<ProcStats>) {
        match (before, after) {
            (Some(before), Some(after)) => {
                self.int("server_peak_rss_bytes", after.peak_rss_bytes, "B");
                self.int("server_rss_bytes", after.rss_bytes, "B");
                self.float("server_cpu_s", after.cpu_s - before.cpu_s, "s");
                self.float("server_sys_s", after.sys_s - before.sys_s, "s");
            }
            _ => {
                self.value("server_peak_rss_bytes", Value::Null);
                self.value("server_cpu_s", Value::Null);
            }
        }
    }

    /// The server's CPU time between two readings divided by `count` (the units of work done
    /// meanwhile), in milliseconds; null for a server given by URL or when nothing was done.
    pub fn server_cpu_per(
        &mut self,
        before: Option<ProcStats>,
        after: Option<ProcStats>,
        name: &str,
        count: u64,
    ) {
        match (before, after) {
            (Some(before), Some(after)) if count > 0 => {
                let per_ms = (after.cpu_s - before.cpu_s) * 1000.0 / count as f64;
                self.float(name, per_ms, "ms");
            }
            _ => self.value(name, Value::Null),
        }
    }

    /// The `errors` figure (0 when absent).
    pub fn errors(&self) -> u64 {
        self.rows.iter().find(|r| r.name == "errors").and_then(|r| r.value.as_u64()).unwrap_or(0)
    }

    /// One JSON object: `{"scenario": …, <name>: <value>, …}`.
    pub fn to_json(&self) -> String {
        let mut map = Map::new();
        map.insert("scenario".to_owned(), Value::from(self.scenario));
        for row in &self.rows {
            map.insert(row.name.clone(), row.value.clone());
        }
        Value::Object(map).to_string()
    }

    /// A two-column table with units.
    pub fn to_table(&self) -> String {
        let width = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(8);
        let mut out = format!("keygate-bench {}\n", self.scenario);
        for row in &self.rows {
            let value = match &row.value {
                Value::String(s) => s.clone(),
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "  {:<width$}  {value} {}", row.name, row.unit);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field_and_the_scenario() {
        let mut r = Report::new("enroll");
        r.int("errors", 0, "");
        r.float("p99_ms", 1.23456, "ms");
        r.value("database", "sqlite");
        let v: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["scenario"], "enroll");
        assert_eq!(v["errors"], 0);
        assert_eq!(v["p99_ms"], 1.235);
        assert_eq!(v["database"], "sqlite");
    }

    #[test]
    fn cpu_per_unit_of_work_is_the_cpu_time_over_the_count() {
        let reading = |cpu_s| Some(ProcStats { cpu_s, ..ProcStats::default() });
        let mut r = Report::new("enroll");
        r.server_cpu_per(reading(1.0), reading(3.6), "server_cpu_per_enrolment_ms", 2_000);
        r.server_cpu_per(None, None, "unknown_ms", 10);
        r.server_cpu_per(reading(1.0), reading(1.0), "nothing_done_ms", 0);
        let v: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["server_cpu_per_enrolment_ms"], 1.3);
        assert_eq!((&v["unknown_ms"], &v["nothing_done_ms"]), (&Value::Null, &Value::Null));
        assert!(r.to_table().contains("server_cpu_per_enrolment_ms  1.3 ms"), "{}", r.to_table());
    }

    #[test]
    fn setting_a_field_twice_keeps_the_last_value() {
        let mut r = Report::new("api");
        r.int("errors", 1, "");
        r.int("errors", 3, "");
        assert_eq!(r.errors(), 3);
        assert_eq!(r.to_table().matches("errors").count(), 1);
    }
}
