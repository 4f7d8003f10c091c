//! `PeerReply` ↔ `VerbReply`, and `MemberError` ↔ `VerbError`. A `PeerReply` says only
//! what shape an answer has (`Done`, `Bytes`, `Names`…); the wire names the verb it
//! answers, so the far side needs the verb asked to encode, and the dialer checks it
//! (`mod.rs`).
//!
//! Errors keep their kind and message both ways, but for two kinds one side lacks:
//! `MemberError::NotAsked` (the caller's own verdict, never a far drive's) goes out as
//! `Io`, and the wire's `Refused` (the far side could not carry the request out: an
//! unknown handle, a body it could not read) comes in as `MemberError::Io`, the
//! nearest: that member fails this request and nothing was changed.

use shoal_wire::verb::{self as wire, ErrorKind, Handle, VerbError, VerbKind, VerbReply};

use super::request::{part_from_wire, part_to_wire};
use crate::member::MemberError;
use crate::member::peer::message::PeerReply;
use crate::member::verbs::walk::{KeySummary, WalkBatch, WalkEntry};
use crate::record::checksum::ChecksumAlgorithm;

/// Whether a successful answer to `kind` carries bulk in its payload (a record or a
/// list); no request of these verbs carries a payload itself.
pub(super) fn has_bulk(kind: VerbKind) -> bool {
    matches!(
        kind,
        VerbKind::ReadMeta
            | VerbKind::ReadBucket
            | VerbKind::ReadBucketTags
            | VerbKind::ReadIdentity
            | VerbKind::ReadUpload
            | VerbKind::ListBuckets
            | VerbKind::ListUploads
            | VerbKind::ListUploadBuckets
            | VerbKind::ListParts
            | VerbKind::Walk
    )
}

/// The answer `reply` to a `verb` request as the wire's; a shape that does not answer
/// `verb` (a bug of the server) becomes an I/O error.
pub(super) fn to_wire(verb: VerbKind, reply: PeerReply) -> VerbReply {
    let mismatch = |kind: &str| {
        let message = format!("served {kind} to {}", verb.name());
        VerbReply::Error(VerbError {
            kind: ErrorKind::Io,
            message,
        })
    };
    if let Some(lock) = super::lock::reply_to_wire(verb, &reply) {
        return lock;
    }
    match reply {
        PeerReply::Failed(error) => VerbReply::Error(verb_error(&error)),
        PeerReply::Done => done(verb).unwrap_or_else(|| mismatch("done")),
        PeerReply::Bytes(record) => bytes(verb, record).unwrap_or_else(|| mismatch("bytes")),
        PeerReply::Names(names) => match verb {
            VerbKind::ListBuckets => VerbReply::ListBuckets { buckets: names },
            VerbKind::ListUploads => VerbReply::ListUploads { upload_ids: names },
            VerbKind::ListUploadBuckets => VerbReply::ListUploadBuckets { buckets: names },
            _ => mismatch("names"),
        },
        PeerReply::Opened(handle) => match verb {
            VerbKind::StageBegin => VerbReply::StageBegin {
                handle: Handle(handle),
            },
            VerbKind::OpenRecords => VerbReply::OpenRecords {
                handle: Handle(handle),
            },
            _ => mismatch("opened"),
        },
        PeerReply::Holds(held) if verb == VerbKind::HoldsVersionData => {
            VerbReply::HoldsVersionData { held }
        }
        PeerReply::Count(removed) if verb == VerbKind::SweepTrash => {
            VerbReply::SweepTrash { removed }
        }
        PeerReply::Walk(batch) if verb == VerbKind::Walk => VerbReply::Walk(walk_to_wire(batch)),
        PeerReply::Parts(parts) if verb == VerbKind::ListParts => VerbReply::ListParts {
            parts: parts.into_iter().map(part_to_wire).collect(),
        },
        other => mismatch(other.kind()),
    }
}

/// The record answer to `verb`, if its answer is a record.
fn bytes(verb: VerbKind, record: Vec<u8>) -> Option<VerbReply> {
    Some(match verb {
        VerbKind::ReadMeta => VerbReply::ReadMeta { record },
        VerbKind::ReadBucket => VerbReply::ReadBucket { record },
        VerbKind::ReadBucketTags => VerbReply::ReadBucketTags { record },
        VerbKind::ReadIdentity => VerbReply::ReadIdentity { record },
        VerbKind::ReadUpload => VerbReply::ReadUpload { record },
        _ => return None,
    })
}

/// The answer "done" to `verb`, if it answers nothing else (a successful
/// `ReadRecords` is done too: its bytes are the payload).
fn done(verb: VerbKind) -> Option<VerbReply> {
    Some(match verb {
        VerbKind::StageAppend => VerbReply::StageAppend,
        VerbKind::StageFinish => VerbReply::StageFinish,
        VerbKind::StageAbandon => VerbReply::StageAbandon,
        VerbKind::StageDiscard => VerbReply::StageDiscard,
        VerbKind::Commit => VerbReply::Commit,
        VerbKind::RollBack => VerbReply::RollBack,
        VerbKind::WriteMeta => VerbReply::WriteMeta,
        VerbKind::InstallData => VerbReply::InstallData,
        VerbKind::DeleteVersion => VerbReply::DeleteVersion,
        VerbKind::RetireVersions => VerbReply::RetireVersions,
        VerbKind::RemoveStaleVersions => VerbReply::RemoveStaleVersions,
        VerbKind::ReadRecords => VerbReply::ReadRecords,
        VerbKind::CloseRecords => VerbReply::CloseRecords,
        VerbKind::MakeBucket => VerbReply::MakeBucket,
        VerbKind::RemoveBucketRecord => VerbReply::RemoveBucketRecord,
        VerbKind::RemoveBucket => VerbReply::RemoveBucket,
        VerbKind::WriteBucketTags => VerbReply::WriteBucketTags,
        VerbKind::WriteUpload => VerbReply::WriteUpload,
        VerbKind::RemoveUpload => VerbReply::RemoveUpload,
        VerbKind::PutPart => VerbReply::PutPart,
        VerbKind::RemovePart => VerbReply::RemovePart,
        VerbKind::ForgetUploadBucket => VerbReply::ForgetUploadBucket,
        VerbKind::PruneCompleted => VerbReply::PruneCompleted,
        _ => return None,
    })
}

/// The wire's answer as the shards side's (the verb was checked by the caller).
pub(super) fn from_wire(reply: VerbReply) -> PeerReply {
    if let Some(lock) = super::lock::reply_from_wire(&reply) {
        return lock;
    }
    match reply {
        VerbReply::Error(error) => PeerReply::Failed(member_error(error)),
        VerbReply::ReadMeta { record }
        | VerbReply::ReadBucket { record }
        | VerbReply::ReadBucketTags { record }
        | VerbReply::ReadIdentity { record }
        | VerbReply::ReadUpload { record } => PeerReply::Bytes(record),
        VerbReply::ListBuckets { buckets }
        | VerbReply::ListUploadBuckets { buckets }
        | VerbReply::ListUploads {
            upload_ids: buckets,
        } => PeerReply::Names(buckets),
        VerbReply::StageBegin { handle } | VerbReply::OpenRecords { handle } => {
            PeerReply::Opened(handle.0)
        }
        VerbReply::HoldsVersionData { held } => PeerReply::Holds(held),
        VerbReply::SweepTrash { removed } => PeerReply::Count(removed),
        VerbReply::Walk(batch) => PeerReply::Walk(walk_from_wire(batch)),
        VerbReply::ListParts { parts } => {
            PeerReply::Parts(parts.into_iter().map(part_from_wire).collect())
        }
        // Every other answer is "done".
        _ => PeerReply::Done,
    }
}

/// A member's error as the wire's.
pub fn verb_error(error: &MemberError) -> VerbError {
    let (kind, message) = match error {
        MemberError::Unreachable(why) => (ErrorKind::Unreachable, why.clone()),
        MemberError::Timeout => (ErrorKind::Timeout, String::new()),
        MemberError::Stale => (ErrorKind::Stale, String::new()),
        MemberError::Corrupt(why) => (ErrorKind::Corrupt, why.clone()),
        MemberError::NotFound => (ErrorKind::NotFound, String::new()),
        MemberError::Full => (ErrorKind::Full, String::new()),
        MemberError::Io(why) => (ErrorKind::Io, why.clone()),
        MemberError::NotAsked(why) => (ErrorKind::Io, format!("not asked: {why}")),
    };
    VerbError { kind, message }
}

/// The wire's error as a member's (`Refused` as the nearest, `Io`).
pub fn member_error(error: VerbError) -> MemberError {
    match error.kind {
        ErrorKind::Unreachable => MemberError::Unreachable(error.message),
        ErrorKind::Timeout => MemberError::Timeout,
        ErrorKind::Stale => MemberError::Stale,
        ErrorKind::Corrupt => MemberError::Corrupt(error.message),
        ErrorKind::NotFound => MemberError::NotFound,
        ErrorKind::Full => MemberError::Full,
        ErrorKind::Io => MemberError::Io(error.message),
        ErrorKind::Refused => MemberError::Io(format!("refused by the peer: {}", error.message)),
    }
}

fn walk_to_wire(batch: WalkBatch) -> wire::WalkBatch {
    let entries = batch.entries.into_iter().map(|entry| match entry {
        WalkEntry::Key(name) => wire::WalkEntry::Key(name),
        WalkEntry::Prefix(name) => wire::WalkEntry::Prefix(name),
    });
    let mut summaries: Vec<Option<wire::EntrySummary>> = batch
        .summaries
        .iter()
        .map(|summary| summary.as_ref().and_then(summary_to_wire))
        .collect();
    // The wire has one shape for "nothing summarised": no summaries at all.
    if summaries.iter().all(Option::is_none) {
        summaries.clear();
    }
    wire::WalkBatch {
        entries: entries.collect(),
        summaries,
        truncated: batch.truncated,
    }
}

/// A summary for the wire; `None` (the lister reads that key instead) if a number does
/// not fit its field.
fn summary_to_wire(summary: &KeySummary) -> Option<wire::EntrySummary> {
    let byte = |n: usize| u8::try_from(n).ok();
    Some(wire::EntrySummary {
        chunk_index: byte(summary.chunk_index)?,
        data_chunks: byte(summary.data_chunks)?,
        parity_chunks: byte(summary.parity_chunks)?,
        rotation: byte(summary.rotation)?,
        version_id: summary.version_id,
        mod_time_unix_nanos: summary.mod_time_unix_nanos,
        meta_generation: summary.meta_generation,
        size_bytes: summary.size_bytes,
        etag: summary.etag.clone(),
        checksum_algorithm: summary
            .checksum_algorithm
            .map_or(0, ChecksumAlgorithm::code),
        tombstone: summary.tombstone,
    })
}

/// A summary from the wire; `None` (the lister reads that key instead) for a checksum
/// algorithm this build does not know.
fn summary_from_wire(summary: wire::EntrySummary) -> Option<KeySummary> {
    let checksum_algorithm = match summary.checksum_algorithm {
        0 => None,
        code => Some(ChecksumAlgorithm::from_code(code)?),
    };
    Some(KeySummary {
        chunk_index: summary.chunk_index.into(),
        data_chunks: summary.data_chunks.into(),
        parity_chunks: summary.parity_chunks.into(),
        rotation: summary.rotation.into(),
        version_id: summary.version_id,
        mod_time_unix_nanos: summary.mod_time_unix_nanos,
        meta_generation: summary.meta_generation,
        size_bytes: summary.size_bytes,
        etag: summary.etag,
        checksum_algorithm,
        tombstone: summary.tombstone,
    })
}

fn walk_from_wire(batch: wire::WalkBatch) -> WalkBatch {
    let entries = batch.entries.into_iter().map(|entry| match entry {
        wire::WalkEntry::Key(name) => WalkEntry::Key(name),
        wire::WalkEntry::Prefix(name) => WalkEntry::Prefix(name),
    });
    WalkBatch {
        entries: entries.collect(),
        summaries: batch
            .summaries
            .into_iter()
            .map(|summary| summary.and_then(summary_from_wire))
            .collect(),
        truncated: batch.truncated,
    }
}
