//! `AnyDrive`: one concrete drive type that is either a real directory (`DirDrive`) or a
//! simulated drive (`SimDrive`), so code that must name one type (the shard's front,
//! whose store is `Store<AnyDrive, ..>`) runs over real drives in the server and over
//! simulated ones in tests, through the same code path.
//!
//! Invariants:
//! - Dispatch is a `match` per operation, no `dyn`. The `Dir` arm awaits its future in
//!   place (no allocation); the `Sim` arm boxes its own, because a `SimDrive` future
//!   (latency, hang gate, crash bookkeeping) is several times larger than a `DirDrive`
//!   one and would otherwise grow every future of the server's request path that
//!   awaits a drive. So an `AnyDrive::Dir` future is its `DirDrive` future plus a few
//!   bytes (asserted in the tests), and only tests pay an allocation per operation.
//! - A file belongs to the kind of drive that opened it. Handing a `DirDrive`'s file to a
//!   `SimDrive` (or back) is a programmer error and panics: files never cross drives.
//! - The server only ever builds the `Dir` variant (`front/server.rs`); `Sim` exists for
//!   tests that drive the real front over simulated members.

use crate::buf::AlignedBuf;
use crate::dir_drive::{DirDrive, DirFile};
use crate::drive::{DirEntry, Drive, DriveResult, SpaceInfo, TargetFolder};
use crate::sim::{SimDrive, SimFile};

/// A drive of either kind.
pub enum AnyDrive {
    Dir(DirDrive),
    Sim(SimDrive),
}

/// An open file of an [`AnyDrive`], of the same kind as its drive.
pub enum AnyFile {
    Dir(DirFile),
    Sim(SimFile),
}

impl From<DirDrive> for AnyDrive {
    fn from(drive: DirDrive) -> Self {
        AnyDrive::Dir(drive)
    }
}

impl From<SimDrive> for AnyDrive {
    fn from(drive: SimDrive) -> Self {
        AnyDrive::Sim(drive)
    }
}

impl AnyDrive {
    /// Why the drive is offline; `None` while it is online.
    pub fn offline_reason(&self) -> Option<String> {
        match self {
            AnyDrive::Dir(drive) => drive.offline_reason(),
            AnyDrive::Sim(drive) => drive.offline_reason(),
        }
    }

    /// The simulated drive, when this is one (tests inject faults through it).
    pub fn as_sim(&self) -> Option<&SimDrive> {
        match self {
            AnyDrive::Sim(drive) => Some(drive),
            AnyDrive::Dir(_) => None,
        }
    }
}

/// Panics on a file of the other kind of drive (see the invariants above).
fn mismatched(operation: &str) -> ! {
    panic!("{operation}: a file of one kind of drive was given to the other kind")
}

impl Drive for AnyDrive {
    type File = AnyFile;

    fn name(&self) -> &str {
        match self {
            AnyDrive::Dir(drive) => drive.name(),
            AnyDrive::Sim(drive) => drive.name(),
        }
    }

    async fn read_file(&self, path: &str) -> DriveResult<Vec<u8>> {
        match self {
            AnyDrive::Dir(drive) => drive.read_file(path).await,
            AnyDrive::Sim(drive) => Box::pin(drive.read_file(path)).await,
        }
    }

    async fn write_file_atomic(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        match self {
            AnyDrive::Dir(drive) => drive.write_file_atomic(path, data).await,
            AnyDrive::Sim(drive) => Box::pin(drive.write_file_atomic(path, data)).await,
        }
    }

    async fn write_file_atomic_into(&self, path: &str, data: &[u8]) -> DriveResult<TargetFolder> {
        match self {
            AnyDrive::Dir(drive) => drive.write_file_atomic_into(path, data).await,
            AnyDrive::Sim(drive) => Box::pin(drive.write_file_atomic_into(path, data)).await,
        }
    }

    async fn create(&self, path: &str, size_hint_bytes: u64) -> DriveResult<AnyFile> {
        match self {
            AnyDrive::Dir(drive) => drive.create(path, size_hint_bytes).await.map(AnyFile::Dir),
            AnyDrive::Sim(drive) => Box::pin(drive.create(path, size_hint_bytes))
                .await
                .map(AnyFile::Sim),
        }
    }

    async fn open(&self, path: &str) -> DriveResult<AnyFile> {
        match self {
            AnyDrive::Dir(drive) => drive.open(path).await.map(AnyFile::Dir),
            AnyDrive::Sim(drive) => Box::pin(drive.open(path)).await.map(AnyFile::Sim),
        }
    }

    async fn write_at(
        &self,
        file: &AnyFile,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        match (self, file) {
            (AnyDrive::Dir(drive), AnyFile::Dir(file)) => drive.write_at(file, buf, offset).await,
            (AnyDrive::Sim(drive), AnyFile::Sim(file)) => {
                Box::pin(drive.write_at(file, buf, offset)).await
            }
            _ => mismatched("write_at"),
        }
    }

    async fn read_at(
        &self,
        file: &AnyFile,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        match (self, file) {
            (AnyDrive::Dir(drive), AnyFile::Dir(file)) => drive.read_at(file, buf, offset).await,
            (AnyDrive::Sim(drive), AnyFile::Sim(file)) => {
                Box::pin(drive.read_at(file, buf, offset)).await
            }
            _ => mismatched("read_at"),
        }
    }

    async fn set_len(&self, file: &AnyFile, len_bytes: u64) -> DriveResult<()> {
        match (self, file) {
            (AnyDrive::Dir(drive), AnyFile::Dir(file)) => drive.set_len(file, len_bytes).await,
            (AnyDrive::Sim(drive), AnyFile::Sim(file)) => {
                Box::pin(drive.set_len(file, len_bytes)).await
            }
            _ => mismatched("set_len"),
        }
    }

    async fn sync(&self, file: &AnyFile) -> DriveResult<()> {
        match (self, file) {
            (AnyDrive::Dir(drive), AnyFile::Dir(file)) => drive.sync(file).await,
            (AnyDrive::Sim(drive), AnyFile::Sim(file)) => Box::pin(drive.sync(file)).await,
            _ => mismatched("sync"),
        }
    }

    async fn close(&self, file: AnyFile) -> DriveResult<()> {
        match (self, file) {
            (AnyDrive::Dir(drive), AnyFile::Dir(file)) => drive.close(file).await,
            (AnyDrive::Sim(drive), AnyFile::Sim(file)) => Box::pin(drive.close(file)).await,
            _ => mismatched("close"),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> DriveResult<()> {
        match self {
            AnyDrive::Dir(drive) => drive.rename(from, to).await,
            AnyDrive::Sim(drive) => Box::pin(drive.rename(from, to)).await,
        }
    }

    async fn rename_into(&self, from: &str, to: &str) -> DriveResult<TargetFolder> {
        match self {
            AnyDrive::Dir(drive) => drive.rename_into(from, to).await,
            AnyDrive::Sim(drive) => Box::pin(drive.rename_into(from, to)).await,
        }
    }

    async fn remove_file(&self, path: &str) -> DriveResult<()> {
        match self {
            AnyDrive::Dir(drive) => drive.remove_file(path).await,
            AnyDrive::Sim(drive) => Box::pin(drive.remove_file(path)).await,
        }
    }

    async fn remove_dir_all(&self, path: &str) -> DriveResult<()> {
        match self {
            AnyDrive::Dir(drive) => drive.remove_dir_all(path).await,
            AnyDrive::Sim(drive) => Box::pin(drive.remove_dir_all(path)).await,
        }
    }

    async fn remove_dir_if_empty(&self, path: &str) -> DriveResult<bool> {
        match self {
            AnyDrive::Dir(drive) => drive.remove_dir_if_empty(path).await,
            AnyDrive::Sim(drive) => Box::pin(drive.remove_dir_if_empty(path)).await,
        }
    }

    async fn create_dir_all(&self, path: &str) -> DriveResult<()> {
        match self {
            AnyDrive::Dir(drive) => drive.create_dir_all(path).await,
            AnyDrive::Sim(drive) => Box::pin(drive.create_dir_all(path)).await,
        }
    }

    async fn list_dir(&self, path: &str) -> DriveResult<Vec<DirEntry>> {
        match self {
            AnyDrive::Dir(drive) => drive.list_dir(path).await,
            AnyDrive::Sim(drive) => Box::pin(drive.list_dir(path)).await,
        }
    }

    async fn space(&self) -> DriveResult<SpaceInfo> {
        match self {
            AnyDrive::Dir(drive) => drive.space().await,
            AnyDrive::Sim(drive) => Box::pin(drive.space()).await,
        }
    }

    async fn check_identity(&self, identity_path: &str, identity: &[u8]) -> Result<(), String> {
        match self {
            AnyDrive::Dir(drive) => drive.check_identity(identity_path, identity).await,
            AnyDrive::Sim(drive) => Box::pin(drive.check_identity(identity_path, identity)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulated drive behind `AnyDrive` behaves as itself: files written through the
    /// enum read back, its faults apply, and its chunk files round-trip through `AnyFile`.
    #[test]
    fn sim_variant_forwards_every_operation() {
        let (mut runtime, _) =
            crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(async {
            let sim = SimDrive::new("any", 1);
            let drive = AnyDrive::from(sim.clone());
            assert_eq!(drive.name(), "sim:any");
            drive.write_file_atomic("a/meta", b"hello").await.unwrap();
            assert_eq!(drive.read_file("a/meta").await.unwrap(), b"hello");
            let file = drive.create("a/part.1", 0).await.unwrap();
            let mut buf = AlignedBuf::with_capacity(crate::BLOCK_SIZE_BYTES);
            buf.set_len(crate::BLOCK_SIZE_BYTES);
            buf.as_mut_slice().fill(7);
            let (written, _) = drive.write_at(&file, buf, 0).await;
            written.unwrap();
            drive.sync(&file).await.unwrap();
            drive.close(file).await.unwrap();
            let file = drive.open("a/part.1").await.unwrap();
            let buf = AlignedBuf::with_capacity(crate::BLOCK_SIZE_BYTES);
            let (read, buf) = drive.read_at(&file, buf, 0).await;
            read.unwrap();
            assert!(buf.as_slice().iter().all(|&b| b == 7));
            sim.set_faults(crate::SimFaults {
                no_space_after_bytes: Some(0),
                ..crate::SimFaults::default()
            });
            let full = drive.write_file_atomic("a/meta", b"again").await;
            assert!(matches!(full, Err(crate::DriveError::NoSpace)), "{full:?}");
            assert!(drive.as_sim().is_some());
            assert_eq!(drive.offline_reason(), None);
        });
    }

    /// The server's drives pay (almost) nothing for the enum: each `AnyDrive::Dir`
    /// operation's future is its `DirDrive` future plus a tag, because the larger
    /// `SimDrive` futures are boxed in their own arm.
    #[test]
    fn dir_futures_stay_the_size_of_dir_drive_futures() {
        use std::mem::size_of_val;
        const SLACK_BYTES: usize = 64;
        let (mut runtime, _) =
            crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(async {
            let root = tempfile::tempdir().expect("tempdir");
            let dir = DirDrive::open(root.path()).expect("open");
            let any = AnyDrive::from(DirDrive::open(root.path()).expect("open"));
            let dir_file = dir.create("a", 0).await.expect("create");
            let any_file = any.create("b", 0).await.expect("create");
            let buf = || AlignedBuf::with_capacity(0);
            let sizes = [
                (
                    "read_file",
                    size_of_val(&dir.read_file("a")),
                    size_of_val(&any.read_file("a")),
                ),
                (
                    "write_file_atomic",
                    size_of_val(&dir.write_file_atomic("c", b"")),
                    size_of_val(&any.write_file_atomic("c", b"")),
                ),
                (
                    "read_at",
                    size_of_val(&dir.read_at(&dir_file, buf(), 0)),
                    size_of_val(&any.read_at(&any_file, buf(), 0)),
                ),
                (
                    "write_at",
                    size_of_val(&dir.write_at(&dir_file, buf(), 0)),
                    size_of_val(&any.write_at(&any_file, buf(), 0)),
                ),
                (
                    "sync",
                    size_of_val(&dir.sync(&dir_file)),
                    size_of_val(&any.sync(&any_file)),
                ),
            ];
            for (operation, dir_bytes, any_bytes) in sizes {
                assert!(
                    any_bytes <= dir_bytes + SLACK_BYTES,
                    "{operation}: AnyDrive future {any_bytes} bytes, DirDrive {dir_bytes}"
                );
            }
            assert_eq!(size_of::<AnyDrive>(), size_of::<DirDrive>());
            assert_eq!(size_of::<AnyFile>(), size_of::<DirFile>());
        });
    }
}
