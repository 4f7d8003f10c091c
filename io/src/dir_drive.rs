//! `DirDrive`: the real drive, a directory on a local filesystem.
//!
//! Chunk files go through `monoio::fs::File` (io_uring) opened with O_DIRECT. If the
//! filesystem refuses O_DIRECT (tmpfs answers EINVAL), the drive falls back to buffered
//! I/O for its lifetime and says so in [`DirDrive::direct_io`]; the alignment rules of
//! the [`Drive`] trait are asserted either way, so code that passes on tmpfs also passes
//! on a real disk.
//!
//! Under io_uring no drive operation makes a file syscall on the shard thread: opens,
//! whole-file reads, `mkdir`, `rename`, `unlink`, fdatasync of files and fsync of
//! directories are submitted to the shard's rings (`ring_fs.rs`); what monoio 0.2.4
//! has no ring op for (`getdents64` of directory listings and recursive removal,
//! `statvfs`, `fallocate`, `ftruncate`, the identity check) runs on the shard's helper
//! pool, which the shard awaits and never waits on synchronously (see [`on_helper`] for
//! its bound). When the shard runs on epoll (see `runtime.rs`), every drive operation,
//! chunk I/O included, runs on that pool instead, because under epoll monoio would run
//! file syscalls inline and stall the shard.
//!
//! No open file handles are cached: metadata files are replaced by rename, possibly by
//! another shard's `DirDrive` over the same folder, and nothing here could tell a cached
//! descriptor of a replaced file from a current one without a path lookup, which is the
//! cost a cache would save. Directories need no cache either: path operations go
//! relative to the held root's own descriptor (`open_ring.rs`), which the kernel
//! resolves from its dentry cache.
//!
//! A drive holds its root directory open and resolves every path through that handle
//! (relative to its descriptor through the shard's open ring; `/proc/<pid>/fd/<root>/
//! <path>` when that ring cannot take an operation, in epoll mode, and for the helper
//! pool's work), never through the configured folder name. So if the
//! folder is removed, or the drive's filesystem is unmounted and a bare mount point
//! (on the root disk) takes its place, nothing lands there: operations keep reaching the
//! drive's own directory (failing with `ENOENT` once it is deleted).
//! [`Drive::check_identity`], run at start and on a timer, notices the change (the
//! folder's device and inode no longer match the handle's, or its format record is gone
//! or different) and takes the drive offline: every operation then fails at once,
//! touching nothing. A later check that finds the format record back at the folder
//! re-opens it and the drive is online again.
//!
//! Invariants:
//! - Every path is checked with [`assert_relative_path`] and resolved under the held
//!   root; nothing outside it is ever touched, and the root itself is never created by
//!   an operation.
//! - A root handle stays open while any operation or open file still uses it (`Arc`),
//!   so its descriptor number is never reused under a path in flight.
//! - [`DirDrive::open_existing`] creates nothing unless the folder holds the marker
//!   (format record) it is given.
//! - Durability follows drive.rs: after `sync` on a file made by `create`, its bytes and
//!   its name (and any directories `create` made for it) are durable; `rename` and
//!   `write_file_atomic` fsync every directory whose entries they changed. One
//!   exception: `.shoal/tmp` itself is never fsync'd (nothing there is acknowledged;
//!   `ring_fs::sync_dirs` says why that is safe), so a file or folder made directly in
//!   it is durable only once renamed out.
//! - Temporary files live only under `.shoal/tmp/` and have names unique to this process.

use std::cell::{Cell, RefCell};
use std::fs::OpenOptions as StdOpenOptions;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use nix::fcntl::{Flock, FlockArg};

use crate::buf::{AlignedBuf, BLOCK_SIZE_BYTES};
use crate::dir_sync::Groups;
use crate::drive::{
    DirEntry, Drive, DriveError, DriveResult, SpaceInfo, TargetFolder, assert_relative_path,
};
use crate::ring_fs;

const SHOAL_DIR: &str = ".shoal";
const TMP_DIR: &str = ".shoal/tmp";
const LOCK_FILE: &str = ".shoal/lock";

/// A drive over a directory. Used only from the shard (thread) that opened it.
pub struct DirDrive {
    /// The folder as configured (only `check_identity` and messages use it).
    root: PathBuf,
    name: String,
    attachment: RefCell<Attachment>,
    try_direct_io: bool,
    direct_io: Cell<bool>,
    /// Makes temporary names unique: `<pid>-<open time ns>-<sequence>`.
    tmp_prefix: String,
    tmp_sequence: Cell<u64>,
}

enum Attachment {
    /// Online: every path resolves under this held directory.
    Attached(Arc<RootDir>),
    /// Offline, and why: every operation fails without touching a filesystem.
    Detached(String),
}

/// The drive's root directory, held open. Keeps the directory (and its filesystem, even
/// lazily unmounted) reachable whatever now sits at the configured folder.
struct RootDir {
    dir: std::fs::File,
    /// `/proc/<pid>/fd/<dir>`: the kernel resolves paths under it inside the held
    /// directory itself. The pid, not `self`: an io_uring worker resolving the path
    /// must name this process (on kernels before 5.12 workers are kernel threads).
    base: PathBuf,
    dev: u64,
    ino: u64,
}

impl RootDir {
    fn open(root: &Path) -> io::Result<Arc<RootDir>> {
        let dir = std::fs::File::open(root)?;
        let meta = dir.metadata()?;
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "it is not a directory",
            ));
        }
        let base = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            dir.as_raw_fd()
        ));
        let through = std::fs::metadata(&base)?;
        if (through.dev(), through.ino()) != (meta.dev(), meta.ino()) {
            return Err(io::Error::other(
                "/proc/<pid>/fd does not lead to the open folder (is /proc mounted?)",
            ));
        }
        Ok(Arc::new(RootDir {
            dir,
            base,
            dev: meta.dev(),
            ino: meta.ino(),
        }))
    }

    /// The held directory's descriptor (open while `self` lives).
    fn fd(&self) -> RawFd {
        self.dir.as_raw_fd()
    }

    /// The root as the ring's path operations take it; the clone keeps it open until
    /// they complete, even if their caller is dropped.
    fn ring_root(self: &Arc<Self>) -> ring_fs::Root {
        ring_fs::Root {
            fd: self.fd(),
            keep: Rc::new(Arc::clone(self)),
            id: (self.dev, self.ino),
            base: self.base.clone(),
        }
    }

    /// The path of a drive path under the held root; `""` is the root.
    fn join(&self, path: &str) -> PathBuf {
        assert_relative_path(path);
        if path.is_empty() {
            self.base.clone()
        } else {
            self.base.join(path)
        }
    }
}

/// A path under a held root; the root stays open while the path is in use.
struct HeldPath {
    root: Arc<RootDir>,
    path: PathBuf,
}

/// An open chunk file of a [`DirDrive`].
pub struct DirFile {
    handle: FileHandle,
    /// Keeps the root that `dirs_unsynced` resolve under open.
    root: Arc<RootDir>,
    /// Drive folders whose entries `create` changed (the file's parent, plus the parents
    /// of folders it made), fsync'd by the first `sync` so the name is durable too.
    dirs_unsynced: RefCell<Vec<String>>,
}

enum FileHandle {
    /// io_uring (or monoio's inline syscalls when no blocking pool is attached).
    Ring(monoio::fs::File),
    /// epoll mode: the blocking pool does the syscalls on a shared std file.
    Pool(Arc<std::fs::File>),
}

/// Holds the exclusive lock on a drive; released when dropped (or when the process dies).
pub struct DriveLock {
    _lock: Flock<std::fs::File>,
}

impl DirDrive {
    /// Opens the drive at `root` (which must exist), creating `.shoal/` and
    /// `.shoal/tmp/`, and finds out whether the filesystem accepts O_DIRECT. For drives
    /// of a new deployment; [`DirDrive::open_existing`] for formatted ones.
    pub fn open(root: &Path) -> DriveResult<DirDrive> {
        Self::open_with(root, true)
    }

    /// Opens the drive with buffered I/O even where O_DIRECT works: for tests of the
    /// fallback (tmpfs takes O_DIRECT since Linux 6.6) and filesystems whose O_DIRECT is
    /// known to be broken.
    pub fn open_buffered(root: &Path) -> DriveResult<DirDrive> {
        Self::open_with(root, false)
    }

    /// Opens a drive that must already be formatted: it is online only if `marker` (its
    /// format record, relative to the root) exists. Otherwise it is returned offline
    /// with the reason, and nothing is created: a missing folder, or an empty one that
    /// may be the bare mount point of an unmounted filesystem, is never written.
    pub fn open_existing(root: &Path, marker: &str) -> DirDrive {
        let mut drive = Self::unopened(root, true);
        match attach_checked(root, marker, None, true, &drive.tmp_prefix) {
            Ok((dir, direct_io)) => {
                drive.attachment = RefCell::new(Attachment::Attached(dir));
                drive.direct_io.set(direct_io);
            }
            Err(why) => drive.attachment = RefCell::new(Attachment::Detached(why)),
        }
        drive
    }

    /// Opens a drive only to read it (`shoal debug audit` of a stopped deployment):
    /// nothing is created or probed (no `.shoal/tmp`, no O_DIRECT probe file), reads
    /// are buffered, and the folder must exist. Writing through it is a caller's bug.
    pub fn open_read_only(root: &Path) -> DriveResult<DirDrive> {
        let drive = Self::unopened(root, false);
        let dir = RootDir::open(root)?;
        *drive.attachment.borrow_mut() = Attachment::Attached(dir);
        Ok(drive)
    }

    fn open_with(root: &Path, try_direct_io: bool) -> DriveResult<DirDrive> {
        let drive = Self::unopened(root, try_direct_io);
        let dir = RootDir::open(root)?;
        let direct_io = prepare_root(&dir, try_direct_io, &drive.tmp_prefix)?;
        drive.direct_io.set(direct_io);
        *drive.attachment.borrow_mut() = Attachment::Attached(dir);
        Ok(drive)
    }

    /// The drive before its folder is opened (offline until it is).
    fn unopened(root: &Path, try_direct_io: bool) -> DirDrive {
        static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let opened_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        // Every DirDrive of the process (one per shard per drive) needs its own temporary
        // names: pid + open time + a process-wide instance number.
        let instance = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        DirDrive {
            root: root.to_path_buf(),
            name: root.display().to_string(),
            attachment: RefCell::new(Attachment::Detached("not opened yet".to_owned())),
            try_direct_io,
            direct_io: Cell::new(false),
            tmp_prefix: format!("{}-{opened_ns}-{instance}", std::process::id()),
            tmp_sequence: Cell::new(0),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether chunk files use O_DIRECT (false: the filesystem refused it).
    pub fn direct_io(&self) -> bool {
        self.direct_io.get()
    }

    /// Why the drive is offline; `None` while it is online.
    pub fn offline_reason(&self) -> Option<String> {
        match &*self.attachment.borrow() {
            Attachment::Attached(_) => None,
            Attachment::Detached(why) => Some(why.clone()),
        }
    }

    /// Removes everything under `.shoal/tmp/` (leftovers of writes a crash interrupted).
    /// Call at start, before any write on this drive.
    pub fn clean_tmp(&self) -> DriveResult<()> {
        let tmp = self.held(TMP_DIR)?;
        for entry in std::fs::read_dir(&tmp.path)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// Takes `flock(LOCK_EX | LOCK_NB)` on `.shoal/lock`, so two servers (which would
    /// silently share the port through SO_REUSEPORT) cannot use one drive.
    pub fn lock_exclusive(&self) -> DriveResult<DriveLock> {
        let held = self.held(LOCK_FILE)?;
        let file = StdOpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&held.path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(DriveLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(DriveError::Io(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "drive {} is in use by another shoal process (it holds {})",
                    self.root.display(),
                    self.root.join(LOCK_FILE).display()
                ),
            ))),
            Err((_, errno)) => Err(DriveError::Io(errno.into())),
        }
    }

    /// Whether a process holds this drive's lock (`lock_exclusive`): a server runs on
    /// it. Asked with a shared, non-blocking flock of the lock file opened read-only and
    /// released at once, so nothing is written; a drive with no lock file was never
    /// served.
    pub fn locked_by_a_server(&self) -> bool {
        let Ok(held) = self.held(LOCK_FILE) else {
            return false;
        };
        let Ok(file) = std::fs::File::open(&held.path) else {
            return false;
        };
        matches!(
            Flock::lock(file, FlockArg::LockSharedNonblock),
            Err((_, nix::errno::Errno::EWOULDBLOCK))
        )
    }

    /// The held root, or the offline error.
    fn attached(&self) -> DriveResult<Arc<RootDir>> {
        match &*self.attachment.borrow() {
            Attachment::Attached(dir) => Ok(Arc::clone(dir)),
            Attachment::Detached(why) => Err(DriveError::Offline(why.clone())),
        }
    }

    /// A drive path resolved under the held root; `""` is the root.
    fn held(&self, path: &str) -> DriveResult<HeldPath> {
        let root = self.attached()?;
        let path = root.join(path);
        Ok(HeldPath { root, path })
    }

    /// A drive path naming a file or directory (not the root).
    fn held_entry(&self, path: &str) -> DriveResult<HeldPath> {
        assert!(!path.is_empty(), "empty drive path");
        self.held(path)
    }

    /// A new temporary file's drive path.
    fn tmp_name(&self) -> String {
        let sequence = self.tmp_sequence.get();
        self.tmp_sequence.set(sequence + 1);
        format!("{TMP_DIR}/{}-{sequence}.tmp", self.tmp_prefix)
    }

    fn open_flags(&self) -> i32 {
        if self.direct_io.get() {
            libc::O_DIRECT
        } else {
            0
        }
    }

    async fn open_handle(
        &self,
        held: HeldPath,
        rel: &str,
        create: bool,
    ) -> DriveResult<FileHandle> {
        let flags = self.open_flags();
        if !use_pool() {
            let file = ring_fs::open_file(&held.root.ring_root(), rel, create, flags).await?;
            return Ok(FileHandle::Ring(file));
        }
        let path = held.path;
        {
            let file = on_helper(move || {
                StdOpenOptions::new()
                    .read(true)
                    .write(create)
                    .create(create)
                    .truncate(create)
                    .custom_flags(flags)
                    .open(path)
            })
            .await?;
            Ok(FileHandle::Pool(Arc::new(file)))
        }
    }
}

/// The identity check of a drive that is online: its folder is still the held
/// directory, and the record is still there and the same.
fn verify_attached(
    root: &Path,
    dir: &RootDir,
    marker: &str,
    expected: &[u8],
) -> Result<(), String> {
    let at_folder = match std::fs::metadata(root) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err("its folder was removed".to_owned());
        }
        Err(e) => return Err(format!("its folder cannot be reached: {e}")),
    };
    if at_folder.dev() != dir.dev {
        return Err(
            "its folder now lies on another filesystem (the drive's filesystem was \
             unmounted or replaced)"
                .to_owned(),
        );
    }
    if at_folder.ino() != dir.ino {
        return Err("its folder was removed and created again".to_owned());
    }
    check_marker(dir, marker, Some(expected))
}

/// Opens `root` and checks it is the drive: `marker` exists under it (and holds exactly
/// `expected`, when given). Only then prepares it (`.shoal/tmp`, the O_DIRECT probe).
fn attach_checked(
    root: &Path,
    marker: &str,
    expected: Option<&[u8]>,
    try_direct_io: bool,
    tmp_prefix: &str,
) -> Result<(Arc<RootDir>, bool), String> {
    let dir = RootDir::open(root).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "its folder does not exist".to_owned(),
        _ => format!("its folder cannot be opened: {e}"),
    })?;
    check_marker(&dir, marker, expected)?;
    let direct_io = prepare_root(&dir, try_direct_io, tmp_prefix)
        .map_err(|e| format!("its folder cannot be prepared: {e}"))?;
    Ok((dir, direct_io))
}

fn check_marker(dir: &RootDir, marker: &str, expected: Option<&[u8]>) -> Result<(), String> {
    match std::fs::read(dir.join(marker)) {
        Ok(bytes) if expected.is_none_or(|expected| expected == bytes) => Ok(()),
        Ok(_) => Err(format!("its {marker} belongs to another drive")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
            "it has no {marker} (the drive's filesystem is not mounted there, or the \
             folder is new)"
        )),
        Err(e) => Err(format!("its {marker} cannot be read: {e}")),
    }
}

/// Creates `.shoal/tmp/` under the held root and probes O_DIRECT there.
fn prepare_root(dir: &RootDir, try_direct_io: bool, tmp_prefix: &str) -> DriveResult<bool> {
    std::fs::create_dir_all(dir.join(TMP_DIR))?;
    sync_dir(&dir.base)?;
    sync_dir(&dir.join(SHOAL_DIR))?;
    Ok(try_direct_io && probe_direct_io(&dir.join(TMP_DIR), tmp_prefix)?)
}

/// Renames a synced temporary over `target`, making missing parents, and fsyncs every
/// directory whose entries changed (the helper-pool twin of `ring_fs::rename_durable`).
fn publish(
    root: &RootDir,
    tmp: &Path,
    target: &Path,
    target_name: &str,
) -> io::Result<TargetFolder> {
    let (mut dirs, folder) = rename_making_parents(root, tmp, target, target_name)?;
    dirs.push(ring_fs::parent_str(target_name).to_owned());
    sync_dirs(root, dirs)?;
    Ok(folder)
}

/// Renames `from` over `to`, making missing parents of `to` only while `from` is still
/// there (as `ring_fs::rename_durable`); returns the drive folders whose entries
/// changed by making them, and whether `to`'s folder was missing. `to_name` is `to`'s
/// drive path.
fn rename_making_parents(
    root: &RootDir,
    from: &Path,
    to: &Path,
    to_name: &str,
) -> io::Result<(Vec<String>, TargetFolder)> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok((Vec::new(), TargetFolder::Existed)),
        Err(e) if e.kind() == io::ErrorKind::NotFound && from.exists() => {
            let made = create_dirs(root, ring_fs::parent_str(to_name))?;
            std::fs::rename(from, to)?;
            Ok((made, TargetFolder::Made))
        }
        Err(e) => Err(e),
    }
}

/// Makes durable everything written to `root`'s filesystem before this call: one
/// `syncfs` of it on the helper pool (the ring has no such operation), shared with every
/// caller of this shard whose change was done before it started (`dir_sync.rs`, keyed
/// by the filesystem's device: drives on one filesystem share it too).
///
/// This is the group commit of small writes: a metadata record is written and renamed
/// into place unsynced, and many records (of many objects, on every drive of the
/// filesystem) become durable in one journal commit and one cache flush, instead of an
/// fdatasync of each file and an fsync of each folder whose entries changed. `syncfs`
/// reports writeback errors of the filesystem since the root's last call (Linux 5.8 and
/// later), so a failed flush fails every write that waited for it.
async fn sync_filesystem(root: &Arc<RootDir>) -> io::Result<()> {
    thread_local! {
        static FILESYSTEMS: Rc<Groups<u64>> = Rc::new(Groups::new());
    }
    let groups = FILESYSTEMS.with(Rc::clone);
    let held = Arc::clone(root);
    let sync = move || {
        let held = Arc::clone(&held);
        GROUP_COMMIT.with(|counts| counts.flushes.set(counts.flushes.get() + 1));
        async move { on_helper(move || Ok(nix::unistd::syncfs(held.fd())?)).await }
    };
    GROUP_COMMIT.with(|counts| counts.waits.set(counts.waits.get() + 1));
    groups.sync(root.dev, sync).await
}

/// How well this thread's small writes share flushes (`sync_filesystem`).
#[derive(Default)]
struct GroupCommit {
    flushes: Cell<u64>,
    waits: Cell<u64>,
}

thread_local! {
    static GROUP_COMMIT: GroupCommit = GroupCommit::default();
}

/// This thread's (shard's) group commit so far: `(flushes, waits)`, the `syncfs` calls
/// it made and the waits for one that small atomic writes made (two per write). Waits
/// per flush is how many writes a flush made durable at once.
pub fn group_commit_counts() -> (u64, u64) {
    GROUP_COMMIT.with(|counts| (counts.flushes.get(), counts.waits.get()))
}

/// Whether drive I/O goes to the helper pool: epoll mode with a pool attached, where
/// monoio would run file syscalls inline on the shard thread. Under io_uring every
/// operation the ring can do goes through the ring (`ring_fs`).
fn use_pool() -> bool {
    crate::runtime::blocking_pool_attached() && monoio::utils::is_legacy()
}

/// Runs `work` — a blocking call the ring cannot make (`getdents64`, `statvfs`,
/// `fallocate`, `ftruncate`, a recursive removal, the identity check), or any call in
/// epoll mode — on the shard's helper pool, and awaits its answer: the shard thread
/// never waits on it synchronously and serves its other requests meanwhile. Inline only
/// when no pool is attached (a runtime not made by `build_runtime`).
///
/// The pool is monoio's `DefaultThreadPool` of `RuntimeConfig::blocking_threads_count`
/// threads per shard. Its queue has no capacity of its own: a job waits there until a
/// thread is free, and each job is one awaited drive operation of one request, so the
/// queue is bounded by the shard's in-flight requests times the drives each touches.
async fn on_helper<T, F>(work: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    if !crate::runtime::blocking_pool_attached() {
        return work();
    }
    match monoio::spawn_blocking(work).await {
        Ok(result) => result,
        Err(monoio::blocking::JoinError::Canceled) => Err(io::Error::other(
            "blocking pool dropped a drive operation (shutting down?)",
        )),
    }
}

/// Creates drive folder `dir` and its missing parents; returns every drive folder whose
/// entries changed (the parents of the folders made), which the caller must fsync for
/// durability.
fn create_dirs(root: &RootDir, dir: &str) -> io::Result<Vec<String>> {
    let mut changed = Vec::new();
    let mut missing = dir;
    while !missing.is_empty() && !root.join(missing).exists() {
        let parent = ring_fs::parent_str(missing);
        changed.push(parent.to_owned());
        missing = parent;
    }
    if !changed.is_empty() {
        std::fs::create_dir_all(root.join(dir))?;
    }
    Ok(changed)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Drive folders `dirs` fsync'd once each, deepest first, `.shoal/tmp` left out (see
/// `ring_fs::sync_dirs` for why).
fn sync_dirs(root: &RootDir, mut dirs: Vec<String>) -> io::Result<()> {
    dirs.retain(|dir| dir != TMP_DIR);
    dirs.sort_by(|a, b| b.cmp(a));
    dirs.dedup();
    dirs.iter().try_for_each(|dir| sync_dir(&root.join(dir)))
}

/// Whether the filesystem under `tmp` takes O_DIRECT opens and aligned writes.
fn probe_direct_io(tmp: &Path, tmp_prefix: &str) -> DriveResult<bool> {
    let probe = tmp.join(format!("{tmp_prefix}-direct-probe.tmp"));
    let opened = StdOpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&probe);
    let result = match opened {
        Ok(file) => match file.write_all_at(AlignedBuf::zeroed(BLOCK_SIZE_BYTES).as_slice(), 0) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
            Err(e) => Err(e.into()),
        },
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e.into()),
    };
    let _ = std::fs::remove_file(&probe);
    result
}

/// Preallocates `size_bytes` without changing the file size; EOPNOTSUPP is ignored
/// (preallocation is an optimisation), ENOSPC is reported early.
fn preallocate(fd: std::os::fd::RawFd, size_bytes: u64) -> io::Result<()> {
    if size_bytes == 0 {
        return Ok(());
    }
    let len = i64::try_from(size_bytes).expect("size hint fits in off_t");
    match nix::fcntl::fallocate(fd, nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE, 0, len) {
        Ok(()) | Err(nix::errno::Errno::EOPNOTSUPP) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}

fn assert_aligned(offset: u64, len: usize) {
    assert!(
        offset.is_multiple_of(BLOCK_SIZE_BYTES as u64),
        "I/O offset {offset} not block aligned"
    );
    assert!(
        len.is_multiple_of(BLOCK_SIZE_BYTES),
        "I/O length {len} not block aligned"
    );
}

/// Reads from `offset` until `buf` is full or the file ends (a read that returns zero
/// bytes, or a partial block, which O_DIRECT returns only at the end of the file).
async fn ring_read_full(
    file: &monoio::fs::File,
    buf: AlignedBuf,
    offset: u64,
) -> (io::Result<()>, AlignedBuf) {
    use monoio::buf::IoBufMut;
    let (result, mut buf) = file.read_at(buf, offset).await;
    let mut done = match result {
        Ok(n) => n,
        Err(e) => return (Err(e), buf),
    };
    while done < buf.capacity() && done > 0 && done.is_multiple_of(BLOCK_SIZE_BYTES) {
        let (result, slice) = file
            .read_at(buf.slice_mut(done..), offset + done as u64)
            .await;
        buf = slice.into_inner();
        match result {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) => return (Err(e), buf),
        }
    }
    buf.set_len(done);
    (Ok(()), buf)
}

/// The blocking-pool twin of [`ring_read_full`].
fn pool_read_full(file: &std::fs::File, buf: &mut AlignedBuf, offset: u64) -> io::Result<()> {
    let mut done = 0;
    let capacity = buf.capacity();
    loop {
        let n = file.read_at(&mut buf.spare_all()[done..capacity], offset + done as u64)?;
        done += n;
        if n == 0 || done == capacity || !done.is_multiple_of(BLOCK_SIZE_BYTES) {
            break;
        }
    }
    buf.set_len(done);
    Ok(())
}

/// The pool dropped a task that owned the caller's buffer (only when the runtime shuts
/// down): hand back a fresh buffer of the same capacity, as the trait promises a buffer.
fn pool_canceled(capacity: usize) -> (DriveResult<()>, AlignedBuf) {
    let error = io::Error::other("blocking pool dropped a drive operation (shutting down?)");
    (
        Err(DriveError::Io(error)),
        AlignedBuf::with_capacity(capacity),
    )
}

/// A second descriptor of an open file, owned by a helper-pool job: the shard closing
/// its own handle meanwhile (a dropped request) can then never leave the job acting on
/// a descriptor number already reused for another file.
fn dup_file(handle: &FileHandle) -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    let fd = match handle {
        FileHandle::Ring(file) => file.as_raw_fd(),
        FileHandle::Pool(file) => file.as_raw_fd(),
    };
    #[allow(unsafe_code)]
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers; `fd` is open while `handle` lives.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(unsafe_code)]
    // SAFETY: `copy` was just made by fcntl and nothing else owns it.
    Ok(unsafe { std::fs::File::from_raw_fd(copy) })
}

impl Drive for DirDrive {
    type File = DirFile;

    fn name(&self) -> &str {
        &self.name
    }

    async fn read_file(&self, path: &str) -> DriveResult<Vec<u8>> {
        let held = self.held_entry(path)?;
        if use_pool() {
            return Ok(on_helper(move || std::fs::read(held.path)).await?);
        }
        // Relative to the held root's descriptor, not through `/proc`, so the kernel
        // resolves it inline (`open_ring.rs`). The clone keeps the root open until the
        // open completes, even if this call is dropped; `held` until the call returns.
        let dir = (
            held.root.fd(),
            Rc::new(Arc::clone(&held.root)) as Rc<dyn std::any::Any>,
        );
        Ok(ring_fs::read_whole_at(dir, path, &held.path).await?)
    }

    async fn write_file_atomic(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        self.write_file_atomic_into(path, data).await.map(drop)
    }

    async fn write_file_atomic_into(&self, path: &str, data: &[u8]) -> DriveResult<TargetFolder> {
        let HeldPath { root, path: target } = self.held_entry(path)?;
        let tmp_name = self.tmp_name();
        let tmp = root.join(&tmp_name);
        let data = data.to_vec();
        if use_pool() {
            let (tmp_job, root, name) = (tmp.clone(), Arc::clone(&root), path.to_owned());
            let result = on_helper(move || {
                let file = StdOpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp_job)?;
                file.write_all_at(&data, 0)?;
                file.sync_data()?;
                drop(file);
                publish(&root, &tmp_job, &target, &name)
            })
            .await;
            if result.is_err() {
                let _ = on_helper(move || std::fs::remove_file(tmp)).await;
            }
            return Ok(result?);
        }
        // Every PUT's metadata commit, group-committed: the temporary is written (one
        // chain), made durable by a `syncfs` of the drive's filesystem shared with the
        // other commits of this shard (`sync_filesystem`), renamed into place (making
        // the key's folder if need be), and the rename made durable by the next shared
        // `syncfs`. The bytes are durable before the name is, so a crash leaves the old
        // record or the new one whole, on any filesystem.
        let at = root.ring_root();
        let staged = match ring_fs::write_new(&at, &tmp_name, data, false).await {
            Ok(()) => sync_filesystem(&root).await,
            Err(e) => Err(e),
        };
        let renamed = match staged {
            Ok(()) => ring_fs::rename_making_parents(&at, &tmp_name, path).await,
            Err(e) => Err(e),
        };
        let folder = match renamed {
            Ok((_, folder)) => folder,
            Err(e) => {
                let _ = ring_fs::unlink(&at, &tmp_name).await;
                return Err(e.into());
            }
        };
        sync_filesystem(&root).await?;
        Ok(folder)
    }

    async fn create(&self, path: &str, size_hint_bytes: u64) -> DriveResult<DirFile> {
        let held = self.held_entry(path)?;
        let root = Arc::clone(&held.root);
        let parent = ring_fs::parent_str(path).to_owned();
        let mut dirs_unsynced = if use_pool() {
            let (parent, root) = (parent.clone(), Arc::clone(&root));
            on_helper(move || create_dirs(&root, &parent)).await?
        } else {
            ring_fs::create_dirs(&root.ring_root(), &parent).await?
        };
        dirs_unsynced.push(parent);
        let handle = self.open_handle(held, path, true).await?;
        if size_hint_bytes > 0 {
            // fallocate has no ring op in monoio: the helper does it on its own descriptor.
            let file = dup_file(&handle)?;
            on_helper(move || preallocate(file.as_raw_fd(), size_hint_bytes)).await?;
        }
        Ok(DirFile {
            handle,
            root,
            dirs_unsynced: RefCell::new(dirs_unsynced),
        })
    }

    async fn open(&self, path: &str) -> DriveResult<DirFile> {
        let held = self.held_entry(path)?;
        let root = Arc::clone(&held.root);
        let handle = self.open_handle(held, path, false).await?;
        Ok(DirFile {
            handle,
            root,
            dirs_unsynced: RefCell::new(Vec::new()),
        })
    }

    async fn write_at(
        &self,
        file: &DirFile,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        assert_aligned(offset, buf.len());
        let capacity = buf.capacity();
        match &file.handle {
            FileHandle::Ring(ring_file) => {
                let (result, buf) = ring_file.write_all_at(buf, offset).await;
                (result.map_err(DriveError::from), buf)
            }
            FileHandle::Pool(pool_file) => {
                let pool_file = Arc::clone(pool_file);
                let joined = monoio::spawn_blocking(move || {
                    let result = pool_file.write_all_at(buf.as_slice(), offset);
                    (result, buf)
                })
                .await;
                match joined {
                    Ok((result, buf)) => (result.map_err(DriveError::from), buf),
                    Err(monoio::blocking::JoinError::Canceled) => pool_canceled(capacity),
                }
            }
        }
    }

    async fn read_at(
        &self,
        file: &DirFile,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        assert_aligned(offset, buf.capacity());
        let capacity = buf.capacity();
        match &file.handle {
            FileHandle::Ring(ring_file) => {
                let (result, mut buf) = ring_read_full(ring_file, buf, offset).await;
                if result.is_err() {
                    buf.set_len(0);
                }
                (result.map_err(DriveError::from), buf)
            }
            FileHandle::Pool(pool_file) => {
                let pool_file = Arc::clone(pool_file);
                let joined = monoio::spawn_blocking(move || {
                    let mut buf = buf;
                    let result = pool_read_full(&pool_file, &mut buf, offset);
                    if result.is_err() {
                        buf.set_len(0);
                    }
                    (result, buf)
                })
                .await;
                match joined {
                    Ok((result, buf)) => (result.map_err(DriveError::from), buf),
                    Err(monoio::blocking::JoinError::Canceled) => pool_canceled(capacity),
                }
            }
        }
    }

    async fn set_len(&self, file: &DirFile, len_bytes: u64) -> DriveResult<()> {
        // ftruncate has no ring op in monoio: the helper does it on its own descriptor.
        let file = dup_file(&file.handle)?;
        Ok(on_helper(move || file.set_len(len_bytes)).await?)
    }

    async fn sync(&self, file: &DirFile) -> DriveResult<()> {
        match &file.handle {
            FileHandle::Ring(ring_file) => ring_file.sync_data().await?,
            FileHandle::Pool(pool_file) => {
                let pool_file = Arc::clone(pool_file);
                on_helper(move || pool_file.sync_data()).await?;
            }
        }
        // Cloned, not taken: if an fsync fails, the next `sync` tries the directories again.
        let dirs = file.dirs_unsynced.borrow().clone();
        if !dirs.is_empty() {
            if use_pool() {
                let root = Arc::clone(&file.root);
                on_helper(move || sync_dirs(&root, dirs)).await?;
            } else {
                ring_fs::sync_dirs(&file.root.ring_root(), dirs).await?;
            }
            file.dirs_unsynced.borrow_mut().clear();
        }
        Ok(())
    }

    async fn close(&self, file: DirFile) -> DriveResult<()> {
        match file.handle {
            FileHandle::Ring(ring_file) => Ok(ring_file.close().await?),
            FileHandle::Pool(pool_file) => {
                drop(pool_file);
                Ok(())
            }
        }
    }

    async fn rename(&self, from: &str, to: &str) -> DriveResult<()> {
        self.rename_into(from, to).await.map(drop)
    }

    async fn rename_into(&self, from: &str, to: &str) -> DriveResult<TargetFolder> {
        let (from_held, to_held) = (self.held_entry(from)?, self.held_entry(to)?);
        if !use_pool() {
            let at = from_held.root.ring_root();
            return Ok(ring_fs::rename_durable(&at, from, to).await?);
        }
        let (from, to) = (from.to_owned(), to.to_owned());
        Ok(on_helper(move || {
            let root = &from_held.root;
            let (mut dirs, folder) =
                rename_making_parents(root, &from_held.path, &to_held.path, &to)?;
            dirs.push(ring_fs::parent_str(&from).to_owned());
            dirs.push(ring_fs::parent_str(&to).to_owned());
            sync_dirs(root, dirs)?;
            Ok(folder)
        })
        .await?)
    }

    async fn remove_file(&self, path: &str) -> DriveResult<()> {
        let held = self.held_entry(path)?;
        // Durable: removing a metadata file is how a delete commits (drive.rs).
        if !use_pool() {
            return Ok(ring_fs::remove_file_durable(&held.root.ring_root(), path).await?);
        }
        Ok(on_helper(move || {
            let path = held.path;
            std::fs::remove_file(&path)?;
            path.parent().map_or(Ok(()), sync_dir)
        })
        .await?)
    }

    async fn remove_dir_all(&self, path: &str) -> DriveResult<()> {
        let held = self.held_entry(path)?;
        // A walk of the tree (getdents64 at every level): the helper's work.
        Ok(on_helper(move || std::fs::remove_dir_all(held.path)).await?)
    }

    async fn remove_dir_if_empty(&self, path: &str) -> DriveResult<bool> {
        let held = self.held_entry(path)?;
        if !use_pool() {
            return Ok(ring_fs::remove_dir_if_empty(&held.root.ring_root(), path).await?);
        }
        let removed = on_helper(move || match std::fs::remove_dir(held.path) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => Ok(false),
            Err(e) => Err(e),
        })
        .await?;
        Ok(removed)
    }

    async fn create_dir_all(&self, path: &str) -> DriveResult<()> {
        let held = self.held_entry(path)?;
        if !use_pool() {
            ring_fs::create_dirs(&held.root.ring_root(), path).await?;
            return Ok(());
        }
        Ok(on_helper(move || std::fs::create_dir_all(held.path)).await?)
    }

    /// Names that are not UTF-8 (never written by Shoal) are listed lossily; opening
    /// such a name then fails with `NotFound`, which callers already handle.
    async fn list_dir(&self, path: &str) -> DriveResult<Vec<DirEntry>> {
        let held = self.held(path)?;
        // getdents64 has no ring op: the helper reads the directory.
        let entries = on_helper(move || {
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&held.path)? {
                let entry = entry?;
                entries.push(DirEntry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    is_dir: entry.file_type()?.is_dir(),
                });
            }
            entries.sort();
            Ok(entries)
        })
        .await?;
        Ok(entries)
    }

    async fn space(&self) -> DriveResult<SpaceInfo> {
        let held = self.held("")?;
        // statvfs has no ring op: the helper asks.
        let stat =
            on_helper(move || nix::sys::statvfs::statvfs(&held.path).map_err(io::Error::from))
                .await?;
        let fragment_bytes = stat.fragment_size();
        Ok(SpaceInfo {
            total_bytes: stat.blocks() * fragment_bytes,
            free_bytes: stat.blocks_available() * fragment_bytes,
        })
    }

    /// Online: one stat of the folder and one read of the record, compared with the
    /// held root. Offline: tries to re-open the folder, which must hold the record.
    async fn check_identity(&self, identity_path: &str, identity: &[u8]) -> Result<(), String> {
        let held = match &*self.attachment.borrow() {
            Attachment::Attached(dir) => Some(Arc::clone(dir)),
            Attachment::Detached(_) => None,
        };
        let (root, marker, expected) = (
            self.root.clone(),
            identity_path.to_owned(),
            identity.to_vec(),
        );
        let (try_direct_io, tmp_prefix) = (self.try_direct_io, self.tmp_prefix.clone());
        // On the blocking pool when there is one: a drive going away can hang a stat.
        let checked = on_helper(move || {
            Ok(match held {
                Some(dir) => verify_attached(&root, &dir, &marker, &expected).map(|()| None),
                None => attach_checked(&root, &marker, Some(&expected), try_direct_io, &tmp_prefix)
                    .map(Some),
            })
        })
        .await
        .unwrap_or_else(|e| Err(format!("its check could not run: {e}")));
        match checked {
            Ok(None) => Ok(()),
            Ok(Some((dir, direct_io))) => {
                self.direct_io.set(direct_io);
                *self.attachment.borrow_mut() = Attachment::Attached(dir);
                Ok(())
            }
            Err(why) => {
                *self.attachment.borrow_mut() = Attachment::Detached(why.clone());
                Err(why)
            }
        }
    }
}
