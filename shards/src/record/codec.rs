//! Little-endian binary writer and bounds-checked reader for Shoal's on-disk records
//! (format record, object metadata, bucket records).
//!
//! Every record is framed the same way: `magic (8) | version u16 | reserved u16 |
//! body length u32 | body | CRC-64/NVME of everything before it (8)`. The reader never
//! panics on any input: every length is checked against what remains.

use shoal_erasure::bitrot::crc64_nvme;

const HEADER_LEN_BYTES: usize = 16;
const TRAILER_LEN_BYTES: usize = 8;
/// Largest record body accepted (object metadata with inline data stays far below).
pub const RECORD_BODY_MAX_BYTES: usize = 4 << 20;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    BadMagic,
    UnsupportedVersion(u16),
    Truncated,
    ChecksumMismatch,
    Invalid(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::BadMagic => write!(f, "not a Shoal record (bad magic)"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported record version {v}"),
            DecodeError::Truncated => write!(f, "record is truncated"),
            DecodeError::ChecksumMismatch => write!(f, "record checksum mismatch"),
            DecodeError::Invalid(why) => write!(f, "invalid record: {why}"),
        }
    }
}

/// Builds a record body, then frames it.
#[derive(Default)]
pub struct Writer {
    body: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.body.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.body.extend_from_slice(bytes);
        self
    }
    /// Bytes with a u32 length prefix.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.u32(u32::try_from(bytes.len()).expect("record field over 4 GiB"));
        self.raw(bytes)
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Frames the body: header, body, checksum.
    pub fn finish(&self, magic: &[u8; 8], version: u16) -> Vec<u8> {
        assert!(
            self.body.len() <= RECORD_BODY_MAX_BYTES,
            "record body too large"
        );
        let mut out = Vec::with_capacity(HEADER_LEN_BYTES + self.body.len() + TRAILER_LEN_BYTES);
        out.extend_from_slice(magic);
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(self.body.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.body);
        let crc = crc64_nvme(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

/// Checks framing and checksum; returns (version, body reader).
pub fn open_record<'a>(bytes: &'a [u8], magic: &[u8; 8]) -> Result<(u16, Reader<'a>), DecodeError> {
    if bytes.len() < HEADER_LEN_BYTES + TRAILER_LEN_BYTES {
        return Err(DecodeError::Truncated);
    }
    if &bytes[..8] != magic {
        return Err(DecodeError::BadMagic);
    }
    let mut header = Reader::new(&bytes[8..HEADER_LEN_BYTES]);
    let version = header.u16()?;
    let _reserved = header.u16()?;
    let body_len = header.u32()? as usize;
    if body_len > RECORD_BODY_MAX_BYTES
        || bytes.len() != HEADER_LEN_BYTES + body_len + TRAILER_LEN_BYTES
    {
        return Err(DecodeError::Truncated);
    }
    let (framed, trailer) = bytes.split_at(HEADER_LEN_BYTES + body_len);
    let stored = u64::from_le_bytes(trailer.try_into().map_err(|_| DecodeError::Truncated)?);
    if crc64_nvme(framed) != stored {
        return Err(DecodeError::ChecksumMismatch);
    }
    Ok((version, Reader::new(&framed[HEADER_LEN_BYTES..])))
}

/// Reads fields in order; every read is bounds-checked.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub fn raw(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.raw(N)?.try_into().expect("length checked"))
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.raw(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.raw(len)
    }
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::Invalid("string is not UTF-8"))
    }
    /// Fails unless every byte was consumed (a record with trailing garbage is corrupt).
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Invalid("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Fields round-trip through a framed record.
    #[test]
    fn round_trip() {
        let mut w = Writer::default();
        w.u8(1).u16(2).u32(3).u64(4).str("héllo").bytes(&[9; 5]);
        let bytes = w.finish(b"SHOALTST", 7);
        let (version, mut r) = open_record(&bytes, b"SHOALTST").unwrap();
        assert_eq!(version, 7);
        assert_eq!(
            (r.u8(), r.u16(), r.u32(), r.u64()),
            (Ok(1), Ok(2), Ok(3), Ok(4))
        );
        assert_eq!(r.str(), Ok("héllo"));
        assert_eq!(r.bytes(), Ok(&[9u8; 5][..]));
        r.finish().unwrap();
    }

    proptest! {
        /// Any single flipped bit or truncation is detected; no input panics.
        #[test]
        fn corruption_detected(flip in 0usize..(16 + 13 + 8) * 8, cut in 0usize..37) {
            let mut w = Writer::default();
            w.str("some body");
            let good = w.finish(b"SHOALTST", 1);
            let mut bad = good.clone();
            bad[flip / 8] ^= 1 << (flip % 8);
            prop_assert!(open_record(&bad, b"SHOALTST").is_err());
            prop_assert!(open_record(&good[..cut], b"SHOALTST").is_err());
        }

        /// Arbitrary bytes never panic the reader.
        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = open_record(&bytes, b"SHOALTST");
            let mut r = Reader::new(&bytes);
            let _ = (r.str(), r.u64(), r.bytes());
        }
    }
}
