//! Deleting an object: under the key's lock, remove the metadata (the commit point),
//! then move the data folders to the trash (GETs already streaming them finish), then
//! remove folders left empty up to the bucket. Deleting a key that
//! does not exist succeeds, as in S3.

use futures_util::future::join_all;
use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::keypath::{meta_path, object_dir, validate_key};
use crate::object::condition::WriteCondition;
use crate::object::store::{Store, ignore_not_found};

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Deletes `bucket/key`. Returns whether a version existed.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        self.delete_object_if(bucket, key, &WriteCondition::Always)
            .await
    }

    /// Deletes `bucket/key` if `condition` holds for its current version (`If-Match`).
    pub async fn delete_object_if(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<bool> {
        validate_key(key)?;
        self.require_bucket(bucket).await?;
        let placement = self.placement(bucket, key);
        let layout = self.set_layout();
        let _guard = self.lock_object(bucket, key).await;
        let read = self.read_metas(bucket, key).await;
        crate::object::put::condition_holds(condition, &read, layout.read_quorum())?;
        let anything_there = read.any_present();
        let existed = match read.agreed(layout.read_quorum()) {
            Ok(_) => true,
            Err(Error::NoSuchKey) if !anything_there => return Ok(false),
            Err(Error::NoSuchKey) => false, // a minority leftover: clean it up below
            Err(e) => return Err(e),
        };
        let dir = object_dir(bucket, key);
        let meta = meta_path(bucket, key);
        let drives = self.set_members(placement.set_index);
        let removes = drives
            .iter()
            .map(|d| async { ignore_not_found(d.remove_file(&meta).await) });
        let ok = join_all(removes).await.iter().filter(|r| r.is_ok()).count();
        if ok < layout.write_quorum() {
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: layout.write_quorum(),
            });
        }
        let prunes = drives
            .iter()
            .map(|d| self.remove_object_dir(d, &dir, bucket));
        join_all(prunes).await;
        Ok(existed)
    }

    /// Moves the object's data folders to the trash (reads already streaming them
    /// finish, `trash.rs`), then removes every folder left empty up to the bucket.
    async fn remove_object_dir(&self, drive: &D, dir: &str, bucket: &str) {
        if let Ok(entries) = drive.list_dir(dir).await {
            for entry in entries
                .iter()
                .filter(|e| e.is_dir && e.name.starts_with(crate::member::keypath::DATA_DIR_PREFIX))
            {
                self.move_to_trash(drive, &format!("{dir}/{}", entry.name))
                    .await;
            }
        }
        remove_empty_folders(drive, dir, bucket).await;
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
