//! Healing a version's chunk data: every member's part files are read record by record
//! and each record's CRC checked for its owner and place (`get::verify_record`); a
//! member whose file is missing or holds a bad record gets the whole file rebuilt,
//! stripe by stripe, from the verified chunks of the others (erasure decode), staged on
//! it and installed into the version's folder by one rename (`install_data`).
//!
//! Two passes: the first only reads (what is damaged, and whether every stripe has
//! data-chunks verified records: else nothing can be rebuilt and nothing is written);
//! the second reads again and writes, and gives up a file if a stripe fails to verify
//! now. Memory: one record buffer per member, the stripe's chunks, and one staging
//! buffer (`STAGE_BUF_BYTES`) per member rebuilt, paid for by the heal's grant
//! (`heal_buffers_bytes`). Every stripe's bytes read and written are charged to the
//! shard's healing account (`pace.rs`).

use std::rc::Rc;

use futures_util::future::join_all;
use shoal_io::{AlignedBuf, BLOCK_SIZE_BYTES, Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::verbs::records::RecordVerbs;
use crate::member::verbs::write::{Expect, InstallData, WriteVerbs};
use crate::member::{Member, MemberError, MemberResult, SetMember, Verb};
use crate::object::get::{PLAIN_PART_FILE, RecordPlace, read_record, verify_record};
use crate::object::heal::pace::ObjectPace;
use crate::object::heal::{DataFound, Guards, HealOptions, HealOutcome, HealReport, MetaFound};
use crate::object::quorum::{Agreed, MetaRead};
use crate::object::store::Store;
use crate::record::meta::ObjectInfo;
use crate::record::stripe::{
    Geometry, RECORD_HEADER_BYTES, RecordOwner, chunk_len_for, record_checksum,
};
use crate::set::quorum::{self, Answer, Strategy};
use crate::topology::placement::Placement;

/// Bytes a rebuilt file is written in at a time (whole blocks).
const STAGE_BUF_BYTES: usize = 256 << 10;

type Records<D> = <Member<D> as RecordVerbs>::Records;
type Staged<D> = <Member<D> as WriteVerbs>::Staged;
/// Per member: the files staged for it (the i-th as staged part i + 1), or why not.
type StagedFiles = std::result::Result<Vec<String>, String>;

/// One part file of a version.
struct PartFile {
    /// Its name in the version's folder.
    name: String,
    /// The part number its records are bound to (1 for a plain object).
    number: u32,
    size_bytes: u64,
}

fn part_files(info: &ObjectInfo) -> Vec<PartFile> {
    if info.parts.is_empty() {
        return vec![PartFile {
            name: PLAIN_PART_FILE.to_owned(),
            number: 1,
            size_bytes: info.size_bytes,
        }];
    }
    info.parts
        .iter()
        .map(|p| PartFile {
            name: p.file_name(),
            number: p.number,
            size_bytes: p.size_bytes,
        })
        .collect()
}

/// One member's copy of one part file, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartState {
    Whole,
    Missing,
    Corrupt,
    Failed,
}

/// A stripe that could not be read whole: at `stripe`, and whether it is proven lost
/// (every member that gave no chunk proved it bad or missing).
struct Short {
    stripe: u64,
    proven: bool,
}

/// Reads one part file of a version on every member of its set, stripe by stripe.
struct PartReader<'s, D: Drive, C: Clock, E: Env> {
    store: &'s Store<D, C, E>,
    placement: Placement,
    geometry: Geometry,
    files: Vec<Option<Records<D>>>,
    states: Vec<PartState>,
    /// Per member, the tag of its chunk index's records.
    tags: Vec<u64>,
    bufs: Vec<Option<AlignedBuf>>,
    buf_bytes: usize,
    /// Per member, where its chunk of the stripe read last starts in its buffer.
    at: Vec<Option<usize>>,
    /// Record bytes the last `read_stripe` read (the healing account is charged).
    stripe_bytes_read: u64,
}

impl<'s, D: Drive, C: Clock, E: Env> PartReader<'s, D, C, E> {
    async fn open(store: &'s Store<D, C, E>, info: &ObjectInfo, part: &PartFile) -> Self {
        let placement = store.placement(&info.bucket, &info.key);
        let members = store.set_members(placement.set_index);
        let set_size = members.len();
        let geometry = Geometry::new(part.size_bytes, info.stripe_size_bytes, info.data_chunks);
        let (env, deadline) = (&store.env, store.config.member_deadline);
        let opens = members.iter().map(|member| {
            let open = member.open_records(&info.bucket, &info.key, info.version_id, &part.name);
            async move {
                shoal_io::timeout(env, deadline, open)
                    .await
                    .unwrap_or(Err(MemberError::Timeout))
            }
        });
        let opened: Vec<MemberResult<Records<D>>> = join_all(opens).await;
        let states = opened
            .iter()
            .map(|o| match o {
                Ok(_) => PartState::Whole,
                Err(MemberError::NotFound) => PartState::Missing,
                Err(_) => PartState::Failed,
            })
            .collect();
        let owner = RecordOwner {
            deployment_id: &store.deployment_id,
            bucket: &info.bucket,
            key: &info.key,
            data_id: &info.version_id,
            part_number: part.number,
        };
        let tags = (0..set_size)
            .map(|m| owner.chunk_tag(placement.chunk_of_drive(m, set_size)))
            .collect();
        let full_chunk = chunk_len_for(
            usize::try_from(part.size_bytes)
                .map_or(info.stripe_size_bytes, |s| s.min(info.stripe_size_bytes)),
            info.data_chunks,
        );
        Self {
            store,
            placement,
            geometry,
            files: opened.into_iter().map(std::result::Result::ok).collect(),
            states,
            tags,
            bufs: (0..set_size).map(|_| None).collect(),
            buf_bytes: (BLOCK_SIZE_BYTES + RECORD_HEADER_BYTES + full_chunk)
                .next_multiple_of(BLOCK_SIZE_BYTES),
            at: vec![None; set_size],
            stripe_bytes_read: 0,
        }
    }

    fn members(&self) -> &'s [Rc<Member<D>>] {
        self.store.set_members(self.placement.set_index)
    }

    /// Reads every readable member's record of `stripe` and verifies it; returns how
    /// many verified. A member whose read fails is not asked again (`Failed`).
    async fn read_stripe(&mut self, stripe: u64) -> usize {
        let chunk_len = self.geometry.chunk_len(stripe);
        let offset = self.geometry.record_offset(stripe);
        let members = self.members();
        let (env, deadline) = (&self.store.env, self.store.config.member_deadline);
        let reads = (0..members.len()).map(|m| {
            let file = match self.states[m] {
                PartState::Whole | PartState::Corrupt => self.files[m].as_ref(),
                PartState::Missing | PartState::Failed => None,
            };
            let buf = self.bufs[m].take();
            let buf_bytes = self.buf_bytes;
            let place = RecordPlace {
                offset,
                chunk_len,
                tag: self.tags[m],
                stripe,
            };
            let member = &*members[m];
            async move {
                let file = file?;
                let buf = buf.unwrap_or_else(|| AlignedBuf::with_capacity(buf_bytes));
                let started_nanos = env.monotonic_nanos();
                let read = shoal_io::timeout(env, deadline, read_record(member, file, buf, &place));
                let (buf, result) = match read.await {
                    Some((buf, result)) => (Some(buf), result),
                    None => (None, Err(MemberError::Timeout)),
                };
                let now = env.monotonic_nanos();
                (member.health()).note_call(
                    Verb::ReadRecords,
                    started_nanos,
                    now,
                    result.as_ref().err(),
                );
                let verdict = match (&buf, result) {
                    (Some(buf), Ok(())) => Some(verify_record(member, buf, &place)),
                    _ => None,
                };
                Some((buf, verdict))
            }
        });
        let results = join_all(reads).await;
        let mut verified = 0;
        self.stripe_bytes_read = 0;
        for (m, result) in results.into_iter().enumerate() {
            self.at[m] = None;
            let Some((buf, verdict)) = result else {
                continue;
            };
            if verdict.is_some() {
                self.stripe_bytes_read += (RECORD_HEADER_BYTES + chunk_len) as u64;
            }
            self.bufs[m] = buf;
            match verdict {
                Some(Some(at)) => {
                    self.at[m] = Some(at);
                    verified += 1;
                }
                Some(None) => self.states[m] = PartState::Corrupt,
                None => self.states[m] = PartState::Failed,
            }
        }
        verified
    }

    /// Member `m`'s verified chunk of the stripe read last.
    fn chunk(&self, m: usize, chunk_len: usize) -> Option<&[u8]> {
        let at = self.at[m]?;
        let buf = self.bufs[m].as_ref()?;
        buf.as_slice().get(at..at + chunk_len)
    }

    async fn close(mut self) {
        let members = self.members();
        for (member, file) in members.iter().zip(self.files.iter_mut()) {
            if let Some(file) = file.take() {
                member.close_records(file).await;
            }
        }
    }
}

/// A rebuilt part file being staged on one member, written in whole blocks.
struct StagedWriter<D: Drive> {
    member: usize,
    staged: Option<Staged<D>>,
    buf: Option<AlignedBuf>,
    /// Where `buf`'s first byte goes in the file.
    file_offset: u64,
    len_bytes: u64,
    error: Option<MemberError>,
}

impl<D: Drive> StagedWriter<D> {
    async fn push(&mut self, member: &Member<D>, mut bytes: &[u8]) {
        self.len_bytes += bytes.len() as u64;
        while !bytes.is_empty() && self.error.is_none() {
            let buf = self
                .buf
                .get_or_insert_with(|| AlignedBuf::with_capacity(STAGE_BUF_BYTES));
            let take = (buf.capacity() - buf.len()).min(bytes.len());
            buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if buf.len() == buf.capacity() {
                self.flush(member).await;
            }
        }
    }

    async fn flush(&mut self, member: &Member<D>) {
        let (Some(staged), Some(buf)) = (self.staged.as_ref(), self.buf.take()) else {
            return;
        };
        let written = buf.len() as u64;
        let (result, mut buf) = member.stage_append(staged, buf, self.file_offset).await;
        buf.set_len(0);
        self.buf = Some(buf);
        self.file_offset += written;
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    /// Writes what is left (padded to a block; trimmed by the finish) and makes the
    /// file durable.
    async fn finish(mut self, member: &Member<D>) -> MemberResult<u64> {
        if let Some(buf) = self.buf.as_mut().filter(|b| !b.is_empty()) {
            buf.pad_to_block();
            self.flush(member).await;
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        let staged = self
            .staged
            .take()
            .ok_or(MemberError::NotAsked("not staged"))?;
        member.stage_finish(staged, self.len_bytes).await?;
        Ok(self.len_bytes)
    }
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Judges every member's data of `agreed` into `report` and, unless a dry run,
    /// rebuilds and installs what is missing or bad. `Ok(false)`: the outcome is
    /// decided (unreadable) and nothing more is to be done.
    pub(super) async fn heal_data(
        &self,
        read: &MetaRead,
        agreed: &Agreed,
        (report, guards): (&mut HealReport, Guards<'_>),
        options: HealOptions,
    ) -> Result<bool> {
        let info = &agreed.info;
        let holds = self.holds_files(info).await;
        let candidates: Vec<bool> = (report.members.iter())
            .map(|m| !matches!(m.meta, MetaFound::Newer | MetaFound::Failed))
            .collect();
        let candidate = |m: usize| candidates[m];
        let suspect = (0..holds.len()).any(|m| {
            candidate(m)
                && (report.members[m].meta != MetaFound::Agreed
                    || !matches!(holds[m], Answer::Ok(true)))
        });
        if !options.deep && !suspect {
            return Ok(true);
        }
        let parts = part_files(info);
        // Per part, per member: whether it needs the file rebuilt.
        let mut targets: Vec<Vec<bool>> = Vec::with_capacity(parts.len());
        for part in &parts {
            let states = match self.verify_part(info, part, guards.pace).await {
                Ok(states) => states,
                Err(Short { stripe, proven }) => {
                    if !proven {
                        return Err(Error::DataUnavailable(format!(
                            "stripe {stripe} of {}: too few chunks verified while members \
                             failed",
                            part.name
                        )));
                    }
                    report.outcome = HealOutcome::Unreadable;
                    return Ok(false);
                }
            };
            let mut need = vec![false; states.len()];
            for (m, state) in states.iter().enumerate() {
                // Read whole but not from the version's folder (the trash): missing.
                let elsewhere = *state == PartState::Whole
                    && matches!(holds[m], Answer::Ok(false))
                    && !self.holds_part(m, info, &part.name).await;
                let seen = match state {
                    PartState::Whole if elsewhere => PartState::Missing,
                    other => *other,
                };
                note_data(&mut report.members[m].data, seen);
                need[m] = candidate(m)
                    && match state {
                        PartState::Whole => elsewhere,
                        PartState::Missing | PartState::Corrupt => true,
                        PartState::Failed => false,
                    };
            }
            targets.push(need);
        }
        for (m, member) in report.members.iter_mut().enumerate() {
            // No record is written where the data could not be judged.
            if candidate(m) && member.data == DataFound::Failed {
                member.error = Some("its data could not be read".to_owned());
            }
        }
        if options.dry_run || targets.iter().flatten().all(|t| !t) {
            return Ok(true);
        }
        let staging: Rc<str> = hex::encode(self.random_id()).into();
        let rebuilt = self
            .rebuild_parts(
                info,
                (&parts, &targets),
                &staging,
                (&mut *report, guards.pace),
            )
            .await;
        self.install(read, info, (&staging, rebuilt), (report, guards))
            .await?;
        Ok(true)
    }

    /// Memory a heal's buffers hold at most (taken as one grant before its locks): per
    /// member of a set, a record buffer and a chunk of a stripe of the store's size,
    /// and a staging buffer (every member rebuilt at worst).
    pub(crate) fn heal_buffers_bytes(&self) -> usize {
        let set = self.set_layout();
        let chunk = chunk_len_for(self.config.stripe_size_bytes, set.data_chunks);
        let record =
            (BLOCK_SIZE_BYTES + RECORD_HEADER_BYTES + chunk).next_multiple_of(BLOCK_SIZE_BYTES);
        set.set_size() * (record + chunk + STAGE_BUF_BYTES)
    }

    /// Counts chunk bytes a heal read and wrote, and charges them to the shard's
    /// healing account (sleeping under the key's lock within the object's share).
    async fn charge_heal(&self, (read, written): (u64, u64), pace: &ObjectPace) {
        self.heal.count(|c| {
            c.bytes_read += read;
            c.bytes_written += written;
        });
        (self.heal_account)
            .charge(&self.env, &self.heal_pace, read + written, pace)
            .await;
    }

    /// Per member, whether its version folder holds every part file of `info`.
    async fn holds_files(&self, info: &ObjectInfo) -> Vec<Answer<bool>> {
        let files = super::part_file_names(info);
        let placement = self.placement(&info.bucket, &info.key);
        let (bucket, key): (Rc<str>, Rc<str>) =
            (info.bucket.as_str().into(), info.key.as_str().into());
        let version_id = info.version_id;
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::HoldsVersionData, self.config.member_deadline);
        quorum::call(&self.env, members, strategy, |_, member| {
            let (bucket, key, files) = (Rc::clone(&bucket), Rc::clone(&key), Rc::clone(&files));
            async move {
                member
                    .holds_version_data(&bucket, &key, version_id, files)
                    .await
            }
        })
        .await
    }

    /// Whether member `m` of the set holds part file `name` in the version's folder
    /// (asked only of a member that lacks some file of the version).
    async fn holds_part(&self, m: usize, info: &ObjectInfo, name: &str) -> bool {
        let placement = self.placement(&info.bucket, &info.key);
        let member = &self.set_members(placement.set_index)[m];
        let files: Rc<[String]> = vec![name.to_owned()].into();
        let asked = member.holds_version_data(&info.bucket, &info.key, info.version_id, files);
        let answer = shoal_io::timeout(&self.env, self.config.member_deadline, asked).await;
        // Only a clear "no" counts: a failure proves nothing.
        !matches!(answer, Some(Ok(false)))
    }

    /// Every member's copy of `part`, read whole and verified; `Short` when a stripe
    /// has fewer than data-chunks verified records.
    async fn verify_part(
        &self,
        info: &ObjectInfo,
        part: &PartFile,
        pace: &ObjectPace,
    ) -> std::result::Result<Vec<PartState>, Short> {
        let mut reader = PartReader::open(self, info, part).await;
        let mut short = None;
        for stripe in 0..reader.geometry.stripe_count() {
            let verified = reader.read_stripe(stripe).await;
            self.charge_heal((reader.stripe_bytes_read, 0), pace).await;
            if verified < info.data_chunks {
                short = Some(stripe);
                break;
            }
            self.env.yield_now().await;
        }
        let states = reader.states.clone();
        reader.close().await;
        match short {
            Some(stripe) => Err(Short {
                stripe,
                proven: !states.contains(&PartState::Failed),
            }),
            None => Ok(states),
        }
    }

    /// Stages, on every member `targets` names, its part files rebuilt; per member,
    /// the files staged (staged part number, file name) or why not.
    async fn rebuild_parts(
        &self,
        info: &ObjectInfo,
        (parts, targets): (&[PartFile], &[Vec<bool>]),
        staging: &Rc<str>,
        (report, pace): (&mut HealReport, &ObjectPace),
    ) -> Vec<StagedFiles> {
        let set_size = info.data_chunks + info.parity_chunks;
        let mut staged: Vec<StagedFiles> = vec![Ok(Vec::new()); set_size];
        for (part, need) in parts.iter().zip(targets) {
            // Each member's files are staged as its parts 1, 2, … (`InstallData`).
            let wanted: Vec<(usize, u32)> = (0..set_size)
                .filter_map(|m| match &staged[m] {
                    Ok(files) if need[m] => {
                        Some((m, u32::try_from(files.len() + 1).unwrap_or(u32::MAX)))
                    }
                    _ => None,
                })
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let results = self
                .rebuild_part(info, part, (staging, &wanted), pace)
                .await;
            for ((m, _), result) in wanted.into_iter().zip(results) {
                match result {
                    Ok(bytes) => {
                        report.bytes_written += bytes;
                        if let Ok(files) = &mut staged[m] {
                            files.push(part.name.clone());
                        }
                    }
                    Err(why) => staged[m] = Err(why),
                }
            }
        }
        staged
    }

    /// Rebuilds `part` onto members `wanted` (each with the part number it is staged
    /// as in `staging`); per member, the bytes staged or why not.
    async fn rebuild_part(
        &self,
        info: &ObjectInfo,
        part: &PartFile,
        (staging, wanted): (&Rc<str>, &[(usize, u32)]),
        pace: &ObjectPace,
    ) -> Vec<std::result::Result<u64, String>> {
        let mut reader = PartReader::open(self, info, part).await;
        let members = reader.members();
        let set_size = members.len();
        let size_hint = reader.geometry.part_file_len();
        let begins = wanted
            .iter()
            .map(|&(m, number)| members[m].stage_begin(staging, number, size_hint));
        let mut writers: Vec<StagedWriter<D>> = join_all(begins)
            .await
            .into_iter()
            .zip(wanted)
            .map(|(begun, &(m, _))| {
                let (staged, error) = match begun {
                    Ok(staged) => (Some(staged), None),
                    Err(e) => (None, Some(e)),
                };
                StagedWriter {
                    member: m,
                    staged,
                    buf: None,
                    file_offset: 0,
                    len_bytes: 0,
                    error,
                }
            })
            .collect();
        let mut chunks: Vec<Vec<u8>> = vec![Vec::new(); set_size];
        let mut lost = None;
        for stripe in 0..reader.geometry.stripe_count() {
            if reader.read_stripe(stripe).await < info.data_chunks {
                lost = Some(stripe);
                break;
            }
            let chunk_len = reader.geometry.chunk_len(stripe);
            let mut present = vec![false; set_size];
            for m in 0..set_size {
                let c = reader.placement.chunk_of_drive(m, set_size);
                chunks[c].resize(chunk_len, 0);
                if let Some(chunk) = reader.chunk(m, chunk_len) {
                    chunks[c].copy_from_slice(chunk);
                    present[c] = true;
                }
            }
            if present.iter().any(|p| !p) {
                let mut slices: Vec<&mut [u8]> = chunks.iter_mut().map(Vec::as_mut_slice).collect();
                if let Err(e) = self.coder.borrow_mut().reconstruct(&mut slices, &present) {
                    return vec![Err(format!("erasure decode: {e}")); wanted.len()];
                }
            }
            let mut written = 0;
            for writer in &mut writers {
                let m = writer.member;
                let c = reader.placement.chunk_of_drive(m, set_size);
                let checksum = record_checksum(reader.tags[m], stripe, &chunks[c]);
                writer.push(&members[m], &checksum.to_le_bytes()).await;
                writer.push(&members[m], &chunks[c]).await;
                written += (RECORD_HEADER_BYTES + chunk_len) as u64;
            }
            self.charge_heal((reader.stripe_bytes_read, written), pace)
                .await;
            self.env.yield_now().await;
        }
        reader.close().await;
        let mut results = Vec::with_capacity(writers.len());
        for writer in writers {
            let m = writer.member;
            let result = match lost {
                Some(stripe) => Err(format!("stripe {stripe} no longer verifies")),
                None => writer.finish(&members[m]).await.map_err(|e| e.to_string()),
            };
            results.push(result);
        }
        results
    }

    /// Installs each member's staged files into the version's folder, fenced on the
    /// record the read found and the key's lease; what is left staged is discarded.
    async fn install(
        &self,
        read: &MetaRead,
        info: &ObjectInfo,
        (staging, staged): (&Rc<str>, Vec<StagedFiles>),
        (report, guards): (&mut HealReport, Guards<'_>),
    ) -> Result<()> {
        let placement = self.placement(&info.bucket, &info.key);
        let members = self.set_members(placement.set_index);
        let kept = guards.keep().await;
        let fence = guards.key.fence();
        let (bucket, key): (Rc<str>, Rc<str>) =
            (info.bucket.as_str().into(), info.key.as_str().into());
        let requests: Vec<Option<InstallData>> = staged
            .iter()
            .zip(&read.raw)
            .map(|(files, raw)| match files {
                Ok(files) if !files.is_empty() && kept.is_ok() => Some(InstallData {
                    bucket: Rc::clone(&bucket),
                    key: Rc::clone(&key),
                    version_id: info.version_id,
                    staging: Rc::clone(staging),
                    files: files.clone(),
                    expect: Expect::of(raw.as_deref()),
                    fence,
                }),
                _ => None,
            })
            .collect();
        let strategy = Strategy::all(Verb::InstallData, self.config.member_deadline);
        let answers = quorum::call(&self.env, members, strategy, |index, member| {
            let request = requests[index].clone();
            let staging = Rc::clone(staging);
            let staged_any =
                matches!(&staged[index], Ok(f) if !f.is_empty()) || staged[index].is_err();
            async move {
                let Some(request) = request else {
                    if staged_any {
                        let _ = member.stage_discard(&staging).await;
                    }
                    return Err(MemberError::NotAsked("nothing to install"));
                };
                let installed = member.install_data(request).await;
                if installed.is_err() {
                    let _ = member.stage_discard(&staging).await;
                }
                installed
            }
        })
        .await;
        for (m, (answer, files)) in answers.into_iter().zip(&staged).enumerate() {
            let member = &mut report.members[m];
            match (answer, files) {
                (_, Ok(files)) if files.is_empty() => {}
                (Answer::Ok(()), Ok(files)) => member.files_written = files.len(),
                (_, Err(why)) => member.error = Some(why.clone()),
                (Answer::Err(e), _) => member.error = Some(format!("install: {e}")),
                (_, Ok(_)) => member.error = Some("install: no answer".to_owned()),
            }
        }
        kept
    }
}

/// Folds one part's state into a member's data verdict (the worst part wins).
fn note_data(data: &mut DataFound, state: PartState) {
    let rank = |d: DataFound| match d {
        DataFound::NotChecked => 0,
        DataFound::Whole => 1,
        DataFound::Missing => 2,
        DataFound::Corrupt => 3,
        DataFound::Failed => 4,
    };
    let found = match state {
        PartState::Whole => DataFound::Whole,
        PartState::Missing => DataFound::Missing,
        PartState::Corrupt => DataFound::Corrupt,
        PartState::Failed => DataFound::Failed,
    };
    if rank(found) > rank(*data) {
        *data = found;
    }
}
