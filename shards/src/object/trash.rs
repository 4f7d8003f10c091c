//! Replaced and deleted versions' data, kept readable for a while.
//!
//! A GET that started before an overwrite or a delete streams the version it opened to
//! the end (issue 10, A4). So a version's data folder is never removed while someone
//! may read it: the writer that replaces or deletes it renames `KEY/_d<version>` to
//! `.shoal/trash/_d<version>.<trashed at, 16 hex digits of ns>` (one rename, the same
//! filesystem), and a background sweep removes trash older than the grace period.
//!
//! Readers: files already open keep working through the rename (and even through the
//! removal: an open file outlives its name). A reader that opens a part file later (the
//! next part of a multipart object) and finds the version folder gone looks for it in
//! the trash by its version id, which is random and unique, so it can never find
//! another version's data. A reader that outlives the grace period finds nothing and
//! fails closed: the read fails and the connection is aborted, never wrong bytes.
//!
//! Invariants: nothing enters the trash but whole version folders; trash is removed
//! entirely at start (no reader can exist yet) and by the sweep after the grace period.

use shoal_io::{Clock, Drive, DriveError, Env};

use crate::object::store::{Store, ignore_not_found};

/// Where replaced and deleted versions' data wait for removal, on every drive.
pub const TRASH_DIR: &str = ".shoal/trash";

/// How long a replaced version stays readable for GETs that started before.
pub const TRASH_GRACE: std::time::Duration = std::time::Duration::from_mins(15);

/// How often the sweep looks for trash past its grace period.
pub const TRASH_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_mins(1);

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

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Moves version folder `path` (`…/_d<hex>`) of one drive to the trash; a folder
    /// that is already gone is fine. If the rename fails the folder is removed, so a
    /// replaced version never lingers in the object tree.
    pub(crate) async fn move_to_trash(&self, drive: &D, path: &str) {
        let version_dir = path.rsplit('/').next().unwrap_or(path);
        let target = format!(
            "{TRASH_DIR}/{}",
            trash_name(version_dir, self.clock.now_unix_nanos())
        );
        match drive.rename(path, &target).await {
            Ok(()) | Err(DriveError::NotFound) => {}
            Err(_) => {
                let _ = ignore_not_found(drive.remove_dir_all(path).await);
            }
        }
    }

    /// Removes trash older than `grace_nanos` from every drive; returns how many
    /// version folders were removed.
    pub async fn sweep_trash(&self, grace_nanos: u64) -> usize {
        let now = self.clock.now_unix_nanos();
        let mut removed = 0;
        for drive in &self.members {
            let Ok(entries) = drive.list_dir(TRASH_DIR).await else {
                continue;
            };
            for entry in entries {
                let expired =
                    trashed_at(&entry.name).is_none_or(|t| now.saturating_sub(t) >= grace_nanos);
                let path = format!("{TRASH_DIR}/{}", entry.name);
                if expired && ignore_not_found(drive.remove_dir_all(&path).await).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
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
