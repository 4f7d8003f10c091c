//! The per-drive format record and the start-up procedure that checks or writes it.
//!
//! `DRIVE/.shoal/format`, framed by `codec` (magic `SHOALFMT`, version 2):
//!
//! | field          | bytes | meaning                                      |
//! |----------------|-------|----------------------------------------------|
//! | deployment id  | 16    | shared by every drive of the deployment      |
//! | pool index     | 2     | pool this drive belongs to                   |
//! | set index      | 2     | erasure set within the pool                  |
//! | drive index    | 2     | position within the set                      |
//! | set count      | 2     | sets in the pool                             |
//! | data chunks    | 1     | erasure layout of every set in the pool      |
//! | parity chunks  | 1     |                                              |
//!
//! Rules at start: every formatted drive must carry the same deployment id and layout
//! and sit at the position it was formatted for; otherwise start is refused with a
//! message naming the drive. A fresh deployment (no drive formatted) gets a new random
//! deployment id and every drive is formatted. In a deployment that exists, a drive with
//! no format record and no data is left offline, not formatted: it may be the bare mount
//! point of a filesystem that failed to mount (formatting it would put the drive's data
//! on the root disk), and with no healing yet a new drive would receive only new
//! writes. `format_new_drives` (the server's `--format-new-drives`) formats such drives,
//! for an operator who replaced a drive on purpose.
//!
//! The encoded record is also the drive's identity: `Drive::check_identity` compares
//! it, at start and on a timer, to what the drive's folder holds.

use shoal_io::{Drive, DriveError};

use crate::error::{Error, Result};
use crate::record::codec::{DecodeError, Writer, open_record};
use crate::topology::layout::{PoolLayout, SetLayout};
use crate::topology::placement::DeploymentId;

pub const FORMAT_PATH: &str = ".shoal/format";
const MAGIC: &[u8; 8] = b"SHOALFMT";
/// 2: the deployment's records say whose they are (metadata, bucket records and part
/// files, version 2). Drives of version 1 (development builds only, never shipped) are
/// refused at start rather than served with records that cannot be checked.
const VERSION: u16 = 2;

/// What one drive's format record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatRecord {
    pub deployment_id: DeploymentId,
    pub pool_index: u16,
    pub set_index: u16,
    pub drive_index: u16,
    pub layout: PoolLayout,
}

impl FormatRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(&self.deployment_id)
            .u16(self.pool_index)
            .u16(self.set_index)
            .u16(self.drive_index)
            .u16(self.layout.set_count as u16)
            .u8(self.layout.set.data_chunks as u8)
            .u8(self.layout.set.parity_chunks as u8);
        w.finish(MAGIC, VERSION)
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let (version, mut r) = open_record(bytes, MAGIC)?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let deployment_id = r.array()?;
        let (pool_index, set_index, drive_index) = (r.u16()?, r.u16()?, r.u16()?);
        let set_count = r.u16()? as usize;
        let (data, parity) = (r.u8()? as usize, r.u8()? as usize);
        r.finish()?;
        let set = SetLayout::new(data, parity).map_err(|_| DecodeError::Invalid("layout"))?;
        if set_count == 0 {
            return Err(DecodeError::Invalid("zero sets"));
        }
        Ok(Self {
            deployment_id,
            pool_index,
            set_index,
            drive_index,
            layout: PoolLayout { set_count, set },
        })
    }
}

/// The state of one drive at start.
enum DriveFormat {
    Formatted(FormatRecord),
    Blank,
    Offline(String),
}

/// Checks every drive's format and formats blank ones (in a deployment that exists,
/// only with `format_new_drives`). Returns the deployment id and, per drive, why it is
/// offline for this run (`None`: online).
pub async fn format_drives<D: Drive>(
    drives: &[D],
    layout: PoolLayout,
    new_deployment_id: DeploymentId,
    format_new_drives: bool,
) -> Result<(DeploymentId, Vec<Option<String>>)> {
    assert_eq!(drives.len(), layout.drive_count());
    let mut states = Vec::with_capacity(drives.len());
    for drive in drives {
        states.push(read_format(drive).await?);
    }
    let existing = agreed_deployment(drives, &states, layout)?;
    let deployment_id = existing.unwrap_or(new_deployment_id);
    let mut offline = vec![None; drives.len()];
    for (position, (drive, state)) in drives.iter().zip(&states).enumerate() {
        offline[position] = match state {
            DriveFormat::Formatted(_) => None,
            DriveFormat::Blank if existing.is_some() && !format_new_drives => Some(
                "it is empty, with no format record, in a deployment that exists: an \
                 unmounted drive's bare mount point, or a new drive. Not formatted (a \
                 new drive is taken with --format-new-drives)"
                    .to_owned(),
            ),
            DriveFormat::Blank => {
                let record = record_for(deployment_id, layout, position);
                let written = drive.write_file_atomic(FORMAT_PATH, &record.encode()).await;
                written.err().map(|e| format!("formatting failed: {e}"))
            }
            DriveFormat::Offline(why) => Some(why.clone()),
        };
    }
    Ok((deployment_id, offline))
}

/// The encoded format record of the drive at `position`: its identity.
pub(crate) fn identity_of(
    deployment_id: DeploymentId,
    layout: PoolLayout,
    position: usize,
) -> Vec<u8> {
    record_for(deployment_id, layout, position).encode()
}

fn record_for(deployment_id: DeploymentId, layout: PoolLayout, position: usize) -> FormatRecord {
    let set_size = layout.set.set_size();
    FormatRecord {
        deployment_id,
        pool_index: 0,
        set_index: (position / set_size) as u16,
        drive_index: (position % set_size) as u16,
        layout,
    }
}

async fn read_format<D: Drive>(drive: &D) -> Result<DriveFormat> {
    match drive.read_file(FORMAT_PATH).await {
        Ok(bytes) => FormatRecord::decode(&bytes)
            .map(DriveFormat::Formatted)
            .map_err(|e| {
                Error::Format(format!(
                    "drive {}: format record unreadable ({e}); refusing to guess what it belongs \
                 to. Move its contents away to reuse it as a blank drive",
                    drive.name()
                ))
            }),
        Err(DriveError::NotFound) => blank_or_refuse(drive).await,
        Err(DriveError::Offline(why)) => Ok(DriveFormat::Offline(why)),
        Err(e) => Ok(DriveFormat::Offline(format!(
            "its format record cannot be read: {e}"
        ))),
    }
}

/// An unformatted drive is used only if it holds nothing but Shoal's system folder.
async fn blank_or_refuse<D: Drive>(drive: &D) -> Result<DriveFormat> {
    match drive.list_dir("").await {
        Ok(entries) if entries.iter().all(|e| e.name == ".shoal") => Ok(DriveFormat::Blank),
        Ok(_) => Err(Error::Format(format!(
            "drive {} is not empty and has no Shoal format record; refusing to use it",
            drive.name()
        ))),
        Err(e) => Ok(DriveFormat::Offline(e.to_string())),
    }
}

/// The deployment id every formatted drive agrees on (None for a fresh deployment).
fn agreed_deployment<D: Drive>(
    drives: &[D],
    states: &[DriveFormat],
    layout: PoolLayout,
) -> Result<Option<DeploymentId>> {
    let mut agreed: Option<(DeploymentId, &str)> = None;
    for (position, (drive, state)) in drives.iter().zip(states).enumerate() {
        let DriveFormat::Formatted(record) = state else {
            continue;
        };
        if let Some((id, first)) = agreed {
            if id != record.deployment_id {
                return Err(Error::Format(format!(
                    "drive {} belongs to deployment {} but drive {first} to {}; \
                     drives from different deployments cannot be mixed",
                    drive.name(),
                    hex::encode(record.deployment_id),
                    hex::encode(id)
                )));
            }
        } else {
            agreed = Some((record.deployment_id, drive.name()));
        }
        let expected = record_for(record.deployment_id, layout, position);
        if *record != expected {
            return Err(Error::Format(format!(
                "drive {} was formatted as set {} drive {} of a {}-set {}+{} layout, but the \
                 command line places it as set {} drive {} of a {}-set {}+{} layout; give the \
                 drives in their original order and count",
                drive.name(),
                record.set_index,
                record.drive_index,
                record.layout.set_count,
                record.layout.set.data_chunks,
                record.layout.set.parity_chunks,
                expected.set_index,
                expected.drive_index,
                layout.set_count,
                layout.set.data_chunks,
                layout.set.parity_chunks,
            )));
        }
    }
    Ok(agreed.map(|(id, _)| id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format record survives encoding; a flipped byte is caught.
    #[test]
    fn record_round_trip() {
        let record = FormatRecord {
            deployment_id: [3; 16],
            pool_index: 0,
            set_index: 1,
            drive_index: 5,
            layout: PoolLayout::for_drives(16, None).unwrap(),
        };
        let mut bytes = record.encode();
        assert_eq!(FormatRecord::decode(&bytes), Ok(record));
        bytes[20] ^= 0x40;
        assert_eq!(
            FormatRecord::decode(&bytes),
            Err(DecodeError::ChecksumMismatch)
        );
    }

    /// A drive formatted by a development build (version 1) is refused.
    #[test]
    fn version_1_refused() {
        let mut w = Writer::default();
        w.raw(&[3; 16]).u16(0).u16(0).u16(0).u16(1).u8(2).u8(2);
        assert_eq!(
            FormatRecord::decode(&w.finish(MAGIC, 1)),
            Err(DecodeError::UnsupportedVersion(1))
        );
    }
}
