//! The verb message codec as a peer meets it: every verb's request and reply survives
//! encode → bytes → decode unchanged, and bytes that are truncated, garbage, oversized
//! or inconsistent are refused with a typed error, never a panic.

mod verb_examples;

use std::collections::HashSet;

use flatbuffers::FlatBufferBuilder;
use shoal_wire::verb::limit::{BODY_MAX_BYTES, BULK_MAX_BYTES, KEY_MAX_BYTES, MESSAGE_MAX_BYTES};
use shoal_wire::verb::{
    DecodeError, EncodeError, ErrorKind, Handle, VerbError, VerbKind, VerbReply, VerbRequest,
    decode_reply, decode_request, encode_reply, encode_request, reply_kind, request_kind,
};
use verb_examples::{part, replies, requests};

/// Every request example decodes to itself, and its body alone names its verb.
#[test]
fn every_request_round_trips() {
    for request in requests() {
        let message = encode_request(&request).unwrap();
        assert!(message.body.len() <= BODY_MAX_BYTES);
        assert_eq!(request_kind(&message.body), Ok(request.kind()));
        if request.carries_chunks() {
            assert!(message.bulk.is_empty(), "chunks are the caller's payload");
        }
        let decoded = decode_request(&message.body, message.bulk.to_vec());
        assert_eq!(decoded.as_ref(), Ok(&request), "{}", request.kind().name());
    }
}

/// Every reply example decodes to itself and is a possible answer to its verb.
#[test]
fn every_reply_round_trips() {
    for reply in replies() {
        let message = encode_reply(&reply).expect("encodes");
        assert_eq!(reply_kind(&message.body), Ok(reply.kind()));
        let decoded = decode_reply(&message.body, message.bulk.to_vec());
        assert_eq!(decoded.as_ref(), Ok(&reply), "{reply:?}");
    }
}

/// The example tables hold every verb, so the round trips above cover them all.
#[test]
fn examples_cover_every_verb() {
    let all: HashSet<VerbKind> = VerbKind::ALL.iter().copied().collect();
    let asked: HashSet<VerbKind> = requests().iter().map(VerbRequest::kind).collect();
    let answered: HashSet<VerbKind> = replies().iter().filter_map(VerbReply::kind).collect();
    assert_eq!(asked, all);
    assert_eq!(answered, all);
    let request = VerbRequest::ListBuckets;
    assert!(VerbReply::ListBuckets { buckets: vec![] }.answers(&request));
    assert!(!VerbReply::Commit.answers(&request));
    let error = VerbError {
        kind: ErrorKind::Timeout,
        message: String::new(),
    };
    assert!(VerbReply::Error(error).answers(&request));
}

/// Every strict prefix of every body is refused, unless all it cut was the zero
/// padding after the last string (then it decodes to the same value): a torn body
/// never decodes to anything else.
#[test]
fn truncated_bodies_are_refused() {
    for request in requests() {
        let message = encode_request(&request).unwrap();
        for len in 0..message.body.len() {
            let result = decode_request(&message.body[..len], message.bulk.to_vec());
            let padding = message.body[len..].iter().all(|byte| *byte == 0);
            let same = result.as_ref() == Ok(&request);
            assert!(
                result.is_err() || (padding && same),
                "{} cut at {len}",
                request.kind().name()
            );
        }
    }
    for reply in replies() {
        let message = encode_reply(&reply).unwrap();
        for len in 0..message.body.len() {
            let result = decode_reply(&message.body[..len], message.bulk.to_vec());
            let padding = message.body[len..].iter().all(|byte| *byte == 0);
            let same = result.as_ref() == Ok(&reply);
            assert!(
                result.is_err() || (padding && same),
                "{reply:?} cut at {len}"
            );
        }
    }
}

/// A list bulk cut short is refused too (the bulk is verified like the body).
#[test]
fn truncated_list_bulk_is_refused() {
    let reply = VerbReply::ListParts {
        parts: vec![part(1), part(2)],
    };
    let message = encode_reply(&reply).unwrap();
    for len in 0..message.bulk.len() {
        let result = decode_reply(&message.body, message.bulk[..len].to_vec());
        assert!(result.is_err(), "cut at {len}");
    }
}

/// Garbage is refused: fixed shapes that break each layer of the format (too short,
/// root out of bounds, vtable out of bounds), an empty table (no verb), then seeded
/// random bytes (which must never panic; nearly all are refused).
#[test]
fn garbage_is_refused() {
    let shapes: [&[u8]; 4] = [
        &[],
        &[0; 3],
        &[0xFF; 64],
        &[4, 0, 0, 0, 0xF0, 0xFF, 0xFF, 0x7F],
    ];
    for bytes in shapes {
        assert!(matches!(
            decode_request(bytes, vec![]),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode_reply(bytes, vec![]),
            Err(DecodeError::Invalid(_))
        ));
    }
    // Root at 4, whose vtable (at 8) is 4 bytes long: a table with no fields.
    let empty_table = [4, 0, 0, 0, 0xFC, 0xFF, 0xFF, 0xFF, 4, 0, 4, 0];
    let no_verb = DecodeError::Unknown {
        field: "verb",
        code: 0,
    };
    assert_eq!(decode_request(&empty_table, vec![]), Err(no_verb.clone()));
    assert_eq!(decode_reply(&empty_table, vec![]), Err(no_verb));
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut refused = 0;
    for round in 0..20_000 {
        let len = round % 97;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        refused += usize::from(decode_request(&bytes, vec![]).is_err());
        refused += usize::from(decode_reply(&bytes, vec![]).is_err());
    }
    assert!(refused > 39_000, "{refused}");
}

/// Oversized input is refused before any parsing, and values over a limit are refused
/// by the encoder already (so a sender learns it, not only the receiver).
#[test]
fn oversized_input_is_refused() {
    let body = vec![0u8; BODY_MAX_BYTES + 1];
    let refused = decode_request(&body, vec![]);
    assert_eq!(
        refused,
        Err(DecodeError::BodyTooLarge {
            len_bytes: BODY_MAX_BYTES + 1
        })
    );
    let ok = encode_request(&VerbRequest::ReadIdentity).unwrap();
    let refused = decode_request(&ok.body, vec![0; BULK_MAX_BYTES + 1]);
    assert_eq!(
        refused,
        Err(DecodeError::BulkTooLarge {
            len_bytes: BULK_MAX_BYTES + 1
        })
    );

    let long_key = VerbRequest::ReadMeta {
        bucket: "b".into(),
        key: "k".repeat(KEY_MAX_BYTES + 1),
    };
    assert!(matches!(encode_request(&long_key), Err(EncodeError::Limit(e)) if e.field == "key"));
    let huge = VerbRequest::MakeBucket {
        bucket: "b".into(),
        record: vec![0; BULK_MAX_BYTES + 1],
    };
    assert!(matches!(encode_request(&huge), Err(EncodeError::Limit(e)) if e.field == "record"));
    let many = VerbReply::ListParts {
        parts: (0..10_001).map(|_| part(1)).collect(),
    };
    assert!(matches!(encode_reply(&many), Err(EncodeError::Limit(e)) if e.field == "parts"));
}

/// An error answer always goes out: a message over the limit is cut at a character
/// boundary instead of refused.
#[test]
fn long_error_message_is_cut() {
    let message = "é".repeat(MESSAGE_MAX_BYTES);
    let reply = VerbReply::Error(VerbError {
        kind: ErrorKind::Io,
        message,
    });
    let encoded = encode_reply(&reply).unwrap();
    let Ok(VerbReply::Error(error)) = decode_reply(&encoded.body, vec![]) else {
        panic!("an error reply");
    };
    assert_eq!(error.kind, ErrorKind::Io);
    assert_eq!(error.message, "é".repeat(MESSAGE_MAX_BYTES / 2));
}

/// A `Request` table built by hand with the given verb and bucket/key/version id.
fn request_body(verb: u8, bucket: Option<&str>, key: Option<&str>, version: &[u8]) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let bucket = bucket.map(|text| b.create_string(text));
    let key = key.map(|text| b.create_string(text));
    let version = b.create_vector(version);
    let table = b.start_table();
    b.push_slot::<u8>(4, verb, 0);
    if let Some(bucket) = bucket {
        b.push_slot_always(6, bucket);
    }
    if let Some(key) = key {
        b.push_slot_always(8, key);
    }
    b.push_slot_always(16, version);
    let root = b.end_table(table);
    b.finish_minimal(root);
    b.finished_data().to_vec()
}

/// Well-formed FlatBuffers that break the verbs' rules get the error that names the
/// rule: unknown verb, a missing field, a bad id length, a field over its limit, bulk
/// where the verb has none.
#[test]
fn inconsistent_messages_get_typed_errors() {
    let read_meta = VerbKind::ReadMeta.code();
    let open = VerbKind::OpenRecords.code();
    let cases = [
        (
            request_body(200, Some("b"), Some("k"), &[]),
            DecodeError::Unknown {
                field: "verb",
                code: 200,
            },
        ),
        (
            request_body(0, Some("b"), Some("k"), &[]),
            DecodeError::Unknown {
                field: "verb",
                code: 0,
            },
        ),
        (
            request_body(read_meta, Some("b"), None, &[]),
            DecodeError::Missing { field: "key" },
        ),
        (
            request_body(open, Some("b"), Some("k"), &[1; 15]),
            DecodeError::BadLength {
                field: "version_id",
                len: 15,
            },
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(decode_request(&body, vec![]), Err(expected));
    }
    let long_bucket = "b".repeat(64);
    let body = request_body(read_meta, Some(&long_bucket), Some("k"), &[]);
    assert!(
        matches!(decode_request(&body, vec![]), Err(DecodeError::Limit(e)) if e.field == "bucket")
    );
    let body = request_body(read_meta, Some("b"), Some("k"), &[]);
    assert_eq!(
        decode_request(&body, vec![1]),
        Err(DecodeError::UnexpectedBulk { len_bytes: 1 })
    );
    let append = encode_request(&VerbRequest::StageAppend {
        handle: Handle(1),
        offset_bytes: 0,
    });
    let body = append.unwrap().body;
    assert_eq!(
        decode_request(&body, vec![9; 4096]),
        Err(DecodeError::UnexpectedBulk { len_bytes: 4096 })
    );
}

/// A list bulk with more tables than any legal list is refused by the verifier's bound
/// before anything is read.
#[test]
fn too_many_tables_are_refused() {
    let mut b = FlatBufferBuilder::new();
    let parts: Vec<_> = (0..10_002)
        .map(|_| {
            let table = b.start_table();
            b.push_slot::<u32>(4, 1, 0);
            b.end_table(table)
        })
        .collect();
    let parts = b.create_vector(&parts);
    let table = b.start_table();
    b.push_slot_always(6, parts);
    let root = b.end_table(table);
    b.finish_minimal(root);
    let body = encode_reply(&VerbReply::ListParts { parts: vec![] })
        .unwrap()
        .body;
    let refused = decode_reply(&body, b.finished_data().to_vec());
    assert!(
        matches!(
            refused,
            Err(DecodeError::Invalid(
                flatbuffers::InvalidFlatbuffer::TooManyTables
            ))
        ),
        "{refused:?}"
    );
}
