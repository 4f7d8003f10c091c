//! Writes the seed corpus of the `records` fuzz target (`fuzz/corpus/records/`) from
//! records that shoal-shards' own encoders produce, so the seeds are always of the record
//! versions the store writes today (format and bucket records: version 2; metadata:
//! version 3, with a delete's tombstone among them).
//!
//! A seed is what `fuzz_targets/records.rs` reads: a byte choosing the record kind (the
//! target's `MAGICS` order), the record's version as a little-endian u16, and its body.
//! Before writing a seed this program checks that the target, framing it again, gets
//! back the encoded record byte for byte and that the store's decoder accepts it; it
//! panics otherwise, so a stale or wrong seed is never written. Bucket and bucket-tags
//! records have no public encoder (the store writes them inline), so they are built with
//! `codec::Writer` in the layout of `object/bucket.rs` and `object/tagging.rs`, the
//! layout the target's own checks assume.
//!
//! Run from `fuzz/`: `cargo +nightly run --example record_seeds` (`make_seeds.py` does).
//! Deterministic: re-running it changes nothing. With `--check` it writes nothing and
//! instead decodes every seed in the folder, naming each one that does not (exit 1).

use std::path::Path;

use shoal_shards::object::multipart::UploadInfo;
use shoal_shards::object::tagging::decode_bucket_tags;
use shoal_shards::record::codec::{Writer, open_record};
use shoal_shards::record::fill::FillRecord;
use shoal_shards::record::format::FormatRecord;
use shoal_shards::record::meta::{ChecksumType, DriveMeta, ObjectInfo, PartInfo, PreviousVersion};
use shoal_shards::{Checksum, ChecksumAlgorithm, PoolLayout, SetLayout};

/// The deployment `records.rs` decodes metadata for (`DEPLOYMENT_ID` there).
const DEPLOYMENT_ID: [u8; 16] = *b"fuzz-deployment!";
/// The record kinds in the order of the target's selector byte (`MAGICS` there).
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
/// The frame around every record body (`record/codec.rs`): magic, version, reserved,
/// body length.
const HEADER_LEN_BYTES: usize = 16;
/// The CRC-64 after the body.
const TRAILER_LEN_BYTES: usize = 8;
/// 2023-11-14T22:13:20Z, a plausible time for every record.
const TIME_UNIX_NANOS: u64 = 1_700_000_000_000_000_000;

fn main() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/records");
    if std::env::args().any(|arg| arg == "--check") {
        std::process::exit(i32::from(!check_corpus(&folder)));
    }
    write_corpus(&folder);
}

fn write_corpus(folder: &Path) {
    std::fs::create_dir_all(folder).expect("create corpus/records");
    let records = [
        ("format", format_record()),
        ("meta_inline", inline_meta().encode(&DEPLOYMENT_ID)),
        (
            "meta_parts_previous",
            multipart_meta().encode(&DEPLOYMENT_ID),
        ),
        ("meta_tombstone", tombstone_meta().encode(&DEPLOYMENT_ID)),
        ("bucket", bucket_record()),
        ("bucket_tags", bucket_tags_record()),
        ("upload", upload().encode()),
        ("fill", fill_record().encode()),
    ];
    for (name, record) in &records {
        let seed = seed_of(record);
        assert_eq!(
            frame(&seed).as_ref(),
            Some(record),
            "seed {name} is not its record"
        );
        assert!(seed_decodes(&seed), "seed {name} does not decode");
        std::fs::write(folder.join(name), &seed).expect("write seed");
        println!(
            "records/{name}: version {}",
            u16::from_le_bytes([seed[1], seed[2]])
        );
    }
    let part_name = part(7, vec![0xAB; 4]).file_name();
    assert_eq!(
        PartInfo::parse_file_name(&part_name),
        Some(part(7, vec![0xAB; 4]))
    );
    std::fs::write(folder.join("part_name"), &part_name).expect("write seed");
    println!("records/part_name: {part_name}");
}

/// The target's input for an encoded record: selector, version, body.
fn seed_of(record: &[u8]) -> Vec<u8> {
    assert!(
        record.len() >= HEADER_LEN_BYTES + TRAILER_LEN_BYTES,
        "not a framed record"
    );
    let magic: &[u8; 8] = record[..8].try_into().expect("8 bytes");
    let selector = MAGICS
        .iter()
        .position(|m| *m == magic)
        .expect("a known record kind");
    let body = &record[HEADER_LEN_BYTES..record.len() - TRAILER_LEN_BYTES];
    let mut seed = vec![u8::try_from(selector).expect("a few kinds")];
    seed.extend_from_slice(&record[8..10]);
    seed.extend_from_slice(body);
    seed
}

/// Whether every seed in `folder` decodes: a part-file name parses, any other seed is
/// a valid record once framed as `records.rs` frames it. Prints one line per seed.
fn check_corpus(folder: &Path) -> bool {
    let mut entries: Vec<_> = std::fs::read_dir(folder)
        .expect("read corpus/records")
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    entries.sort();
    let mut all_ok = true;
    for path in entries {
        let seed = std::fs::read(&path).expect("read seed");
        let is_part_name = std::str::from_utf8(&seed)
            .ok()
            .and_then(PartInfo::parse_file_name)
            .is_some();
        let verdict = match (is_part_name, seed_decodes(&seed)) {
            (true, _) => "a part-file name that parses".to_owned(),
            (false, true) => format!(
                "decodes, version {}",
                u16::from_le_bytes([seed[1], seed[2]])
            ),
            (false, false) => "DOES NOT DECODE".to_owned(),
        };
        println!("{}: {verdict}", path.display());
        all_ok &= is_part_name || seed_decodes(&seed);
    }
    all_ok
}

/// The record `records.rs` builds from a seed: the body framed with the chosen kind's
/// magic and the seed's version.
fn frame(seed: &[u8]) -> Option<Vec<u8>> {
    let [selector, version_low, version_high, body @ ..] = seed else {
        return None;
    };
    let magic = MAGICS[usize::from(*selector) % MAGICS.len()];
    let mut writer = Writer::default();
    writer.raw(body);
    Some(writer.finish(magic, u16::from_le_bytes([*version_low, *version_high])))
}

/// Frames a seed as `records.rs` does and decodes it with the store's decoder.
fn seed_decodes(seed: &[u8]) -> bool {
    let Some(framed) = frame(seed) else {
        return false;
    };
    match &framed[..8] {
        b"SHOALFMT" => FormatRecord::decode(&framed).is_ok(),
        b"SHOALMTA" => DriveMeta::decode(&framed, &DEPLOYMENT_ID).is_ok(),
        b"SHOALBKT" => decode_bucket(&framed),
        b"SHOALBTG" => decode_bucket_tags(&framed).is_some(),
        b"SHOALFIL" => FillRecord::decode(&framed).is_ok(),
        _ => UploadInfo::decode(&framed).is_ok(),
    }
}

/// The bucket record as `object/bucket.rs` reads it: deployment, name, creation time,
/// nothing more.
fn decode_bucket(framed: &[u8]) -> bool {
    let Ok((2, mut reader)) = open_record(framed, MAGICS[2]) else {
        return false;
    };
    reader.array::<16>().is_ok_and(|id| id == DEPLOYMENT_ID)
        && reader.str().is_ok_and(|name| name == "bkt")
        && reader.u64().is_ok()
        && reader.finish().is_ok()
}

/// A fill stopped in the middle of a bucket, with every count set.
fn fill_record() -> FillRecord {
    FillRecord {
        done: false,
        started_unix_nanos: TIME_UNIX_NANOS,
        finished_unix_nanos: 0,
        bucket: "bkt".to_owned(),
        after_key: "photos/2023/11/14.jpg".to_owned(),
        objects_done: 1234,
        bytes_done: 5 << 30,
        bytes_written: 7 << 30,
        objects_failed: 2,
    }
}

fn format_record() -> Vec<u8> {
    FormatRecord {
        deployment_id: DEPLOYMENT_ID,
        pool_index: 0,
        set_index: 1,
        drive_index: 3,
        layout: PoolLayout {
            set_count: 2,
            set: SetLayout::new(2, 2).expect("2+2 is a valid layout"),
        },
        cluster: None,
    }
    .encode()
}

/// A small object stored inline in its metadata, with a checksum, headers and tags.
fn inline_meta() -> DriveMeta {
    DriveMeta {
        info: object_info(true),
        chunk_index: 1,
        inline_chunk: b"inline chunk".to_vec(),
        previous: None,
    }
}

/// A delete's tombstone over an inline version: no data, the deleted version kept as
/// `previous` with this drive's chunk.
fn tombstone_meta() -> DriveMeta {
    let deleted = object_info(true);
    let info = ObjectInfo::tombstone(
        (&deleted.bucket, &deleted.key),
        [5; 16],
        TIME_UNIX_NANOS + 2,
        (deleted.data_chunks, deleted.parity_chunks, deleted.rotation),
    );
    DriveMeta {
        info,
        chunk_index: 1,
        inline_chunk: Vec::new(),
        previous: Some(PreviousVersion {
            info: deleted,
            inline_chunk: b"inline chunk".to_vec(),
        }),
    }
}

/// A multipart object in part files that replaced an inline version of the same key.
fn multipart_meta() -> DriveMeta {
    let mut info = object_info(false);
    info.version_id = [7; 16];
    info.mod_time_unix_nanos += 1;
    info.size_bytes = 10 << 20;
    info.etag = "0123456789abcdef0123456789abcdef-2".into();
    info.checksum = Some(Checksum {
        algorithm: ChecksumAlgorithm::Crc32c,
        value: vec![1, 2, 3, 4],
    });
    info.checksum_type = ChecksumType::Composite;
    info.parts = vec![part(1, vec![5, 6, 7, 8]), part(3, vec![9, 10, 11, 12])];
    DriveMeta {
        info,
        chunk_index: 0,
        inline_chunk: Vec::new(),
        previous: Some(PreviousVersion {
            info: object_info(true),
            inline_chunk: b"inline chunk".to_vec(),
        }),
    }
}

fn object_info(inline: bool) -> ObjectInfo {
    ObjectInfo {
        bucket: "bkt".into(),
        key: "a/b.txt".into(),
        version_id: [9; 16],
        mod_time_unix_nanos: TIME_UNIX_NANOS,
        size_bytes: 12,
        etag: "0123456789abcdef0123456789abcdef".into(),
        data_chunks: 2,
        parity_chunks: 2,
        rotation: 1,
        stripe_size_bytes: 1 << 20,
        checksum: Some(Checksum {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            value: vec![0; 8],
        }),
        checksum_type: ChecksumType::FullObject,
        headers: vec![("content-type".into(), "text/plain".into())],
        tags: vec![("team".into(), "ml".into())],
        meta_generation: 0,
        inline,
        parts: Vec::new(),
        tombstone: false,
    }
}

fn part(number: u32, checksum: Vec<u8>) -> PartInfo {
    PartInfo {
        number,
        seq: 1,
        size_bytes: 5 << 20,
        md5: [0; 16],
        checksum,
    }
}

/// `object/bucket.rs`'s record (version 2): deployment, name, creation time.
fn bucket_record() -> Vec<u8> {
    let mut writer = Writer::default();
    writer.raw(&DEPLOYMENT_ID).str("bkt").u64(TIME_UNIX_NANOS);
    writer.finish(MAGICS[2], 2)
}

/// `object/tagging.rs`'s bucket-tags record (version 1): update time, tags.
fn bucket_tags_record() -> Vec<u8> {
    let mut writer = Writer::default();
    writer.u64(TIME_UNIX_NANOS).u16(2);
    writer.str("k").str("v").str("e").str("");
    writer.finish(MAGICS[3], 1)
}

fn upload() -> UploadInfo {
    UploadInfo {
        bucket: "bkt".into(),
        key: "a/b".into(),
        upload_id: "0000018bcfe56800a1b2c3d4e5f60718".into(),
        initiated_unix_nanos: TIME_UNIX_NANOS,
        headers: vec![("content-type".into(), "x".into())],
        tags: vec![("t".into(), "1".into())],
        checksum_algorithm: Some(ChecksumAlgorithm::Sha256),
        checksum_type: ChecksumType::Composite,
    }
}
