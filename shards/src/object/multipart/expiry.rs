//! Removal of abandoned uploads (created longer ago than a maximum age), found by
//! the creation time in their ids.

use shoal_io::{Clock, Drive, Env};

use crate::object::store::{Store, ignore_not_found};

use super::MULTIPART_DIR;
use super::record::upload_id_time;

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Removes uploads created more than `max_age_nanos` ago (abandoned), on every
    /// drive, with their parts; returns how many upload folders were removed.
    pub async fn remove_abandoned_uploads(&self, max_age_nanos: u64) -> usize {
        let now = self.clock.now_unix_nanos();
        let mut removed = 0;
        for drive in &self.members {
            let Ok(buckets) = drive.list_dir(MULTIPART_DIR).await else {
                continue;
            };
            for bucket in buckets.iter().filter(|b| b.is_dir) {
                let dir = format!("{MULTIPART_DIR}/{}", bucket.name);
                let Ok(uploads) = drive.list_dir(&dir).await else {
                    continue;
                };
                for upload in uploads {
                    let old = upload_id_time(&upload.name)
                        .is_none_or(|t| now.saturating_sub(t) > max_age_nanos);
                    if !old {
                        continue;
                    }
                    let _guard = self.lock_upload(&upload.name).await;
                    let path = format!("{dir}/{}", upload.name);
                    if ignore_not_found(drive.remove_dir_all(&path).await).is_ok() {
                        removed += 1;
                    }
                }
                let _ = drive.remove_dir_if_empty(&dir).await;
            }
        }
        removed
    }
}
