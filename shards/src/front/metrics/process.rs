//! Figures of the whole process for the metrics (resident memory, file descriptors, CPU
//! time), read from `/proc` when scraped; zeros where `/proc` cannot tell.

/// Process figures read from `/proc` at scrape time.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub fd_limit: u64,
    pub cpu_seconds: f64,
}

impl ProcessStats {
    /// This process's figures (zeros where `/proc` cannot tell).
    pub fn read() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let resident_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64);
        let fd_limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(0, |(soft, _)| soft);
        Self {
            resident_bytes: resident_kib * 1024,
            open_fds,
            fd_limit,
            cpu_seconds: cpu_seconds(),
        }
    }
}

/// User + system CPU time of the process (`/proc/self/stat` fields 14 and 15, in clock
/// ticks of 1/100 s, the value of `_SC_CLK_TCK` on every Linux ABI Shoal runs on).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}
