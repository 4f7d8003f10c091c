//! Path operations of a drive through the shard's io_uring ring: open, whole-file read,
//! statx, mkdir, rename, unlink and directory fsync, each one submitted to the ring and
//! awaited, so the shard thread itself never makes the syscall (the kernel completes it
//! inline or on its own io-wq workers).
//!
//! monoio 0.2.4 has ring ops for `openat`, `statx`, `read`/`write`, `fsync`, `close`,
//! `mkdirat`, `renameat` and `unlinkat` (the last three behind its crate features, which
//! the workspace enables). It has none for `getdents64`, `statvfs`, `fallocate` or
//! `ftruncate`; `dir_drive.rs` hands those to the shard's helper pool instead.
//!
//! Under monoio's epoll driver these same calls run inline on the calling thread;
//! `DirDrive` routes around that by using its helper pool in epoll mode.
//!
//! Invariants:
//! - Every file this module opens is closed through the ring before the call returns,
//!   on success and on error (no descriptor leaks, no synchronous `close` on drop).
//! - Paths come resolved under a drive's held root; this module never makes a path.

use std::any::Any;
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use monoio::buf::IoBufMut;
use std::os::unix::fs::OpenOptionsExt;

use monoio::fs::{File, OpenOptions};

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

/// Whether `path` exists (a `statx` through the ring); errors other than "not found"
/// are returned.
async fn exists(path: &Path) -> io::Result<bool> {
    match monoio::fs::metadata(path).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and its missing parents (`statx` up, `mkdirat` down); returns every
/// directory whose entries changed (the parents of the directories made), which the
/// caller must fsync for durability. A directory another shard made meanwhile counts
/// as made (`EEXIST` is success).
pub async fn create_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut probe = dir;
    while !exists(probe).await? {
        missing.push(probe.to_path_buf());
        probe = probe.parent().expect("a drive root exists");
    }
    let mut changed = Vec::with_capacity(missing.len());
    for made in missing.iter().rev() {
        match monoio::fs::create_dir(made).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        changed.push(parent_of(made));
    }
    Ok(changed)
}

/// fsyncs a directory: open it read-only, fsync, close, through the ring.
pub async fn sync_dir(dir: &Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .await?;
    let synced = file.sync_all().await;
    let closed = file.close().await;
    synced?;
    closed
}

/// `dirs` fsync'd once each, deepest first.
pub async fn sync_dirs(mut dirs: Vec<PathBuf>) -> io::Result<()> {
    dirs.sort_by(|a, b| b.cmp(a));
    dirs.dedup();
    for dir in &dirs {
        sync_dir(dir).await?;
    }
    Ok(())
}

/// Renames `from` over `to`, making missing parents of `to`, and fsyncs every
/// directory whose entries changed: the durable rename of drive.rs.
///
/// Parents are made only after a first rename failed and while `from` is still there:
/// a source that vanished (its drive's entries moved away or unmounted under the
/// rename) fails the rename without making folders in what is left at the drive's
/// path.
pub async fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    let mut dirs = match monoio::fs::rename(from, to).await {
        Ok(()) => Vec::new(),
        Err(e) if e.kind() == io::ErrorKind::NotFound && exists(from).await? => {
            let made = create_dirs(&parent_of(to)).await?;
            monoio::fs::rename(from, to).await?;
            made
        }
        Err(e) => return Err(e),
    };
    dirs.push(parent_of(from));
    dirs.push(parent_of(to));
    sync_dirs(dirs).await
}

/// Removes one file and fsyncs its directory: the durable unlink of drive.rs.
pub async fn remove_file_durable(path: &Path) -> io::Result<()> {
    monoio::fs::remove_file(path).await?;
    sync_dir(&parent_of(path)).await
}

/// Removes an empty directory; `Ok(false)` when it is not empty.
pub async fn remove_dir_if_empty(path: &Path) -> io::Result<bool> {
    match monoio::fs::remove_dir(path).await {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `data` to a new file at `tmp` and fdatasyncs it.
pub async fn write_synced(tmp: &Path, data: Vec<u8>) -> io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .await?;
    let (written, _) = file.write_all_at(data, 0).await;
    let synced = match written {
        Ok(()) => file.sync_data().await,
        Err(e) => Err(e),
    };
    let closed = file.close().await;
    synced?;
    closed
}

pub fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .expect("drive paths have a parent")
        .to_path_buf()
}
