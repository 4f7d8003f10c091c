//! The encoding of one index entry, `(key, Option<KeySummary>)`, inside a run's block.
//!
//! Entries of a block are in strictly increasing key order and share key prefixes with
//! the entry before them (the first entry of a block shares nothing), which keeps a
//! block of long keys under one folder small. Integers are LEB128 varints (at most 10
//! bytes, overflow refused). The block around the entries carries the format version
//! and the checksum (`run.rs`); an entry alone has neither.
//!
//! ```text
//! shared     varint   bytes of the key shared with the previous entry's key
//! suffix_len varint   bytes of the key after those
//! suffix     bytes
//! flags      u8       bit 0 present (a KeySummary follows; else the drive has no
//!                     record of the key), bit 1 tombstone, bits 2..=4 checksum
//!                     algorithm code (0: none), bits 5..=7 zero
//! -- if present:
//! place      4 bytes  chunk index, data chunks, parity chunks, rotation (the
//!                     record's place in its set; 255 stands for anything larger)
//! version_id 16 bytes
//! mod_time   varint   unix nanoseconds
//! meta_gen   varint   (u32)
//! size       varint   bytes
//! etag_len   varint   at most ETAG_LEN_MAX_BYTES
//! etag       bytes    UTF-8
//! ```
//!
//! Decoding never panics: every length is bounded by what remains and by the limits
//! below, keys and ETags must be UTF-8, and keys must increase.

use crate::member::keypath::KEY_LEN_MAX_BYTES;
use crate::member::verbs::walk::KeySummary;
use crate::record::checksum::ChecksumAlgorithm;
use crate::record::codec::{DecodeError, Reader};

/// Longest ETag stored (S3 ETags are 32 hex digits, a dash and a part count, quoted).
pub const ETAG_LEN_MAX_BYTES: usize = 256;

/// Largest encoding of one entry (a bound for buffer sizes): varints, flags, the key,
/// the fixed fields and the ETag.
pub const ENTRY_LEN_MAX_BYTES: usize =
    10 * 2 + KEY_LEN_MAX_BYTES + 1 + 16 + 10 * 4 + ETAG_LEN_MAX_BYTES;

const FLAG_PRESENT: u8 = 1;
const FLAG_TOMBSTONE: u8 = 1 << 1;
const CHECKSUM_SHIFT: u32 = 2;
const CHECKSUM_MASK: u8 = 0b111 << CHECKSUM_SHIFT;
const FLAGS_KNOWN: u8 = FLAG_PRESENT | FLAG_TOMBSTONE | CHECKSUM_MASK;

/// One entry as the index holds it: `None` is "no record of the key on this drive".
pub type Entry = (String, Option<KeySummary>);

/// Most entries `decode_entries` reserves room for before it has decoded them.
const ENTRIES_RESERVED_MAX: usize = 4096;

pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub fn get_varint(reader: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for index in 0..10u32 {
        let byte = reader.u8()?;
        let bits = u64::from(byte & 0x7f);
        // The tenth byte may only carry the top bit of a u64.
        if index == 9 && bits > 1 {
            return Err(DecodeError::Invalid("varint overflows u64"));
        }
        value |= bits << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::Invalid("varint longer than 10 bytes"))
}

fn get_len(reader: &mut Reader<'_>, max: usize) -> Result<usize, DecodeError> {
    let len = get_varint(reader)?;
    match usize::try_from(len) {
        Ok(len) if len <= max => Ok(len),
        _ => Err(DecodeError::Invalid("length over its bound")),
    }
}

fn shared_prefix_len(a: &str, b: &str) -> usize {
    let mut len = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    // Split on a character boundary so both halves stay UTF-8 on their own.
    while !b.is_char_boundary(len) {
        len -= 1;
    }
    len
}

/// Appends `key`'s entry after `previous_key` (`""` for a block's first entry).
pub fn encode_entry(out: &mut Vec<u8>, previous_key: &str, key: &str, entry: Option<&KeySummary>) {
    assert!(
        key.len() <= KEY_LEN_MAX_BYTES,
        "index key over the S3 bound"
    );
    let shared = shared_prefix_len(previous_key, key);
    put_varint(out, shared as u64);
    put_varint(out, (key.len() - shared) as u64);
    out.extend_from_slice(&key.as_bytes()[shared..]);
    let Some(summary) = entry else {
        out.push(0);
        return;
    };
    assert!(
        summary.etag.len() <= ETAG_LEN_MAX_BYTES,
        "ETag over its bound"
    );
    let checksum = summary
        .checksum_algorithm
        .map_or(0, ChecksumAlgorithm::code);
    let mut flags = FLAG_PRESENT | (checksum << CHECKSUM_SHIFT);
    if summary.tombstone {
        flags |= FLAG_TOMBSTONE;
    }
    out.push(flags);
    let byte = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
    out.extend_from_slice(&[
        byte(summary.chunk_index),
        byte(summary.data_chunks),
        byte(summary.parity_chunks),
        byte(summary.rotation),
    ]);
    out.extend_from_slice(&summary.version_id);
    put_varint(out, summary.mod_time_unix_nanos);
    put_varint(out, u64::from(summary.meta_generation));
    put_varint(out, summary.size_bytes);
    put_varint(out, summary.etag.len() as u64);
    out.extend_from_slice(summary.etag.as_bytes());
}

/// Reads the entry after `previous_key`, which it must sort after.
pub fn decode_entry(reader: &mut Reader<'_>, previous_key: &str) -> Result<Entry, DecodeError> {
    let shared = get_len(reader, previous_key.len())?;
    let suffix_len = get_len(reader, KEY_LEN_MAX_BYTES.saturating_sub(shared))?;
    let suffix = reader.raw(suffix_len)?;
    let prefix = previous_key
        .get(..shared)
        .ok_or(DecodeError::Invalid("shared key prefix splits a character"))?;
    let suffix = std::str::from_utf8(suffix).map_err(|_| DecodeError::Invalid("key not UTF-8"))?;
    let key = format!("{prefix}{suffix}");
    if key.as_str() <= previous_key {
        return Err(DecodeError::Invalid("keys out of order"));
    }
    let flags = reader.u8()?;
    if flags & !FLAGS_KNOWN != 0 {
        return Err(DecodeError::Invalid("unknown entry flags"));
    }
    if flags & FLAG_PRESENT == 0 {
        if flags != 0 {
            return Err(DecodeError::Invalid("flags on an absent entry"));
        }
        return Ok((key, None));
    }
    let checksum_code = (flags & CHECKSUM_MASK) >> CHECKSUM_SHIFT;
    let checksum_algorithm = match checksum_code {
        0 => None,
        code => Some(
            ChecksumAlgorithm::from_code(code)
                .ok_or(DecodeError::Invalid("unknown checksum algorithm"))?,
        ),
    };
    let [chunk_index, data_chunks, parity_chunks, rotation] = reader.array::<4>()?;
    let version_id = reader.array::<16>()?;
    let mod_time_unix_nanos = get_varint(reader)?;
    let meta_generation = u32::try_from(get_varint(reader)?)
        .map_err(|_| DecodeError::Invalid("meta generation over u32"))?;
    let size_bytes = get_varint(reader)?;
    let etag_len = get_len(reader, ETAG_LEN_MAX_BYTES)?;
    let etag = std::str::from_utf8(reader.raw(etag_len)?)
        .map_err(|_| DecodeError::Invalid("ETag not UTF-8"))?
        .to_owned();
    let summary = KeySummary {
        chunk_index: chunk_index.into(),
        data_chunks: data_chunks.into(),
        parity_chunks: parity_chunks.into(),
        rotation: rotation.into(),
        version_id,
        mod_time_unix_nanos,
        meta_generation,
        size_bytes,
        etag,
        checksum_algorithm,
        tombstone: flags & FLAG_TOMBSTONE != 0,
    };
    Ok((key, Some(summary)))
}

/// Reads `count` entries, each after the one before (a block's, from its start).
pub fn decode_entries(reader: &mut Reader<'_>, count: usize) -> Result<Vec<Entry>, DecodeError> {
    // Sized once (a block holds a few hundred), bounded whatever the count claims.
    let mut entries: Vec<Entry> = Vec::with_capacity(count.min(ENTRIES_RESERVED_MAX));
    for _ in 0..count {
        let previous = entries.last().map_or("", |(key, _)| key.as_str());
        let entry = decode_entry(reader, previous)?;
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub fn summary_strategy() -> impl Strategy<Value = KeySummary> {
        (
            any::<[u8; 16]>(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            "[a-f0-9\"-]{0,40}",
            proptest::option::of(proptest::sample::select(ChecksumAlgorithm::ALL.to_vec())),
            any::<bool>(),
            any::<[u8; 4]>(),
        )
            .prop_map(
                |(version_id, mod_time, generation, size, etag, checksum, tombstone, place)| {
                    KeySummary {
                        chunk_index: place[0].into(),
                        data_chunks: place[1].into(),
                        parity_chunks: place[2].into(),
                        rotation: place[3].into(),
                        version_id,
                        mod_time_unix_nanos: mod_time,
                        meta_generation: generation,
                        size_bytes: size,
                        etag,
                        checksum_algorithm: checksum,
                        tombstone,
                    }
                },
            )
    }

    fn encode_all(entries: &[Entry]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut previous = "";
        for (key, entry) in entries {
            encode_entry(&mut out, previous, key, entry.as_ref());
            previous = key;
        }
        out
    }

    fn decode_all(bytes: &[u8], count: usize) -> Result<Vec<Entry>, DecodeError> {
        let mut reader = Reader::new(bytes);
        let entries = decode_entries(&mut reader, count)?;
        reader.finish()?;
        Ok(entries)
    }

    proptest! {
        /// Any sorted run of entries decodes to itself, multi-byte keys included.
        #[test]
        fn entries_round_trip(
            map in proptest::collection::btree_map(
                "[a-c/é☃]{1,12}", proptest::option::of(summary_strategy()), 0..40),
        ) {
            let entries: Vec<Entry> = map.into_iter().collect();
            let bytes = encode_all(&entries);
            prop_assert_eq!(decode_all(&bytes, entries.len()), Ok(entries));
        }

        /// Every prefix of an encoding is refused, never a panic.
        #[test]
        fn truncations_are_refused(
            map in proptest::collection::btree_map(
                "[a-c]{1,6}", proptest::option::of(summary_strategy()), 1..8),
        ) {
            let entries: Vec<Entry> = map.into_iter().collect();
            let bytes = encode_all(&entries);
            for len in 0..bytes.len() {
                prop_assert!(decode_all(&bytes[..len], entries.len()).is_err());
            }
        }
    }

    /// Keys that do not increase, bad flags, long varints and oversized lengths are
    /// refused.
    #[test]
    fn damaged_entries_are_refused() {
        let mut out = Vec::new();
        encode_entry(&mut out, "", "b", None);
        encode_entry(&mut out, "b", "a", None);
        assert!(decode_all(&out, 2).is_err(), "keys out of order");
        assert_eq!(
            decode_all(&[0, 1, b'a', 0b1000_0000], 1),
            Err(DecodeError::Invalid("unknown entry flags"))
        );
        assert!(
            decode_all(&[0, 1, b'a', 0b0000_0010], 1).is_err(),
            "tombstone without summary"
        );
        assert!(
            decode_all(&[0, 1, b'a', 0b0001_1101], 1).is_err(),
            "checksum code 7"
        );
        assert!(decode_all(&[0x80; 11], 1).is_err(), "varint too long");
        let mut long = vec![0];
        put_varint(&mut long, (KEY_LEN_MAX_BYTES + 1) as u64);
        assert!(decode_all(&long, 1).is_err(), "key over its bound");
        assert!(
            decode_all(&[0, 2, 0xc3, 0x28, 0], 1).is_err(),
            "key not UTF-8"
        );
        assert!(
            decode_all(&[1, 1, b'a', 0], 1).is_err(),
            "shares more than the previous key"
        );
    }

    /// A shared prefix never splits a multi-byte character.
    #[test]
    fn shared_prefix_keeps_characters_whole() {
        assert_eq!(shared_prefix_len("é", "è"), 0);
        assert_eq!(shared_prefix_len("ab", "abc"), 2);
    }
}
