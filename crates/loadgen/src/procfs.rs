//! A local process's memory and CPU from `/proc` (Linux), and the process that
//! listens on a TCP port.

use std::time::Instant;

use serde::Serialize;

/// Kernel clock ticks per second in `/proc/PID/stat`. `USER_HZ` is 100 on every
/// mainstream Linux architecture; reading it (`sysconf`) would need `libc` and
/// unsafe code for a constant.
const TICKS_PER_SEC: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Resident set size now, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size so far, KiB (`VmHWM`).
    pub peak_kib: u64,
    /// User + system CPU time so far, in clock ticks.
    pub cpu_ticks: u64,
    /// When it was read.
    pub at: Instant,
}

/// A process's memory and CPU over a stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usage {
    /// The process.
    pub pid: u32,
    /// RSS at the start, MiB.
    pub rss_start_mib: f64,
    /// RSS at the end, MiB.
    pub rss_end_mib: f64,
    /// Peak RSS over the process's life, MiB.
    pub rss_peak_mib: f64,
    /// CPU used meanwhile, in percent of one core (200 = both cores of two).
    pub cpu_percent: f64,
}

/// Reads process `pid`.
///
/// # Errors
/// When `/proc/PID` cannot be read (no such process, not Linux).
pub fn sample(pid: u32) -> std::io::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    Ok(Sample {
        rss_kib: kib("VmRSS:"),
        peak_kib: kib("VmHWM:"),
        cpu_ticks: cpu_ticks(&stat).unwrap_or(0),
        at: Instant::now(),
    })
}

/// utime + stime from a `/proc/PID/stat` line. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: field 3 (state) is index 0, so utime (14) is 11, stime (15) is 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// What happened to `pid` between two samples.
#[must_use]
pub fn usage(pid: u32, start: &Sample, end: &Sample) -> Usage {
    let secs = end.at.duration_since(start.at).as_secs_f64().max(1e-3);
    let cpu = end.cpu_ticks.saturating_sub(start.cpu_ticks) as f64 / TICKS_PER_SEC;
    let mib = |k: u64| k as f64 / 1024.0;
    Usage {
        pid,
        rss_start_mib: mib(start.rss_kib),
        rss_end_mib: mib(end.rss_kib),
        rss_peak_mib: mib(end.peak_kib),
        cpu_percent: 100.0 * cpu / secs,
    }
}

/// The process listening on TCP `port` on this machine, if any (and if its
/// `/proc/PID/fd` is readable by us).
#[must_use]
pub fn listener_pid(port: u16) -> Option<u32> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|table| listening_inode(&table, port))?;
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target) {
                return Some(pid);
            }
        }
    }
    None
}

/// The inode of the socket listening on `port` in a `/proc/net/tcp` table.
fn listening_inode(table: &str, port: u16) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local_port = f.get(1)?.rsplit_once(':')?.1;
        // State 0A is LISTEN.
        if u16::from_str_radix(local_port, 16).ok()? == port && *f.get(3)? == "0A" {
            f.get(9)?.parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names() {
        let line =
            "42 (my (odd) name) S 1 42 42 0 -1 4194560 500 0 0 0 250 30 0 0 20 0 8 0 100 0 0";
        assert_eq!(cpu_ticks(line), Some(280));
    }

    #[test]
    fn finds_the_listening_socket() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 999 1\n";
        assert_eq!(listening_inode(table, 8080), Some(12345));
        assert_eq!(listening_inode(table, 8081), None);
    }

    #[test]
    fn reads_itself() {
        let pid = std::process::id();
        let s = sample(pid).unwrap();
        assert!(s.rss_kib > 0);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(listener_pid(port), Some(pid));
    }
}
