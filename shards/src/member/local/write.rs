//! `WriteVerbs` on a drive of this node: where staged files, version folders, metadata
//! records and the trash live on the drive (DESIGN.md §5), and the file work of writing
//! them.
//!
//! Every verb that replaces or removes a record is first admitted by the member's
//! memory of lease epochs (`fence.rs`): a verb under a lost lease changes nothing.
//!
//! Invariants: nothing in the object tree is written but by a rename or an atomic file
//! replace; a fenced verb reads the record it is fenced on just before it acts (the
//! caller holds the key's lock, so only a verb that arrives late can be in between,
//! and that one finds the record changed and does nothing); nothing enters the trash
//! but whole version folders, named `_d<version>.<trashed at, 16 hex digits of ns>`.

use std::rc::Rc;

use shoal_io::{AlignedBuf, Drive, DriveError, DriveResult, TargetFolder};

use crate::member::keypath::{DATA_DIR_PREFIX, meta_path, object_dir};
use crate::member::verbs::write::{
    Commit, DataSource, Expect, Fence, InstallData, RollBack, WriteVerbs,
};
use crate::member::{LocalMember, MemberError, MemberResult};
use crate::record::meta::PartInfo;

/// Where writes in progress are staged on every drive (cleaned at start).
pub const TMP_DIR: &str = ".shoal/tmp";

/// Where replaced and deleted versions' data wait for removal, on every drive.
pub const TRASH_DIR: &str = ".shoal/trash";

/// Where multipart uploads keep their parts (the upload verbs own this folder; a
/// commit only takes an upload's folder as a version's data).
const MULTIPART_DIR: &str = ".shoal/multipart";

/// Attempts to put back a previous metadata record after a failed commit.
const UNDO_ATTEMPTS: usize = 3;

/// A staged part file of a local drive.
pub struct StagedFile<F> {
    file: F,
}

/// The folder of version `version_id` of `bucket/key`.
fn version_dir(bucket: &str, key: &str, version_id: &[u8; 16]) -> String {
    format!(
        "{}/{DATA_DIR_PREFIX}{}",
        object_dir(bucket, key),
        hex::encode(version_id)
    )
}

/// The folder a data source names.
fn source_dir(source: &DataSource) -> String {
    match source {
        DataSource::Staging(staging) => format!("{TMP_DIR}/{staging}"),
        DataSource::Upload { bucket, upload_id } => {
            format!("{MULTIPART_DIR}/{bucket}/{upload_id}")
        }
    }
}

fn not_found_is_ok(result: DriveResult<()>) -> MemberResult<()> {
    match result {
        Ok(()) | Err(DriveError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl<D: Drive> WriteVerbs for LocalMember<D> {
    type Staged = StagedFile<D::File>;

    async fn stage_begin(
        &self,
        staging: &str,
        part_number: u32,
        size_hint_bytes: u64,
    ) -> MemberResult<Self::Staged> {
        let path = format!("{TMP_DIR}/{staging}/part.{part_number}");
        let file = self.drive().create(&path, size_hint_bytes).await?;
        Ok(StagedFile { file })
    }

    async fn stage_append(
        &self,
        staged: &Self::Staged,
        buf: AlignedBuf,
        offset_bytes: u64,
    ) -> (MemberResult<()>, AlignedBuf) {
        let (result, buf) = self.drive().write_at(&staged.file, buf, offset_bytes).await;
        (result.map_err(MemberError::from), buf)
    }

    async fn stage_finish(&self, staged: Self::Staged, len_bytes: u64) -> MemberResult<()> {
        let drive = self.drive();
        let synced = async {
            drive.set_len(&staged.file, len_bytes).await?;
            drive.sync(&staged.file).await
        }
        .await;
        let closed = drive.close(staged.file).await;
        synced?;
        Ok(closed?)
    }

    async fn stage_discard(&self, staging: &str) -> MemberResult<()> {
        not_found_is_ok(
            self.drive()
                .remove_dir_all(&format!("{TMP_DIR}/{staging}"))
                .await,
        )
    }

    async fn commit(&self, commit: Commit) -> MemberResult<()> {
        self.epochs
            .admit(&commit.bucket, &commit.key, commit.fence)?;
        let meta_file = meta_path(&commit.bucket, &commit.key);
        self.check_fence(&meta_file, commit.expect_previous).await?;
        // The first write into the key's folder tells whether the folder was there.
        let mut folder = None;
        if let Some(source) = &commit.data {
            let data_dir = version_dir(&commit.bucket, &commit.key, &commit.version_id);
            folder = Some(
                self.drive()
                    .rename_into(&source_dir(source), &data_dir)
                    .await?,
            );
        }
        let written = self
            .drive()
            .write_file_atomic_into(&meta_file, &commit.meta)
            .await;
        let meta_folder = match written {
            Ok(made) => made,
            Err(e) => {
                self.index_settle(&commit.bucket, &commit.key).await;
                return Err(e.into());
            }
        };
        self.index_written(&commit.bucket, &commit.key, &commit.meta)
            .await;
        if folder.unwrap_or(meta_folder) == TargetFolder::Made {
            self.fresh
                .remember(commit.bucket, commit.key, commit.version_id);
        }
        Ok(())
    }

    async fn roll_back(&self, roll_back: RollBack) -> MemberResult<()> {
        // Under a lost lease nothing is taken back: the next holder may have written
        // since, and a failed commit left behind is no worse than a crash mid-commit.
        self.epochs
            .admit(&roll_back.bucket, &roll_back.key, roll_back.fence)?;
        let meta_file = meta_path(&roll_back.bucket, &roll_back.key);
        let fenced = self.check_fence(&meta_file, roll_back.committed).await;
        // Only a copy proven to be another commit's is left alone. One that could not
        // be read is taken back anyway: the caller holds the key's lock, so no later
        // commit can be there, and a failed version left on read quorum would become
        // visible (found by sim_store, seed 80).
        if !matches!(fenced, Err(MemberError::Stale)) {
            undo_meta(self.drive(), &meta_file, roll_back.restore.as_deref()).await;
            self.index_settle(&roll_back.bucket, &roll_back.key).await;
        }
        self.fresh
            .take(&roll_back.bucket, &roll_back.key, &roll_back.version_id);
        let data_dir = version_dir(&roll_back.bucket, &roll_back.key, &roll_back.version_id);
        let _ = match &roll_back.give_back {
            Some(source) => self.drive().rename(&data_dir, &source_dir(source)).await,
            None => self.drive().remove_dir_all(&data_dir).await,
        };
        fenced
    }

    async fn write_meta(
        &self,
        bucket: &str,
        key: &str,
        meta: &[u8],
        expect_previous: Expect,
        fence: Fence,
    ) -> MemberResult<()> {
        self.epochs.admit(bucket, key, fence)?;
        let meta_file = meta_path(bucket, key);
        self.check_fence(&meta_file, expect_previous).await?;
        if let Err(e) = self.drive().write_file_atomic(&meta_file, meta).await {
            self.index_settle(bucket, key).await;
            return Err(e.into());
        }
        self.index_written(bucket, key, meta).await;
        Ok(())
    }

    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        expect_previous: Expect,
        fence: Fence,
    ) -> MemberResult<()> {
        self.epochs.admit(bucket, key, fence)?;
        let meta_file = meta_path(bucket, key);
        self.check_fence(&meta_file, expect_previous).await?;
        let removed = not_found_is_ok(self.drive().remove_file(&meta_file).await);
        match removed {
            Ok(()) => self.index_removed(bucket, key).await,
            Err(_) => self.index_settle(bucket, key).await,
        }
        removed
    }

    async fn retire_versions(
        &self,
        bucket: &str,
        key: &str,
        now_unix_nanos: u64,
        fence: Fence,
    ) -> MemberResult<()> {
        self.epochs.admit(bucket, key, fence)?;
        let dir = object_dir(bucket, key);
        self.trash_versions(&dir, None, now_unix_nanos).await;
        remove_empty_folders(self.drive(), &dir, bucket).await;
        Ok(())
    }

    async fn remove_stale_versions(
        &self,
        bucket: &str,
        key: &str,
        keep: [u8; 16],
        now_unix_nanos: u64,
        fence: Fence,
    ) -> MemberResult<()> {
        self.epochs.admit(bucket, key, fence)?;
        if self.fresh.take(bucket, key, &keep) {
            // This commit made the key's folder: it holds nothing older (`fresh.rs`).
            return Ok(());
        }
        let dir = object_dir(bucket, key);
        let keep = format!("{DATA_DIR_PREFIX}{}", hex::encode(keep));
        self.trash_versions(&dir, Some(&keep), now_unix_nanos).await;
        Ok(())
    }

    async fn holds_version_data(
        &self,
        bucket: &str,
        key: &str,
        version_id: [u8; 16],
        part_files: Rc<[String]>,
    ) -> MemberResult<bool> {
        let entries = self
            .drive()
            .list_dir(&version_dir(bucket, key, &version_id))
            .await?;
        Ok(part_files
            .iter()
            .all(|w| entries.iter().any(|e| !e.is_dir && e.name == *w)))
    }

    async fn install_data(&self, install: InstallData) -> MemberResult<()> {
        if let Some(name) = install.files.iter().find(|n| !is_part_file_name(n)) {
            return Err(MemberError::Io(format!(
                "{name:?} is not a part file's name"
            )));
        }
        self.epochs
            .admit(&install.bucket, &install.key, install.fence)?;
        let meta_file = meta_path(&install.bucket, &install.key);
        self.check_fence(&meta_file, install.expect).await?;
        let data_dir = version_dir(&install.bucket, &install.key, &install.version_id);
        let staging_dir = format!("{TMP_DIR}/{}", install.staging);
        for (index, name) in install.files.iter().enumerate() {
            // One rename per file (parents created, both folders fsync'd): the old
            // file or the new one, never a mix.
            let from = format!("{staging_dir}/part.{}", index + 1);
            self.drive()
                .rename(&from, &format!("{data_dir}/{name}"))
                .await?;
        }
        not_found_is_ok(self.drive().remove_dir_all(&staging_dir).await)
    }

    async fn sweep_trash(&self, now_unix_nanos: u64, grace_nanos: u64) -> MemberResult<usize> {
        let entries = self.drive().list_dir(TRASH_DIR).await?;
        let mut removed = 0;
        for entry in entries {
            let expired = trashed_at(&entry.name)
                .is_none_or(|t| now_unix_nanos.saturating_sub(t) >= grace_nanos);
            let path = format!("{TRASH_DIR}/{}", entry.name);
            if expired && not_found_is_ok(self.drive().remove_dir_all(&path).await).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl<D: Drive> LocalMember<D> {
    /// `Stale` unless the object's record (`meta_file`) is the one expected.
    async fn check_fence(&self, meta_file: &str, expect: Expect) -> MemberResult<()> {
        if expect == Expect::Any {
            return Ok(());
        }
        let held = match self.drive().read_file(meta_file).await {
            Ok(bytes) => Some(bytes),
            Err(DriveError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        if expect.matches(held.as_deref()) {
            Ok(())
        } else {
            Err(MemberError::Stale)
        }
    }

    /// Moves every version folder in object folder `dir` but `keep` to the trash.
    async fn trash_versions(&self, dir: &str, keep: Option<&str>, now_unix_nanos: u64) {
        let Ok(entries) = self.drive().list_dir(dir).await else {
            return;
        };
        for entry in entries {
            if entry.is_dir
                && entry.name.starts_with(DATA_DIR_PREFIX)
                && Some(entry.name.as_str()) != keep
            {
                let path = format!("{dir}/{}", entry.name);
                move_to_trash(self.drive(), &path, &entry.name, now_unix_nanos).await;
            }
        }
    }
}

/// Whether `name` is one a version's folder holds: a plain object's `part.1` or a
/// multipart part's file (so an installed file never lands outside the folder).
fn is_part_file_name(name: &str) -> bool {
    name == "part.1" || PartInfo::parse_file_name(name).is_some()
}

/// Moves version folder `path` (named `version_dir`) to the trash; a folder already
/// gone is fine. If the rename fails the folder is removed, so a replaced version
/// never lingers in the object tree.
async fn move_to_trash<D: Drive>(drive: &D, path: &str, version_dir: &str, now_unix_nanos: u64) {
    let target = format!("{TRASH_DIR}/{}", trash_name(version_dir, now_unix_nanos));
    match drive.rename(path, &target).await {
        Ok(()) | Err(DriveError::NotFound) => {}
        Err(_) => {
            let _ = drive.remove_dir_all(path).await;
        }
    }
}

/// The trash name of version folder `version_dir` (`_d<hex>`) trashed at `now`.
fn trash_name(version_dir: &str, now_unix_nanos: u64) -> String {
    format!("{version_dir}.{now_unix_nanos:016x}")
}

/// When a trash entry was trashed; `None` for a name Shoal did not write.
fn trashed_at(name: &str) -> Option<u64> {
    let (_, time) = name.rsplit_once('.')?;
    if time.len() != 16 {
        return None;
    }
    u64::from_str_radix(time, 16).ok()
}

/// Where version folder `version_dir` (`_d<hex>`) sits in a drive's trash, if there.
pub(crate) async fn find_in_trash<D: Drive>(drive: &D, version_dir: &str) -> Option<String> {
    let prefix = format!("{version_dir}.");
    let entries = drive.list_dir(TRASH_DIR).await.ok()?;
    entries
        .into_iter()
        .find(|e| e.is_dir && e.name.starts_with(&prefix))
        .map(|e| format!("{TRASH_DIR}/{}", e.name))
}

/// Removes every trash entry of one drive (at start, before any reader exists).
pub(crate) async fn empty_trash<D: Drive>(drive: &D) {
    let Ok(entries) = drive.list_dir(TRASH_DIR).await else {
        return;
    };
    for entry in entries {
        let _ = drive
            .remove_dir_all(&format!("{TRASH_DIR}/{}", entry.name))
            .await;
    }
}

/// Takes back a new metadata record: restore the previous bytes (a few attempts), else
/// remove the record. A missing record votes for nothing, so the failed version can
/// never win a read quorum from it — even when data equals parity and read quorum is
/// half the set — while the replaced version keeps the votes of every other drive.
pub(crate) async fn undo_meta<D: Drive>(drive: &D, meta_file: &str, previous: Option<&[u8]>) {
    if let Some(bytes) = previous {
        for _ in 0..UNDO_ATTEMPTS {
            if drive.write_file_atomic(meta_file, bytes).await.is_ok() {
                return;
            }
        }
    }
    for _ in 0..UNDO_ATTEMPTS {
        if not_found_is_ok(drive.remove_file(meta_file).await).is_ok() {
            return;
        }
    }
}

/// Removes `dir` and each folder above it, up to the bucket, while they are empty.
async fn remove_empty_folders<D: Drive>(drive: &D, dir: &str, bucket: &str) {
    let mut current = dir;
    while current.len() > bucket.len() {
        if !matches!(drive.remove_dir_if_empty(current).await, Ok(true)) {
            break;
        }
        match current.rfind('/') {
            Some(slash) => current = &current[..slash],
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trash name gives back the time it was made with; foreign names give none.
    #[test]
    fn names_round_trip() {
        let name = trash_name("_d00ff", 0x1234);
        assert_eq!(trashed_at(&name), Some(0x1234));
        assert_eq!(trashed_at("_d00ff"), None);
        assert_eq!(trashed_at("x.zz"), None);
    }
}
