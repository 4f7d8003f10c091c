//! The scanner's judgement of one object: does every member of its set hold the agreed
//! version, its record and its data, and (deep) does every chunk record of it read back
//! with a matching CRC.
//!
//! Metadata agreement: every member's record is read through the quorum engine
//! (`Store::read_metas`, strategy "all") and judged by the one vote rule
//! (`MetaRead::agreed`). Damage is a member that is missing the agreed version or
//! holds another one (older, newer but short, for no agreed version at all), a corrupt
//! or misplaced record, a delete's tombstones left behind, or (`holds_version_data`,
//! again to every member) a member without the version's part files. A member that
//! failed or missed its deadline proves nothing: the object is "unknown" this cycle.
//!
//! Deep: each part's stripes are read with the read path's own chunk reader
//! (`ObjectReader::read_chunks`, every chunk index of the set, each record's CRC-64
//! checked for its owner and place); a chunk proven missing, short or corrupt is
//! damage, a read that failed is "unknown".
//!
//! No false positives from races: damage seen without a lock is judged again under the
//! key's lock (`lock_object`), where no commit, delete, roll forward or tag change of
//! the key is in progress; only what is still damaged then is reported. For chunk
//! damage the agreed version must still be the one whose chunks failed (a version
//! replaced meanwhile had its data moved to the trash, which is not damage).
//! The scanner never writes an object's records: repairing is the healer's.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::Error;
use crate::member::Verb;
use crate::member::verbs::write::WriteVerbs;
use crate::object::quorum::{Agreed, MetaCopy};
use crate::object::scan::pace::{Pacer, ScanHooks, ScanPace};
use crate::object::store::Store;
use crate::record::meta::{ObjectInfo, PartInfo};
use crate::record::stripe::{Geometry, RECORD_HEADER_BYTES};
use crate::set::quorum::{self, Answer, Strategy};

/// What checking one object found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Healthy,
    /// Damaged, and why (for the log).
    Damaged(&'static str),
    /// A member failed or did not answer: nothing proven either way.
    Unknown,
    /// The shard began to stop in the middle of a deep read.
    Stopped,
}

/// What a deep check needs to pace its reads.
pub(crate) struct DeepPace<'p, 'h> {
    pub pacer: &'p mut Pacer,
    pub pace: &'p ScanPace,
    pub hooks: &'p ScanHooks<'h>,
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Checks `bucket/key` (deeply when `deep` is given), confirming any damage under
    /// the key's lock; damage confirmed is queued for healing.
    pub(crate) async fn scan_object(
        &self,
        bucket: &str,
        key: &str,
        deep: Option<DeepPace<'_, '_>>,
    ) -> Verdict {
        let (verdict, agreed) = self.scan_meta(bucket, key).await;
        let deep_verdict = match (verdict, agreed, deep) {
            (Verdict::Healthy, Some(agreed), Some(deep)) => {
                let version = agreed.info.clone();
                Some((self.scan_chunks(agreed, deep).await, version))
            }
            _ => None,
        };
        let confirmed = match deep_verdict {
            None if matches!(verdict, Verdict::Damaged(_)) => {
                let _guard = self.lock_object(bucket, key).await;
                self.scan_meta(bucket, key).await.0
            }
            Some((Verdict::Damaged(why), version)) => {
                let _guard = self.lock_object(bucket, key).await;
                match self.scan_meta(bucket, key).await {
                    (Verdict::Healthy, Some(now)) if now.info == version => Verdict::Damaged(why),
                    (again, _) => again,
                }
            }
            Some((deep, _)) => deep,
            None => verdict,
        };
        if let Verdict::Damaged(why) = confirmed {
            tracing::info!(
                bucket,
                key,
                why,
                "scanner: object damaged; queued for healing"
            );
            self.queue_heal(bucket, key);
        }
        confirmed
    }

    /// Metadata agreement and data presence on every member; the agreed version when
    /// it is a live object.
    async fn scan_meta(&self, bucket: &str, key: &str) -> (Verdict, Option<Agreed>) {
        let read = self.read_metas(bucket, key).await;
        let agreed = match read.agreed(self.set_layout().read_quorum()) {
            Ok(agreed) => agreed,
            Err(Error::NoSuchKey) => {
                let left =
                    (read.copies.iter()).any(|c| matches!(c, MetaCopy::Valid(_) | MetaCopy::Bad));
                // Gone since the walk, unless copies of no agreed version stay behind.
                let verdict = if left {
                    Verdict::Damaged("records of no agreed version")
                } else {
                    Verdict::Healthy
                };
                return (verdict, None);
            }
            Err(_) => return (Verdict::Unknown, None),
        };
        if agreed.info.tombstone {
            // A finished delete removes its tombstones from every member.
            return (Verdict::Damaged("a delete's tombstones left"), None);
        }
        let mut unknown = false;
        for copy in &read.copies {
            match copy {
                MetaCopy::Valid(m) if m.info == agreed.info => {}
                MetaCopy::Failed | MetaCopy::NotAsked => unknown = true,
                _ => return (Verdict::Damaged("a member lacks the agreed version"), None),
            }
        }
        if !agreed.info.inline {
            match self.members_hold_data(&agreed.info).await {
                Verdict::Healthy => {}
                Verdict::Unknown => unknown = true,
                other => return (other, None),
            }
        }
        if unknown {
            return (Verdict::Unknown, None);
        }
        (Verdict::Healthy, Some(agreed))
    }

    /// Whether every member holds every part file of `info`.
    async fn members_hold_data(&self, info: &ObjectInfo) -> Verdict {
        let files: Rc<[String]> = if info.parts.is_empty() {
            vec![crate::object::get::PLAIN_PART_FILE.to_owned()].into()
        } else {
            info.parts.iter().map(PartInfo::file_name).collect()
        };
        let (bucket, key): (Rc<str>, Rc<str>) =
            (info.bucket.as_str().into(), info.key.as_str().into());
        let version_id = info.version_id;
        let members = self.set_members(self.placement(&info.bucket, &info.key).set_index);
        let strategy = Strategy::all(Verb::HoldsVersionData, self.config.member_deadline);
        let answers = quorum::call(&self.env, members, strategy, |_, member| {
            let (bucket, key, files) = (Rc::clone(&bucket), Rc::clone(&key), Rc::clone(&files));
            async move {
                member
                    .holds_version_data(&bucket, &key, version_id, files)
                    .await
            }
        })
        .await;
        if answers.iter().any(|a| matches!(a, Answer::Ok(false))) {
            return Verdict::Damaged("a member lacks the version's data");
        }
        if answers.iter().all(Answer::is_ok) {
            Verdict::Healthy
        } else {
            Verdict::Unknown
        }
    }

    /// Reads every chunk of every stripe of `agreed` from every member, verified;
    /// stops at the first chunk that does not read back.
    async fn scan_chunks(&self, agreed: Agreed, deep: DeepPace<'_, '_>) -> Verdict {
        let info = agreed.info.clone();
        if info.inline || info.size_bytes == 0 {
            // Inline chunks are in the records, checked with them.
            return Verdict::Healthy;
        }
        let set_size = info.data_chunks + info.parity_chunks;
        let every_chunk: Vec<usize> = (0..set_size).collect();
        let sizes: Vec<u64> = if info.parts.is_empty() {
            vec![info.size_bytes]
        } else {
            info.parts.iter().map(|p| p.size_bytes).collect()
        };
        let mut reader = self.reader_of(agreed);
        let mut verdict = Verdict::Healthy;
        'parts: for (segment, &size_bytes) in sizes.iter().enumerate() {
            reader.switch_segment(segment).await;
            let geometry = Geometry::new(size_bytes, info.stripe_size_bytes, info.data_chunks);
            for stripe in 0..geometry.stripe_count() {
                let (mut present, mut tried) = (vec![false; set_size], vec![false; set_size]);
                reader
                    .read_chunks(stripe, &every_chunk, &mut present, &mut tried)
                    .await;
                if present.contains(&false) {
                    verdict = if reader.unsure {
                        Verdict::Unknown
                    } else {
                        Verdict::Damaged("a chunk is missing or corrupt")
                    };
                    break 'parts;
                }
                let read_bytes =
                    (set_size * (RECORD_HEADER_BYTES + geometry.chunk_len(stripe))) as u64;
                self.scan.update(|p| p.deep_bytes_read += read_bytes);
                let charged = deep
                    .pacer
                    .charge(&self.env, deep.pace, (0, read_bytes), deep.hooks);
                if !charged.await {
                    verdict = Verdict::Stopped;
                    break 'parts;
                }
            }
        }
        // Closes the part files the reader holds open.
        reader.switch_segment(0).await;
        verdict
    }
}
