//! Every record Shoal reads back from a drive: the framing (`codec.rs`), the format
//! record, object metadata (`meta.rs`), bucket records, bucket tags, multipart upload
//! records, part-file names, the heal queue's journal, the scanner's position and a
//! replaced drive's fill record.
//!
//! Input: one byte choosing the record kind, a little-endian u16 version, then a record
//! body. The body is decoded twice: framed here with a correct checksum (so the fuzzer
//! explores the body decoders, which a CRC would otherwise hide) and as the raw file.
//!
//! Beyond "no panic": decode ∘ encode ∘ decode = decode for every record type that has
//! an encoder (what Shoal writes back is what it read), and a part-file name that
//! parses is the name its description formats to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_shards::object::heal::queue::decode_journal;
use shoal_shards::object::multipart::UploadInfo;
use shoal_shards::object::scan::position::Position;
use shoal_shards::object::tagging::decode_bucket_tags;
use shoal_shards::record::codec::{Writer, open_record};
use shoal_shards::record::fill::FillRecord;
use shoal_shards::record::format::FormatRecord;
use shoal_shards::record::meta::{DriveMeta, PartInfo};

/// The deployment the metadata decoder expects: a record naming another is refused, so
/// the fuzzer learns these bytes (libFuzzer traces comparisons) to reach the body.
const DEPLOYMENT_ID: [u8; 16] = *b"fuzz-deployment!";

/// The magics of the record kinds, in the order the selector byte picks them.
const MAGICS: [&[u8; 8]; 8] = [
    b"SHOALFMT",
    b"SHOALMTA",
    b"SHOALBKT",
    b"SHOALBTG",
    b"SHOALUPL",
    b"shoalhq1",
    b"SHOALSCN",
    b"SHOALFIL",
];

fn check_format(bytes: &[u8]) {
    if let Ok(record) = FormatRecord::decode(bytes) {
        assert_eq!(FormatRecord::decode(&record.encode()), Ok(record));
    }
}

fn check_meta(bytes: &[u8]) {
    if let Ok(meta) = DriveMeta::decode(bytes, &DEPLOYMENT_ID) {
        let again = DriveMeta::decode(&meta.encode(&DEPLOYMENT_ID), &DEPLOYMENT_ID);
        assert_eq!(again, Ok(meta));
    }
}

fn check_upload(bytes: &[u8]) {
    if let Ok(upload) = UploadInfo::decode(bytes) {
        assert_eq!(UploadInfo::decode(&upload.encode()), Ok(upload));
    }
}

/// A bucket record (version 2) is its deployment, its bucket name and its creation
/// time; nothing may follow them.
fn check_bucket(bytes: &[u8]) {
    if let Ok((_, mut reader)) = open_record(bytes, MAGICS[2]) {
        let _ = reader
            .array::<16>()
            .and_then(|_| reader.str().map(|_| ()))
            .and_then(|()| reader.u64())
            .and_then(|_| reader.finish());
    }
}

fn check_scan_position(bytes: &[u8]) {
    if let Ok(position) = Position::decode(bytes) {
        assert_eq!(Position::decode(&position.encode()), Ok(position));
    }
}

fn check_fill(bytes: &[u8]) {
    if let Ok(record) = FillRecord::decode(bytes) {
        assert_eq!(FillRecord::decode(&record.encode()), Ok(record));
    }
}

fn check_part_name(bytes: &[u8]) {
    let Ok(name) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Some(part) = PartInfo::parse_file_name(name) {
        assert_eq!(part.file_name(), name);
    }
}

fn check_all(bytes: &[u8]) {
    check_format(bytes);
    check_meta(bytes);
    check_upload(bytes);
    check_bucket(bytes);
    let _ = decode_bucket_tags(bytes);
    let _ = decode_journal(bytes);
    check_scan_position(bytes);
    check_fill(bytes);
}

fuzz_target!(|data: &[u8]| {
    check_all(data);
    check_part_name(data);
    let [kind, version_low, version_high, body @ ..] = data else {
        return;
    };
    let magic = MAGICS[usize::from(*kind) % MAGICS.len()];
    let version = u16::from_le_bytes([*version_low, *version_high]);
    let mut writer = Writer::default();
    writer.raw(body);
    if body.len() <= shoal_shards::record::codec::RECORD_BODY_MAX_BYTES {
        check_all(&writer.finish(magic, version));
    }
});
