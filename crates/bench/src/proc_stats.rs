//! The server process's memory and CPU time, from Linux's `/proc/<pid>/status` and
//! `/proc/<pid>/stat`.

use std::fs;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`): 100 in Linux's ABI on every
/// architecture we run on, whatever the kernel's internal tick rate.
const USER_HZ: f64 = 100.0;

/// A reading of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcStats {
    /// Resident set now (`VmRSS`), bytes.
    pub rss_bytes: u64,
    /// Peak resident set since the process started (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// User plus system CPU time, seconds.
    pub cpu_s: f64,
    /// Of which in the kernel (system time), seconds.
    pub sys_s: f64,
}

/// Reads process `pid`; `None` if it is gone or `/proc` is unavailable.
pub fn read(pid: u32) -> Option<ProcStats> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (user, system) = cpu_ticks(&stat)?;
    Some(ProcStats {
        rss_bytes: status_kib(&status, "VmRSS:")? * 1024,
        peak_rss_bytes: status_kib(&status, "VmHWM:")? * 1024,
        cpu_s: (user + system) as f64 / USER_HZ,
        sys_s: system as f64 / USER_HZ,
    })
}

/// A `Name:   123 kB` line of `/proc/<pid>/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// `(utime, stime)` from `/proc/<pid>/stat`: fields 14 and 15, counted after the command name,
/// which is in parentheses and may itself hold spaces.
fn cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name come field 3 (state) onwards: utime is field 14, the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat_lines() {
        let status = "Name:\tkeygate\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        let stat = "42 (key gate) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some((250, 50)));
    }

    #[test]
    fn reads_this_process() {
        let me = read(std::process::id()).expect("our own /proc entry");
        assert!(me.rss_bytes > 0 && me.peak_rss_bytes >= me.rss_bytes);
    }
}
