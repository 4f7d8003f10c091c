//! Multipart uploads (DESIGN.md §5): parts are erasure-coded as they arrive, like
//! objects, into the upload on every member of the object's set; completing an upload
//! writes metadata only.
//!
//! On each member an upload is its record (key, content headers, tags, checksum
//! algorithm; identical on every member, written when the upload is created) and one
//! data file per uploaded part whose description (number, sequence, size, MD5,
//! checksum) travels with it, so one listing per member tells which parts it holds.
//! The drive work is the upload verbs' (`member/verbs/upload.rs`, on a local drive
//! `member/local/upload.rs`); every fan-out goes through `set::quorum`, each file here
//! saying why its strategy may or may not return at quorum.
//!
//! Invariants:
//! - A part is believed only when read-quorum members hold the same part;
//!   among uploads of one part number the highest sequence wins (the last upload).
//! - Changes to an upload folder (a part arriving, abort, complete) happen under the
//!   upload's lock (`LockName::Upload` on its owner shard), so they are serialized;
//!   writes into the upload folder also hold the bucket's lock shared, so a bucket
//!   delete (which removes uploads) never races them.
//! - Complete hands the upload to the write family's commit as the version's data
//!   (fenced like a put's commit); a failed commit gives it back, so the client may
//!   retry.
//! - The upload id starts with the creation time (16 hex digits of nanoseconds), so
//!   ids of one key sort by age and abandoned uploads are found by name alone.
//! - A completed object's version id is its upload id: a retried Complete, finding no
//!   upload, answers with the key's current version only if it is that upload's object
//!   made of the same parts (else `NoSuchUpload`).
//! - Complete checks every checksum, checksum type and size its request declares
//!   before anything is committed; a refused Complete leaves the upload as it was.

mod abort;
mod complete;
mod create;
mod expiry;
mod list;
mod part;
mod record;

pub use complete::{CompleteExpectations, CompletePart};
pub use create::UploadOptions;
pub use list::{UploadsPage, UploadsQuery};
pub use part::PartsPage;
pub use record::UploadInfo;

use crate::error::{Error, Result};
use crate::record::checksum::Checksum;
use crate::record::meta::ObjectInfo;

/// TRANSITIONAL: for the bucket delete (`object/bucket.rs`), which removes a bucket's
/// uploads by path until the bucket family's verbs do it.
pub use crate::member::local::upload::MULTIPART_DIR;
/// Highest part number (S3).
pub const PART_NUMBER_MAX: u32 = 10_000;

/// The byte range `[first, last]` of part `number` of an object (`None`: the object is
/// empty); a plain object has one part, the whole of it.
pub fn part_range(info: &ObjectInfo, number: u32) -> Result<Option<(u64, u64)>> {
    if info.parts.is_empty() {
        return match number {
            1 => Ok(info.size_bytes.checked_sub(1).map(|last| (0, last))),
            _ => Err(Error::InvalidPartNumber),
        };
    }
    let mut start = 0;
    for part in &info.parts {
        if part.number == number {
            return Ok(part
                .size_bytes
                .checked_sub(1)
                .map(|len| (start, start + len)));
        }
        start += part.size_bytes;
    }
    Err(Error::InvalidPartNumber)
}

/// The checksum of part `number` of an object, as stored (a GET or HEAD by part number
/// answers with it); `None` when the object has no checksum. A plain object's only
/// part is the whole object.
pub fn part_checksum(info: &ObjectInfo, number: u32) -> Option<Checksum> {
    let object = info.checksum.as_ref()?;
    if info.parts.is_empty() {
        return (number == 1).then(|| object.clone());
    }
    let part = info.parts.iter().find(|p| p.number == number)?;
    (!part.checksum.is_empty()).then(|| Checksum {
        algorithm: object.algorithm,
        value: part.checksum.clone(),
    })
}
