//! `--server-pid`: the CPU time a server process on this machine has used, read from
//! `/proc/PID/stat` (user + system time of all its threads, the dead ones included), so
//! a run can report the server's CPU per request over exactly its measured phase.
//!
//! Invariants: times are Linux clock ticks of `USER_HZ`, which the kernel ABI fixes at
//! 100 per second on every architecture this runs on (x86-64, arm64); the resolution is
//! therefore 10 ms, small against the seconds of CPU a measured phase costs. A process
//! that cannot be read (gone, not ours, not Linux) is an error, never a zero.

use std::path::Path;

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`).
pub const TICKS_PER_SEC: u64 = 100;

/// User + system CPU ticks of process `pid`, all threads.
pub fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_cpu_ticks(&text).ok_or_else(|| format!("{path}: unexpected format"))
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name
/// (field 2) is in parentheses and may hold spaces and parentheses itself, so fields
/// are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is field 14, the 12th here.
    let mut fields = after_name.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Peak resident memory (`VmHWM`, KiB) of process `pid` since it started or since its
/// peak was last reset (`echo 5 > /proc/PID/clear_refs`).
pub fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(Path::new(&path)).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{path}: no VmHWM"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// utime and stime are found after a command name holding spaces and parentheses.
    #[test]
    fn cpu_ticks_are_read_after_the_last_parenthesis() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("4242 (short) S 1"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis"), None);
    }

    /// This test's own process is readable, and its CPU time and peak memory are real
    /// (a process that has run this far has used some of both).
    #[test]
    fn own_process_is_measured() {
        let pid = std::process::id();
        // Busy for 50 ms: at least a few 10 ms ticks of CPU, whatever the machine.
        let start = std::time::Instant::now();
        let mut spin = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(50) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        assert!(cpu_ticks(pid).unwrap() > 0);
        assert!(peak_rss_kib(pid).unwrap() > 0);
        assert!(cpu_ticks(u32::MAX).is_err());
    }
}
