//! The far side of a peer member: executes one `PeerRequest` (with its payload) on a
//! `LocalMember` of this node and answers a `PeerReply` (with a payload for reads).
//! Sans-IO apart from the member call: the caller (the TCP server in `front/`, or the
//! simulated link) reads the request, passes the time, and writes the answer.
//!
//! One `ServeConn` per connection holds the staged files and open part files its
//! requests opened, as handles (`Handle`, numbered from 1 in opening order).
//!
//! Invariants and bounds:
//! - At most `HANDLES_MAX` handles per connection. Opening one more closes the oldest
//!   (a write or read that still used it fails its next verb with an I/O error, which
//!   drops that member from that request: fail closed, never a wrong answer). So a
//!   caller that abandoned handles (a dropped `PeerStaged`, a call cut at its
//!   deadline after the far side opened) cannot grow the table.
//! - A handle belongs to the drive that opened it: using it on another is an error.
//! - `end` closes every handle when the connection ends.
//! - A request for a drive this node does not have, or for a peer member, is
//!   `Unreachable`; an unknown handle or a missing payload is an I/O error; nothing
//!   from the network panics.
//! - A `ReadRecords` asks at most `READ_BYTES_MAX` (a frame's bound), never more.
//! - Lock verbs go to the connection's lock session (`PeerLocks`, made by the node's
//!   `LockDesk`, both implemented in `set/`, which this layer cannot name); it is
//!   dropped with the connection, releasing every lease it held. A node without one
//!   answers them `Unreachable`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use shoal_io::{AlignedBuf, Drive};

use crate::member::peer::message::{Handle, PeerReply, PeerRequest};
use crate::member::verbs::bucket::BucketVerbs;
use crate::member::verbs::meta::MetaVerbs;
use crate::member::verbs::records::RecordVerbs;
use crate::member::verbs::upload::UploadVerbs;
use crate::member::verbs::walk::WalkVerbs;
use crate::member::verbs::write::{InstallData, WriteVerbs};
use crate::member::{LocalMember, Member, MemberError, MemberResult};

/// Handles one connection may hold open.
pub const HANDLES_MAX: usize = 256;

/// The most bytes one `ReadRecords` may ask for: what one frame may carry back.
pub const READ_BYTES_MAX: u64 = shoal_wire::frame::PAYLOAD_MAX_BYTES as u64;

type StagedOf<D> = <LocalMember<D> as WriteVerbs>::Staged;
type RecordsOf<D> = <LocalMember<D> as RecordVerbs>::Records;

enum Open<D: Drive> {
    Staged(StagedOf<D>),
    Records(RecordsOf<D>),
}

struct Entry<D: Drive> {
    drive_index: u32,
    open: Rc<Open<D>>,
}

/// The far side of the lock verbs for one connection: the leases it holds.
pub trait PeerLocks {
    /// Answers one lock verb (`PeerRequest::is_lock`).
    fn serve_lock(&self, request: PeerRequest) -> Pin<Box<dyn Future<Output = PeerReply>>>;
}

/// A node's locks, as the far side of lock verbs: one session per connection.
pub trait LockDesk {
    fn session(&self) -> Rc<dyn PeerLocks>;
}

/// The handles of one connection.
pub struct ServeConn<D: Drive> {
    table: RefCell<Table<D>>,
    /// The connection's leases (`None`: this node serves no locks).
    locks: RefCell<Option<Rc<dyn PeerLocks>>>,
}

struct Table<D: Drive> {
    by_handle: BTreeMap<Handle, Entry<D>>,
    next: Handle,
}

impl<D: Drive> Default for ServeConn<D> {
    fn default() -> Self {
        Self::numbering_from(1)
    }
}

impl<D: Drive> ServeConn<D> {
    /// A connection whose handles are numbered from `first` (at most 2^63, so they
    /// never wrap). The TCP server starts each connection at a random number: a caller
    /// still holding a handle of a connection that broke must not find another
    /// request's file under the same number on the next one.
    pub fn numbering_from(first: Handle) -> Self {
        Self {
            table: RefCell::new(Table {
                by_handle: BTreeMap::new(),
                next: (first >> 1).max(1),
            }),
            locks: RefCell::new(None),
        }
    }

    /// This connection with `session` answering its lock verbs.
    #[must_use]
    pub fn with_locks(self, session: Rc<dyn PeerLocks>) -> Self {
        *self.locks.borrow_mut() = Some(session);
        self
    }

    /// Whether lock verbs have a session to go to.
    pub fn serves_locks(&self) -> bool {
        self.locks.borrow().is_some()
    }

    /// Gives the connection its lock session, if it has none yet.
    pub fn open_locks(&self, session: impl FnOnce() -> Rc<dyn PeerLocks>) {
        let mut locks = self.locks.borrow_mut();
        if locks.is_none() {
            *locks = Some(session());
        }
    }
}

/// The error for a handle this connection does not hold (closed, evicted, never
/// opened, or another drive's).
fn unknown_handle(handle: Handle) -> MemberError {
    MemberError::Io(format!("no open handle {handle} on this connection"))
}

impl<D: Drive> ServeConn<D> {
    /// Handles open now.
    pub fn handles_open(&self) -> usize {
        self.table.borrow().by_handle.len()
    }

    /// Answers `request` for drive `drive_index` of `members` (this node's drives, in
    /// its drive order), with `payload` as the request's bytes or the buffer a read's
    /// reply goes into.
    pub async fn serve(
        &self,
        members: &[Rc<Member<D>>],
        drive_index: u32,
        request: PeerRequest,
        payload: Option<AlignedBuf>,
        now_nanos: u64,
    ) -> (PeerReply, Option<AlignedBuf>) {
        if request.is_lock() {
            let session = self.locks.borrow().clone();
            let Some(session) = session else {
                let why = "this node serves no locks".to_owned();
                return (PeerReply::Failed(MemberError::Unreachable(why)), payload);
            };
            return (session.serve_lock(request).await, payload);
        }
        let member = usize::try_from(drive_index)
            .ok()
            .and_then(|i| members.get(i))
            .and_then(|m| m.as_local());
        let Some(member) = member else {
            let why = format!("this node has no local drive {drive_index}");
            return (PeerReply::Failed(MemberError::Unreachable(why)), payload);
        };
        let (answer, payload) = match request {
            PeerRequest::StageAppend { .. }
            | PeerRequest::StageBegin { .. }
            | PeerRequest::StageFinish { .. }
            | PeerRequest::OpenRecords { .. }
            | PeerRequest::ReadRecords { .. }
            | PeerRequest::CloseRecords { .. } => {
                self.serve_handles(member, drive_index, request, payload)
                    .await
            }
            request => (serve_plain(member, request, now_nanos).await, payload),
        };
        let reply = answer.unwrap_or_else(PeerReply::Failed);
        (reply, payload)
    }

    /// Closes every handle of the connection (it ended).
    pub async fn end(self, members: &[Rc<Member<D>>]) {
        // Its leases go (a request still running holds the session a little longer).
        drop(self.locks.borrow_mut().take());
        let by_handle = std::mem::take(&mut self.table.borrow_mut().by_handle);
        for entry in by_handle.into_values() {
            let member = members
                .get(entry.drive_index as usize)
                .and_then(|m| m.as_local());
            if let (Some(member), Ok(Open::Records(records))) = (member, Rc::try_unwrap(entry.open))
            {
                member.close_records(records).await;
            }
            // A staged file is abandoned by dropping it.
        }
    }

    /// Verbs on staged files and part files, which live in the table.
    async fn serve_handles(
        &self,
        member: &LocalMember<D>,
        drive_index: u32,
        request: PeerRequest,
        payload: Option<AlignedBuf>,
    ) -> (MemberResult<PeerReply>, Option<AlignedBuf>) {
        match request {
            PeerRequest::StageBegin {
                staging,
                part_number,
                size_hint_bytes,
            } => {
                let staged = member
                    .stage_begin(&staging, part_number, size_hint_bytes)
                    .await;
                let opened = staged.map(|s| self.insert(drive_index, Open::Staged(s)));
                (opened.map(PeerReply::Opened), payload)
            }
            PeerRequest::StageAppend {
                staged,
                offset_bytes,
            } => {
                self.append(member, drive_index, staged, payload, offset_bytes)
                    .await
            }
            PeerRequest::StageFinish { staged, len_bytes } => (
                self.finish(member, drive_index, staged, len_bytes).await,
                payload,
            ),
            PeerRequest::OpenRecords {
                bucket,
                key,
                version_id,
                part_file,
            } => {
                let opened = member
                    .open_records(&bucket, &key, version_id, &part_file)
                    .await
                    .map(|r| self.insert(drive_index, Open::Records(r)));
                (opened.map(PeerReply::Opened), payload)
            }
            PeerRequest::ReadRecords {
                records,
                len_bytes,
                offset_bytes,
            } => {
                let read = (records, len_bytes, offset_bytes);
                self.read(member, drive_index, read, payload).await
            }
            PeerRequest::CloseRecords { records } => {
                if let Some(Open::Records(records)) = self.remove(drive_index, records) {
                    member.close_records(records).await;
                }
                (Ok(PeerReply::Done), payload)
            }
            _ => (
                Err(MemberError::Io("not a handle verb".to_owned())),
                payload,
            ),
        }
    }

    async fn append(
        &self,
        member: &LocalMember<D>,
        drive_index: u32,
        handle: Handle,
        payload: Option<AlignedBuf>,
        offset_bytes: u64,
    ) -> (MemberResult<PeerReply>, Option<AlignedBuf>) {
        let Some(buf) = payload else {
            let why = "stage_append without its blocks".to_owned();
            return (Err(MemberError::Io(why)), None);
        };
        let Some(open) = self.get(drive_index, handle) else {
            return (Err(unknown_handle(handle)), Some(buf));
        };
        let Open::Staged(staged) = &*open else {
            return (Err(unknown_handle(handle)), Some(buf));
        };
        let (result, buf) = member.stage_append(staged, buf, offset_bytes).await;
        (result.map(|()| PeerReply::Done), Some(buf))
    }

    async fn finish(
        &self,
        member: &LocalMember<D>,
        drive_index: u32,
        handle: Handle,
        len_bytes: u64,
    ) -> MemberResult<PeerReply> {
        match self.remove(drive_index, handle) {
            Some(Open::Staged(staged)) => {
                member.stage_finish(staged, len_bytes).await?;
                Ok(PeerReply::Done)
            }
            _ => Err(unknown_handle(handle)),
        }
    }

    async fn read(
        &self,
        member: &LocalMember<D>,
        drive_index: u32,
        (handle, len_bytes, offset_bytes): (Handle, u64, u64),
        payload: Option<AlignedBuf>,
    ) -> (MemberResult<PeerReply>, Option<AlignedBuf>) {
        if len_bytes > READ_BYTES_MAX {
            let why = format!("read of {len_bytes} bytes is over {READ_BYTES_MAX}");
            return (Err(MemberError::Io(why)), payload);
        }
        let Some(open) = self.get(drive_index, handle) else {
            return (Err(unknown_handle(handle)), payload);
        };
        let Open::Records(records) = &*open else {
            return (Err(unknown_handle(handle)), payload);
        };
        // `len_bytes` fits in usize: it is at most READ_BYTES_MAX.
        let len = usize::try_from(len_bytes).unwrap_or(0);
        let buf = match payload {
            Some(buf) if buf.capacity() == len => buf,
            _ => AlignedBuf::with_capacity(len),
        };
        let (result, buf) = member.read_records(records, buf, offset_bytes).await;
        (result.map(|()| PeerReply::Done), Some(buf))
    }

    /// Puts `open` in the table, closing the oldest handle when full.
    fn insert(&self, drive_index: u32, open: Open<D>) -> Handle {
        let mut table = self.table.borrow_mut();
        while table.by_handle.len() >= HANDLES_MAX {
            // Evicted: a staged file is abandoned; a part file is closed by dropping
            // its handle (the drive's file closes with it).
            let _ = table.by_handle.pop_first();
        }
        let handle = table.next;
        table.next += 1;
        let entry = Entry {
            drive_index,
            open: Rc::new(open),
        };
        table.by_handle.insert(handle, entry);
        handle
    }

    /// The open file of `handle` on `drive_index`, shared while a verb uses it.
    fn get(&self, drive_index: u32, handle: Handle) -> Option<Rc<Open<D>>> {
        let table = self.table.borrow();
        let entry = table.by_handle.get(&handle)?;
        (entry.drive_index == drive_index).then(|| Rc::clone(&entry.open))
    }

    /// Takes `handle` out of the table, if it is `drive_index`'s and not in use.
    fn remove(&self, drive_index: u32, handle: Handle) -> Option<Open<D>> {
        let mut table = self.table.borrow_mut();
        if table.by_handle.get(&handle)?.drive_index != drive_index {
            return None;
        }
        let entry = table.by_handle.remove(&handle)?;
        Rc::try_unwrap(entry.open).ok()
    }
}

/// Verbs that hold nothing open between requests.
async fn serve_plain<D: Drive>(
    member: &LocalMember<D>,
    request: PeerRequest,
    now_nanos: u64,
) -> MemberResult<PeerReply> {
    match request {
        PeerRequest::ReadMeta { bucket, key } => {
            member.read_meta(&bucket, &key).await.map(PeerReply::Bytes)
        }
        PeerRequest::ReadBucket { .. }
        | PeerRequest::MakeBucket { .. }
        | PeerRequest::RemoveBucketRecord { .. }
        | PeerRequest::RemoveBucket { .. }
        | PeerRequest::ListBuckets
        | PeerRequest::ReadBucketTags { .. }
        | PeerRequest::WriteBucketTags { .. }
        | PeerRequest::ReadIdentity
        | PeerRequest::Walk { .. } => serve_bucket(member, request).await,
        PeerRequest::WriteUpload { .. }
        | PeerRequest::ReadUpload { .. }
        | PeerRequest::RemoveUpload { .. }
        | PeerRequest::PutPart { .. }
        | PeerRequest::RemovePart { .. }
        | PeerRequest::ListParts { .. }
        | PeerRequest::ListUploads { .. }
        | PeerRequest::ListUploadBuckets
        | PeerRequest::ForgetUploadBucket { .. }
        | PeerRequest::PruneCompleted { .. } => serve_upload(member, request).await,
        request => serve_write(member, request, now_nanos).await,
    }
}

/// The write family's verbs that name no handle.
async fn serve_write<D: Drive>(
    member: &LocalMember<D>,
    request: PeerRequest,
    now_nanos: u64,
) -> MemberResult<PeerReply> {
    match request {
        PeerRequest::StageDiscard { staging } => member.stage_discard(&staging).await?,
        PeerRequest::Commit { mut commit, fence } => {
            commit.fence = fence.at(now_nanos);
            member.commit(commit).await?;
        }
        PeerRequest::RollBack {
            mut roll_back,
            fence,
        } => {
            roll_back.fence = fence.at(now_nanos);
            member.roll_back(roll_back).await?;
        }
        PeerRequest::WriteMeta {
            bucket,
            key,
            meta,
            expect_previous,
            fence,
        } => {
            let fence = fence.at(now_nanos);
            (member.write_meta(&bucket, &key, &meta, expect_previous, fence)).await?;
        }
        PeerRequest::InstallData {
            bucket,
            key,
            version_id,
            staging,
            files,
            expect_previous,
            fence,
        } => {
            let install = InstallData {
                bucket: bucket.into(),
                key: key.into(),
                version_id,
                staging: staging.into(),
                files,
                expect: expect_previous,
                fence: fence.at(now_nanos),
            };
            member.install_data(install).await?;
        }
        PeerRequest::DeleteVersion {
            bucket,
            key,
            expect_previous,
            fence,
        } => {
            let fence = fence.at(now_nanos);
            (member.delete_version(&bucket, &key, expect_previous, fence)).await?;
        }
        PeerRequest::RetireVersions {
            bucket,
            key,
            now_unix_nanos,
            fence,
        } => {
            let fence = fence.at(now_nanos);
            (member.retire_versions(&bucket, &key, now_unix_nanos, fence)).await?;
        }
        PeerRequest::RemoveStaleVersions {
            bucket,
            key,
            keep,
            now_unix_nanos,
            fence,
        } => {
            let fence = fence.at(now_nanos);
            let removed = member.remove_stale_versions(&bucket, &key, keep, now_unix_nanos, fence);
            removed.await?;
        }
        PeerRequest::HoldsVersionData {
            bucket,
            key,
            version_id,
            part_files,
        } => {
            let holds = member.holds_version_data(&bucket, &key, version_id, part_files);
            return holds.await.map(PeerReply::Holds);
        }
        PeerRequest::SweepTrash {
            now_unix_nanos,
            grace_nanos,
        } => {
            let swept = member.sweep_trash(now_unix_nanos, grace_nanos).await?;
            return Ok(PeerReply::Count(swept as u64));
        }
        _ => return Err(MemberError::Io("not a write verb".to_owned())),
    }
    Ok(PeerReply::Done)
}

/// Bucket records and walks.
async fn serve_bucket<D: Drive>(
    member: &LocalMember<D>,
    request: PeerRequest,
) -> MemberResult<PeerReply> {
    Ok(match request {
        PeerRequest::ReadBucket { bucket } => PeerReply::Bytes(member.read_bucket(&bucket).await?),
        PeerRequest::MakeBucket { bucket, record } => {
            member.make_bucket(&bucket, record).await?;
            PeerReply::Done
        }
        PeerRequest::RemoveBucketRecord { bucket } => {
            member.remove_bucket_record(&bucket).await?;
            PeerReply::Done
        }
        PeerRequest::RemoveBucket { bucket } => {
            member.remove_bucket(&bucket).await?;
            PeerReply::Done
        }
        PeerRequest::ListBuckets => PeerReply::Names(member.list_buckets().await?),
        PeerRequest::ReadBucketTags { bucket } => {
            PeerReply::Bytes(member.read_bucket_tags(&bucket).await?)
        }
        PeerRequest::WriteBucketTags { bucket, record } => {
            member.write_bucket_tags(&bucket, record).await?;
            PeerReply::Done
        }
        PeerRequest::ReadIdentity => PeerReply::Bytes(member.read_identity().await?),
        PeerRequest::Walk { bucket, request } => {
            PeerReply::Walk(member.walk(&bucket, &request).await?)
        }
        _ => return Err(MemberError::Io("not a bucket verb".to_owned())),
    })
}

/// Multipart upload verbs.
async fn serve_upload<D: Drive>(
    member: &LocalMember<D>,
    request: PeerRequest,
) -> MemberResult<PeerReply> {
    Ok(match request {
        PeerRequest::WriteUpload {
            bucket,
            upload_id,
            record,
        } => {
            member.write_upload(&bucket, &upload_id, &record).await?;
            PeerReply::Done
        }
        PeerRequest::ReadUpload { bucket, upload_id } => {
            PeerReply::Bytes(member.read_upload(&bucket, &upload_id).await?)
        }
        PeerRequest::RemoveUpload { bucket, upload_id } => {
            member.remove_upload(&bucket, &upload_id).await?;
            PeerReply::Done
        }
        PeerRequest::PutPart {
            bucket,
            upload_id,
            staging,
            part,
        } => {
            member
                .put_part(&bucket, &upload_id, &staging, &part)
                .await?;
            PeerReply::Done
        }
        PeerRequest::RemovePart {
            bucket,
            upload_id,
            part,
        } => {
            member.remove_part(&bucket, &upload_id, &part).await?;
            PeerReply::Done
        }
        PeerRequest::ListParts { bucket, upload_id } => {
            PeerReply::Parts(member.list_parts(&bucket, &upload_id).await?)
        }
        PeerRequest::ListUploads { bucket } => {
            PeerReply::Names(member.list_uploads(&bucket).await?)
        }
        PeerRequest::ListUploadBuckets => PeerReply::Names(member.list_upload_buckets().await?),
        PeerRequest::ForgetUploadBucket { bucket } => {
            member.forget_upload_bucket(&bucket).await?;
            PeerReply::Done
        }
        PeerRequest::PruneCompleted {
            bucket,
            key,
            version_id,
            keep,
        } => {
            member
                .prune_completed(&bucket, &key, &version_id, &keep)
                .await?;
            PeerReply::Done
        }
        _ => return Err(MemberError::Io("not an upload verb".to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use shoal_io::SimDrive;

    use super::*;

    fn run<F: std::future::Future>(future: F) -> F::Output {
        let (mut runtime, _) =
            shoal_io::build_runtime(&shoal_io::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(future)
    }

    fn begin(n: u32) -> PeerRequest {
        PeerRequest::StageBegin {
            staging: format!("s{n}"),
            part_number: 1,
            size_hint_bytes: 0,
        }
    }

    fn append(handle: Handle) -> PeerRequest {
        PeerRequest::StageAppend {
            staged: handle,
            offset_bytes: 0,
        }
    }

    fn block() -> AlignedBuf {
        let mut buf = AlignedBuf::with_capacity(shoal_io::BLOCK_SIZE_BYTES);
        buf.extend_from_slice(&[7; shoal_io::BLOCK_SIZE_BYTES]);
        buf
    }

    /// The table holds at most `HANDLES_MAX` handles: one more closes the oldest, whose
    /// next verb is an I/O error (never a panic), while the newest still works; `end`
    /// closes them all.
    #[test]
    fn handles_are_bounded_and_the_oldest_goes() {
        run(async {
            let members = vec![Rc::new(Member::from(LocalMember::new(SimDrive::new(
                "a", 1,
            ))))];
            let conn = ServeConn::default();
            let mut last = 0;
            for n in 0..=HANDLES_MAX as u32 {
                let (reply, _) = conn.serve(&members, 0, begin(n), None, 0).await;
                let PeerReply::Opened(handle) = reply else {
                    panic!("stage_begin answered {reply:?}");
                };
                last = handle;
            }
            assert_eq!(conn.handles_open(), HANDLES_MAX);
            let (reply, buf) = conn.serve(&members, 0, append(1), Some(block()), 0).await;
            assert!(
                matches!(reply, PeerReply::Failed(MemberError::Io(_))),
                "{reply:?}"
            );
            assert!(buf.is_some(), "the payload comes back");
            let (reply, _) = conn
                .serve(&members, 0, append(last), Some(block()), 0)
                .await;
            assert_eq!(reply, PeerReply::Done);
            conn.end(&members).await;
        });
    }

    /// Requests from the network that cannot be served get errors: a drive this node
    /// does not have, an append without its blocks, a read over the bound, a handle of
    /// another drive.
    #[test]
    fn bad_requests_are_errors() {
        run(async {
            let members: Vec<Rc<Member<SimDrive>>> = (0..2)
                .map(|i| Rc::new(Member::from(LocalMember::new(SimDrive::new("d", i)))))
                .collect();
            let conn = ServeConn::default();
            let (reply, _) = conn
                .serve(&members, 9, PeerRequest::ListBuckets, None, 0)
                .await;
            assert!(matches!(
                reply,
                PeerReply::Failed(MemberError::Unreachable(_))
            ));
            let (reply, _) = conn.serve(&members, 0, begin(1), None, 0).await;
            let PeerReply::Opened(handle) = reply else {
                panic!("stage_begin answered {reply:?}");
            };
            let (reply, _) = conn.serve(&members, 0, append(handle), None, 0).await;
            assert!(matches!(reply, PeerReply::Failed(MemberError::Io(_))));
            let (reply, _) = conn
                .serve(&members, 1, append(handle), Some(block()), 0)
                .await;
            assert!(
                matches!(reply, PeerReply::Failed(MemberError::Io(_))),
                "another drive's"
            );
            let read = PeerRequest::ReadRecords {
                records: handle,
                len_bytes: READ_BYTES_MAX + 1,
                offset_bytes: 0,
            };
            let (reply, _) = conn.serve(&members, 0, read, None, 0).await;
            assert!(matches!(reply, PeerReply::Failed(MemberError::Io(_))));
        });
    }
}
