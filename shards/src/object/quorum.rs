//! Reading an object's metadata from every drive of its set and deciding what is true.
//!
//! A drive's copy votes for its version (`ObjectInfo`, equal field for field) and for
//! the version that one replaced. The answer is the newest version (by mod time, then
//! metadata generation) with at least read-quorum votes. So a commit that a crash cut short (some drives on the new copy,
//! the rest on the old) leaves the old version visible with every drive's vote until
//! the new one has quorum. Copies that are corrupt, for another key or deployment, at
//! the wrong chunk position, or stale cannot change the answer while they are a
//! minority.
//!
//! "No such key" needs drives that can say so: a drive that answers "not found"
//! without being this deployment's drive (its folder gone, another disk in its place;
//! `absence.rs`) counts as failed, so beyond quorum the answer is a quorum error.
//! A reader sees a version only once it is committed to write quorum (`roll_forward.rs`).
//!
//! A delete's tombstone (`ObjectInfo::tombstone`) is a version like any other here: it
//! votes for itself and for the version it deleted, and wins when it is the newest with
//! read quorum. Readers see an agreed tombstone as "no such key" (`agreed_object`);
//! writers see it as the version they replace, so they keep it as `previous`.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::Verb;
use crate::member::verbs::meta::MetaVerbs;
use crate::member::{Member, MemberError};
use crate::object::store::Store;
use crate::record::meta::{DriveMeta, ObjectInfo, PreviousVersion};
use crate::set::quorum::{self, Answer, Strategy};
use crate::topology::placement::{DeploymentId, Placement};

/// What one drive returned for an object's metadata file.
#[allow(clippy::large_enum_variant)] // one per set drive, short-lived; boxing buys nothing
pub(crate) enum MetaCopy {
    Valid(DriveMeta),
    Missing,
    /// Unreadable, corrupt, or inconsistent with its position.
    Bad,
    /// The drive failed (I/O error, or no answer within the deadline).
    Failed,
    /// Not asked: the members asked already agreed (`read_metas_quick`).
    NotAsked,
}

/// Every drive's copy, in set order, with the raw bytes kept for rollback.
pub(crate) struct MetaRead {
    pub copies: Vec<MetaCopy>,
    pub raw: Vec<Option<Vec<u8>>>,
    /// Copies a version needs to have been acknowledged (the set's write quorum).
    pub write_quorum: usize,
}

/// The version the set agrees on, and which drives hold a matching copy.
#[derive(Clone)]
pub(crate) struct Agreed {
    pub info: ObjectInfo,
    /// Per set drive: its copy if it matches `info`.
    pub copies: Vec<Option<DriveMeta>>,
}

impl Agreed {
    /// This version as the `previous` a new record on drive `index` keeps: a crash
    /// mid-change then leaves it readable (with that drive's inline chunk, if any).
    pub fn as_previous(&self, index: usize) -> PreviousVersion {
        PreviousVersion {
            info: self.info.clone(),
            inline_chunk: self.copies[index]
                .as_ref()
                .map(|c| c.inline_chunk.clone())
                .unwrap_or_default(),
        }
    }

    /// The agreed version if it is an object; `NoSuchKey` if it is a delete's tombstone.
    pub fn live(self) -> Result<Agreed> {
        if self.info.tombstone {
            Err(Error::NoSuchKey)
        } else {
            Ok(self)
        }
    }
}

impl MetaRead {
    /// The newest version with read-quorum votes; `NoSuchKey` when no version could
    /// reach quorum even if every failed drive agreed; otherwise a quorum error.
    pub fn agreed(&self, read_quorum: usize) -> Result<Agreed> {
        let order = |i: &ObjectInfo| (i.mod_time_unix_nanos, i.meta_generation);
        let mut best: Option<&ObjectInfo> = None;
        let mut max_votes = 0;
        for candidate in self.voted() {
            let votes = self.votes(candidate);
            max_votes = max_votes.max(votes);
            let newer = best.is_none_or(|b| order(candidate) > order(b));
            if votes >= read_quorum && newer {
                best = Some(candidate);
            }
        }
        let unknown = self
            .copies
            .iter()
            .filter(|c| matches!(c, MetaCopy::Failed | MetaCopy::Bad | MetaCopy::NotAsked))
            .count();
        let Some(info) = best.cloned() else {
            return Err(if max_votes + unknown >= read_quorum && unknown > 0 {
                Error::InsufficientReadQuorum {
                    ok: max_votes,
                    needed: read_quorum,
                }
            } else {
                Error::NoSuchKey
            });
        };
        // A newer version that the members which did not answer could have completed to
        // write quorum may have been acknowledged: answering with the older one would
        // undo an acknowledged write (found by sim_store, seed 505).
        let newer_maybe_acked = self.voted().find(|other| {
            order(other) > order(&info) && self.votes(other) + unknown >= self.write_quorum
        });
        if let Some(newer) = newer_maybe_acked {
            return Err(Error::VersionUndecided {
                newer_votes: self.votes(newer),
                unanswered: unknown,
                write_quorum: self.write_quorum,
            });
        }
        let copies = self.copies.iter().map(|c| view_of(c, &info)).collect();
        Ok(Agreed { info, copies })
    }

    /// `agreed` as readers and conditions see it: an agreed tombstone (the key was
    /// deleted) is `NoSuchKey`.
    pub fn agreed_object(&self, read_quorum: usize) -> Result<Agreed> {
        self.agreed(read_quorum).and_then(Agreed::live)
    }

    /// How many drives vote for `info` (hold it, or hold the version that replaced it).
    pub fn votes(&self, info: &ObjectInfo) -> usize {
        self.copies.iter().filter(|c| votes_for(c, info)).count()
    }

    /// Every version some drive votes for.
    fn voted(&self) -> impl Iterator<Item = &ObjectInfo> {
        self.copies
            .iter()
            .filter_map(|c| match c {
                MetaCopy::Valid(m) => Some(m),
                _ => None,
            })
            .flat_map(|m| std::iter::once(&m.info).chain(m.previous.as_ref().map(|p| &p.info)))
    }

    /// Newest modification time on any drive (valid copies only).
    pub fn newest_mod_time(&self) -> u64 {
        self.voted()
            .map(|i| i.mod_time_unix_nanos)
            .max()
            .unwrap_or(0)
    }

    /// Whether a member that answered holds no vote for `info` (its record missing,
    /// corrupt or of an older version): healing has something to do.
    pub fn lacks(&self, info: &ObjectInfo) -> bool {
        self.copies.iter().any(|c| {
            matches!(c, MetaCopy::Missing | MetaCopy::Bad | MetaCopy::Valid(_))
                && !votes_for(c, info)
        })
    }

    /// True if any drive holds something that is not plainly absent.
    pub fn any_present(&self) -> bool {
        self.copies.iter().any(|c| !matches!(c, MetaCopy::Missing))
    }
}

pub(crate) fn votes_for(copy: &MetaCopy, info: &ObjectInfo) -> bool {
    match copy {
        MetaCopy::Valid(m) => {
            m.info == *info || m.previous.as_ref().is_some_and(|p| p.info == *info)
        }
        _ => false,
    }
}

/// Whether at least `needed` members were asked and every one holds the same version.
fn unanimous(read: &MetaRead, needed: usize) -> bool {
    let mut asked = read
        .copies
        .iter()
        .filter(|c| !matches!(c, MetaCopy::NotAsked));
    let Some(MetaCopy::Valid(first)) = asked.next() else {
        return false;
    };
    let mut count = 1;
    for copy in asked {
        match copy {
            MetaCopy::Valid(m) if m.info == first.info => count += 1,
            _ => return false,
        }
    }
    count >= needed
}

/// Where a metadata copy was read: the deployment, set geometry and drive it must be for.
pub(crate) struct CopyPlace<'a> {
    pub deployment_id: &'a DeploymentId,
    pub set_size: usize,
    pub placement: Placement,
    /// The drive's index in the set order.
    pub drive_index: usize,
}

/// One drive's metadata record judged: valid only if it decodes for this deployment and
/// is `bucket/key`'s copy for the drive's chunk position (also `shoal debug audit`).
pub(crate) fn judge_copy(bytes: &[u8], bucket: &str, key: &str, place: &CopyPlace) -> MetaCopy {
    let Ok(meta) = DriveMeta::decode(bytes, place.deployment_id) else {
        return MetaCopy::Bad;
    };
    let set_size = meta.info.data_chunks + meta.info.parity_chunks;
    let placement = place.placement;
    let position_ok = set_size == place.set_size
        && meta.info.rotation == placement.rotation
        && meta.chunk_index == placement.chunk_of_drive(place.drive_index, set_size);
    if meta.info.bucket != bucket || meta.info.key != key || !position_ok {
        return MetaCopy::Bad;
    }
    MetaCopy::Valid(meta)
}

/// A drive's copy seen as the agreed version (its current one or the one it replaced).
pub(crate) fn view_of(copy: &MetaCopy, info: &ObjectInfo) -> Option<DriveMeta> {
    let MetaCopy::Valid(m) = copy else {
        return None;
    };
    if m.info == *info {
        return Some(m.clone());
    }
    let previous = m.previous.as_ref().filter(|p| p.info == *info)?;
    Some(DriveMeta {
        info: previous.info.clone(),
        chunk_index: m.chunk_index,
        inline_chunk: previous.inline_chunk.clone(),
        previous: None,
    })
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Reads the metadata copies of `bucket/key` from its set, concurrently. When the
    /// answer would be "no such key", every "not found" is checked to come from this
    /// deployment's drive; the others count as failed.
    pub(crate) async fn read_metas(&self, bucket: &str, key: &str) -> MetaRead {
        let mut read = self.read_meta_copies(bucket, key).await;
        let absent = matches!(
            read.agreed(self.set_layout().read_quorum()),
            Err(Error::NoSuchKey)
        );
        if absent {
            let set_index = self.placement(bucket, key).set_index;
            self.confirm_missing(&mut read, set_index).await;
        }
        read
    }

    async fn confirm_missing(&self, read: &mut MetaRead, set_index: usize) {
        let first = set_index * self.set_layout().set_size();
        let missing: Vec<usize> = (0..read.copies.len())
            .filter(|&i| matches!(read.copies[i], MetaCopy::Missing))
            .collect();
        let positions: Vec<usize> = missing.iter().map(|i| first + i).collect();
        for (&i, ours) in missing.iter().zip(self.drives_are_ours(&positions).await) {
            if !ours {
                read.copies[i] = MetaCopy::Failed;
            }
        }
    }

    /// Reads the metadata of `bucket/key` from as few members as agreement needs: the
    /// write-quorum members that hold data chunks first (members marked slow last).
    /// When all of them answer with the same version, that is the answer: write quorum
    /// holds it, so it is committed, and the members not asked are too few for any other
    /// version to have read quorum. Otherwise every member is read (`read_metas`).
    /// Only for readers: a writer needs every copy (`raw`) to roll back.
    pub(crate) async fn read_metas_quick(&self, bucket: &str, key: &str) -> MetaRead {
        let placement = self.placement(bucket, key);
        let layout = self.set_layout();
        let members = self.set_members(placement.set_index);
        let prefer: Vec<usize> = (0..layout.set_size())
            .map(|chunk| placement.drive_of_chunk(chunk, layout.set_size()))
            .collect();
        let strategy = Strategy::read(
            Verb::ReadMeta,
            layout.write_quorum(),
            self.config.member_deadline,
        );
        let answers = self
            .read_meta_answers(bucket, key, members, &prefer, strategy)
            .await;
        let read = self.judge_copies(bucket, key, placement, answers);
        if unanimous(&read, layout.write_quorum()) {
            return read;
        }
        self.read_metas(bucket, key).await
    }

    async fn read_meta_copies(&self, bucket: &str, key: &str) -> MetaRead {
        let placement = self.placement(bucket, key);
        let members = self.set_members(placement.set_index);
        let order: Vec<usize> = (0..members.len()).collect();
        let strategy = Strategy::all(Verb::ReadMeta, self.config.member_deadline);
        let answers = self
            .read_meta_answers(bucket, key, members, &order, strategy)
            .await;
        self.judge_copies(bucket, key, placement, answers)
    }

    /// Every asked member's metadata record (raw), through the quorum engine.
    async fn read_meta_answers(
        &self,
        bucket: &str,
        key: &str,
        members: &[Rc<Member<D>>],
        prefer: &[usize],
        strategy: Strategy,
    ) -> Vec<Answer<Vec<u8>>> {
        let (bucket, key): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        quorum::call_preferring(&self.env, members, prefer, strategy, |_, member| {
            let (bucket, key) = (Rc::clone(&bucket), Rc::clone(&key));
            async move { member.read_meta(&bucket, &key).await }
        })
        .await
    }

    /// Each member's answer judged: valid for this key and position, missing, bad,
    /// failed, or not asked. A bad copy queues the object for healing.
    fn judge_copies(
        &self,
        bucket: &str,
        key: &str,
        placement: Placement,
        answers: Vec<Answer<Vec<u8>>>,
    ) -> MetaRead {
        let mut copies = Vec::with_capacity(answers.len());
        let mut raw = Vec::with_capacity(answers.len());
        for (drive_index, answer) in answers.into_iter().enumerate() {
            let (copy, bytes) = match answer {
                Answer::Ok(bytes) => (
                    self.check_copy(&bytes, bucket, key, placement, drive_index),
                    Some(bytes),
                ),
                Answer::Err(MemberError::NotFound) => (MetaCopy::Missing, None),
                Answer::Err(_) => (MetaCopy::Failed, None),
                Answer::NotAsked | Answer::Running => (MetaCopy::NotAsked, None),
            };
            if matches!(copy, MetaCopy::Bad) {
                self.queue_heal(bucket, key);
            }
            copies.push(copy);
            raw.push(bytes);
        }
        MetaRead {
            copies,
            raw,
            write_quorum: self.set_layout().write_quorum(),
        }
    }

    fn check_copy(
        &self,
        bytes: &[u8],
        bucket: &str,
        key: &str,
        placement: Placement,
        drive_index: usize,
    ) -> MetaCopy {
        let place = CopyPlace {
            deployment_id: &self.deployment_id,
            set_size: self.set_layout().set_size(),
            placement,
            drive_index,
        };
        judge_copy(bytes, bucket, key, &place)
    }

    /// The agreed metadata of an object (committed to write quorum).
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        crate::member::keypath::validate_key(key)?;
        self.require_bucket(bucket).await?;
        Ok(self.read_agreed(bucket, key).await?.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::meta::tests::sample;

    /// Read and write quorum of a 3+3 set (write quorum is data + 1 when data equals
    /// parity), the set of sim seed 1775.
    const READ_QUORUM: usize = 3;
    const WRITE_QUORUM: usize = 4;

    /// Version `id` of the sample key, at mod time `id`.
    fn version(id: u8) -> ObjectInfo {
        let mut info = sample().info;
        info.version_id = [id; 16];
        info.mod_time_unix_nanos = u64::from(id);
        info
    }

    /// A delete's tombstone at mod time `id`.
    fn tombstone(id: u8) -> ObjectInfo {
        let v = version(id);
        ObjectInfo::tombstone(
            (&v.bucket, &v.key),
            [id; 16],
            u64::from(id),
            (v.data_chunks, v.parity_chunks, v.rotation),
        )
    }

    /// A copy of `info` that replaced `previous`.
    fn copy(info: &ObjectInfo, previous: Option<&ObjectInfo>) -> MetaCopy {
        MetaCopy::Valid(DriveMeta {
            info: info.clone(),
            chunk_index: 0,
            inline_chunk: Vec::new(),
            previous: previous.map(|p| PreviousVersion {
                info: p.clone(),
                inline_chunk: Vec::new(),
            }),
        })
    }

    fn read(copies: Vec<MetaCopy>) -> MetaRead {
        let raw = vec![None; copies.len()];
        MetaRead {
            copies,
            raw,
            write_quorum: WRITE_QUORUM,
        }
    }

    fn agreed_id(read: &MetaRead) -> Option<[u8; 16]> {
        read.agreed(READ_QUORUM).ok().map(|a| a.info.version_id)
    }

    /// Seed 1775's set (version 1 on every drive, version 2 over it on all but drive
    /// 3): a delete whose tombstones reached read quorum before the crash answers
    /// "deleted"; one that reached fewer drives answers version 2; never version 1.
    #[test]
    fn a_tombstone_cut_short_never_brings_back_the_replaced_version() {
        let (v1, v2, t) = (version(1), version(2), tombstone(3));
        let newer = || copy(&v2, Some(&v1));
        let on_three = read(vec![
            copy(&t, Some(&v2)),
            copy(&t, Some(&v2)),
            copy(&t, Some(&v2)),
            copy(&v1, None),
            newer(),
            newer(),
        ]);
        assert_eq!(agreed_id(&on_three), Some(t.version_id));
        assert!(matches!(
            on_three.agreed_object(READ_QUORUM),
            Err(Error::NoSuchKey)
        ));
        let on_one = read(vec![
            copy(&t, Some(&v2)),
            MetaCopy::Missing,
            MetaCopy::Missing,
            copy(&v1, None),
            newer(),
            newer(),
        ]);
        // Before tombstones, this is where removed records left version 1 the winner.
        assert_eq!(agreed_id(&on_one), Some(v2.version_id));
    }

    /// Removing tombstones is safe once every member holds one: each removal takes a
    /// vote from the tombstone and from the deleted version alike, so the answer goes
    /// from "deleted" to no version at all. Had one member kept the deleted version,
    /// its vote would have brought that version back: why tombstones stay then.
    #[test]
    fn tombstones_removed_only_from_everywhere_leave_the_key_absent() {
        let (v1, v2, t) = (version(1), version(2), tombstone(3));
        let removed = |count: usize, last: MetaCopy| {
            let mut copies: Vec<MetaCopy> = (0..5)
                .map(|i| {
                    if i < count {
                        MetaCopy::Missing
                    } else {
                        copy(&t, Some(&v2))
                    }
                })
                .collect();
            copies.push(last);
            read(copies)
        };
        for count in 0..=5 {
            let everywhere = removed(count, copy(&t, Some(&v2)));
            let answer = everywhere.agreed_object(READ_QUORUM).map(|a| a.info);
            assert!(matches!(answer, Err(Error::NoSuchKey)), "{count} removed");
        }
        let kept = removed(3, copy(&v2, Some(&v1)));
        assert_eq!(agreed_id(&kept), Some(v2.version_id));
    }

    /// A write over a tombstone keeps it as `previous`: cut short, the key stays
    /// deleted; on read quorum, the new version wins. A tombstone with read quorum but
    /// older than a newer version that could be on write quorum is not believed.
    #[test]
    fn a_write_over_a_tombstone_is_decided_like_any_commit() {
        let (v1, t, v4) = (version(1), tombstone(3), version(4));
        let deleted = || copy(&t, Some(&v1));
        let short = read(vec![
            copy(&v4, Some(&t)),
            copy(&v4, Some(&t)),
            deleted(),
            deleted(),
            deleted(),
            deleted(),
        ]);
        assert!(matches!(
            short.agreed_object(READ_QUORUM),
            Err(Error::NoSuchKey)
        ));
        let mut on_three = short;
        on_three.copies[2] = copy(&v4, Some(&t));
        assert_eq!(agreed_id(&on_three), Some(v4.version_id));
        let undecided = read(vec![
            copy(&v4, Some(&t)),
            copy(&v4, Some(&t)),
            deleted(),
            deleted(),
            MetaCopy::Failed,
            MetaCopy::Failed,
        ]);
        assert!(matches!(
            undecided.agreed(READ_QUORUM),
            Err(Error::VersionUndecided { .. })
        ));
    }
}
