//! `ReadOnly`: a drive that forwards reads and refuses every write, so the auditor
//! cannot change a drive whatever code path it reaches (a storage verb that writes,
//! a sweep, a lock file). The guarantee is the type's, not a convention of the caller.
//!
//! Reads: `read_file`, `open`, `read_at`, `close`, `list_dir`, `space`, and the default
//! `check_identity` (a read). Everything else answers an I/O error (permission denied)
//! without touching the inner drive.

use shoal_io::{AlignedBuf, DirEntry, Drive, DriveError, DriveResult, SpaceInfo};

/// A drive that can only be read.
pub struct ReadOnly<D: Drive> {
    inner: D,
}

impl<D: Drive> ReadOnly<D> {
    pub fn new(inner: D) -> Self {
        Self { inner }
    }
}

fn refused(what: &str) -> DriveError {
    DriveError::Io(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!("{what} refused: the drive is open read-only (audit)"),
    ))
}

impl<D: Drive> Drive for ReadOnly<D> {
    type File = D::File;

    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn read_file(&self, path: &str) -> DriveResult<Vec<u8>> {
        self.inner.read_file(path).await
    }

    async fn write_file_atomic(&self, _path: &str, _data: &[u8]) -> DriveResult<()> {
        Err(refused("write_file_atomic"))
    }

    async fn create(&self, _path: &str, _size_hint_bytes: u64) -> DriveResult<D::File> {
        Err(refused("create"))
    }

    async fn open(&self, path: &str) -> DriveResult<D::File> {
        self.inner.open(path).await
    }

    async fn write_at(
        &self,
        _file: &D::File,
        buf: AlignedBuf,
        _offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        (Err(refused("write_at")), buf)
    }

    async fn read_at(
        &self,
        file: &D::File,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        self.inner.read_at(file, buf, offset).await
    }

    async fn set_len(&self, _file: &D::File, _len_bytes: u64) -> DriveResult<()> {
        Err(refused("set_len"))
    }

    async fn sync(&self, _file: &D::File) -> DriveResult<()> {
        Err(refused("sync"))
    }

    async fn close(&self, file: D::File) -> DriveResult<()> {
        self.inner.close(file).await
    }

    async fn rename(&self, _from: &str, _to: &str) -> DriveResult<()> {
        Err(refused("rename"))
    }

    async fn remove_file(&self, _path: &str) -> DriveResult<()> {
        Err(refused("remove_file"))
    }

    async fn remove_dir_all(&self, _path: &str) -> DriveResult<()> {
        Err(refused("remove_dir_all"))
    }

    async fn remove_dir_if_empty(&self, _path: &str) -> DriveResult<bool> {
        Err(refused("remove_dir_if_empty"))
    }

    async fn create_dir_all(&self, _path: &str) -> DriveResult<()> {
        Err(refused("create_dir_all"))
    }

    async fn list_dir(&self, path: &str) -> DriveResult<Vec<DirEntry>> {
        self.inner.list_dir(path).await
    }

    async fn space(&self) -> DriveResult<SpaceInfo> {
        self.inner.space().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every writing operation is refused and leaves the inner drive as it was.
    #[test]
    fn writes_are_refused() {
        let sim = shoal_io::SimDrive::new("d", 1);
        let executor = shoal_io::SimExecutor::new(1);
        let drive = ReadOnly::new(sim.clone());
        executor.block_on(async {
            let before = sim.list_dir("").await.unwrap();
            assert!(drive.write_file_atomic("a", b"x").await.is_err());
            assert!(drive.create("b", 0).await.is_err());
            assert!(drive.create_dir_all("c").await.is_err());
            assert!(drive.rename("a", "b").await.is_err());
            assert!(matches!(
                drive.read_file("a").await,
                Err(DriveError::NotFound)
            ));
            assert!(drive.remove_dir_all("").await.is_err());
            assert_eq!(sim.list_dir("").await.unwrap(), before);
        });
    }
}
