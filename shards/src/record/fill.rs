//! The fill record of a drive formatted into a deployment that exists (a replaced
//! drive): it says the drive must be filled from the other members of its set, and
//! where that fill is, so a restart resumes it (`object/fill/`).
//!
//! `DRIVE/.shoal/fill`, on the filled drive itself, replaced atomically
//! (`Drive::write_file_atomic`). It is written *before* the format record when the
//! drive is formatted (`mark_for_fill`): a crash between the two leaves a drive with
//! no format record, which the next start formats (and marks) again, so a formatted
//! drive of a deployment that exists never lacks it. A drive of a fresh deployment has
//! none (nothing to fill). When the fill is done the record says so and stays (the
//! fill never runs again for the drive).
//!
//! Framed by `record/codec.rs` (magic `SHOALFIL`, version 1, CRC-64 trailer); body:
//!
//! | field          | encoding | meaning                                          |
//! |----------------|----------|--------------------------------------------------|
//! | state          | u8       | 0: to fill, 1: done                              |
//! | started        | u64 ns   | Unix time the fill first ran (0: not yet)        |
//! | finished       | u64 ns   | Unix time it was done (0: not yet)               |
//! | bucket         | str      | the bucket being filled ("": none begun)         |
//! | after key      | str      | the last key done in it ("": none)               |
//! | objects done   | u64      | keys of the set taken through healing            |
//! | bytes done     | u64      | their object bytes                               |
//! | bytes written  | u64      | chunk bytes rebuilt onto this drive              |
//! | objects failed | u64      | keys left to the heal queue (a heal failed)      |

use shoal_io::{Drive, DriveResult};

use crate::record::codec::{DecodeError, Writer, open_record};

/// Where the record lives on the drive it describes.
pub const FILL_PATH: &str = ".shoal/fill";
const MAGIC: &[u8; 8] = b"SHOALFIL";
const VERSION: u16 = 1;

/// One drive's fill (see the table above).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FillRecord {
    pub done: bool,
    pub started_unix_nanos: u64,
    pub finished_unix_nanos: u64,
    pub bucket: String,
    pub after_key: String,
    pub objects_done: u64,
    pub bytes_done: u64,
    pub bytes_written: u64,
    pub objects_failed: u64,
}

impl FillRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(u8::from(self.done))
            .u64(self.started_unix_nanos)
            .u64(self.finished_unix_nanos)
            .str(&self.bucket)
            .str(&self.after_key)
            .u64(self.objects_done)
            .u64(self.bytes_done)
            .u64(self.bytes_written)
            .u64(self.objects_failed);
        w.finish(MAGIC, VERSION)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (version, mut r) = open_record(bytes, MAGIC)?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let done = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::Invalid("fill record state")),
        };
        let record = FillRecord {
            done,
            started_unix_nanos: r.u64()?,
            finished_unix_nanos: r.u64()?,
            bucket: r.str()?.to_owned(),
            after_key: r.str()?.to_owned(),
            objects_done: r.u64()?,
            bytes_done: r.u64()?,
            bytes_written: r.u64()?,
            objects_failed: r.u64()?,
        };
        r.finish()?;
        Ok(record)
    }
}

/// Marks a blank drive, about to be formatted into a deployment that exists, as one
/// to fill: call before writing its format record.
pub async fn mark_for_fill<D: Drive>(drive: &D) -> DriveResult<()> {
    drive
        .write_file_atomic(FILL_PATH, &FillRecord::default().encode())
        .await
}

/// The drive's fill record: `None` when it has none (never to fill) or it is
/// unreadable (logged: a drive whose record rotted is not filled again from zero;
/// the scanner and heal-on-read still bring its objects back).
pub async fn load<D: Drive>(drive: &D) -> Option<FillRecord> {
    let bytes = drive.read_file(FILL_PATH).await.ok()?;
    match FillRecord::decode(&bytes) {
        Ok(record) => Some(record),
        Err(e) => {
            tracing::warn!(drive = drive.name(), %e, "fill record unreadable; the drive is not filled");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record reads back field for field; a flipped byte or a bad state is refused.
    #[test]
    fn fill_record_round_trips() {
        let record = FillRecord {
            done: false,
            started_unix_nanos: 7,
            finished_unix_nanos: 0,
            bucket: "photos".to_owned(),
            after_key: "a/b".to_owned(),
            objects_done: 12,
            bytes_done: 3 << 20,
            bytes_written: 1 << 20,
            objects_failed: 1,
        };
        let bytes = record.encode();
        assert_eq!(FillRecord::decode(&bytes).unwrap(), record);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(FillRecord::decode(&bad).is_err());
        let fresh = FillRecord::default().encode();
        assert_eq!(FillRecord::decode(&fresh).unwrap(), FillRecord::default());
    }
}
