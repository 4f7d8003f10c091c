//! Buckets: create, delete (only when empty), list, exists.
//!
//! A bucket is a record `DRIVE/.shoal/buckets/NAME` (framed by `codec`, magic
//! `SHOALBKT`: creation time u64 ns) plus the folder `DRIVE/NAME/`, on every drive of
//! the pool. It exists when at least `sets × read quorum` drives hold its record, so a
//! bucket survives the same drive losses as the objects in it.

use futures_util::future::join_all;
use shoal_io::{Clock, Drive, DriveError};

use crate::codec::{Writer, open_record};
use crate::error::{Error, Result};
use crate::keypath::validate_bucket_name;
use crate::list::ListQuery;
use crate::store::{Store, ignore_not_found};

const BUCKETS_DIR: &str = ".shoal/buckets";
const MAGIC: &[u8; 8] = b"SHOALBKT";

/// A bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub created_unix_nanos: u64,
}

impl<D: Drive, C: Clock> Store<D, C> {
    fn bucket_read_quorum(&self) -> usize {
        self.layout.set_count * self.layout.set.read_quorum()
    }

    fn bucket_write_quorum(&self) -> usize {
        self.layout.set_count * self.layout.set.write_quorum()
    }

    /// Creates a bucket; `BucketAlreadyOwnedByYou` if it exists. Anything left under
    /// the name by an earlier bucket (a delete that lost drives, a crash) is removed
    /// first: a new bucket starts empty.
    pub async fn make_bucket(&self, bucket: &str) -> Result<()> {
        validate_bucket_name(bucket)?;
        let _guard = self.lock_bucket_exclusive(bucket).await;
        if self.bucket_exists(bucket).await? {
            return Err(Error::BucketAlreadyOwnedByYou);
        }
        let mut w = Writer::default();
        w.u64(self.clock.now_unix_nanos());
        let record = w.finish(MAGIC, 1);
        let path = format!("{BUCKETS_DIR}/{bucket}");
        let writes = self.drives.iter().map(|d| async {
            self.remove_bucket_contents(d, bucket).await?;
            d.create_dir_all(bucket).await?;
            d.write_file_atomic(&path, &record).await?;
            Ok::<(), Error>(())
        });
        let ok = join_all(writes).await.iter().filter(|r| r.is_ok()).count();
        if ok < self.bucket_write_quorum() {
            let removes = self.drives.iter().map(|d| d.remove_file(&path));
            join_all(removes).await;
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: self.bucket_write_quorum(),
            });
        }
        Ok(())
    }

    /// True when a quorum of drives holds the bucket's record.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        if validate_bucket_name(bucket).is_err() {
            return Ok(false);
        }
        let path = format!("{BUCKETS_DIR}/{bucket}");
        let reads = join_all(self.drives.iter().map(|d| d.read_file(&path))).await;
        let found = reads.iter().filter(|r| r.is_ok()).count();
        let failed = reads
            .iter()
            .filter(|r| matches!(r, Err(e) if !matches!(e, DriveError::NotFound)))
            .count();
        if found >= self.bucket_read_quorum() {
            return Ok(true);
        }
        if found + failed >= self.bucket_read_quorum() && failed > 0 {
            return Err(Error::InsufficientReadQuorum {
                ok: found,
                needed: self.bucket_read_quorum(),
            });
        }
        Ok(false)
    }

    /// `Ok` if the bucket exists, `NoSuchBucket` if not.
    pub async fn head_bucket(&self, bucket: &str) -> Result<()> {
        self.require_bucket(bucket).await
    }

    pub(crate) async fn require_bucket(&self, bucket: &str) -> Result<()> {
        if self.bucket_exists(bucket).await? {
            Ok(())
        } else {
            Err(Error::NoSuchBucket)
        }
    }

    /// Deletes an empty bucket. Holds the bucket's lock exclusive, so no write into
    /// the bucket commits between the emptiness check and the removal (writers hold
    /// it shared while they commit and re-check that the bucket exists). Uploads in
    /// progress go with the bucket, as in S3 (general purpose buckets).
    pub async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let _guard = self.lock_bucket_exclusive(bucket).await;
        self.require_bucket(bucket).await?;
        let probe = ListQuery {
            max_keys: 1,
            ..ListQuery::default()
        };
        if !self.list_objects(bucket, &probe).await?.objects.is_empty() {
            return Err(Error::BucketNotEmpty);
        }
        let path = format!("{BUCKETS_DIR}/{bucket}");
        let removes = self.drives.iter().map(|d| async {
            ignore_not_found(d.remove_file(&path).await)?;
            self.remove_bucket_contents(d, bucket).await
        });
        let ok = join_all(removes).await.iter().filter(|r| r.is_ok()).count();
        if ok < self.bucket_write_quorum() {
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: self.bucket_write_quorum(),
            });
        }
        Ok(())
    }

    /// Removes what a drive holds under a bucket's name besides its record: tags,
    /// uploads in progress, and the object folder (only empty folders and leftovers
    /// of deleted keys when the bucket is empty).
    async fn remove_bucket_contents(&self, drive: &D, bucket: &str) -> Result<()> {
        self.remove_bucket_tags(drive, bucket).await?;
        let uploads = format!("{}/{bucket}", crate::multipart::MULTIPART_DIR);
        ignore_not_found(drive.remove_dir_all(&uploads).await)?;
        ignore_not_found(drive.remove_dir_all(bucket).await)
    }

    /// Every bucket held by a quorum of drives, in name order.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let listings = join_all(self.drives.iter().map(|d| d.list_dir(BUCKETS_DIR))).await;
        let mut votes: std::collections::BTreeMap<String, usize> =
            std::collections::BTreeMap::new();
        for entries in listings.into_iter().flatten() {
            for entry in entries {
                *votes.entry(entry.name).or_default() += 1;
            }
        }
        let mut buckets = Vec::new();
        for (name, count) in votes {
            if count >= self.bucket_read_quorum() && validate_bucket_name(&name).is_ok() {
                let created_unix_nanos = self.bucket_created(&name).await;
                buckets.push(BucketInfo {
                    name,
                    created_unix_nanos,
                });
            }
        }
        Ok(buckets)
    }

    /// Creation time from the first drive with a readable record.
    async fn bucket_created(&self, bucket: &str) -> u64 {
        let path = format!("{BUCKETS_DIR}/{bucket}");
        for drive in &self.drives {
            let Ok(bytes) = drive.read_file(&path).await else {
                continue;
            };
            let Ok((_, mut r)) = open_record(&bytes, MAGIC) else {
                continue;
            };
            if let Ok(created) = r.u64() {
                return created;
            }
        }
        0
    }
}
