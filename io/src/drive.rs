//! The drive abstraction: everything the object store does to one drive.
//!
//! Two implementations share one test suite: `DirDrive` (a real directory; chunk files
//! through io_uring with O_DIRECT) and `SimDrive` (in memory, with injectable faults and
//! simulated crashes). A remote drive on a peer node will be a third, behind the same
//! trait.
//!
//! Paths are relative to the drive root, `/`-separated, never empty, never absolute,
//! with no empty, `.` or `..` segments. Implementations assert this: a bad path here is
//! a programmer error, because keys are validated and escaped before they become paths.
//!
//! Durability contract (what `SimDrive::crash` models):
//! - `write_file_atomic` is durable and atomic when it returns: readers see the old or
//!   the new content, never a mix, even across a crash.
//! - Bytes written with `write_at` are durable only after `sync` on that file returns.
//!   The first `sync` of a file made by `create` also makes its name durable (and any
//!   directories `create` made for it).
//! - `rename` is durable when it returns (the parent directories are fsync'd).
//! - `remove_file` is durable when it returns (the parent directory is fsync'd): removing
//!   an object's metadata is how a delete commits.
//! - `remove_dir_all`, `remove_dir_if_empty` and `create_dir_all` need not be durable.
//! - Except under `.shoal/tmp/`, whose entries a start removes: a `DirDrive` never
//!   fsyncs that folder itself, so what is made or removed directly in it is durable
//!   only once renamed out (the target folder's fsync makes the move durable).

use std::future::Future;

use crate::buf::AlignedBuf;

/// An operating error from a drive. Programmer errors (bad paths, misaligned I/O) are
/// assertions instead.
#[derive(Debug)]
pub enum DriveError {
    /// The file or directory does not exist.
    NotFound,
    /// The drive is out of space.
    NoSpace,
    /// Any other I/O failure (EIO, permission, ...). The drive may be failing.
    Io(std::io::Error),
    /// The drive is offline (see [`Drive::check_identity`]), and why; nothing was touched.
    Offline(String),
}

impl std::fmt::Display for DriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriveError::NotFound => write!(f, "not found"),
            DriveError::NoSpace => write!(f, "no space left on drive"),
            DriveError::Io(e) => write!(f, "{e}"),
            DriveError::Offline(why) => write!(f, "drive offline: {why}"),
        }
    }
}

impl std::error::Error for DriveError {}

impl From<std::io::Error> for DriveError {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => {
                LAST_DESCRIPTOR_EXHAUSTION.set(Some(std::time::Instant::now()));
            }
            Some(libc::ENOSPC | libc::EDQUOT) => LAST_NO_SPACE.set(Some(std::time::Instant::now())),
            _ => {}
        }
        match e.raw_os_error() {
            Some(libc::ENOENT) => DriveError::NotFound,
            Some(libc::ENOSPC | libc::EDQUOT) => DriveError::NoSpace,
            _ if e.kind() == std::io::ErrorKind::NotFound => DriveError::NotFound,
            _ => DriveError::Io(e),
        }
    }
}

pub type DriveResult<T> = Result<T, DriveError>;

thread_local! {
    /// When a drive operation of this thread (shard) last failed for lack of file
    /// descriptors (EMFILE/ENFILE): the process is overloaded, the drive is fine.
    static LAST_DESCRIPTOR_EXHAUSTION: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

thread_local! {
    /// When a drive of this thread (shard) last refused a write for lack of space
    /// (ENOSPC/EDQUOT): a write that missed its quorum then failed on full drives.
    static LAST_NO_SPACE: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

/// Whether a drive of this thread refused a write for lack of space within the last
/// `window` (so a write quorum failure now is full drives, which a retry will not fix).
pub fn no_space_within(window: std::time::Duration) -> bool {
    LAST_NO_SPACE.get().is_some_and(|at| at.elapsed() <= window)
}

/// Whether a drive operation on this thread ran out of file descriptors within the
/// last `window` (so a quorum failure now is overload, not failing drives).
pub fn descriptors_exhausted_within(window: std::time::Duration) -> bool {
    LAST_DESCRIPTOR_EXHAUSTION
        .get()
        .is_some_and(|at| at.elapsed() <= window)
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
}

/// Whether the folder a write put its entry into was there before the write.
///
/// `Made` is a promise about what the folder held: nothing until this call, which made
/// it. A caller that owns every entry of the folder it puts there (the object store,
/// under a key's lock) learns from it that no older entry of its own is in there, and
/// skips the listing that would look for one. When unsure, an implementation answers
/// `Existed`: the caller then looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetFolder {
    /// The folder was there (or it could not be told).
    Existed,
    /// The folder was missing when the write started; the write made it.
    Made,
}

/// Capacity of a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceInfo {
    pub total_bytes: u64,
    pub free_bytes: u64,
}

/// Everything the object store does to one drive. Futures are not `Send`: a drive is
/// used only from the shard (thread) that opened it.
pub trait Drive: 'static {
    /// An open chunk file.
    type File;

    /// A short name for messages: the directory path, or `sim:N`.
    fn name(&self) -> &str;

    /// Reads a whole small file (format record, metadata). Not O_DIRECT.
    fn read_file(&self, path: &str) -> impl Future<Output = DriveResult<Vec<u8>>>;

    /// Atomically replaces `path` with `data`: write a temporary file under
    /// `.shoal/tmp/`, fdatasync, rename over `path`, fsync the parent directory.
    /// Creates missing parent directories.
    fn write_file_atomic(&self, path: &str, data: &[u8]) -> impl Future<Output = DriveResult<()>>;

    /// `write_file_atomic`, telling whether `path`'s folder was there before.
    /// The default cannot tell and answers `Existed`.
    fn write_file_atomic_into(
        &self,
        path: &str,
        data: &[u8],
    ) -> impl Future<Output = DriveResult<TargetFolder>> {
        async move {
            self.write_file_atomic(path, data).await?;
            Ok(TargetFolder::Existed)
        }
    }

    /// Creates (or truncates) a chunk file for O_DIRECT writes, creating missing parent
    /// directories, and preallocates `size_hint_bytes` (0: none).
    fn create(
        &self,
        path: &str,
        size_hint_bytes: u64,
    ) -> impl Future<Output = DriveResult<Self::File>>;

    /// Opens an existing chunk file for O_DIRECT reads.
    fn open(&self, path: &str) -> impl Future<Output = DriveResult<Self::File>>;

    /// Writes all of `buf` at `offset`. `offset` and `buf.len()` are multiples of
    /// [`crate::BLOCK_SIZE_BYTES`]. The buffer is handed back whatever happens.
    fn write_at(
        &self,
        file: &Self::File,
        buf: AlignedBuf,
        offset: u64,
    ) -> impl Future<Output = (DriveResult<()>, AlignedBuf)>;

    /// Reads into `buf` (up to its capacity) from `offset`, a multiple of
    /// [`crate::BLOCK_SIZE_BYTES`]; sets `buf.len()` to the bytes read, fewer only at the
    /// end of the file; 0 at or past the end. The buffer is handed back whatever happens
    /// (with length 0 on error).
    fn read_at(
        &self,
        file: &Self::File,
        buf: AlignedBuf,
        offset: u64,
    ) -> impl Future<Output = (DriveResult<()>, AlignedBuf)>;

    /// Sets the file's length (drops block padding after the last write).
    fn set_len(&self, file: &Self::File, len_bytes: u64) -> impl Future<Output = DriveResult<()>>;

    /// fdatasync: every byte written to `file` before is durable when this returns.
    fn sync(&self, file: &Self::File) -> impl Future<Output = DriveResult<()>>;

    /// Closes the file (dropping it also closes, synchronously).
    fn close(&self, file: Self::File) -> impl Future<Output = DriveResult<()>>;

    /// Renames a file or directory, replacing a file at `to`; creates missing parent
    /// directories of `to`; durable when it returns (both parents fsync'd).
    fn rename(&self, from: &str, to: &str) -> impl Future<Output = DriveResult<()>>;

    /// `rename`, telling whether `to`'s folder was there before. The default cannot
    /// tell and answers `Existed`.
    fn rename_into(&self, from: &str, to: &str) -> impl Future<Output = DriveResult<TargetFolder>> {
        async move {
            self.rename(from, to).await?;
            Ok(TargetFolder::Existed)
        }
    }

    /// Removes one file, durably (the parent directory is fsync'd).
    fn remove_file(&self, path: &str) -> impl Future<Output = DriveResult<()>>;

    /// Removes a directory and everything under it. `NotFound` if it does not exist.
    fn remove_dir_all(&self, path: &str) -> impl Future<Output = DriveResult<()>>;

    /// Removes a directory only if it is empty; `Ok(false)` if it is not empty,
    /// `NotFound` if it does not exist.
    fn remove_dir_if_empty(&self, path: &str) -> impl Future<Output = DriveResult<bool>>;

    /// Creates a directory and its missing parents.
    fn create_dir_all(&self, path: &str) -> impl Future<Output = DriveResult<()>>;

    /// Lists a directory, sorted by name. `""` lists the drive root.
    fn list_dir(&self, path: &str) -> impl Future<Output = DriveResult<Vec<DirEntry>>>;

    /// Total and free bytes.
    fn space(&self) -> impl Future<Output = DriveResult<SpaceInfo>>;

    /// Checks that this is still the drive it was opened as: `identity_path` (its format
    /// record) holds exactly `identity`, and, for drives that can tell, the drive's
    /// location still leads to the filesystem it was opened on (not a bare mount point,
    /// not a folder created again). `Err` says why not. A drive that fails goes offline
    /// where the implementation can enforce it (every operation then fails at once and
    /// touches no filesystem) and comes back when a later check passes.
    ///
    /// The default only compares the record, through `read_file`.
    fn check_identity(
        &self,
        identity_path: &str,
        identity: &[u8],
    ) -> impl Future<Output = Result<(), String>> {
        async move {
            match self.read_file(identity_path).await {
                Ok(bytes) if bytes == identity => Ok(()),
                Ok(_) => Err(format!("its {identity_path} belongs to another drive")),
                Err(DriveError::NotFound) => Err(format!("it has no {identity_path}")),
                Err(e) => Err(format!("its {identity_path} cannot be read: {e}")),
            }
        }
    }
}

/// Asserts the path rules of this module; implementations call it on every path.
pub fn assert_relative_path(path: &str) {
    if path.is_empty() {
        return; // the drive root, allowed for listing only
    }
    assert!(!path.starts_with('/'), "absolute drive path {path:?}");
    assert!(!path.contains('\0'), "NUL in drive path");
    for segment in path.split('/') {
        assert!(
            !segment.is_empty() && segment != "." && segment != "..",
            "bad segment in drive path {path:?}"
        );
    }
}
