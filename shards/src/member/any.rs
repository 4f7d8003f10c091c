//! `Member`: the one member type a store holds, either a drive of this node
//! (`LocalMember`) or a drive of a peer node (`PeerMember`), so the object layer names
//! one type and a set can mix both.
//!
//! Invariants (as `io::AnyDrive` for drives):
//! - Dispatch is a `match` per verb, no `dyn`. The `Local` arm awaits its future in
//!   place; the `Peer` arm boxes its own (a remote call allocates anyway), so a local
//!   verb's future is its `LocalMember` future plus a few bytes (asserted below).
//! - A staged file or open part file belongs to the kind of member that opened it;
//!   handing one to the other kind is answered with an I/O error, never a panic.
//! - What is below the verbs (a drive's format, identity, probes) exists for local
//!   members only: `as_local` says so explicitly.

use std::rc::Rc;

use shoal_io::{AlignedBuf, Drive};

use crate::member::peer::{PeerMember, PeerRecords, PeerStaged};
use crate::member::verbs::bucket::BucketVerbs;
use crate::member::verbs::meta::MetaVerbs;
use crate::member::verbs::records::RecordVerbs;
use crate::member::verbs::upload::UploadVerbs;
use crate::member::verbs::walk::{WalkBatch, WalkRequest, WalkVerbs};
use crate::member::verbs::write::{Commit, Expect, Fence, InstallData, RollBack, WriteVerbs};
use crate::member::{LocalMember, MemberError, MemberHealth, MemberResult, SetMember};
use crate::record::meta::PartInfo;

/// A member of a set, on this node or on a peer.
pub enum Member<D: Drive> {
    Local(LocalMember<D>),
    Peer(PeerMember),
}

/// A staged file of either kind of member.
pub enum AnyStaged<D: Drive> {
    Local(<LocalMember<D> as WriteVerbs>::Staged),
    Peer(PeerStaged),
}

/// An open part file of either kind of member.
pub enum AnyRecords<D: Drive> {
    Local(<LocalMember<D> as RecordVerbs>::Records),
    Peer(PeerRecords),
}

impl<D: Drive> From<LocalMember<D>> for Member<D> {
    fn from(member: LocalMember<D>) -> Self {
        Member::Local(member)
    }
}

impl<D: Drive> From<PeerMember> for Member<D> {
    fn from(member: PeerMember) -> Self {
        Member::Peer(member)
    }
}

impl<D: Drive> Member<D> {
    /// The local member, when this is one (format, identity, probes, tests).
    pub fn as_local(&self) -> Option<&LocalMember<D>> {
        match self {
            Member::Local(member) => Some(member),
            Member::Peer(_) => None,
        }
    }

    /// The drive under a local member; `None` for a drive of a peer.
    pub fn drive(&self) -> Option<&D> {
        self.as_local().map(LocalMember::drive)
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Member::Local(_))
    }
}

/// The error for a handle given to the other kind of member.
fn mismatched(verb: &str) -> MemberError {
    MemberError::Io(format!(
        "{verb}: a handle of one kind of member given to the other"
    ))
}

/// Awaits `$call` on whichever member `$self` is, boxing the peer's future.
macro_rules! each {
    ($self:ident, $m:ident => $call:expr) => {
        match $self {
            Member::Local($m) => $call.await,
            Member::Peer($m) => Box::pin($call).await,
        }
    };
}

impl<D: Drive> SetMember for Member<D> {
    fn name(&self) -> &str {
        match self {
            Member::Local(m) => m.name(),
            Member::Peer(m) => m.name(),
        }
    }

    fn health(&self) -> &MemberHealth {
        match self {
            Member::Local(m) => m.health(),
            Member::Peer(m) => m.health(),
        }
    }
}

impl<D: Drive> MetaVerbs for Member<D> {
    async fn read_meta(&self, bucket: &str, key: &str) -> MemberResult<Vec<u8>> {
        each!(self, m => m.read_meta(bucket, key))
    }
}

impl<D: Drive> WriteVerbs for Member<D> {
    type Staged = AnyStaged<D>;

    async fn stage_begin(
        &self,
        staging: &str,
        part_number: u32,
        size_hint_bytes: u64,
    ) -> MemberResult<AnyStaged<D>> {
        match self {
            Member::Local(m) => {
                (m.stage_begin(staging, part_number, size_hint_bytes).await).map(AnyStaged::Local)
            }
            Member::Peer(m) => Box::pin(m.stage_begin(staging, part_number, size_hint_bytes))
                .await
                .map(AnyStaged::Peer),
        }
    }

    async fn stage_append(
        &self,
        staged: &AnyStaged<D>,
        buf: AlignedBuf,
        offset_bytes: u64,
    ) -> (MemberResult<()>, AlignedBuf) {
        match (self, staged) {
            (Member::Local(m), AnyStaged::Local(s)) => m.stage_append(s, buf, offset_bytes).await,
            (Member::Peer(m), AnyStaged::Peer(s)) => {
                Box::pin(m.stage_append(s, buf, offset_bytes)).await
            }
            _ => (Err(mismatched("stage_append")), buf),
        }
    }

    async fn stage_finish(&self, staged: AnyStaged<D>, len_bytes: u64) -> MemberResult<()> {
        match (self, staged) {
            (Member::Local(m), AnyStaged::Local(s)) => m.stage_finish(s, len_bytes).await,
            (Member::Peer(m), AnyStaged::Peer(s)) => Box::pin(m.stage_finish(s, len_bytes)).await,
            _ => Err(mismatched("stage_finish")),
        }
    }

    async fn stage_discard(&self, staging: &str) -> MemberResult<()> {
        each!(self, m => m.stage_discard(staging))
    }

    async fn commit(&self, commit: Commit) -> MemberResult<()> {
        each!(self, m => m.commit(commit))
    }

    async fn roll_back(&self, roll_back: RollBack) -> MemberResult<()> {
        each!(self, m => m.roll_back(roll_back))
    }

    async fn write_meta(
        &self,
        bucket: &str,
        key: &str,
        meta: &[u8],
        expect_previous: Expect,
        fence: Fence,
    ) -> MemberResult<()> {
        each!(self, m => m.write_meta(bucket, key, meta, expect_previous, fence))
    }

    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        expect_previous: Expect,
        fence: Fence,
    ) -> MemberResult<()> {
        each!(self, m => m.delete_version(bucket, key, expect_previous, fence))
    }

    async fn retire_versions(
        &self,
        bucket: &str,
        key: &str,
        now_unix_nanos: u64,
        fence: Fence,
    ) -> MemberResult<()> {
        each!(self, m => m.retire_versions(bucket, key, now_unix_nanos, fence))
    }

    async fn remove_stale_versions(
        &self,
        bucket: &str,
        key: &str,
        keep: [u8; 16],
        now_unix_nanos: u64,
        fence: Fence,
    ) -> MemberResult<()> {
        each!(self, m => m.remove_stale_versions(bucket, key, keep, now_unix_nanos, fence))
    }

    async fn holds_version_data(
        &self,
        bucket: &str,
        key: &str,
        version_id: [u8; 16],
        part_files: Rc<[String]>,
    ) -> MemberResult<bool> {
        each!(self, m => m.holds_version_data(bucket, key, version_id, part_files))
    }

    async fn install_data(&self, install: InstallData) -> MemberResult<()> {
        each!(self, m => m.install_data(install))
    }

    async fn sweep_trash(&self, now_unix_nanos: u64, grace_nanos: u64) -> MemberResult<usize> {
        each!(self, m => m.sweep_trash(now_unix_nanos, grace_nanos))
    }
}

impl<D: Drive> RecordVerbs for Member<D> {
    type Records = AnyRecords<D>;

    async fn open_records(
        &self,
        bucket: &str,
        key: &str,
        version_id: [u8; 16],
        part_file: &str,
    ) -> MemberResult<AnyRecords<D>> {
        match self {
            Member::Local(m) => {
                (m.open_records(bucket, key, version_id, part_file).await).map(AnyRecords::Local)
            }
            Member::Peer(m) => Box::pin(m.open_records(bucket, key, version_id, part_file))
                .await
                .map(AnyRecords::Peer),
        }
    }

    async fn read_records(
        &self,
        records: &AnyRecords<D>,
        buf: AlignedBuf,
        offset_bytes: u64,
    ) -> (MemberResult<()>, AlignedBuf) {
        match (self, records) {
            (Member::Local(m), AnyRecords::Local(r)) => m.read_records(r, buf, offset_bytes).await,
            (Member::Peer(m), AnyRecords::Peer(r)) => {
                Box::pin(m.read_records(r, buf, offset_bytes)).await
            }
            _ => (Err(mismatched("read_records")), buf),
        }
    }

    async fn close_records(&self, records: AnyRecords<D>) {
        match (self, records) {
            (Member::Local(m), AnyRecords::Local(r)) => m.close_records(r).await,
            (Member::Peer(m), AnyRecords::Peer(r)) => Box::pin(m.close_records(r)).await,
            // Nothing to close on a member that did not open it.
            _ => {}
        }
    }
}

impl<D: Drive> BucketVerbs for Member<D> {
    async fn read_bucket(&self, bucket: &str) -> MemberResult<Vec<u8>> {
        each!(self, m => m.read_bucket(bucket))
    }

    async fn make_bucket(&self, bucket: &str, record: Vec<u8>) -> MemberResult<()> {
        each!(self, m => m.make_bucket(bucket, record))
    }

    async fn remove_bucket_record(&self, bucket: &str) -> MemberResult<()> {
        each!(self, m => m.remove_bucket_record(bucket))
    }

    async fn remove_bucket(&self, bucket: &str) -> MemberResult<()> {
        each!(self, m => m.remove_bucket(bucket))
    }

    async fn list_buckets(&self) -> MemberResult<Vec<String>> {
        each!(self, m => m.list_buckets())
    }

    async fn read_bucket_tags(&self, bucket: &str) -> MemberResult<Vec<u8>> {
        each!(self, m => m.read_bucket_tags(bucket))
    }

    async fn write_bucket_tags(&self, bucket: &str, record: Vec<u8>) -> MemberResult<()> {
        each!(self, m => m.write_bucket_tags(bucket, record))
    }

    async fn read_identity(&self) -> MemberResult<Vec<u8>> {
        each!(self, m => m.read_identity())
    }
}

impl<D: Drive> WalkVerbs for Member<D> {
    async fn walk(&self, bucket: &str, request: &WalkRequest) -> MemberResult<WalkBatch> {
        each!(self, m => m.walk(bucket, request))
    }
}

impl<D: Drive> UploadVerbs for Member<D> {
    async fn write_upload(&self, bucket: &str, upload_id: &str, record: &[u8]) -> MemberResult<()> {
        each!(self, m => m.write_upload(bucket, upload_id, record))
    }

    async fn read_upload(&self, bucket: &str, upload_id: &str) -> MemberResult<Vec<u8>> {
        each!(self, m => m.read_upload(bucket, upload_id))
    }

    async fn remove_upload(&self, bucket: &str, upload_id: &str) -> MemberResult<()> {
        each!(self, m => m.remove_upload(bucket, upload_id))
    }

    async fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        staging: &str,
        part: &PartInfo,
    ) -> MemberResult<()> {
        each!(self, m => m.put_part(bucket, upload_id, staging, part))
    }

    async fn remove_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: &PartInfo,
    ) -> MemberResult<()> {
        each!(self, m => m.remove_part(bucket, upload_id, part))
    }

    async fn list_parts(&self, bucket: &str, upload_id: &str) -> MemberResult<Vec<PartInfo>> {
        each!(self, m => m.list_parts(bucket, upload_id))
    }

    async fn list_uploads(&self, bucket: &str) -> MemberResult<Vec<String>> {
        each!(self, m => m.list_uploads(bucket))
    }

    async fn list_upload_buckets(&self) -> MemberResult<Vec<String>> {
        each!(self, m => m.list_upload_buckets())
    }

    async fn forget_upload_bucket(&self, bucket: &str) -> MemberResult<()> {
        each!(self, m => m.forget_upload_bucket(bucket))
    }

    async fn prune_completed(
        &self,
        bucket: &str,
        key: &str,
        version_id: &[u8; 16],
        keep: &[PartInfo],
    ) -> MemberResult<()> {
        each!(self, m => m.prune_completed(bucket, key, version_id, keep))
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of_val;

    use shoal_io::SimDrive;

    use super::*;

    /// A local member pays (almost) nothing for the enum: each `Member::Local` verb's
    /// future is its `LocalMember` future plus its arguments and a tag (rounded up to
    /// the future's alignment), because the peer's futures are boxed in their own arm.
    #[test]
    fn local_futures_stay_the_size_of_local_member_futures() {
        const SLACK_BYTES: usize = 64;
        let local = LocalMember::new(SimDrive::new("a", 1));
        let any = Member::from(LocalMember::new(SimDrive::new("b", 2)));
        let fence = Fence {
            epoch: 1,
            expires_at_nanos: 1,
        };
        let sizes = [
            (
                "read_meta",
                size_of_val(&local.read_meta("b", "k")),
                measure(&any.read_meta("b", "k")),
            ),
            (
                "write_meta",
                size_of_val(&local.write_meta("b", "k", b"", Expect::Any, fence)),
                measure(&any.write_meta("b", "k", b"", Expect::Any, fence)),
            ),
            (
                "stage_begin",
                size_of_val(&local.stage_begin("s", 1, 0)),
                measure(&any.stage_begin("s", 1, 0)),
            ),
            (
                "walk",
                size_of_val(&local.walk("b", &walk_all())),
                measure(&any.walk("b", &walk_all())),
            ),
        ];
        for (verb, local_bytes, (any_bytes, align)) in sizes {
            assert!(
                any_bytes <= (local_bytes + SLACK_BYTES).next_multiple_of(align),
                "{verb}: Member future {any_bytes} bytes, LocalMember {local_bytes}"
            );
        }
    }

    /// A future's size and alignment.
    fn measure<F>(future: &F) -> (usize, usize) {
        (size_of_val(future), std::mem::align_of_val(future))
    }

    fn walk_all() -> WalkRequest {
        WalkRequest {
            prefix: String::new(),
            start_after: String::new(),
            skip_under: None,
            collapse_slash: false,
            limit: 10,
            summaries_for: None,
        }
    }

    /// A handle of a peer member given to a local one is an error, not a panic, and
    /// the buffer comes back.
    #[test]
    fn mismatched_handles_are_errors() {
        let (mut runtime, _) =
            shoal_io::build_runtime(&shoal_io::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(async {
            let local = Member::from(LocalMember::new(SimDrive::new("a", 1)));
            let staged = AnyStaged::Peer(PeerStaged { handle: 1 });
            let (result, buf) = local
                .stage_append(&staged, AlignedBuf::with_capacity(4096), 0)
                .await;
            assert!(matches!(result, Err(MemberError::Io(_))), "{result:?}");
            assert_eq!(buf.capacity(), 4096);
            let records = AnyRecords::Peer(PeerRecords {
                handle: 2,
                route: None,
            });
            let (result, _) = local
                .read_records(&records, AlignedBuf::with_capacity(4096), 0)
                .await;
            assert!(matches!(result, Err(MemberError::Io(_))));
            assert!(local.as_local().is_some() && local.drive().is_some());
        });
    }
}
