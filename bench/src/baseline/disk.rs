//! The drive figure of `shoal-bench baseline`: sequential write then read of one file
//! in `--dir` with O_DIRECT (the page cache bypassed, as the store's data path does),
//! 1 MiB blocks from a 4 KiB-aligned buffer. The write ends with fdatasync, inside the
//! timed span. The file holds at most `--direct-size` bytes and is removed afterwards.
//!
//! When the file system refuses O_DIRECT (tmpfs, some FUSE and overlay mounts answer
//! EINVAL, at open or at the first write), the figures are taken with buffered I/O
//! instead and say so: the write still ends in fdatasync, but the read then comes from
//! the page cache and measures memory, not the drive.
//!
//! No `unsafe`: the aligned block is a window of an ordinary allocation, found with
//! `align_offset`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// Bytes per write and read.
pub const BLOCK_BYTES: usize = 1 << 20;
/// O_DIRECT alignment of buffer address, offset and length.
const ALIGN_BYTES: usize = 4096;

/// The drive figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DirectIo {
    pub dir: PathBuf,
    /// Whether O_DIRECT was used; when not, `note` says why.
    pub o_direct: bool,
    pub note: Option<String>,
    pub block_bytes: usize,
    pub file_bytes: u64,
    pub write_gbps: f64,
    pub read_gbps: f64,
}

/// Writes then reads a file in `dir` for up to `time` each (and `max_bytes`).
pub fn measure(dir: &Path, time: Duration, max_bytes: u64) -> Result<DirectIo, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("shoal-bench-direct-{}.tmp", std::process::id()));
    let result = measure_file(&path, time, max_bytes);
    let _ = std::fs::remove_file(&path);
    result.map(|mut figures| {
        figures.dir = dir.to_path_buf();
        figures
    })
}

fn measure_file(path: &Path, time: Duration, max_bytes: u64) -> Result<DirectIo, String> {
    let mut storage = vec![0u8; BLOCK_BYTES + ALIGN_BYTES];
    let offset = storage.as_ptr().align_offset(ALIGN_BYTES);
    assert!(offset < ALIGN_BYTES, "a byte buffer can always be aligned");
    let block = &mut storage[offset..offset + BLOCK_BYTES];
    // Incompressible, so no file system or drive can shortcut the bytes.
    rand::rngs::SmallRng::seed_from_u64(9).fill_bytes(block);
    let describe = |e: std::io::Error| format!("{}: {e}", path.display());
    let (write, o_direct, note) = match timed_write(path, true, block, time, max_bytes) {
        Ok(write) => (write, true, None),
        Err(error) if is_refusal(&error) => {
            let write = timed_write(path, false, block, time, max_bytes).map_err(describe)?;
            let note = format!(
                "O_DIRECT refused by the file system ({error}); buffered writes with \
                 fdatasync, and reads from the page cache (memory, not the drive)"
            );
            (write, false, Some(note))
        }
        Err(error) => return Err(describe(error)),
    };
    let (bytes, write_secs) = write;
    let read_secs = timed_read(path, o_direct, block, bytes).map_err(describe)?;
    Ok(DirectIo {
        dir: PathBuf::new(),
        o_direct,
        note,
        block_bytes: BLOCK_BYTES,
        file_bytes: bytes,
        write_gbps: bytes as f64 / write_secs / 1e9,
        read_gbps: bytes as f64 / read_secs / 1e9,
    })
}

/// O_DIRECT not supported here (rather than a real I/O failure).
fn is_refusal(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::EINVAL)
}

fn open(path: &Path, direct: bool, write: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    if write {
        options.write(true).create(true).truncate(true);
    } else {
        options.read(true);
    }
    if direct {
        options.custom_flags(libc::O_DIRECT);
    }
    options.open(path)
}

/// Writes blocks until `time` or `max_bytes`, then fdatasync; `(bytes, seconds)`.
fn timed_write(
    path: &Path,
    direct: bool,
    block: &[u8],
    time: Duration,
    max_bytes: u64,
) -> std::io::Result<(u64, f64)> {
    let mut file = open(path, direct, true)?;
    let start = Instant::now();
    let mut bytes = 0u64;
    while bytes + (block.len() as u64) <= max_bytes.max(block.len() as u64)
        && start.elapsed() < time
    {
        file.write_all(block)?;
        bytes += block.len() as u64;
    }
    file.sync_data()?;
    Ok((bytes, start.elapsed().as_secs_f64()))
}

/// Reads the first `bytes` of the file back; seconds taken.
fn timed_read(path: &Path, direct: bool, block: &mut [u8], bytes: u64) -> std::io::Result<f64> {
    let mut file = open(path, direct, false)?;
    let start = Instant::now();
    let mut read = 0u64;
    while read < bytes {
        file.read_exact(block)?;
        read += block.len() as u64;
    }
    Ok(start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures come out whether or not the file system takes O_DIRECT, the
    /// refusal is explained, and the file is gone afterwards.
    #[test]
    fn measures_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let figures = measure(dir.path(), Duration::from_millis(50), 8 << 20).unwrap();
        assert!(figures.file_bytes >= BLOCK_BYTES as u64 && figures.file_bytes <= 8 << 20);
        assert!(figures.write_gbps > 0.0 && figures.read_gbps > 0.0);
        assert_eq!(figures.o_direct, figures.note.is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
