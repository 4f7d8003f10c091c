//! A `LocalMember`'s way to its drive's index: the index itself on the owner shard,
//! the owner's mailbox on the others (`owner.rs`). The write verbs tell it every
//! change of a `meta` record before they answer; a listing's walk asks it first.
//!
//! A change the owner cannot be told (its shard is gone, or dropped the call) removes
//! the drive's clean marker here, on this shard's own handle of the drive: the next
//! start then rebuilds instead of trusting an index that missed it.

use std::rc::Rc;

use futures_channel::{mpsc, oneshot};
use futures_util::SinkExt;
use shoal_io::{Drive, DriveError};

use crate::member::keypath::meta_path;
use crate::member::local::LocalMember;
use crate::member::local::index::owner::{
    BucketChange, IndexCall, IndexOwner, remove_clean_marker,
};
use crate::member::verbs::walk::{KeySummary, WalkBatch, WalkRequest};
use crate::record::meta::DriveMeta;
use crate::topology::placement::DeploymentId;

/// Where a member's index is.
pub enum IndexLink<D: Drive> {
    /// This shard owns it.
    Own(Rc<IndexOwner<D>>),
    /// Another shard owns it: calls go to its mailbox.
    Remote {
        mailbox: mpsc::Sender<IndexCall>,
        deployment_id: DeploymentId,
    },
}

impl<D: Drive> IndexLink<D> {
    fn deployment_id(&self) -> &DeploymentId {
        match self {
            IndexLink::Own(owner) => owner.deployment_id(),
            IndexLink::Remote { deployment_id, .. } => deployment_id,
        }
    }
}

/// A record's entry in the index: its summary if it is this deployment's record of
/// `bucket/key` (what a rebuild would find), else none.
pub(crate) fn entry_of(
    bytes: &[u8],
    deployment_id: &DeploymentId,
    bucket: &str,
    key: &str,
) -> Option<KeySummary> {
    let meta = DriveMeta::decode(bytes, deployment_id).ok()?;
    (meta.info.bucket == bucket && meta.info.key == key).then(|| KeySummary::of(&meta))
}

impl<D: Drive> LocalMember<D> {
    /// Links this member to its drive's index (once; at open, before any verb).
    pub fn link_index(&self, link: IndexLink<D>) {
        assert!(
            self.index.set(link).is_ok(),
            "a member's index is linked once"
        );
    }

    /// Links this member to the index another shard owns.
    pub fn link_remote_index(&self, mailbox: mpsc::Sender<IndexCall>, deployment_id: DeploymentId) {
        self.link_index(IndexLink::Remote {
            mailbox,
            deployment_id,
        });
    }

    /// The index, when this shard owns it.
    pub fn index_owner(&self) -> Option<&Rc<IndexOwner<D>>> {
        match self.index.get() {
            Some(IndexLink::Own(owner)) => Some(owner),
            _ => None,
        }
    }

    /// After `bytes` became `bucket/key`'s record on the drive.
    pub(crate) async fn index_written(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let Some(link) = self.index.get() else {
            return;
        };
        let entry = entry_of(bytes, link.deployment_id(), bucket, key);
        self.index_apply(link, bucket, key, entry).await;
    }

    /// After `bucket/key`'s record was removed from the drive.
    pub(crate) async fn index_removed(&self, bucket: &str, key: &str) {
        if let Some(link) = self.index.get() {
            self.index_apply(link, bucket, key, None).await;
        }
    }

    /// After a change of `bucket/key`'s record whose outcome is not known (a failed
    /// write or a roll back): the record as the drive holds it now.
    pub(crate) async fn index_settle(&self, bucket: &str, key: &str) {
        if self.index.get().is_none() {
            return;
        }
        match self.drive().read_file(&meta_path(bucket, key)).await {
            Ok(bytes) => self.index_written(bucket, key, &bytes).await,
            Err(DriveError::NotFound) => self.index_removed(bucket, key).await,
            Err(_) => self.index_lost(bucket).await,
        }
    }

    /// A change of `bucket`'s records whose outcome cannot be known.
    pub(crate) async fn index_lost(&self, bucket: &str) {
        self.index_bucket(bucket, BucketChange::Lost).await;
    }

    /// After `bucket` as a whole changed on the drive (`change`), or that change failed
    /// part way (`ok` false: what is left of it is not known, so it is rebuilt).
    pub(crate) async fn index_bucket_changed(&self, bucket: &str, change: BucketChange, ok: bool) {
        let change = if ok { change } else { BucketChange::Lost };
        self.index_bucket(bucket, change).await;
    }

    async fn index_bucket(&self, bucket: &str, change: BucketChange) {
        match self.index.get() {
            None => {}
            Some(IndexLink::Own(owner)) => owner.bucket_changed(self.drive(), bucket, change).await,
            Some(IndexLink::Remote { mailbox, .. }) => {
                let bucket = bucket.to_owned();
                self.call(mailbox, |done| IndexCall::Bucket {
                    bucket,
                    change,
                    done,
                })
                .await;
            }
        }
    }

    /// A listing's walk from the index; `None`: walk the records (which tell a drive
    /// that lost the bucket from one that never had it).
    pub(crate) async fn walk_index(
        &self,
        bucket: &str,
        request: &WalkRequest,
    ) -> Option<WalkBatch> {
        let link = self.index.get()?;
        if !self.holds_bucket_record(bucket).await {
            return None;
        }
        match link {
            IndexLink::Own(owner) => owner.walk(self.drive(), bucket, request).await,
            IndexLink::Remote { mailbox, .. } => {
                let (reply, answer) = oneshot::channel();
                let call = IndexCall::Walk {
                    bucket: bucket.to_owned(),
                    request: request.clone(),
                    reply,
                };
                mailbox.clone().send(call).await.ok()?;
                answer.await.ok().flatten()
            }
        }
    }

    async fn index_apply(
        &self,
        link: &IndexLink<D>,
        bucket: &str,
        key: &str,
        entry: Option<KeySummary>,
    ) {
        match link {
            IndexLink::Own(owner) => owner.apply(self.drive(), bucket, key, entry).await,
            IndexLink::Remote { mailbox, .. } => {
                let (bucket, key) = (bucket.to_owned(), key.to_owned());
                self.call(mailbox, |done| IndexCall::Apply {
                    bucket,
                    key,
                    entry,
                    done,
                })
                .await;
            }
        }
    }

    /// Sends a change to the owner and waits for it to be applied; one that cannot be
    /// delivered removes the clean marker.
    async fn call(
        &self,
        mailbox: &mpsc::Sender<IndexCall>,
        make: impl FnOnce(oneshot::Sender<()>) -> IndexCall,
    ) {
        let (done, applied) = oneshot::channel();
        let delivered = mailbox.clone().send(make(done)).await.is_ok() && applied.await.is_ok();
        if !delivered {
            remove_clean_marker(self.drive()).await;
        }
    }
}
