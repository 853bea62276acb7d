//! Times and counts as the pages show them.

use keygate_domain::Timestamp;
use time::macros::format_description;

/// A point in time, ready for a `<time>` element: machine form, absolute and relative text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TimeText {
    /// RFC 3339, for the `datetime` attribute.
    pub iso: String,
    /// `2026-05-01 14:03 UTC`, for the tooltip.
    pub absolute: String,
    /// `in 89 days`, `5 min ago`, `just now`.
    pub relative: String,
}

impl TimeText {
    pub(crate) fn new(t: Timestamp, now: Timestamp) -> Self {
        let absolute = t
            .to_offset_date_time()
            .format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
            .unwrap_or_else(|_| t.to_rfc3339());
        Self { iso: t.to_rfc3339(), absolute, relative: relative(t, now) }
    }
}

/// How far `t` is from `now`, in the largest whole unit.
pub(crate) fn relative(t: Timestamp, now: Timestamp) -> String {
    let (future, seconds) =
        if t >= now { (true, t.since(now).as_secs()) } else { (false, now.since(t).as_secs()) };
    if seconds < 60 {
        return if future { "in under a minute".into() } else { "just now".into() };
    }
    let (n, unit) = match seconds {
        s if s < 3600 => (s / 60, "min"),
        s if s < 86_400 => (s / 3600, "h"),
        s => (s / 86_400, if s / 86_400 == 1 { "day" } else { "days" }),
    };
    if future {
        format!("in {n} {unit}")
    } else {
        format!("{n} {unit} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn relative_times_use_the_largest_whole_unit() {
        let now = Timestamp::from_unix_millis(1_700_000_000_000);
        let s = Duration::from_secs;
        assert_eq!(relative(now, now), "in under a minute");
        assert_eq!(relative(now.minus(s(30)), now), "just now");
        assert_eq!(relative(now.minus(s(300)), now), "5 min ago");
        assert_eq!(relative(now.plus(s(7200)), now), "in 2 h");
        assert_eq!(relative(now.minus(s(86_400)), now), "1 day ago");
        assert_eq!(relative(now.plus(s(89 * 86_400 + 50)), now), "in 89 days");
    }

    #[test]
    fn absolute_times_are_utc_to_the_minute() {
        let t = Timestamp::from_unix_millis(1_639_092_159_123);
        let text = TimeText::new(t, t);
        assert_eq!(text.absolute, "2021-12-09 23:22 UTC");
        assert_eq!(text.iso, "2021-12-09T23:22:39Z");
    }
}
