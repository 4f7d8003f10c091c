//! Path operations of a drive through the shard's io_uring rings: open, whole-file read,
//! mkdir, rename, unlink, a small file written and synced, and directory fsync, each
//! one submitted to a ring and awaited, so the shard thread itself never makes the
//! syscall (the kernel completes it inline or on its own io-wq workers).
//!
//! Each goes relative to the drive's held root descriptor through the shard's open ring
//! (`open_ring.rs`) when it can, and otherwise through monoio at the root's `/proc`
//! path (monoio 0.2.4 submits path operations only at `AT_FDCWD`). monoio has no ring
//! op for `getdents64`, `statvfs`, `fallocate` or `ftruncate`; `dir_drive.rs` hands
//! those to the shard's helper pool instead.
//!
//! Directory fsyncs are shared: the commits of a shard that changed one folder before
//! an fsync of it started wait for that one fsync (`dir_sync.rs`), and `.shoal/tmp` is
//! never fsync'd (`sync_dirs` says why).
//!
//! Under monoio's epoll driver these same calls would run inline on the calling thread;
//! `DirDrive` routes around that by using its helper pool in epoll mode.
//!
//! Invariants:
//! - Every file this module opens is closed through a ring before the call returns,
//!   on success and on error (no descriptor leaks, no synchronous `close` on drop); a
//!   chain's file lives only in its ring slot.
//! - Paths are drive paths, resolved only under a drive's held root.

use std::any::Any;
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use monoio::buf::IoBufMut;
use std::os::unix::fs::OpenOptionsExt;

use monoio::fs::{File, OpenOptions};

use crate::dir_sync::Groups;
use crate::drive::TargetFolder;
use crate::open_ring;

/// First read size of [`read_whole_at`]: most metadata records fit, so one read does.
const READ_FIRST_BYTES: usize = 16 << 10;

/// Reads a whole file: open, reads until the end, close — all through a ring. The file
/// is `relative` under the directory `dir` (held open by `keep`), opened relative to
/// that directory through this shard's open ring (`open_ring.rs`), or by `path` (the
/// same file under `/proc/<pid>/fd/<dir>`) when that ring cannot take it.
///
/// No `statx` for the size: a read that returns fewer bytes than asked is the end of
/// the file (regular files on local filesystems return short reads only there), and a
/// read that fills the buffer is followed by another into a doubled one.
pub async fn read_whole_at(
    (dir, keep): (RawFd, Rc<dyn Any>),
    relative: &str,
    path: &Path,
) -> io::Result<Vec<u8>> {
    let Ok(relative) = CString::new(relative) else {
        return read_whole(File::open(path).await?).await;
    };
    // Most records: open, read and close chained in the open ring, no descriptor made.
    match open_ring::read_whole(dir, Rc::clone(&keep), relative.clone(), READ_FIRST_BYTES).await {
        Some(Ok(open_ring::Whole::Read(data))) => return Ok(data),
        Some(Err(e)) => return Err(e),
        Some(Ok(open_ring::Whole::Larger)) | None => {}
    }
    let file = match open_ring::open_at(dir, keep, relative, libc::O_RDONLY).await {
        Some(fd) => File::from_std(std::fs::File::from(fd?))?,
        None => File::open(path).await?,
    };
    read_whole(file).await
}

/// Reads an open file to its end, then closes it through the ring.
async fn read_whole(file: File) -> io::Result<Vec<u8>> {
    let read = read_all(&file).await;
    let closed = file.close().await;
    let data = read?;
    closed?;
    Ok(data)
}

async fn read_all(file: &File) -> io::Result<Vec<u8>> {
    let mut data: Vec<u8> = Vec::with_capacity(READ_FIRST_BYTES);
    loop {
        let done = data.len();
        if done == data.capacity() {
            data.reserve(done);
        }
        let capacity = data.capacity();
        let (result, slice) = file
            .read_at(data.slice_mut(done..capacity), done as u64)
            .await;
        data = slice.into_inner();
        match result? {
            n if n == 0 || done + n < capacity => return Ok(data),
            _ => {}
        }
    }
}

/// A drive's held root as the ring's path operations use it: its descriptor (kept open
/// by `keep`), its identity (which folder a shared fsync is of), and its `/proc` path
/// for the operations the shard's open ring cannot take (`base`).
#[derive(Clone)]
pub struct Root {
    pub fd: RawFd,
    pub keep: Rc<dyn Any>,
    pub id: (u64, u64),
    pub base: PathBuf,
}

impl Root {
    /// The `/proc` form of drive path `path` (`""`: the root).
    fn full(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.base.clone()
        } else {
            self.base.join(path)
        }
    }

    async fn op(&self, op: open_ring::PathOp) -> Option<io::Result<()>> {
        open_ring::path_op(self.fd, Rc::clone(&self.keep), op).await
    }
}

/// `path` as the ring takes it, relative to the root's descriptor (`""`: `.`). `None`
/// for a name with a NUL byte (the `/proc` form then fails it).
fn relative(path: &str) -> Option<CString> {
    CString::new(if path.is_empty() { "." } else { path }).ok()
}

/// The folder of temporary files; see `sync_dirs` for why it is never fsync'd.
const TMP_DIR: &str = ".shoal/tmp";

/// Whether `path` exists; errors other than "not found" are returned.
async fn exists(root: &Root, path: &str) -> io::Result<bool> {
    if let Some(relative) = relative(path)
        && let Some(found) = open_ring::exists_at(root.fd, Rc::clone(&root.keep), relative).await
    {
        return found;
    }
    match monoio::fs::metadata(root.full(path)).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// `mkdir` of drive path `path`.
async fn mkdir(root: &Root, path: &str) -> io::Result<()> {
    if let Some(relative) = relative(path)
        && let Some(made) = root.op(open_ring::PathOp::MkDir(relative)).await
    {
        return made;
    }
    monoio::fs::create_dir(root.full(path)).await
}

/// Renames drive path `from` over `to` (no parents made, nothing synced).
async fn rename(root: &Root, from: &str, to: &str) -> io::Result<()> {
    if let (Some(c_from), Some(c_to)) = (relative(from), relative(to))
        && let Some(renamed) = root.op(open_ring::PathOp::Rename(c_from, c_to)).await
    {
        return renamed;
    }
    monoio::fs::rename(root.full(from), root.full(to)).await
}

/// Removes the file at drive path `path` (nothing synced).
pub async fn unlink(root: &Root, path: &str) -> io::Result<()> {
    if let Some(relative) = relative(path)
        && let Some(removed) = root.op(open_ring::PathOp::Unlink(relative)).await
    {
        return removed;
    }
    monoio::fs::remove_file(root.full(path)).await
}

/// Creates drive folder `dir` and its missing parents (`mkdir` first, up only while a
/// parent is missing, so a folder that exists costs one call); returns every folder
/// whose entries changed (the parents of the folders made), which the caller must fsync
/// for durability. A folder another shard made meanwhile counts as there (`EEXIST`).
/// The root itself is never made: a root that is gone fails with `NotFound`.
pub async fn create_dirs(root: &Root, dir: &str) -> io::Result<Vec<String>> {
    let mut missing: Vec<&str> = Vec::new();
    let mut probe = dir;
    let mut changed = Vec::new();
    loop {
        match mkdir(root, probe).await {
            Ok(()) => {
                changed.push(parent_str(probe).to_owned());
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match probe.rsplit_once('/') {
                Some((parent, _)) => {
                    missing.push(probe);
                    probe = parent;
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    for made in missing.iter().rev() {
        match mkdir(root, made).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        changed.push(parent_str(made).to_owned());
    }
    Ok(changed)
}

/// fsyncs drive folder `dir` (`""`: the root) once, shared with the other callers of
/// this shard whose change to it is done before that fsync starts (`dir_sync.rs`).
pub async fn sync_dir(root: &Root, dir: &str) -> io::Result<()> {
    thread_local! {
        static GROUPS: Rc<Groups<(u64, u64, String)>> = Rc::new(Groups::new());
    }
    let groups = GROUPS.with(Rc::clone);
    let (owned, dir_name) = (root.clone(), dir.to_owned());
    let sync = move || {
        let (root, dir) = (owned.clone(), dir_name.clone());
        async move { sync_dir_once(&root, &dir).await }
    };
    groups
        .sync((root.id.0, root.id.1, dir.to_owned()), sync)
        .await
}

/// One fsync of a drive folder: open, fsync, close, chained on the open ring, or
/// through monoio at the `/proc` path when that ring cannot take it.
async fn sync_dir_once(root: &Root, dir: &str) -> io::Result<()> {
    if let Some(relative) = relative(dir)
        && let Some(synced) = open_ring::sync_dir_at(root.fd, Rc::clone(&root.keep), relative).await
    {
        return synced;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(root.full(dir))
        .await?;
    let synced = file.sync_all().await;
    let closed = file.close().await;
    synced?;
    closed
}

/// `dirs` fsync'd once each, at the same time; `.shoal/tmp` itself is left out.
///
/// Why the temporary folder is never fsync'd: nothing in it is ever acknowledged
/// there. A file or staged folder made in it is made durable where it ends up: its own
/// bytes (or a staged folder's own entries) are fsync'd before it moves, and the
/// rename out is made durable by the fsync of the folder it lands in (the rename is one
/// journal transaction on ext4 and XFS, so that fsync also commits its removal from
/// `.shoal/tmp`). What a crash can leave in `.shoal/tmp` unsynced is an entry that
/// should be gone, or be missing one that was never acknowledged; the start removes
/// whatever is there (`DirDrive::clean_tmp`) before anything is written.
pub async fn sync_dirs(root: &Root, mut dirs: Vec<String>) -> io::Result<()> {
    dirs.retain(|dir| dir != TMP_DIR);
    dirs.sort();
    dirs.dedup();
    let synced = futures_util::future::join_all(dirs.iter().map(|dir| sync_dir(root, dir))).await;
    synced.into_iter().collect()
}

/// Renames drive path `from` over `to`, making missing parents of `to`, and fsyncs
/// every folder whose entries changed: the durable rename of drive.rs (but see
/// `sync_dirs`: a move out of `.shoal/tmp` does not fsync it).
pub async fn rename_durable(root: &Root, from: &str, to: &str) -> io::Result<TargetFolder> {
    let (mut dirs, folder) = rename_making_parents(root, from, to).await?;
    dirs.push(parent_str(from).to_owned());
    dirs.push(parent_str(to).to_owned());
    sync_dirs(root, dirs).await?;
    Ok(folder)
}

/// Renames drive path `from` over `to`, making missing parents of `to`, and syncs
/// nothing; returns the folders it made the parents of (whose entries changed, besides
/// `from`'s and `to`'s own folders) and whether `to`'s folder was there.
///
/// Parents are made only after a first rename failed and while `from` is still there:
/// a source that vanished (its drive's entries moved away or unmounted under the
/// rename) fails the rename without making folders in what is left at the drive's
/// path. That first failure is also the answer: `to`'s folder was missing (`Made`),
/// whoever makes it in the end, since `from` was there.
pub async fn rename_making_parents(
    root: &Root,
    from: &str,
    to: &str,
) -> io::Result<(Vec<String>, TargetFolder)> {
    match rename(root, from, to).await {
        Ok(()) => Ok((Vec::new(), TargetFolder::Existed)),
        Err(e) if e.kind() == io::ErrorKind::NotFound && exists(root, from).await? => {
            let made = create_dirs(root, parent_str(to)).await?;
            rename(root, from, to).await?;
            Ok((made, TargetFolder::Made))
        }
        Err(e) => Err(e),
    }
}

/// Removes one file and fsyncs its folder: the durable unlink of drive.rs.
pub async fn remove_file_durable(root: &Root, path: &str) -> io::Result<()> {
    unlink(root, path).await?;
    sync_dir(root, parent_str(path)).await
}

/// Removes an empty folder; `Ok(false)` when it is not empty.
pub async fn remove_dir_if_empty(root: &Root, path: &str) -> io::Result<bool> {
    let removed = match relative(path) {
        Some(relative) => root.op(open_ring::PathOp::RemoveDir(relative)).await,
        None => None,
    };
    let removed = match removed {
        Some(removed) => removed,
        None => monoio::fs::remove_dir(root.full(path)).await,
    };
    match removed {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `data` to a new file at drive path `tmp` and, with `sync`, fdatasyncs it (one
/// chain on the open ring, or step by step through monoio when that ring cannot take
/// it).
pub async fn write_new(root: &Root, tmp: &str, data: Vec<u8>, sync: bool) -> io::Result<()> {
    let data = match relative(tmp) {
        Some(relative) => {
            let keep = Rc::clone(&root.keep);
            let ring_data = data.clone();
            if let Some(written) =
                open_ring::write_new(root.fd, keep, relative, ring_data, sync).await
            {
                return written;
            }
            data
        }
        _ => data,
    };
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(root.full(tmp))
        .await?;
    let (written, _) = file.write_all_at(data, 0).await;
    let synced = match written {
        Ok(()) if sync => file.sync_data().await,
        other => other,
    };
    let closed = file.close().await;
    synced?;
    closed
}

/// Opens (`create`: creates or truncates) the file at drive path `path` with `flags`
/// added, relative to the root's descriptor through the open ring when it can.
pub async fn open_file(root: &Root, path: &str, create: bool, flags: i32) -> io::Result<File> {
    let access = if create {
        libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC
    } else {
        libc::O_RDONLY
    };
    if let Some(relative) = relative(path)
        && let Some(fd) =
            open_ring::open_at(root.fd, Rc::clone(&root.keep), relative, access | flags).await
    {
        return File::from_std(std::fs::File::from(fd?));
    }
    OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .truncate(create)
        .custom_flags(flags)
        .open(root.full(path))
        .await
}

/// The parent of drive path `path` (`""`: the root).
pub fn parent_str(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}
