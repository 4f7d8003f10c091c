//! The per-shard runtime: one monoio executor per core, io_uring when the kernel allows
//! it, epoll (monoio's "legacy" driver) when it does not; plus the host knobs a server
//! sets on itself (core pinning, locked-memory and open-file limits, giving freed heap
//! memory back to the OS).
//!
//! What monoio 0.2.4 does, read from its source:
//! - `RuntimeBuilder::<FusionDriver>` picks io_uring when `monoio::utils::detect_uring()`
//!   says yes: `MONOIO_FORCE_LEGACY_DRIVER` is not `1`/`true`/`yes` (case-insensitive),
//!   a 2-entry ring can be created, and the kernel's probe supports every opcode monoio
//!   uses. The answer is computed once per process. Otherwise it builds the legacy driver.
//! - Under the legacy driver, file descriptors of `monoio::fs::File` are not registered
//!   with epoll (regular files are always "ready"), so open, pread, pwrite, fsync and
//!   close run as plain blocking syscalls inside `poll`, on the shard's own thread. They
//!   work, but a slow disk stalls every task of the shard. monoio never moves them to
//!   its blocking pool by itself.
//! - `monoio::spawn_blocking` panics unless a thread pool is attached to the runtime.
//!
//! So [`build_runtime`] always attaches a small blocking pool and records that on the
//! thread ([`blocking_pool_attached`]). In epoll mode `DirDrive` runs all drive I/O on
//! it; in io_uring mode every drive operation the ring can do goes through the ring, and
//! only what monoio cannot submit (directory listings, statvfs, fallocate, ftruncate)
//! goes to the pool. (A pool is made per attempt: a failed io_uring build consumes the
//! one it was given.)
//!
//! Invariant: a runtime is used only on the thread that built it (monoio's rule), so the
//! per-thread flag describes the runtime the thread runs.

use std::cell::Cell;
use std::io;

use monoio::time::TimeDriver;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

/// The runtime of one shard: an io_uring or an epoll executor, both with timers.
pub type ShardRuntime = monoio::FusionRuntime<TimeDriver<IoUringDriver>, TimeDriver<LegacyDriver>>;

/// Which monoio driver a runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    IoUring,
    Epoll,
}

/// How to build a shard's runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Submission queue entries of the ring (monoio raises anything below 256 to 256).
    pub ring_entries: u32,
    /// Use epoll even where io_uring works (tests of the fallback; operators debugging).
    pub force_epoll: bool,
    /// Threads of the blocking pool attached in epoll mode (drive I/O runs there).
    pub blocking_threads_count: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            ring_entries: 1024,
            force_epoll: false,
            // Enough to keep a few drives busy per shard without one slow drive blocking
            // the others; threads sleep when there is no epoll-mode drive I/O.
            blocking_threads_count: 4,
        }
    }
}

thread_local! {
    static BLOCKING_POOL_ATTACHED: Cell<bool> = const { Cell::new(false) };
}

/// Builds the runtime for one shard on the calling thread and says which driver it got:
/// io_uring when the kernel allows it (after raising RLIMIT_MEMLOCK), else epoll with a
/// blocking pool for file I/O. The timer is always enabled (timeouts everywhere,
/// simulated latency).
pub fn build_runtime(config: &RuntimeConfig) -> io::Result<(ShardRuntime, DriverKind)> {
    assert!(
        config.blocking_threads_count > 0,
        "blocking pool needs a thread"
    );
    if !config.force_epoll && monoio::utils::detect_uring() {
        raise_memlock_limit();
        // Drive I/O goes through the ring; the calls it cannot make (directory
        // listings, statvfs, fallocate) go to a small pool so they never stall the shard.
        let pool = monoio::blocking::DefaultThreadPool::new(config.blocking_threads_count);
        let built = RuntimeBuilder::<IoUringDriver>::new()
            .with_entries(config.ring_entries)
            .attach_thread_pool(Box::new(pool))
            .enable_timer()
            .build();
        // A ring that cannot be made (locked-memory limit, seccomp) means epoll, not failure.
        if let Ok(runtime) = built {
            BLOCKING_POOL_ATTACHED.with(|attached| attached.set(true));
            return Ok((runtime.into(), DriverKind::IoUring));
        }
    }
    let pool = monoio::blocking::DefaultThreadPool::new(config.blocking_threads_count);
    let runtime = RuntimeBuilder::<LegacyDriver>::new()
        .with_entries(config.ring_entries)
        .attach_thread_pool(Box::new(pool))
        .enable_timer()
        .build()?;
    BLOCKING_POOL_ATTACHED.with(|attached| attached.set(true));
    Ok((runtime.into(), DriverKind::Epoll))
}

/// The driver of the runtime running the current task. Panics outside a runtime.
pub fn driver_in_use() -> DriverKind {
    if monoio::utils::is_legacy() {
        DriverKind::Epoll
    } else {
        DriverKind::IoUring
    }
}

/// Whether the last runtime built on this thread by [`build_runtime`] has a blocking
/// pool (so `monoio::spawn_blocking` will not panic).
pub fn blocking_pool_attached() -> bool {
    BLOCKING_POOL_ATTACHED.with(Cell::get)
}

/// Pins the calling thread to one CPU core (a shard owns its core): the `core`-th
/// (modulo their count) of the CPUs the thread may run on now, so a process started
/// under `taskset` or in a cpuset stays on the CPUs it was given.
pub fn pin_current_thread_to_core(core: usize) -> io::Result<()> {
    let this_thread = nix::unistd::Pid::from_raw(0);
    let allowed = nix::sched::sched_getaffinity(this_thread).map_err(io::Error::from)?;
    let usable: Vec<usize> = (0..nix::sched::CpuSet::count())
        .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
        .collect();
    let Some(&cpu) = usable.get(core % usable.len().max(1)) else {
        return Ok(()); // no CPU allowed: nothing to pin to (cannot happen on Linux)
    };
    let mut cpus = nix::sched::CpuSet::new();
    cpus.set(cpu).map_err(io::Error::from)?;
    nix::sched::sched_setaffinity(this_thread, &cpus).map_err(io::Error::from)
}

/// Raises RLIMIT_MEMLOCK to its hard maximum (unlimited when the hard limit is).
///
/// Best effort, for the whole process: kernels before 5.12 charge io_uring rings (and
/// registered buffers on every kernel) to locked memory, and the common 64 KiB default
/// is too small for a ring per shard. Returns the soft limit now in force, in bytes
/// (`u64::MAX` for unlimited); failure to raise it is not an error, because newer
/// kernels do not need it and the runtime falls back to epoll if a ring cannot be made.
pub fn raise_memlock_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_MEMLOCK) else {
        return 0;
    };
    if soft == hard || setrlimit(Resource::RLIMIT_MEMLOCK, hard, hard).is_err() {
        return soft;
    }
    hard
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
///
/// Every connection, drive file and ring costs a descriptor, and the usual soft limit
/// (1024) would cap a server at a few hundred clients while the hard limit allows far
/// more. Best effort: when raising fails the old limit stays and is what is returned.
pub fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    if soft == hard || setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
        return soft;
    }
    hard
}

/// The soft RLIMIT_NOFILE in force (0 when it cannot be read).
pub fn open_files_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(0, |(soft, _)| soft)
}

/// Allocations at least this large get their own mapping (glibc `M_MMAP_THRESHOLD`).
pub const MMAP_THRESHOLD_BYTES: i32 = 256 << 10;

/// Makes glibc give large buffers (stripes, chunk sets, read buffers) their own
/// mappings, always.
///
/// By default glibc raises its mmap threshold each time a large mapped block is freed,
/// up to 32 MiB, after which stripe-sized buffers come from the heap: `calloc` then
/// zeroes (touches) all of a 1 MiB stripe up front, and freed stripes stay resident. A
/// request whose body trickles in (slowloris) would pin a full stripe each. With a
/// fixed threshold a big buffer costs only the pages actually written and goes back to
/// the OS when freed, for a few page faults per request. Call once at start, before
/// threads allocate. A no-op where the C library is not glibc.
#[allow(unsafe_code)] // one FFI call; SAFETY below
pub fn keep_large_buffers_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's own tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}

/// Gives free heap memory back to the OS, from every malloc arena of the process.
///
/// glibc keeps one arena per thread (so per shard) and returns memory only from the top
/// of a heap; after a burst of connections the freed buffers sit between live blocks and
/// stay resident for good. `malloc_trim(0)` releases every whole free page, wherever it
/// lies. It takes each arena's lock briefly, so call it after bursts, not per request.
/// A no-op where the C library is not glibc.
#[allow(unsafe_code)] // one FFI call; SAFETY below
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists under its
    // own locks; it touches no memory the program owns.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forced-epoll runtime reports epoll from inside and has its blocking pool.
    #[test]
    fn forced_epoll_runtime_has_pool() {
        let config = RuntimeConfig {
            force_epoll: true,
            ..RuntimeConfig::default()
        };
        let (mut runtime, kind) = build_runtime(&config).expect("runtime");
        assert_eq!(kind, DriverKind::Epoll);
        assert!(blocking_pool_attached());
        let seen = runtime.block_on(async {
            let answer = monoio::spawn_blocking(|| 6 * 7).await.expect("pool ran");
            (driver_in_use(), answer)
        });
        assert_eq!(seen, (DriverKind::Epoll, 42));
    }

    /// The default runtime reports the driver it was built with.
    #[test]
    fn default_runtime_reports_its_driver() {
        let (mut runtime, kind) = build_runtime(&RuntimeConfig::default()).expect("runtime");
        assert_eq!(runtime.block_on(async { driver_in_use() }), kind);
    }

    /// Pinning to core 0 and raising the memlock limit both succeed here.
    #[test]
    fn host_knobs() {
        pin_current_thread_to_core(0).expect("pin");
        assert!(raise_memlock_limit() > 0);
    }

    /// A thread allowed only the machine's last CPU (as under `taskset`) and pinned to
    /// "core 0" stays on that CPU: core numbers count the CPUs the thread may use.
    #[test]
    fn pinning_stays_within_the_allowed_cpus() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        if cores < 2 {
            return; // one CPU: every pin is the same
        }
        std::thread::spawn(move || {
            let this_thread = nix::unistd::Pid::from_raw(0);
            let allowed = nix::sched::sched_getaffinity(this_thread).expect("affinity");
            let last = (0..nix::sched::CpuSet::count())
                .rfind(|&cpu| allowed.is_set(cpu).unwrap_or(false))
                .expect("a CPU");
            let mut only_last = nix::sched::CpuSet::new();
            only_last.set(last).expect("cpu");
            nix::sched::sched_setaffinity(this_thread, &only_last).expect("restrict");
            pin_current_thread_to_core(0).expect("pin");
            let now = nix::sched::sched_getaffinity(this_thread).expect("affinity");
            let on: Vec<usize> = (0..nix::sched::CpuSet::count())
                .filter(|&cpu| now.is_set(cpu).unwrap_or(false))
                .collect();
            assert_eq!(on, vec![last]);
        })
        .join()
        .expect("thread");
    }

    /// After raising, the soft open-file limit equals the hard one.
    #[test]
    fn open_files_limit_is_raised_to_hard() {
        let now = raise_open_files_limit();
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .expect("getrlimit");
        assert_eq!((now, soft), (hard, hard));
        keep_large_buffers_mapped();
        release_free_memory();
    }
}
