//! AbortMultipartUpload: the upload's folder removed from the set, under its lock.

use futures_util::future::join_all;
use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::object::store::{Store, ignore_not_found};

use super::upload_dir;

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Removes an upload and its parts.
    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        let _guard = self.lock_upload(upload_id).await;
        self.upload_info(bucket, key, upload_id).await?;
        let placement = self.placement(bucket, key);
        let dir = upload_dir(bucket, upload_id);
        let drives = self.set_members(placement.set_index);
        let removes = drives
            .iter()
            .map(|d| async { ignore_not_found(d.remove_dir_all(&dir).await) });
        let ok = join_all(removes).await.iter().filter(|r| r.is_ok()).count();
        let needed = self.set_layout().write_quorum();
        if ok < needed {
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(())
    }
}
