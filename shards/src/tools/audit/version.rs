//! One key's audit: its metadata read from every drive of its set and judged as the
//! store judges it (`object::quorum`: `judge_copy`, then `MetaRead::agreed`, the one
//! vote rule), then every chunk record of the agreed version read and verified as the
//! GET path verifies it (`object::get`: `read_record`, `verify_record`, the records'
//! owner tags of `record::stripe`). Nothing is rebuilt or repaired, and no chunk is
//! skipped once enough are found: every member's every record is read, so the counts
//! are the whole truth of what the drives hold.
//!
//! A version is `healthy` when every member holds its metadata and every chunk
//! verifies; `unreadable` when some stripe has fewer verified chunks than data chunks
//! (or no version has agreement); `degraded` otherwise.

use futures_util::future::join_all;
use shoal_io::{AlignedBuf, BLOCK_SIZE_BYTES, Drive};

use crate::error::Error;
use crate::member::MemberError;
use crate::member::verbs::meta::MetaVerbs;
use crate::member::verbs::records::RecordVerbs;
use crate::object::get::{RecordPlace, Segment, read_record, verify_record};
use crate::object::quorum::{Agreed, CopyPlace, MetaCopy, MetaRead, judge_copy};
use crate::record::meta::ObjectInfo;
use crate::record::stripe::{Geometry, RECORD_HEADER_BYTES, RecordOwner, chunk_len_for};
use crate::tools::audit::drives::AuditMember;
use crate::topology::layout::PoolLayout;
use crate::topology::placement::{DeploymentId, Placement, object_hash};

/// What the audit concludes about a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    Healthy,
    Degraded,
    Unreadable,
}

impl VersionState {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Healthy => "healthy",
            VersionState::Degraded => "degraded",
            VersionState::Unreadable => "unreadable",
        }
    }
}

/// What one member holds of a version's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaState {
    Ok,
    Missing,
    /// Undecodable, or not this key's record for this position or deployment.
    Corrupt,
    /// An older version than the one judged.
    Stale,
    /// A newer version that has no agreement (a write cut short).
    Ahead,
    /// The drive was not given, or failed to answer.
    Unavailable,
}

impl MetaState {
    pub fn as_str(self) -> &'static str {
        match self {
            MetaState::Ok => "ok",
            MetaState::Missing => "missing",
            MetaState::Corrupt => "corrupt",
            MetaState::Stale => "stale",
            MetaState::Ahead => "ahead",
            MetaState::Unavailable => "unavailable",
        }
    }
}

/// What reading one chunk record found; the discriminant is its column in a tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkOutcome {
    Ok = 0,
    /// No file, or the file ends before the record.
    Missing,
    /// The record is whole but its checksum does not match its owner and place.
    Corrupt,
    /// The drive was not given, or the read failed.
    Unavailable,
}

/// One member's part of a version's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFinding {
    /// The drive's index in its set (0-based).
    pub set_drive: usize,
    pub drive: String,
    pub metadata: MetaState,
    pub chunks_ok: u64,
    pub chunks_missing: u64,
    pub chunks_corrupt: u64,
    pub chunks_unavailable: u64,
}

impl MemberFinding {
    fn is_problem(&self) -> bool {
        self.metadata != MetaState::Ok
            || self.chunks_missing + self.chunks_corrupt + self.chunks_unavailable > 0
    }
}

/// The audit of one object version.
#[derive(Debug, Clone)]
pub struct VersionReport {
    pub bucket: String,
    pub key: String,
    /// The agreed version; without agreement, the newest any drive holds (if any).
    pub version_id: Option<[u8; 16]>,
    pub state: VersionState,
    pub set_index: usize,
    pub size_bytes: u64,
    pub chunks_ok: u64,
    pub chunks_total: u64,
    pub stripes_total: u64,
    pub stripes_unreadable: u64,
    /// Members with something missing, stale or corrupt (none when healthy).
    pub problems: Vec<MemberFinding>,
    /// Why metadata has no agreement (empty otherwise).
    pub note: String,
}

/// A set of the audited pool.
pub struct SetView<'a, D: Drive> {
    pub deployment_id: &'a DeploymentId,
    pub layout: PoolLayout,
    pub set_index: usize,
    /// Per set drive: the drive, if given and usable.
    pub members: &'a [Option<AuditMember<D>>],
    /// Per set drive: its name in reports.
    pub names: &'a [String],
}

impl<D: Drive> SetView<'_, D> {
    pub fn placement(&self, bucket: &str, key: &str) -> Placement {
        let hash = object_hash(self.deployment_id, bucket, key);
        Placement::of(hash, self.layout.set_count, self.layout.set.set_size())
    }

    /// Audits `bucket/key` (placed in this set); `None` when its agreed version is a
    /// delete's tombstone (the key reads as absent).
    pub async fn audit_key(&self, bucket: &str, key: &str) -> Option<VersionReport> {
        let placement = self.placement(bucket, key);
        let read = self.read_copies(bucket, key, placement).await;
        let agreed = match read.agreed(self.layout.set.read_quorum()) {
            Ok(agreed) if agreed.info.tombstone => return None,
            Ok(agreed) => agreed,
            Err(e) => return Some(self.no_agreement(bucket, key, &read, &e)),
        };
        let metas: Vec<MetaState> = read
            .copies
            .iter()
            .map(|c| meta_state(c, &agreed.info))
            .collect();
        let counts = self.count_chunks(&agreed, &metas, placement).await;
        Some(self.report(&agreed.info, &metas, &counts))
    }

    /// Every member's metadata copy of the key, judged; a drive not given counts as
    /// failed (it could hold any version).
    async fn read_copies(&self, bucket: &str, key: &str, placement: Placement) -> MetaRead {
        let reads = self
            .members
            .iter()
            .enumerate()
            .map(|(drive_index, member)| async move {
                let Some(member) = member else {
                    return MetaCopy::Failed;
                };
                let place = CopyPlace {
                    deployment_id: self.deployment_id,
                    set_size: self.layout.set.set_size(),
                    placement,
                    drive_index,
                };
                match member.read_meta(bucket, key).await {
                    Ok(bytes) => judge_copy(&bytes, bucket, key, &place),
                    Err(MemberError::NotFound) => MetaCopy::Missing,
                    Err(_) => MetaCopy::Failed,
                }
            });
        let copies = join_all(reads).await;
        MetaRead {
            raw: vec![None; copies.len()],
            copies,
            write_quorum: self.layout.set.write_quorum(),
        }
    }

    /// A key whose metadata no version has agreement on: unreadable, named by the newest
    /// version any drive holds.
    fn no_agreement(
        &self,
        bucket: &str,
        key: &str,
        read: &MetaRead,
        error: &Error,
    ) -> VersionReport {
        let newest = read
            .copies
            .iter()
            .filter_map(|c| match c {
                MetaCopy::Valid(m) => Some(&m.info),
                _ => None,
            })
            .max_by_key(|i| (i.mod_time_unix_nanos, i.meta_generation));
        let problems = read
            .copies
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let metadata = newest.map_or(MetaState::Missing, |n| meta_state(c, n));
                self.finding(i, metadata, [0; 4])
            })
            .filter(MemberFinding::is_problem)
            .collect();
        VersionReport {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: newest.map(|i| i.version_id),
            state: VersionState::Unreadable,
            set_index: self.set_index,
            size_bytes: newest.map_or(0, |i| i.size_bytes),
            chunks_ok: 0,
            chunks_total: 0,
            stripes_total: 0,
            stripes_unreadable: 0,
            problems,
            note: self.disagreement(read, newest, error),
        }
    }

    /// Why no version is agreed, in words an operator can act on.
    fn disagreement(&self, read: &MetaRead, newest: Option<&ObjectInfo>, error: &Error) -> String {
        let votes = newest.map_or(0, |n| read.votes(n));
        match error {
            // No version could have read quorum even with every drive that did not
            // answer: never committed (a write cut short), or its records were lost on
            // more drives than parity. The drives cannot tell which.
            Error::NoSuchKey => format!(
                "metadata has no agreement: the newest version is on {votes} of {} drives, \
                 fewer than read quorum {} (a write cut short, or records lost on more \
                 drives than parity)",
                self.layout.set.set_size(),
                self.layout.set.read_quorum()
            ),
            e => format!("metadata has no agreement: {e}"),
        }
    }

    fn finding(&self, set_drive: usize, metadata: MetaState, tally: [u64; 4]) -> MemberFinding {
        MemberFinding {
            set_drive,
            drive: self.names[set_drive].clone(),
            metadata,
            chunks_ok: tally[0],
            chunks_missing: tally[1],
            chunks_corrupt: tally[2],
            chunks_unavailable: tally[3],
        }
    }

    fn report(
        &self,
        info: &ObjectInfo,
        metas: &[MetaState],
        counts: &ChunkCounts,
    ) -> VersionReport {
        let findings: Vec<MemberFinding> = metas
            .iter()
            .enumerate()
            .map(|(i, m)| self.finding(i, *m, counts.per_drive[i]))
            .collect();
        let chunks_ok: u64 = counts.per_drive.iter().map(|t| t[0]).sum();
        let chunks_total = counts.stripes_total * self.layout.set.set_size() as u64;
        let state = if counts.stripes_unreadable > 0 {
            VersionState::Unreadable
        } else if chunks_ok == chunks_total && findings.iter().all(|f| !f.is_problem()) {
            VersionState::Healthy
        } else {
            VersionState::Degraded
        };
        VersionReport {
            bucket: info.bucket.clone(),
            key: info.key.clone(),
            version_id: Some(info.version_id),
            state,
            set_index: self.set_index,
            size_bytes: info.size_bytes,
            chunks_ok,
            chunks_total,
            stripes_total: counts.stripes_total,
            stripes_unreadable: counts.stripes_unreadable,
            problems: findings
                .into_iter()
                .filter(MemberFinding::is_problem)
                .collect(),
            note: String::new(),
        }
    }
}

/// How one member's copy stands to version `info`.
fn meta_state(copy: &MetaCopy, info: &ObjectInfo) -> MetaState {
    let order = |i: &ObjectInfo| (i.mod_time_unix_nanos, i.meta_generation);
    match copy {
        MetaCopy::Valid(m) if m.info == *info => MetaState::Ok,
        MetaCopy::Valid(m) if order(&m.info) > order(info) => MetaState::Ahead,
        MetaCopy::Valid(_) => MetaState::Stale,
        MetaCopy::Missing => MetaState::Missing,
        MetaCopy::Bad => MetaState::Corrupt,
        MetaCopy::Failed | MetaCopy::NotAsked => MetaState::Unavailable,
    }
}

/// Chunk counts of a version: per set drive `[ok, missing, corrupt, unavailable]`.
struct ChunkCounts {
    per_drive: Vec<[u64; 4]>,
    stripes_total: u64,
    stripes_unreadable: u64,
}

impl ChunkCounts {
    fn new(set_size: usize) -> Self {
        Self {
            per_drive: vec![[0; 4]; set_size],
            stripes_total: 0,
            stripes_unreadable: 0,
        }
    }

    /// Adds the outcomes of a run of stripes: `by_chunk[i][s]` is chunk i of stripe s.
    fn add(
        &mut self,
        by_chunk: &[Vec<ChunkOutcome>],
        drive_of_chunk: impl Fn(usize) -> usize,
        data_chunks: usize,
    ) {
        let stripes = by_chunk.first().map_or(0, Vec::len);
        for stripe in 0..stripes {
            let ok = by_chunk
                .iter()
                .filter(|c| c[stripe] == ChunkOutcome::Ok)
                .count();
            if ok < data_chunks {
                self.stripes_unreadable += 1;
            }
        }
        self.stripes_total += stripes as u64;
        for (chunk, outcomes) in by_chunk.iter().enumerate() {
            let tally = &mut self.per_drive[drive_of_chunk(chunk)];
            for outcome in outcomes {
                tally[*outcome as usize] += 1;
            }
        }
    }
}

impl<D: Drive> SetView<'_, D> {
    /// Reads and verifies every chunk of the agreed version on every member.
    async fn count_chunks(
        &self,
        agreed: &Agreed,
        metas: &[MetaState],
        placement: Placement,
    ) -> ChunkCounts {
        let info = &agreed.info;
        let set_size = self.layout.set.set_size();
        let mut counts = ChunkCounts::new(set_size);
        let drive_of = |chunk: usize| placement.drive_of_chunk(chunk, set_size);
        if info.data_chunks == 0 || info.stripe_size_bytes == 0 {
            return counts;
        }
        if info.inline {
            let by_chunk = inline_outcomes(agreed, metas, info, drive_of);
            counts.add(&by_chunk, drive_of, info.data_chunks);
            return counts;
        }
        for segment in Segment::of(info) {
            let geometry =
                Geometry::new(segment.size_bytes, info.stripe_size_bytes, info.data_chunks);
            if geometry.stripe_count() == 0 {
                continue;
            }
            let owner = RecordOwner {
                deployment_id: self.deployment_id,
                bucket: &info.bucket,
                key: &info.key,
                data_id: &info.version_id,
                part_number: segment.number,
            };
            let reads = (0..set_size).map(|chunk| {
                let file = RecordFile {
                    member: self.members[drive_of(chunk)].as_ref(),
                    info,
                    name: &segment.file,
                    geometry,
                    tag: owner.chunk_tag(chunk),
                };
                file.outcomes()
            });
            let by_chunk = join_all(reads).await;
            counts.add(&by_chunk, drive_of, info.data_chunks);
        }
        counts
    }
}

/// An inline version's one stripe: each chunk is in its member's metadata copy, whose
/// record checksum covered it.
fn inline_outcomes(
    agreed: &Agreed,
    metas: &[MetaState],
    info: &ObjectInfo,
    drive_of: impl Fn(usize) -> usize,
) -> Vec<Vec<ChunkOutcome>> {
    if info.size_bytes == 0 {
        return Vec::new();
    }
    let set_size = agreed.copies.len();
    let chunk_len = chunk_len_for(
        usize::try_from(info.size_bytes).unwrap_or(usize::MAX),
        info.data_chunks,
    );
    (0..set_size)
        .map(|chunk| {
            let drive = drive_of(chunk);
            let outcome = match (&agreed.copies[drive], metas[drive]) {
                (Some(copy), _) if copy.inline_chunk.len() == chunk_len => ChunkOutcome::Ok,
                (Some(_), _) | (None, MetaState::Corrupt) => ChunkOutcome::Corrupt,
                (None, MetaState::Unavailable) => ChunkOutcome::Unavailable,
                (None, _) => ChunkOutcome::Missing,
            };
            vec![outcome]
        })
        .collect()
}

/// One chunk index's part file of one version segment, on its member.
struct RecordFile<'a, D: Drive> {
    member: Option<&'a AuditMember<D>>,
    info: &'a ObjectInfo,
    name: &'a str,
    geometry: Geometry,
    tag: u64,
}

impl<D: Drive> RecordFile<'_, D> {
    /// Every stripe's record of this chunk, read in file order and verified.
    async fn outcomes(self) -> Vec<ChunkOutcome> {
        let stripes = usize::try_from(self.geometry.stripe_count()).unwrap_or(usize::MAX);
        let Some(member) = self.member else {
            return vec![ChunkOutcome::Unavailable; stripes];
        };
        let info = self.info;
        let opened = member
            .open_records(&info.bucket, &info.key, info.version_id, self.name)
            .await;
        let file = match opened {
            Ok(file) => file,
            Err(MemberError::NotFound) => return vec![ChunkOutcome::Missing; stripes],
            Err(_) => return vec![ChunkOutcome::Unavailable; stripes],
        };
        let full_chunk_len = self.geometry.chunk_len(0);
        let buf_bytes = (BLOCK_SIZE_BYTES + RECORD_HEADER_BYTES + full_chunk_len)
            .next_multiple_of(BLOCK_SIZE_BYTES);
        let mut buf = AlignedBuf::with_capacity(buf_bytes);
        let mut outcomes = Vec::with_capacity(stripes);
        for stripe in 0..self.geometry.stripe_count() {
            let place = RecordPlace {
                offset: self.geometry.record_offset(stripe),
                chunk_len: self.geometry.chunk_len(stripe),
                tag: self.tag,
                stripe,
            };
            let (read_buf, read) = read_record(member, &file, buf, &place).await;
            buf = read_buf;
            outcomes.push(match read {
                Err(_) => ChunkOutcome::Unavailable,
                Ok(()) if verify_record(member, &buf, &place).is_some() => ChunkOutcome::Ok,
                Ok(()) if is_whole(&buf, &place) => ChunkOutcome::Corrupt,
                Ok(()) => ChunkOutcome::Missing,
            });
        }
        member.close_records(file).await;
        outcomes
    }
}

/// Whether the read brought the whole record (so a failed check is corruption, not a
/// file cut short).
fn is_whole(buf: &AlignedBuf, place: &RecordPlace) -> bool {
    let (_, skip) = place.aligned();
    buf.len() >= skip + RECORD_HEADER_BYTES + place.chunk_len
}
