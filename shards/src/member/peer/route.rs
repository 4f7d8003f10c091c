//! Which shard of a peer node a call should reach: the owner shard of what it names.
//!
//! A key's verbs from every node meet on one core of each node (DESIGN §6): the core
//! that owns the key's lock there, chosen by the same owner hash (`owner_hash`, which
//! `Store::lock` and the peer lock desk use too) modulo that node's shard count (the
//! handshake's Welcome tells it). So the one `LocalMember` of a drive that sees a key's
//! fenced verbs from peers remembers their lease epochs for the whole node
//! (`local/fence.rs`), and a lock verb reaches its owner shard without a hop between
//! cores.
//!
//! What a call names (`route_target`): an object for its metadata, commit, data and
//! record verbs; a bucket for its bucket records; an upload for its upload records; the
//! lock's name for a lock verb. Calls that name none (staging by handle, walks, trash
//! sweeps, identity) go to the caller's own shard index on the peer, and so do calls on
//! a handle: a handle is valid on the connection that opened it only, so they follow
//! the route their opening call took (`PeerRecords` keeps it).
//!
//! Routing is a matter of locality, never of correctness: a call that reaches another
//! shard of the right node (its shard count changed under a restart) is served the
//! same, as every shard of a node holds all its drives.

use crate::member::peer::message::{LockTarget, PeerRequest};
use crate::topology::placement::{DeploymentId, object_hash};

impl LockTarget {
    /// The text whose hash chooses the owner shard (distinct per kind; the same as
    /// `set::key_lock::LockName::owner_text`, which is this).
    pub fn owner_text(&self) -> String {
        match self {
            Self::Bucket(name) => format!("b:{name}"),
            Self::Object { bucket, key } => format!("{bucket}/{key}"),
            Self::Upload(id) => format!("u:{id}"),
        }
    }
}

/// The owner hash of `target` in deployment `deployment_id`: its owner shard on a node
/// of `n` shards is `owner_hash % n`.
pub fn owner_hash(deployment_id: &DeploymentId, target: &LockTarget) -> u64 {
    object_hash(deployment_id, "", &target.owner_text()) >> 8
}

fn object(bucket: &str, key: &str) -> LockTarget {
    LockTarget::Object {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    }
}

/// What `request` names, whose owner shard should serve it (`None`: any shard).
pub fn route_target(request: &PeerRequest) -> Option<LockTarget> {
    use PeerRequest as R;
    match request {
        R::ReadMeta { bucket, key }
        | R::WriteMeta { bucket, key, .. }
        | R::DeleteVersion { bucket, key, .. }
        | R::RetireVersions { bucket, key, .. }
        | R::RemoveStaleVersions { bucket, key, .. }
        | R::HoldsVersionData { bucket, key, .. }
        | R::InstallData { bucket, key, .. }
        | R::OpenRecords { bucket, key, .. }
        | R::PruneCompleted { bucket, key, .. } => Some(object(bucket, key)),
        R::Commit { commit, .. } => Some(object(&commit.bucket, &commit.key)),
        R::RollBack { roll_back, .. } => Some(object(&roll_back.bucket, &roll_back.key)),
        R::ReadBucket { bucket }
        | R::MakeBucket { bucket, .. }
        | R::RemoveBucketRecord { bucket }
        | R::RemoveBucket { bucket }
        | R::ReadBucketTags { bucket }
        | R::WriteBucketTags { bucket, .. } => Some(LockTarget::Bucket(bucket.clone())),
        R::WriteUpload { upload_id, .. }
        | R::ReadUpload { upload_id, .. }
        | R::RemoveUpload { upload_id, .. }
        | R::PutPart { upload_id, .. }
        | R::RemovePart { upload_id, .. }
        | R::ListParts { upload_id, .. } => Some(LockTarget::Upload(upload_id.clone())),
        R::LockAcquire(ask) => Some(ask.target.clone()),
        R::StageBegin { .. }
        | R::StageAppend { .. }
        | R::StageFinish { .. }
        | R::StageDiscard { .. }
        | R::SweepTrash { .. }
        | R::ReadRecords { .. }
        | R::CloseRecords { .. }
        | R::ListBuckets
        | R::ReadIdentity
        | R::Walk { .. }
        | R::ListUploads { .. }
        | R::ListUploadBuckets
        | R::ForgetUploadBucket { .. }
        | R::LockRefresh { .. }
        | R::LockRelease { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every verb on one key names the same owner, and different kinds of names with
    /// the same text do not collide (a bucket `x` and an upload `x`).
    #[test]
    fn verbs_on_one_key_name_one_owner() {
        let read = PeerRequest::ReadMeta {
            bucket: "b".into(),
            key: "k".into(),
        };
        let open = PeerRequest::OpenRecords {
            bucket: "b".into(),
            key: "k".into(),
            version_id: [1; 16],
            part_file: "part.1".into(),
        };
        let target = route_target(&read).unwrap();
        assert_eq!(route_target(&open), Some(target.clone()));
        assert_eq!(target.owner_text(), "b/k");
        assert_eq!(LockTarget::Bucket("x".into()).owner_text(), "b:x");
        assert_eq!(LockTarget::Upload("x".into()).owner_text(), "u:x");
        assert_eq!(route_target(&PeerRequest::ReadIdentity), None);
        let records = PeerRequest::ReadRecords {
            records: 3,
            len_bytes: 1,
            offset_bytes: 0,
        };
        assert_eq!(route_target(&records), None, "a handle follows its opener");
    }
}
