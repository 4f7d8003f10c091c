//! AbortMultipartUpload: the upload removed from its set, under its lock.
//!
//! Removing an upload is idempotent, so returning at write quorum would be safe; an
//! abort still waits for every member (or its deadline) so that when it answers, no
//! member holds anything of the upload: the space is free and a listing of the drive
//! shows nothing left, as before the verbs.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::Verb;
use crate::member::verbs::upload::UploadVerbs;
use crate::object::store::Store;
use crate::set::quorum::{self, Strategy, ok_count};

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Removes an upload and its parts.
    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        let guard = self.lock_upload(upload_id).await;
        self.upload_info(bucket, key, upload_id).await?;
        guard.keep().await?;
        let set_index = self.placement(bucket, key).set_index;
        let needed = self.set_layout().write_quorum();
        let strategy = Strategy::all(Verb::RemoveUpload, self.config.member_deadline);
        let ok = self
            .remove_upload_from_set(set_index, bucket, upload_id, strategy)
            .await;
        if ok < needed {
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(())
    }

    /// Removes an upload from every member of set `set_index` as `strategy` says;
    /// returns how many members removed it (or never had it).
    pub(super) async fn remove_upload_from_set(
        &self,
        set_index: usize,
        bucket: &str,
        upload_id: &str,
        strategy: Strategy,
    ) -> usize {
        let (bucket, upload_id): (Rc<str>, Rc<str>) = (bucket.into(), upload_id.into());
        let members = self.set_members(set_index);
        let answers = quorum::call(&self.env, members, strategy, |_, member| {
            let (bucket, upload_id) = (Rc::clone(&bucket), Rc::clone(&upload_id));
            async move { member.remove_upload(&bucket, &upload_id).await }
        })
        .await;
        ok_count(&answers)
    }
}
