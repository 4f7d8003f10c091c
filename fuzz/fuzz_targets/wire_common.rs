//! What the two wire targets share: making a stream's frame checksums right, so the
//! fuzzer explores what lies behind them (a CRC would otherwise hide every field).
//!
//! Walks the stream frame by frame as the lengths in each header say; each header gets
//! the checksum of its (possibly truncated) body and then its own checksum.

use shoal_wire::frame::{
    BODY_CHECKSUM_AT, BODY_LEN_AT, FRAME_HEADER_BYTES, PAYLOAD_LEN_AT, body_checksum, seal_header,
};

pub fn repair_checksums(stream: &mut [u8]) {
    let mut at = 0usize;
    while stream.len().saturating_sub(at) >= FRAME_HEADER_BYTES {
        let len_at = |field: usize| {
            let bytes: [u8; 4] = stream[at + field..at + field + 4].try_into().unwrap();
            u32::from_le_bytes(bytes) as usize
        };
        let (body_len, payload_len) = (len_at(BODY_LEN_AT), len_at(PAYLOAD_LEN_AT));
        let body_at = at + FRAME_HEADER_BYTES;
        let body_end = body_at.saturating_add(body_len).min(stream.len());
        let sum = body_checksum(&stream[body_at..body_end]).to_le_bytes();
        stream[at + BODY_CHECKSUM_AT..at + BODY_CHECKSUM_AT + 8].copy_from_slice(&sum);
        let header: &mut [u8; FRAME_HEADER_BYTES] = (&mut stream[at..body_at]).try_into().unwrap();
        seal_header(header);
        at = body_at.saturating_add(body_len).saturating_add(payload_len);
    }
}
