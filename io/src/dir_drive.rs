//! `DirDrive`: the real drive, a directory on a local filesystem.
//!
//! Chunk files go through `monoio::fs::File` (io_uring) opened with O_DIRECT. If the
//! filesystem refuses O_DIRECT (tmpfs answers EINVAL), the drive falls back to buffered
//! I/O for its lifetime and says so in [`DirDrive::direct_io`]; the alignment rules of
//! the [`Drive`] trait are asserted either way, so code that passes on tmpfs also passes
//! on a real disk.
//!
//! Directory operations, `rename`, `set_len`, `space` and small-file reads are plain
//! synchronous syscalls: they are metadata-sized, and monoio 0.2.4 has no async directory
//! operations (its `mkdirat`/`renameat`/`unlinkat` features lack the fsync-of-parent we
//! need anyway). When the shard runs on epoll with a blocking pool (see `runtime.rs`),
//! every drive operation, chunk I/O included, runs on that pool instead of the shard's
//! thread, because under epoll monoio would run file syscalls inline and stall the shard.
//!
//! Invariants:
//! - Every path is checked with [`assert_relative_path`] and joined under the root;
//!   nothing outside the root is ever touched.
//! - Durability follows drive.rs: after `sync` on a file made by `create`, its bytes and
//!   its name (and any directories `create` made for it) are durable; `rename` and
//!   `write_file_atomic` fsync every directory whose entries they changed.
//! - Temporary files live only under `.shoal/tmp/` and have names unique to this process.

use std::cell::{Cell, RefCell};
use std::fs::OpenOptions as StdOpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::{Flock, FlockArg};

use crate::buf::{AlignedBuf, BLOCK_SIZE_BYTES};
use crate::drive::{DirEntry, Drive, DriveError, DriveResult, SpaceInfo, assert_relative_path};

const SHOAL_DIR: &str = ".shoal";
const TMP_DIR: &str = ".shoal/tmp";
const LOCK_FILE: &str = ".shoal/lock";

/// A drive over a directory. Used only from the shard (thread) that opened it.
pub struct DirDrive {
    root: PathBuf,
    name: String,
    direct_io: bool,
    /// Makes temporary names unique: `<pid>-<open time ns>-<sequence>`.
    tmp_prefix: String,
    tmp_sequence: Cell<u64>,
}

/// An open chunk file of a [`DirDrive`].
pub struct DirFile {
    handle: FileHandle,
    /// Directories whose entries `create` changed (the file's parent, plus the parents
    /// of directories it made), fsync'd by the first `sync` so the name is durable too.
    dirs_unsynced: RefCell<Vec<PathBuf>>,
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
    /// `.shoal/tmp/`, and finds out whether the filesystem accepts O_DIRECT.
    pub fn open(root: &Path) -> DriveResult<DirDrive> {
        Self::open_with(root, true)
    }

    /// Opens the drive with buffered I/O even where O_DIRECT works: for tests of the
    /// fallback (tmpfs takes O_DIRECT since Linux 6.6) and filesystems whose O_DIRECT is
    /// known to be broken.
    pub fn open_buffered(root: &Path) -> DriveResult<DirDrive> {
        Self::open_with(root, false)
    }

    fn open_with(root: &Path, try_direct_io: bool) -> DriveResult<DirDrive> {
        static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        if !std::fs::metadata(root)?.is_dir() {
            return Err(DriveError::Io(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("drive {} is not a directory", root.display()),
            )));
        }
        std::fs::create_dir_all(root.join(TMP_DIR))?;
        sync_dir(root)?;
        sync_dir(&root.join(SHOAL_DIR))?;
        let opened_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        // Every DirDrive of the process (one per shard per drive) needs its own temporary
        // names: pid + open time + a process-wide instance number.
        let instance = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp_prefix = format!("{}-{opened_ns}-{instance}", std::process::id());
        let direct_io = try_direct_io && probe_direct_io(&root.join(TMP_DIR), &tmp_prefix)?;
        Ok(DirDrive {
            root: root.to_path_buf(),
            name: root.display().to_string(),
            direct_io,
            tmp_prefix,
            tmp_sequence: Cell::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether chunk files use O_DIRECT (false: the filesystem refused it).
    pub fn direct_io(&self) -> bool {
        self.direct_io
    }

    /// Removes everything under `.shoal/tmp/` (leftovers of writes a crash interrupted).
    /// Call at start, before any write on this drive.
    pub fn clean_tmp(&self) -> DriveResult<()> {
        let tmp = self.root.join(TMP_DIR);
        for entry in std::fs::read_dir(&tmp)? {
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
        let path = self.root.join(LOCK_FILE);
        let file = StdOpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(DriveLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(DriveError::Io(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "drive {} is in use by another shoal process (it holds {})",
                    self.root.display(),
                    path.display()
                ),
            ))),
            Err((_, errno)) => Err(DriveError::Io(errno.into())),
        }
    }

    /// The absolute path of a drive path; `""` is the root.
    fn abs(&self, path: &str) -> PathBuf {
        assert_relative_path(path);
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        }
    }

    /// The absolute path of a drive path naming a file or directory (not the root).
    fn abs_entry(&self, path: &str) -> PathBuf {
        assert!(!path.is_empty(), "empty drive path");
        self.abs(path)
    }

    fn tmp_path(&self) -> PathBuf {
        let sequence = self.tmp_sequence.get();
        self.tmp_sequence.set(sequence + 1);
        self.root
            .join(TMP_DIR)
            .join(format!("{}-{sequence}.tmp", self.tmp_prefix))
    }

    fn open_flags(&self) -> i32 {
        if self.direct_io { libc::O_DIRECT } else { 0 }
    }

    async fn open_handle(&self, path: PathBuf, create: bool) -> DriveResult<FileHandle> {
        let flags = self.open_flags();
        if use_pool() {
            let file = blocking(move || {
                StdOpenOptions::new()
                    .read(true)
                    .write(create)
                    .create(create)
                    .truncate(create)
                    .custom_flags(flags)
                    .open(path)
            })
            .await?;
            return Ok(FileHandle::Pool(Arc::new(file)));
        }
        let file = monoio::fs::OpenOptions::new()
            .read(true)
            .write(create)
            .create(create)
            .truncate(create)
            .custom_flags(flags)
            .open(path)
            .await?;
        Ok(FileHandle::Ring(file))
    }
}

/// Writes `data` to a new file at `tmp` and fdatasyncs it, through the ring.
async fn write_synced_ring(tmp: &Path, data: Vec<u8>) -> io::Result<()> {
    let file = monoio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .await?;
    let (written, _) = file.write_all_at(data, 0).await;
    let synced = match written {
        Ok(()) => file.sync_data().await,
        Err(e) => Err(e),
    };
    file.close().await?;
    synced
}

/// Renames a synced temporary over `target`, making missing parents, and fsyncs every
/// directory whose entries changed.
fn publish(tmp: &Path, target: &Path) -> io::Result<()> {
    let mut dirs = create_dirs(&parent_of(target))?;
    std::fs::rename(tmp, target)?;
    dirs.push(parent_of(target));
    sync_dirs(dirs)
}

/// Whether drive I/O goes to the blocking pool: epoll mode with a pool attached.
fn use_pool() -> bool {
    crate::runtime::blocking_pool_attached() && monoio::utils::is_legacy()
}

/// Runs `work` (a blocking call) on the blocking pool in epoll mode, inline otherwise:
/// under io_uring, metadata reads, listings and mkdirs hit the page cache and are
/// cheaper inline than a hand-off to another thread.
async fn blocking<T, F>(work: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    if use_pool() {
        on_pool(work).await
    } else {
        work()
    }
}

/// Runs `work`, which waits for the disk (an fsync of a file or directory), on the
/// blocking pool whenever one is attached — in both driver modes — so one slow fsync
/// never stalls the shard's other requests.
async fn blocking_durable<T, F>(work: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    if crate::runtime::blocking_pool_attached() {
        on_pool(work).await
    } else {
        work()
    }
}

async fn on_pool<T, F>(work: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match monoio::spawn_blocking(work).await {
        Ok(result) => result,
        Err(monoio::blocking::JoinError::Canceled) => Err(io::Error::other(
            "blocking pool dropped a drive operation (shutting down?)",
        )),
    }
}

/// Creates `dir` and its missing parents; returns every directory whose entries changed
/// (the parents of the directories made), which the caller must fsync for durability.
fn create_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    let mut missing = dir;
    while !missing.exists() {
        let parent = missing.parent().expect("a drive root exists");
        changed.push(parent.to_path_buf());
        missing = parent;
    }
    if !changed.is_empty() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(changed)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// `dirs` fsync'd once each, deepest first.
fn sync_dirs(mut dirs: Vec<PathBuf>) -> io::Result<()> {
    dirs.sort_by(|a, b| b.cmp(a));
    dirs.dedup();
    dirs.iter().try_for_each(|dir| sync_dir(dir))
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .expect("drive paths have a parent")
        .to_path_buf()
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

fn truncate(fd: std::os::fd::RawFd, len_bytes: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len_bytes).expect("length fits in off_t");
    #[allow(unsafe_code)]
    // SAFETY: ftruncate takes no pointers; `fd` belongs to a file the caller holds open.
    let rc = unsafe { libc::ftruncate(fd, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn fd_of(handle: &FileHandle) -> std::os::fd::RawFd {
    match handle {
        FileHandle::Ring(file) => file.as_raw_fd(),
        FileHandle::Pool(file) => file.as_raw_fd(),
    }
}

impl Drive for DirDrive {
    type File = DirFile;

    fn name(&self) -> &str {
        &self.name
    }

    async fn read_file(&self, path: &str) -> DriveResult<Vec<u8>> {
        let path = self.abs_entry(path);
        Ok(blocking(move || std::fs::read(path)).await?)
    }

    async fn write_file_atomic(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        let target = self.abs_entry(path);
        let tmp = self.tmp_path();
        let data = data.to_vec();
        let result = if use_pool() {
            let tmp = tmp.clone();
            blocking(move || {
                let file = StdOpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp)?;
                file.write_all_at(&data, 0)?;
                file.sync_data()?;
                drop(file);
                publish(&tmp, &target)
            })
            .await
        } else {
            // The write and its fdatasync go through the ring: this is every PUT's
            // metadata commit. The rename and directory fsyncs go to the blocking pool.
            match write_synced_ring(&tmp, data).await {
                Ok(()) => {
                    let tmp = tmp.clone();
                    blocking_durable(move || publish(&tmp, &target)).await
                }
                Err(e) => Err(e),
            }
        };
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(result?)
    }

    async fn create(&self, path: &str, size_hint_bytes: u64) -> DriveResult<DirFile> {
        let path = self.abs_entry(path);
        let parent = parent_of(&path);
        let mut dirs_unsynced = blocking(move || create_dirs(&parent)).await?;
        dirs_unsynced.push(parent_of(&path));
        let handle = self.open_handle(path, true).await?;
        match &handle {
            FileHandle::Ring(_) => preallocate(fd_of(&handle), size_hint_bytes)?,
            FileHandle::Pool(file) => {
                let file = Arc::clone(file);
                blocking(move || preallocate(file.as_raw_fd(), size_hint_bytes)).await?;
            }
        }
        Ok(DirFile {
            handle,
            dirs_unsynced: RefCell::new(dirs_unsynced),
        })
    }

    async fn open(&self, path: &str) -> DriveResult<DirFile> {
        let handle = self.open_handle(self.abs_entry(path), false).await?;
        Ok(DirFile {
            handle,
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
        match &file.handle {
            FileHandle::Ring(_) => Ok(truncate(fd_of(&file.handle), len_bytes)?),
            FileHandle::Pool(pool_file) => {
                let pool_file = Arc::clone(pool_file);
                Ok(blocking(move || pool_file.set_len(len_bytes)).await?)
            }
        }
    }

    async fn sync(&self, file: &DirFile) -> DriveResult<()> {
        match &file.handle {
            FileHandle::Ring(ring_file) => ring_file.sync_data().await?,
            FileHandle::Pool(pool_file) => {
                let pool_file = Arc::clone(pool_file);
                blocking(move || pool_file.sync_data()).await?;
            }
        }
        // Cloned, not taken: if an fsync fails, the next `sync` tries the directories again.
        let dirs = file.dirs_unsynced.borrow().clone();
        if !dirs.is_empty() {
            blocking_durable(move || sync_dirs(dirs)).await?;
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
        let (from, to) = (self.abs_entry(from), self.abs_entry(to));
        Ok(blocking_durable(move || {
            let mut dirs = create_dirs(&parent_of(&to))?;
            std::fs::rename(&from, &to)?;
            dirs.push(parent_of(&from));
            dirs.push(parent_of(&to));
            sync_dirs(dirs)
        })
        .await?)
    }

    async fn remove_file(&self, path: &str) -> DriveResult<()> {
        let path = self.abs_entry(path);
        // Durable: removing a metadata file is how a delete commits (drive.rs).
        Ok(blocking_durable(move || {
            std::fs::remove_file(&path)?;
            path.parent().map_or(Ok(()), sync_dir)
        })
        .await?)
    }

    async fn remove_dir_all(&self, path: &str) -> DriveResult<()> {
        let path = self.abs_entry(path);
        Ok(blocking(move || std::fs::remove_dir_all(path)).await?)
    }

    async fn remove_dir_if_empty(&self, path: &str) -> DriveResult<bool> {
        let path = self.abs_entry(path);
        let removed = blocking(move || match std::fs::remove_dir(path) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => Ok(false),
            Err(e) => Err(e),
        })
        .await?;
        Ok(removed)
    }

    async fn create_dir_all(&self, path: &str) -> DriveResult<()> {
        let path = self.abs_entry(path);
        Ok(blocking(move || std::fs::create_dir_all(path)).await?)
    }

    /// Names that are not UTF-8 (never written by Shoal) are listed lossily; opening
    /// such a name then fails with `NotFound`, which callers already handle.
    async fn list_dir(&self, path: &str) -> DriveResult<Vec<DirEntry>> {
        let path = self.abs(path);
        let entries = blocking(move || {
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(path)? {
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
        let root = self.root.clone();
        let stat =
            blocking(move || nix::sys::statvfs::statvfs(&root).map_err(io::Error::from)).await?;
        let fragment_bytes = stat.fragment_size();
        Ok(SpaceInfo {
            total_bytes: stat.blocks() * fragment_bytes,
            free_bytes: stat.blocks_available() * fragment_bytes,
        })
    }
}
