//! Printing: aligned text tables, key-value blocks, JSON, and times.

use std::io::{ErrorKind, Write};

use keygate_domain::Timestamp;

/// Writes `text` to stdout. A closed pipe (`keygate keys list | head -1`) is not an error.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(()),
    }
}

/// Prints JSON text indented, its fields in the order the server sent them.
pub fn print_json(json: &str) -> anyhow::Result<()> {
    let mut text = indent_json(json);
    text.push('\n');
    print(&text)
}

/// Re-indents valid JSON text two spaces per level (as `serde_json::to_string_pretty` does)
/// without re-ordering object fields, which a round trip through `serde_json::Value` would.
pub fn indent_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut chars = json.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                while let Some(s) = chars.next() {
                    out.push(s);
                    match s {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '[' => {
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                let close = if c == '{' { '}' } else { ']' };
                out.push(c);
                if chars.next_if_eq(&close).is_some() {
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// A table with a header row, columns separated by two spaces and padded to align.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Label-value lines, labels padded to align: `id:           kAbc…`.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(l, _)| l.chars().count() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        let label = format!("{label}:");
        out.push_str(format!("{label:<width$}  {value}").trim_end());
        out.push('\n');
    }
    out
}

/// An API time (`2025-06-01T12:00:00Z`) as `2025-06-01 12:00` (UTC); other text unchanged.
pub fn short_time(rfc3339: &str) -> String {
    match Timestamp::parse_rfc3339(rfc3339) {
        Some(t) => {
            let s = t.to_rfc3339();
            s.get(..16).map_or(s.clone(), |d| d.replace('T', " "))
        }
        None => rfc3339.to_owned(),
    }
}

/// An API time with its distance from now: `2025-06-01 12:00 UTC (in 30 days)`.
pub fn long_time(rfc3339: &str) -> String {
    match Timestamp::parse_rfc3339(rfc3339) {
        Some(t) => format!("{} UTC ({})", short_time(rfc3339), relative(t, now())),
        None => rfc3339.to_owned(),
    }
}

/// An optional API time, or `never`.
pub fn maybe_time(rfc3339: Option<&str>) -> String {
    rfc3339.map_or_else(|| "never".to_owned(), short_time)
}

/// `-` for empty text, so table columns never look shifted.
pub fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_unix_millis(ms)
}

/// `in 3 days`, `5 minutes ago`, in the largest whole unit.
fn relative(t: Timestamp, now: Timestamp) -> String {
    let (d, future) = if t >= now { (t.since(now), true) } else { (now.since(t), false) };
    let secs = d.as_secs();
    // Rounded to the nearest unit, so a 30-day key created a moment ago shows "in 30 days".
    let (n, unit) = match secs {
        s if s < 60 => return if future { "in under a minute".into() } else { "just now".into() },
        s if s < 3_570 => ((s + 30) / 60, "minute"),
        s if s < 84_600 => ((s + 1_800) / 3_600, "hour"),
        s => ((s + 43_200) / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let mut t = Table::new(&["ID", "DESCRIPTION", "TAGS"]);
        t.row(vec!["k1".into(), "a longer one".into(), "-".into()]);
        t.row(vec!["kLonger".into(), "x".into(), "tag:a".into()]);
        assert_eq!(
            t.render(),
            "ID       DESCRIPTION   TAGS\nk1       a longer one  -\nkLonger  x             tag:a\n"
        );
    }

    #[test]
    fn times_are_shortened_and_related_to_now() {
        assert_eq!(short_time("2025-06-01T12:34:56Z"), "2025-06-01 12:34");
        assert_eq!(short_time("not a time"), "not a time");
        let t0 = Timestamp::from_unix_millis(1_700_000_000_000);
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(relative(t0.plus(90 * day), t0), "in 90 days");
        assert_eq!(relative(t0, t0.plus(day)), "1 day ago");
        assert_eq!(relative(t0.plus(std::time::Duration::from_secs(7_200)), t0), "in 2 hours");
        let almost_30_days = (30 * day).saturating_sub(std::time::Duration::from_millis(40));
        assert_eq!(relative(t0.plus(almost_30_days), t0), "in 30 days");
        assert_eq!(relative(t0.plus(std::time::Duration::from_secs(3_599)), t0), "in 1 hour");
    }

    #[test]
    fn json_is_indented_like_serde_json_without_reordering() {
        let text = r#"{"z":1,"a":{"s":"x,\"y\":[{}]","e":[],"o":{}},"l":[1, 2]}"#;
        let mine = indent_json(text);
        assert!(mine.starts_with("{\n  \"z\": 1,"), "{mine}");
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let reparsed: serde_json::Value = serde_json::from_str(&mine).unwrap();
        assert_eq!(reparsed, value);
        let sorted = r#"{"a":{"e":[],"o":{},"s":"x,\"y\":[{}]"},"l":[1,2],"z":1}"#;
        assert_eq!(indent_json(sorted), serde_json::to_string_pretty(&value).unwrap());
    }

    #[test]
    fn fields_align_labels() {
        assert_eq!(
            fields(&[("id", "k1".into()), ("expires", "x".into())]),
            "id:       k1\nexpires:  x\n"
        );
    }
}
