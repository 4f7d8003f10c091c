//! Roll forward: a reader never sees a version that is not committed to write quorum.
//!
//! A crash in the middle of a commit can leave the new version's metadata on fewer
//! than write-quorum drives but at least read quorum (2+2: on 2 of 4 drives, while
//! write quorum is 3). The vote rule (`quorum.rs`) then picks it. Serving it as is
//! would let it vanish again when one of its copies is lost: the old version, which
//! every drive still votes for, would come back. So before a reader is given such a
//! version, it is completed: under the key's lock, its metadata is written to the
//! drives that lack it (each with its own chunk index, its inline chunk rebuilt by
//! erasure decoding, and the version it replaced kept as `previous`, so the invariant
//! "a copy also votes for the version it replaced" still holds). A version once served
//! stays.
//!
//! A delete's tombstone is rolled forward like a version (it has no data, so this is
//! one small record per drive): once a reader was told "no such key" because the
//! tombstone has read quorum, losing one of its copies must not bring the deleted
//! version back, which a tombstone short of write quorum could allow. It stays on the
//! drives until the key's next write replaces it or the next delete removes it.
//!
//! Why forward, not back: a version on read quorum may have been acknowledged (it was
//! on write quorum, then drives were lost or wiped); rolling it back could lose an
//! acknowledged write, rolling it forward never can. It is done only when the data
//! of the version reads back whole (every stripe verified, rebuilt where needed: the
//! whole version is read once, a cost only reads after a failure pay); otherwise, and
//! when drives that hold another version cannot be written, the read fails with 503
//! rather than serve a version that could revert. One exception goes back: a version
//! whose data is proven lost and which cannot be on write quorum is taken back, and the
//! version it replaced answers (`Short::Discard`, seed 2951): a crash cut its commit,
//! or, far less likely, it was acknowledged and then lost more data than it survives.
//!
//! Each write is fenced on the copy the read found (`Expect`), and the fan-out waits
//! for every member (or its deadline): the caller judges, from the answers, whether
//! the version now stands on write quorum.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::verbs::write::{Expect, Fence, RollBack, WriteVerbs};
use crate::object::get::Readable;
use crate::object::quorum::{Agreed, MetaCopy, MetaRead, votes_for};
use crate::object::store::Store;
use crate::record::meta::{DriveMeta, ObjectInfo, PreviousVersion};
use crate::record::stripe::chunk_len_for;
use crate::set::quorum::{self, Answer, Strategy};
use crate::topology::placement::Placement;

/// Rounds of judging a short version one read may take (`read_agreed_from`).
const SETTLE_ROUNDS_MAX: usize = 3;

/// What becomes of a version short of write quorum that a reader found agreed.
enum Short {
    /// Its data reads back: written to the members that lack it.
    Complete,
    /// Its data is proven lost (some stripe has fewer than data-chunks verified
    /// chunks on all the members, each member that gave none proven to have none)
    /// and it cannot be on write quorum now: it is taken back, and the version it
    /// replaced (or "no such key") is the answer. Found by sim_store's crash
    /// variant, seed 2951 (3+3): the crash cut a PUT after 3 members took its
    /// record, and one of them had lied about its data (acknowledged, never
    /// durable), so the data was on 2. Why taking it back is right: an
    /// acknowledged version had its data durable (synced before the record) on
    /// write quorum; for it to be short of write quorum and unreadable now, one
    /// member must have lost its record and at least write quorum − data + 1 (two)
    /// members their synced data, more than a version on write quorum survives
    /// (write quorum − data, one). A version never acknowledged needs only the one
    /// lying member. Either way the data is gone; the fewer-faults reading, that the
    /// write never happened, answers what it replaced, where 503 would leave the key
    /// unreadable until overwritten. Only data equal to parity gets here: otherwise
    /// read quorum is write quorum and a version agreed is never short.
    Discard,
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// The version a reader may see: the agreed one, completed to write quorum first if
    /// it is short of it; `NoSuchKey` when that is a delete's tombstone. The metadata
    /// comes from as few members as agreement needs (`read_metas_quick`): readers need
    /// the version, not every member's copy; a roll forward reads every member again
    /// under the key's lock.
    pub(crate) async fn read_agreed(&self, bucket: &str, key: &str) -> Result<Agreed> {
        self.read_agreed_from(bucket, key)
            .await
            .and_then(Agreed::live)
    }

    async fn read_agreed_from(&self, bucket: &str, key: &str) -> Result<Agreed> {
        let read = self.read_metas_quick(bucket, key).await;
        let agreed = read.agreed(self.set_layout().read_quorum())?;
        if !self.needs_roll_forward(&read, &agreed.info) {
            // A member that answered without the version (missing, stale) needs healing.
            if read.lacks(&agreed.info) {
                self.queue_heal(bucket, key);
            }
            return Ok(agreed);
        }
        // Writing into the bucket: the bucket's lock (shared), then the key's, as commits.
        let bucket_guard = self.lock_bucket_for_write(bucket).await?;
        let guard = self.lock_object(bucket, key).await;
        // Bounded: each round either answers or takes one unreadable version away, and
        // a key holds a version and the one it replaced; a third means members refuse.
        for _ in 0..SETTLE_ROUNDS_MAX {
            // A commit or delete may have finished while this waited.
            let read = self.read_metas(bucket, key).await;
            let agreed = read.agreed(self.set_layout().read_quorum())?;
            if !self.needs_roll_forward(&read, &agreed.info) {
                return Ok(agreed);
            }
            let short = self.judge_short(&read, &agreed).await?;
            // Still ours after reading the version's data (a large one takes a while).
            crate::object::commit::keep_leases(&bucket_guard, &guard).await?;
            match short {
                Short::Complete => {
                    return self
                        .complete(bucket, key, &read, (&agreed, guard.fence()))
                        .await;
                }
                Short::Discard => {
                    self.discard(&read, (&agreed.info, guard.fence())).await;
                    self.queue_heal(bucket, key);
                }
            }
        }
        Err(Error::InsufficientWriteQuorum {
            ok: 0,
            needed: self.set_layout().write_quorum(),
        })
    }

    /// What to do with `agreed`, a version short of write quorum: complete it when its
    /// data reads back whole; discard it when the data is proven lost and the version
    /// cannot be on write quorum (so it was never acknowledged, see `Short::Discard`);
    /// otherwise 503.
    async fn judge_short(&self, read: &MetaRead, agreed: &Agreed) -> Result<Short> {
        let info = &agreed.info;
        // Inline data is in the copies that voted (checked as it is rebuilt); a
        // tombstone has none.
        if info.inline {
            return Ok(Short::Complete);
        }
        let unknown = read
            .copies
            .iter()
            .filter(|c| !matches!(c, MetaCopy::Valid(_) | MetaCopy::Missing))
            .count();
        let never_acked = read.votes(info) + unknown < self.set_layout().write_quorum();
        match self.version_readable(agreed.clone()).await {
            Readable::Proven(true) => Ok(Short::Complete),
            Readable::Proven(false) if never_acked => Ok(Short::Discard),
            Readable::Proven(false) => Err(Error::DataUnavailable(format!(
                "version {} is short of write quorum and its data is lost",
                hex::encode(info.version_id)
            ))),
            Readable::Unknown(e) => Err(e),
        }
    }

    /// Rolls `agreed` forward and answers it if it now stands on write quorum.
    async fn complete(
        &self,
        bucket: &str,
        key: &str,
        read: &MetaRead,
        (agreed, fence): (&Agreed, Fence),
    ) -> Result<Agreed> {
        let written = self
            .roll_forward(bucket, key, read, (agreed, fence))
            .await?;
        self.queue_heal(bucket, key);
        let set_size = read.copies.len();
        // Drives that hold another version and kept it prove the version short.
        let against = read
            .copies
            .iter()
            .zip(&written)
            .filter(|(c, w)| matches!(c, MetaCopy::Valid(_)) && !votes_for(c, &agreed.info) && !**w)
            .count();
        let write_quorum = self.set_layout().write_quorum();
        if set_size - against < write_quorum {
            return Err(Error::InsufficientWriteQuorum {
                ok: set_size - against,
                needed: write_quorum,
            });
        }
        let read = self.read_metas(bucket, key).await;
        read.agreed(self.set_layout().read_quorum())
    }

    /// Takes `info` (a version never on write quorum whose data is lost) back on every
    /// member whose record it is: the version it replaced is put back (without its
    /// own `previous`: older still, it needs no vote), or the record is removed when
    /// the key was new; its data folder goes. Fenced on each record read, so only this
    /// version's copies change. A member that refuses keeps it: too few to be believed
    /// again once the others are taken back, and the next round judges what is left.
    async fn discard(&self, read: &MetaRead, (info, fence): (&ObjectInfo, Fence)) {
        let restores: Vec<Option<RollBack>> = read
            .copies
            .iter()
            .zip(&read.raw)
            .map(|(copy, raw)| match (copy, raw) {
                (MetaCopy::Valid(m), Some(raw)) if m.info == *info => Some(RollBack {
                    bucket: info.bucket.as_str().into(),
                    key: info.key.as_str().into(),
                    version_id: info.version_id,
                    committed: Expect::of(Some(raw)),
                    restore: m.previous.as_ref().map(|p| {
                        let replaced = DriveMeta {
                            info: p.info.clone(),
                            chunk_index: m.chunk_index,
                            inline_chunk: p.inline_chunk.clone(),
                            previous: None,
                        };
                        replaced.encode(&self.deployment_id).into()
                    }),
                    give_back: None,
                    fence,
                }),
                _ => None,
            })
            .collect();
        let placement = self.placement(&info.bucket, &info.key);
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::RollBack, self.config.member_deadline);
        quorum::call(&self.env, members, strategy, |index, member| {
            let request = restores[index].clone();
            async move {
                match request {
                    Some(request) => member.roll_back(request).await,
                    None => Err(MemberError::NotAsked("it holds no copy of the version")),
                }
            }
        })
        .await;
    }

    /// After a failed commit, under the key's lock: the version it tried to replace
    /// must still win, on write quorum. A roll back that could not put a drive's copy
    /// back removed it (`put::undo_meta`), and with those votes gone an older copy left
    /// on a drive that missed an earlier commit (2+2: one stale drive and the replaced
    /// version's own copy voting for what it replaced) could out-vote the replaced
    /// version: an acknowledged write would revert. Writing the replaced version over
    /// every copy that does not vote for it keeps it. Best effort: a drive that still
    /// refuses writes is left to healing, and a later read rolls forward or answers 503.
    pub(crate) async fn keep_replaced(
        &self,
        bucket: &str,
        key: &str,
        (replaced, fence): (&Agreed, Fence),
    ) {
        let layout = self.set_layout();
        let read = self.read_metas(bucket, key).await;
        let kept = read
            .agreed(layout.read_quorum())
            .is_ok_and(|now| now.info == replaced.info);
        if kept && read.votes(&replaced.info) >= layout.write_quorum() {
            return;
        }
        if self
            .roll_forward(bucket, key, &read, (replaced, fence))
            .await
            .is_ok()
        {
            self.queue_heal(bucket, key);
        }
    }

    /// True when `info` has fewer than write-quorum votes and some drive that does not
    /// vote for it could be given it (one that failed to answer cannot).
    fn needs_roll_forward(&self, read: &MetaRead, info: &ObjectInfo) -> bool {
        read.votes(info) < self.set_layout().write_quorum()
            && read
                .copies
                .iter()
                .any(|c| !matches!(c, MetaCopy::Failed) && !votes_for(c, info))
    }

    /// Writes the agreed version's metadata to every drive that answered but does not
    /// vote for it; returns, per set drive, whether it was written.
    pub(crate) async fn roll_forward(
        &self,
        bucket: &str,
        key: &str,
        read: &MetaRead,
        (agreed, fence): (&Agreed, Fence),
    ) -> Result<Vec<bool>> {
        let info = &agreed.info;
        let placement = self.placement(bucket, key);
        let set_size = read.copies.len();
        self.check_data_readable(placement, info).await?;
        let inline_chunks = if info.inline {
            self.rebuild_inline_chunks(agreed)?
        } else {
            vec![Vec::new(); set_size]
        };
        let replaced = replaced_version(read, info);
        let mut writes: Vec<Option<(Vec<u8>, Expect)>> = read
            .copies
            .iter()
            .zip(&read.raw)
            .enumerate()
            .map(|(drive_index, (copy, raw))| {
                if matches!(copy, MetaCopy::Failed) || votes_for(copy, info) {
                    return None;
                }
                let chunk_index = placement.chunk_of_drive(drive_index, set_size);
                let meta = DriveMeta {
                    info: info.clone(),
                    chunk_index,
                    inline_chunk: inline_chunks[chunk_index].clone(),
                    previous: replaced.map(|old| PreviousVersion {
                        info: old.clone(),
                        inline_chunk: own_inline_chunk(copy, old),
                    }),
                };
                Some((meta.encode(&self.deployment_id), Expect::of(raw.as_deref())))
            })
            .collect();
        let (bucket, key): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::WriteMeta, self.config.member_deadline);
        let answers = quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key, write) = (Rc::clone(&bucket), Rc::clone(&key), writes[index].take());
            async move {
                match write {
                    Some((meta, expect)) => member
                        .write_meta(&bucket, &key, &meta, expect, fence)
                        .await
                        .map(|()| true),
                    None => Err(MemberError::NotAsked("it needs no record")),
                }
            }
        })
        .await;
        Ok(answers
            .into_iter()
            .map(|a| matches!(a, Answer::Ok(true)))
            .collect())
    }

    /// Fails unless at least data-chunks drives hold every part file of `info`.
    async fn check_data_readable(&self, placement: Placement, info: &ObjectInfo) -> Result<()> {
        if info.inline {
            return Ok(());
        }
        let wanted: Rc<[String]> = if info.parts.is_empty() {
            vec![crate::object::get::PLAIN_PART_FILE.to_owned()].into()
        } else {
            info.parts
                .iter()
                .map(crate::record::meta::PartInfo::file_name)
                .collect()
        };
        let (bucket, key): (Rc<str>, Rc<str>) =
            (info.bucket.as_str().into(), info.key.as_str().into());
        let version_id = info.version_id;
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::HoldsVersionData, self.config.member_deadline);
        let answers = quorum::call(&self.env, members, strategy, |_, member| {
            let (bucket, key, wanted) = (Rc::clone(&bucket), Rc::clone(&key), Rc::clone(&wanted));
            async move {
                member
                    .holds_version_data(&bucket, &key, version_id, wanted)
                    .await
            }
        })
        .await;
        let holding = answers
            .iter()
            .filter(|a| matches!(a, Answer::Ok(true)))
            .count();
        if holding < info.data_chunks {
            return Err(Error::InsufficientReadQuorum {
                ok: holding,
                needed: info.data_chunks,
            });
        }
        Ok(())
    }

    /// Every chunk of an inline version, by chunk index, decoded from the copies that
    /// hold it.
    fn rebuild_inline_chunks(&self, agreed: &Agreed) -> Result<Vec<Vec<u8>>> {
        let info = &agreed.info;
        let set_size = info.data_chunks + info.parity_chunks;
        let chunk_len = chunk_len_for(
            usize::try_from(info.size_bytes).unwrap_or(usize::MAX),
            info.data_chunks,
        );
        let mut chunks = vec![vec![0u8; chunk_len]; set_size];
        let mut present = vec![false; set_size];
        for copy in agreed.copies.iter().flatten() {
            if copy.inline_chunk.len() == chunk_len && copy.chunk_index < set_size {
                chunks[copy.chunk_index].copy_from_slice(&copy.inline_chunk);
                present[copy.chunk_index] = true;
            }
        }
        let have = present.iter().filter(|p| **p).count();
        if have < info.data_chunks {
            return Err(Error::InsufficientReadQuorum {
                ok: have,
                needed: info.data_chunks,
            });
        }
        if chunk_len > 0 && have < set_size {
            let mut slices: Vec<&mut [u8]> = chunks.iter_mut().map(Vec::as_mut_slice).collect();
            self.coder.borrow_mut().reconstruct(&mut slices, &present)?;
        }
        Ok(chunks)
    }
}

/// The version `info` replaced, as its copies record it.
fn replaced_version<'a>(read: &'a MetaRead, info: &ObjectInfo) -> Option<&'a ObjectInfo> {
    read.copies.iter().find_map(|c| match c {
        MetaCopy::Valid(m) if m.info == *info => m.previous.as_ref().map(|p| &p.info),
        _ => None,
    })
}

/// This drive's own inline chunk of `old`, if its copy holds that version.
fn own_inline_chunk(copy: &MetaCopy, old: &ObjectInfo) -> Vec<u8> {
    match copy {
        MetaCopy::Valid(m) if m.info == *old => m.inline_chunk.clone(),
        _ => Vec::new(),
    }
}
