//! Every record Shoal keeps on a drive, and its encoding: the common framing (`codec`),
//! the drive's format record and fill record (`fill.rs`: a replaced drive's fill),
//! object metadata, chunk records, and the checksums they
//! carry. Pure: bytes in, values out.

pub mod checksum;
pub mod codec;
pub mod fill;
pub mod format;
pub mod meta;
pub mod stripe;
