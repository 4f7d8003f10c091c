//! Buckets: create, delete (only when empty), list, exists.
//!
//! A bucket is a record `DRIVE/.shoal/buckets/NAME` plus the folder `DRIVE/NAME/`, on
//! every drive of the pool. It exists when at least `sets × read quorum` drives hold its
//! record, so a bucket survives the same drive losses as the objects in it.
//!
//! The record (framed by `codec`, magic `SHOALBKT`, version 2) says whose it is, so a
//! record copied under another name or from another deployment is not believed:
//!
//! | field         | encoding | meaning                              |
//! |---------------|----------|--------------------------------------|
//! | deployment id | 16 bytes | the deployment that created it       |
//! | name          | str      | the bucket (must match the file name) |
//! | created       | u64 ns   | creation time                        |
//!
//! "Does not exist" is answered only when too few drives could hold the record for it
//! to exist: a drive that fails, holds a record it cannot vouch for, or answers "not
//! found" without being this deployment's drive (`absence.rs`) counts as unknown, and
//! when unknown drives could make the difference the answer is a quorum error (503).

use futures_util::future::join_all;
use shoal_io::{Clock, Drive, DriveError, Env};

use crate::error::{Error, Result};
use crate::member::keypath::validate_bucket_name;
use crate::object::list::ListQuery;
use crate::object::store::{Store, ignore_not_found};
use crate::record::codec::{DecodeError, Writer, open_record};

const BUCKETS_DIR: &str = ".shoal/buckets";
const MAGIC: &[u8; 8] = b"SHOALBKT";
/// 2: the record carries the deployment id and the bucket name.
const VERSION: u16 = 2;

/// What one drive says about a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BucketCopy {
    /// A valid record of this bucket, created at this time.
    Found(u64),
    /// No record, from a drive that is this deployment's (or not yet checked).
    Absent,
    /// Failed, corrupt, misplaced, or "not found" from a drive that is not ours.
    Unknown,
}

/// Counts of what the drives said about one bucket.
struct BucketVotes {
    found: usize,
    unknown: usize,
}

impl BucketVotes {
    /// Exists, does not exist, or cannot tell (unknown drives could decide it).
    fn verdict(&self, read_quorum: usize) -> Result<bool> {
        if self.found >= read_quorum {
            return Ok(true);
        }
        if self.unknown > 0 && self.found + self.unknown >= read_quorum {
            return Err(Error::InsufficientReadQuorum {
                ok: self.found,
                needed: read_quorum,
            });
        }
        Ok(false)
    }
}

/// A bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub created_unix_nanos: u64,
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
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
        let record = self.bucket_record(bucket, self.clock.now_unix_nanos());
        let path = format!("{BUCKETS_DIR}/{bucket}");
        let writes = self.members.iter().map(|d| async {
            self.remove_bucket_contents(d, bucket).await?;
            d.create_dir_all(bucket).await?;
            d.write_file_atomic(&path, &record).await?;
            Ok::<(), Error>(())
        });
        let ok = join_all(writes).await.iter().filter(|r| r.is_ok()).count();
        if ok < self.bucket_write_quorum() {
            let removes = self.members.iter().map(|d| d.remove_file(&path));
            join_all(removes).await;
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: self.bucket_write_quorum(),
            });
        }
        Ok(())
    }

    fn bucket_record(&self, bucket: &str, created_unix_nanos: u64) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(&self.deployment_id)
            .str(bucket)
            .u64(created_unix_nanos);
        w.finish(MAGIC, VERSION)
    }

    /// The creation time in a record, if it is this deployment's record of `bucket`.
    fn decode_bucket_record(
        &self,
        bytes: &[u8],
        bucket: &str,
    ) -> std::result::Result<u64, DecodeError> {
        let (version, mut r) = open_record(bytes, MAGIC)?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        if r.array::<16>()? != self.deployment_id || r.str()? != bucket {
            return Err(DecodeError::Invalid("bucket record of another bucket"));
        }
        let created = r.u64()?;
        r.finish()?;
        Ok(created)
    }

    /// Every drive's answer about `bucket`, in pool order; "not found" is checked
    /// against the drive's format record when the answer could depend on it.
    async fn read_bucket_copies(&self, bucket: &str) -> Vec<BucketCopy> {
        let path = format!("{BUCKETS_DIR}/{bucket}");
        let reads = join_all(self.members.iter().map(|d| d.read_file(&path))).await;
        let mut copies: Vec<BucketCopy> = reads
            .iter()
            .map(|read| match read {
                Ok(bytes) => self
                    .decode_bucket_record(bytes, bucket)
                    .map_or(BucketCopy::Unknown, BucketCopy::Found),
                Err(DriveError::NotFound) => BucketCopy::Absent,
                Err(_) => BucketCopy::Unknown,
            })
            .collect();
        let found = copies
            .iter()
            .filter(|c| matches!(c, BucketCopy::Found(_)))
            .count();
        if found < self.bucket_read_quorum() {
            self.confirm_absent(&mut copies).await;
        }
        copies
    }

    /// Turns each `Absent` from a drive that is not this deployment's into `Unknown`.
    async fn confirm_absent(&self, copies: &mut [BucketCopy]) {
        let absent: Vec<usize> = (0..copies.len())
            .filter(|&i| copies[i] == BucketCopy::Absent)
            .collect();
        for (position, ours) in absent.iter().zip(self.drives_are_ours(&absent).await) {
            if !ours {
                copies[*position] = BucketCopy::Unknown;
            }
        }
    }

    /// True when a quorum of drives holds the bucket's record; false only when enough
    /// of this deployment's drives say it does not; otherwise a quorum error.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        if validate_bucket_name(bucket).is_err() {
            return Ok(false);
        }
        let copies = self.read_bucket_copies(bucket).await;
        let votes = BucketVotes {
            found: copies
                .iter()
                .filter(|c| matches!(c, BucketCopy::Found(_)))
                .count(),
            unknown: copies
                .iter()
                .filter(|c| matches!(c, BucketCopy::Unknown))
                .count(),
        };
        votes.verdict(self.bucket_read_quorum())
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
        let removes = self.members.iter().map(|d| async {
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
        let uploads = format!("{}/{bucket}", crate::object::multipart::MULTIPART_DIR);
        ignore_not_found(drive.remove_dir_all(&uploads).await)?;
        ignore_not_found(drive.remove_dir_all(bucket).await)
    }

    /// Every bucket held by a quorum of drives, in name order; a quorum error when
    /// drives that could not answer might hide or show a bucket.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let names = self.bucket_names_by_drive().await;
        let unknown = names.iter().filter(|n| n.is_none()).count();
        let mut votes: std::collections::BTreeMap<String, usize> =
            std::collections::BTreeMap::new();
        for entries in names.into_iter().flatten() {
            for name in entries {
                *votes.entry(name).or_default() += 1;
            }
        }
        // A bucket no answering drive lists could still exist on the others.
        BucketVotes { found: 0, unknown }.verdict(self.bucket_read_quorum())?;
        let mut buckets = Vec::new();
        for (name, found) in votes {
            let verdict = BucketVotes { found, unknown }.verdict(self.bucket_read_quorum())?;
            if verdict && validate_bucket_name(&name).is_ok() {
                let created_unix_nanos = self.bucket_created(&name).await;
                buckets.push(BucketInfo {
                    name,
                    created_unix_nanos,
                });
            }
        }
        Ok(buckets)
    }

    /// Per drive, the bucket record names it holds (`None`: it cannot answer).
    async fn bucket_names_by_drive(&self) -> Vec<Option<Vec<String>>> {
        let listings = join_all(self.members.iter().map(|d| d.list_dir(BUCKETS_DIR))).await;
        let mut names = Vec::with_capacity(listings.len());
        for (position, listing) in listings.into_iter().enumerate() {
            names.push(match listing {
                Ok(entries) => Some(entries.into_iter().map(|e| e.name).collect()),
                // No bucket was ever made here, if the drive is ours.
                Err(DriveError::NotFound) if self.drive_is_ours(position).await => Some(Vec::new()),
                Err(_) => None,
            });
        }
        names
    }

    /// Creation time from the first drive with a valid record.
    async fn bucket_created(&self, bucket: &str) -> u64 {
        let path = format!("{BUCKETS_DIR}/{bucket}");
        for drive in &self.members {
            let Ok(bytes) = drive.read_file(&path).await else {
                continue;
            };
            if let Ok(created) = self.decode_bucket_record(&bytes, bucket) {
                return created;
            }
        }
        0
    }
}
