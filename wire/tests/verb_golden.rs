//! The verb messages' bytes are the wire between Shoal versions: these golden messages
//! freeze them. A change that makes one of these tests fail changes the protocol; it
//! needs a new protocol version (frame header) and a reader for the old bytes, not a
//! new golden value.

use shoal_wire::verb::{
    Commit, DataSource, EntrySummary, Expect, Fence, LockAsk, LockGrant, LockTarget, VerbReply,
    VerbRequest, WalkBatch, WalkEntry, WalkRequest, decode_reply, decode_request, encode_reply,
    encode_request,
};

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn read_meta() -> VerbRequest {
    VerbRequest::ReadMeta {
        bucket: "photos".into(),
        key: "cat.jpg".into(),
    }
}

fn commit() -> VerbRequest {
    VerbRequest::Commit(Commit {
        bucket: "photos".into(),
        key: "cat.jpg".into(),
        version_id: *b"0123456789abcdef",
        data: Some(DataSource::Staging("stg-1".into())),
        meta: b"META".to_vec(),
        expect_previous: Expect::Record([0xAB; 16]),
        fence: Fence {
            epoch: 3,
            expires_in_nanos: 1_000_000_000,
        },
    })
}

fn walk() -> VerbReply {
    VerbReply::Walk(WalkBatch {
        entries: vec![WalkEntry::Key("a".into()), WalkEntry::Prefix("b/".into())],
        summaries: vec![],
        truncated: true,
    })
}

fn lock_acquire() -> VerbRequest {
    VerbRequest::LockAcquire(LockAsk {
        id: 7,
        target: LockTarget::Object {
            bucket: "photos".into(),
            key: "cat.jpg".into(),
        },
        exclusive: true,
        lease_nanos: 30_000_000_000,
        wait_nanos: 10_000_000,
        seen_epoch: 1_765_000_000_000_000_000,
    })
}

fn lock_granted() -> VerbReply {
    VerbReply::LockAcquire {
        grant: Some(LockGrant {
            epoch: 1_765_000_000_000_000_001,
            expires_in_nanos: 29_999_000_000,
        }),
    }
}

/// The lock verbs' bytes are frozen too: our encoder writes exactly these, and what
/// flatc writes from the schema (`lock_acquire.json`, `lock_granted.json`) decodes to
/// the same values.
#[test]
fn lock_verbs_are_frozen() {
    let acquire_body =
        "380000000000000000002e001e001d00180014000000000000000000080000000000000000000000
        000000000000000000000000000004002e000000280000000700000000000000000000003c000000
        4400000000250e0024002300220014000c0004000e0000000080900c268a7e188096980000000000
        00ac23fc060000000000000000000102070000006361742e6a7067000600000070686f746f730000";
    let granted_body =
        "1c000000000016001c001b00000000000000000000001a000c00040016000000c06914fc06000000
        0180900c268a7e180000000000000125";
    let value = lock_acquire();
    let message = encode_request(&value).unwrap();
    assert_eq!(hex(&message.body), hex(&unhex(acquire_body)));
    assert!(message.bulk.is_empty());
    assert_eq!(
        decode_request(&unhex(acquire_body), vec![]),
        Ok(lock_acquire())
    );
    let value = lock_granted();
    let message = encode_reply(&value).unwrap();
    assert_eq!(hex(&message.body), hex(&unhex(granted_body)));
    assert_eq!(
        decode_reply(&unhex(granted_body), vec![]),
        Ok(lock_granted())
    );
    let golden = |name: &str| {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert_eq!(
        decode_request(&golden("lock_acquire.bin"), vec![]),
        Ok(lock_acquire())
    );
    assert_eq!(
        decode_reply(&golden("lock_granted.bin"), vec![]),
        Ok(lock_granted())
    );
}

/// Our encoder lays these messages out to exactly the frozen bytes, and decodes them.
#[test]
fn encoder_writes_the_frozen_bytes() {
    let read_meta_body = "1000000000000a0010000f00080004000a0000000c0000001400000000000001
        070000006361742e6a7067000600000070686f746f730000";
    let commit_body = "2c0000000000260020001f0018001400000000000000100000000000000000
        000000000000000c0008000400260000001c0000003800000054000000700000008000000088000000
        00000007c8ffffff0800000000000001050000007374672d31000000080018000c0004000800000000
        ca9a3b0000000003000000000000000000000008000c000b00040008000000080000000000000210000000
        abababababababababababababababab100000003031323334353637383961626364656607000000636174
        2e6a7067000600000070686f746f730000";
    let walk_body = "14000000100008000700000000000000000006001000000000000124";
    let walk_bulk = "1000000000000a0008000000000004000a0000000400000002000000240000000400
        0000ecffffff080000000000000202000000622f000008000c000b0004000800000008000000000000010100
        000061000000";

    let value = read_meta();
    let message = encode_request(&value).unwrap();
    assert_eq!(hex(&message.body), hex(&unhex(read_meta_body)));
    assert!(message.bulk.is_empty());
    assert_eq!(
        decode_request(&unhex(read_meta_body), vec![]),
        Ok(read_meta())
    );

    let value = commit();
    let message = encode_request(&value).unwrap();
    assert_eq!(hex(&message.body), hex(&unhex(commit_body)));
    assert_eq!(&*message.bulk, b"META");
    assert_eq!(
        decode_request(&unhex(commit_body), b"META".to_vec()),
        Ok(commit())
    );

    let value = walk();
    let message = encode_reply(&value).unwrap();
    assert_eq!(hex(&message.body), hex(&unhex(walk_body)));
    assert_eq!(hex(&message.bulk), hex(&unhex(walk_bulk)));
    assert_eq!(
        decode_reply(&unhex(walk_body), unhex(walk_bulk)),
        Ok(walk())
    );
}

/// What FlatBuffers' own compiler writes from the schema (`tests/golden/make.sh`, from
/// the JSON beside it, in its own field order) decodes to the same values: the
/// hand-written accessors read the schema as the reference implementation does.
#[test]
fn reference_compiler_bytes_decode() {
    let golden = |name: &str| {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert_eq!(
        decode_request(&golden("read_meta.bin"), vec![]),
        Ok(read_meta())
    );
    assert_eq!(
        decode_request(&golden("commit.bin"), b"META".to_vec()),
        Ok(commit())
    );
    let walk_reply = decode_reply(&golden("walk_reply.bin"), golden("walk_list.bin"));
    assert_eq!(walk_reply, Ok(walk()));
}

fn install_data() -> VerbRequest {
    VerbRequest::InstallData {
        bucket: "photos".into(),
        key: "cat.jpg".into(),
        version_id: *b"0123456789abcdef",
        staging: "stg-1".into(),
        files: vec![
            "p00001-0000000000000001-5242880-00112233445566778899aabbccddeeff-x".into(),
            "part.1".into(),
        ],
        expect_previous: Expect::Record([0xAB; 16]),
        fence: Fence {
            epoch: 3,
            expires_in_nanos: 1_000_000_000,
        },
    }
}

/// The healing verb's bytes are frozen: our encoder writes exactly these, and what
/// flatc writes from the schema (`install_data.json`, its names in
/// `install_data_list.json`) decodes to the same value.
#[test]
fn install_data_is_frozen() {
    let body = "2c00000000000000240020001f00180014001000000000000c000000000000000000000000000000
        0800040024000000240000003c000000580000006800000070000000780000000000002808001400
        0c0004000800000000ca9a3b00000000030000000000000008000c000b0004000800000008000000
        0000000210000000abababababababababababababababab10000000303132333435363738396162
        63646566050000007374672d31000000070000006361742e6a7067000600000070686f746f730000";
    let list = "0c000000000006000800040006000000040000000200000014000000040000000600000070617274
        2e310000420000007030303030312d303030303030303030303030303030312d353234323838302d
        30303131323233333434353536363737383839396161626263636464656566662d780000";
    let value = install_data();
    let message = encode_request(&value).unwrap();
    assert_eq!(hex(&message.body), hex(&unhex(body)));
    assert_eq!(hex(&message.bulk), hex(&unhex(list)));
    assert_eq!(
        decode_request(&unhex(body), unhex(list)),
        Ok(install_data())
    );
    let golden = |name: &str| {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert_eq!(
        decode_request(&golden("install_data.bin"), golden("install_data_list.bin")),
        Ok(install_data())
    );
}

fn summarised_walk_request() -> VerbRequest {
    VerbRequest::Walk {
        bucket: "photos".into(),
        request: WalkRequest {
            prefix: "2024/".into(),
            start_after: "2024/05".into(),
            skip_under: None,
            collapse_slash: false,
            limit: 1001,
            summaries_for: Some([0x5d; 16]),
        },
    }
}

fn summarised_walk() -> VerbReply {
    VerbReply::Walk(WalkBatch {
        entries: vec![
            WalkEntry::Key("2024/06/cat.jpg".into()),
            WalkEntry::Prefix("2024/07/".into()),
            WalkEntry::Key("2024/07".into()),
        ],
        summaries: vec![
            Some(EntrySummary {
                chunk_index: 3,
                data_chunks: 2,
                parity_chunks: 2,
                rotation: 1,
                version_id: *b"0123456789abcdef",
                mod_time_unix_nanos: 1_765_000_000_000_000_000,
                meta_generation: 2,
                size_bytes: 4096,
                etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
                checksum_algorithm: 2,
                tombstone: true,
            }),
            None,
            None,
        ],
        truncated: false,
    })
}

/// A walk that asks for summaries, and a batch that carries them (fields added to the
/// `Walk`, `Entry` and new `Summary` tables): our encoder writes exactly these bytes,
/// and what flatc writes from the schema (`walk_summaries.json`,
/// `walk_summaries_list.json`) decodes to the same values.
#[test]
fn walk_summaries_are_frozen() {
    let request_body =
        "3000000000002a0010000f0008000000000000000000000000000000000000000000000000000000
        00000000000004002a0000001c00000058000000000000241000140010000c000000000008000400
        1000000010000000e90300001c00000024000000100000005d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d
        07000000323032342f30350005000000323032342f0000000600000070686f746f730000";
    let reply_body = "0c00000000000600080007000600000000000024";
    let reply_bulk =
        "1000000000000a0008000000000004000a0000000400000003000000500000002800000004000000
        e8ffffff080000000000000107000000323032342f30370008000c000b0004000800000008000000
        0000000208000000323032342f30372f00000a000e000d00080004000a0000002400000088000000
        00011a002c002b002a002900280024001c0018000c000800070006001a0000000000010224000000
        001000000000000000000000020000000080900c268a7e1830000000010202032000000064343164
        38636439386630306232303465393830303939386563663834323765000000001000000030313233
        3435363738396162636465660f000000323032342f30362f6361742e6a706700";
    let value = summarised_walk_request();
    let message = encode_request(&value).unwrap();
    assert_eq!(hex(&message.body), hex(&unhex(request_body)));
    assert_eq!(
        decode_request(&unhex(request_body), vec![]),
        Ok(summarised_walk_request())
    );
    let value = summarised_walk();
    let message = encode_reply(&value).unwrap();
    assert_eq!(hex(&message.body), hex(&unhex(reply_body)));
    assert_eq!(hex(&message.bulk), hex(&unhex(reply_bulk)));
    assert_eq!(
        decode_reply(&unhex(reply_body), unhex(reply_bulk)),
        Ok(summarised_walk())
    );
    let golden = |name: &str| {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert_eq!(
        decode_request(&golden("walk_summaries.bin"), vec![]),
        Ok(summarised_walk_request())
    );
    assert_eq!(
        decode_reply(&unhex(reply_body), golden("walk_summaries_list.bin")),
        Ok(summarised_walk())
    );
}
