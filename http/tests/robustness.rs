//! Fuzz-style robustness: random and mutated bytes fed to every decoder of the crate
//! (head parser, router, SigV4 and SigV2 gate, body decoders in every mode, XML parsers, dates,
//! percent-decoding) never panic, and the decoders keep their accounting invariants
//! (consumed ≤ fed, payload ≤ fed). Deterministic per proptest seed; cheap enough for
//! every `cargo test`.

use proptest::prelude::*;
use shoal_http::request::{HeadParser, HeadStatus, RequestHead};
use shoal_http::sigv4::{ChunkSigning, PayloadMode};
use shoal_http::{
    BodyDecoder, RouteConfig, authenticate, authenticate_with_routes, base64, route, time, uri, xml,
};

const VALID_HEADS: &[&str] = &[
    "GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\nRange: bytes=0-9\r\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\nx-amz-date: 20130524T000000Z\r\n\r\n",
    "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\r\n",
    "PUT /b1b/k?partNumber=1&uploadId=u HTTP/1.1\r\nHost: b.s3.example.com\r\nTransfer-Encoding: chunked\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nx-amz-decoded-content-length: 5\r\nExpect: 100-continue\r\n\r\n",
    "POST /b1b?delete HTTP/1.0\r\nContent-Length: 10\r\nConnection: keep-alive\r\n\r\n",
    "GET /photos/puppy.jpg?acl&versionId=3 HTTP/1.1\r\nHost: awsexamplebucket1.s3.example.com\r\nDate: Fri, 24 May 2013 00:00:00 +0000\r\nx-amz-meta-a: 1\r\nAuthorization: AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=\r\n\r\n",
    "GET /b1b/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1369354000&uploadId=x HTTP/1.1\r\nHost: s3.example.com\r\n\r\n",
];

const VALID_XML: &[&str] = &[
    "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key><VersionId>v</VersionId></Object></Delete>",
    "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"e\"</ETag></Part></CompleteMultipartUpload>",
    "<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>",
    "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
];

/// A valid byte string with a few random edits (replace, insert, delete).
fn mutated(samples: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    (
        0..samples.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    )
        .prop_map(move |(which, edits)| {
            let mut bytes = samples[which].as_bytes().to_vec();
            for (index, byte, kind) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let at = index.index(bytes.len());
                match kind {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            bytes
        })
}

fn parse_whole(bytes: &[u8]) -> Option<RequestHead> {
    match HeadParser::new().parse(bytes) {
        Ok(HeadStatus::Complete {
            head,
            consumed_bytes,
        }) => {
            assert!(consumed_bytes <= bytes.len());
            Some(head)
        }
        _ => None,
    }
}

/// Everything downstream of a parsed head: routing, the gate, and a body decoder.
fn exercise_head(head: &RequestHead, body: &[u8]) {
    let config = RouteConfig {
        virtual_host_domains: vec!["s3.example.com".into()],
    };
    let _ = route(head, &config);
    let keys = |id: &str| {
        (id == "AKIAIOSFODNN7EXAMPLE")
            .then(|| "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned())
    };
    let _ = authenticate(head, &keys, "us-east-1", 1_369_353_600);
    let payload = authenticate_with_routes(head, &keys, "us-east-1", &config, 1_369_353_600)
        .map_or(PayloadMode::Unsigned, |a| a.payload);
    if let Ok(decoder) = BodyDecoder::new(head, &payload) {
        feed_in_pieces(decoder, body, 7);
    }
}

fn feed_in_pieces(mut decoder: BodyDecoder, body: &[u8], piece: usize) {
    let mut offset = 0;
    while offset < body.len() {
        let end = (offset + piece.max(1)).min(body.len());
        let fed = end - offset;
        let mut payload_bytes = 0;
        match decoder.feed(&body[offset..end], |p| payload_bytes += p.len()) {
            Ok(progress) => {
                assert!(progress.consumed_bytes <= fed && payload_bytes <= fed);
                if progress.done {
                    return;
                }
                assert_eq!(
                    progress.consumed_bytes, fed,
                    "a body that is not done uses all input"
                );
                offset = end;
            }
            Err(_) => return,
        }
    }
}

fn body_modes() -> Vec<(RequestHead, PayloadMode)> {
    let seed = [7u8; 32];
    let signing =
        ChunkSigning::new("secret", "20130524T000000Z", "us-east-1", seed).expect("valid date");
    let heads = [
        "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nx-amz-decoded-content-length: 100\r\n\r\n",
        "PUT / HTTP/1.1\r\nContent-Length: 300\r\nx-amz-decoded-content-length: 100\r\nx-amz-trailer: x-amz-checksum-crc32\r\n\r\n",
    ];
    let modes = [
        PayloadMode::Unsigned,
        PayloadMode::Sha256([1; 32]),
        PayloadMode::StreamingUnsignedTrailer,
        PayloadMode::StreamingSigned {
            signing: signing.clone(),
            trailer: false,
        },
        PayloadMode::StreamingSigned {
            signing,
            trailer: true,
        },
    ];
    let mut all = Vec::new();
    for wire in heads {
        for mode in &modes {
            all.push((
                parse_whole(wire.as_bytes()).expect("valid head"),
                mode.clone(),
            ));
        }
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_head_parser(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        // Incremental parsing over random splits must agree with itself and not panic.
        let mut parser = HeadParser::new();
        for end in [bytes.len() / 3, bytes.len() / 2, bytes.len()] {
            if parser.parse(&bytes[..end]).is_err() {
                break;
            }
        }
        if let Some(head) = parse_whole(&bytes) {
            exercise_head(&head, &bytes);
        }
    }

    #[test]
    fn mutated_heads_never_panic_downstream(bytes in mutated(VALID_HEADS), body in prop::collection::vec(any::<u8>(), 0..512)) {
        // Near-valid heads reach routing, the SigV4 gate and the body decoders.
        if let Some(head) = parse_whole(&bytes) {
            exercise_head(&head, &body);
        }
    }

    #[test]
    fn random_sigv2_credentials_never_panic_the_gate(
        authorization in prop_oneof![
            Just(None),
            "AWS [ -~]{0,40}".prop_map(Some),
            "AWS .{0,40}".prop_map(Some),
            "[A-Za-z0-9+/=]{0,32}".prop_map(|s| Some(format!("AWS AKIAIOSFODNN7EXAMPLE:{s}"))),
        ],
        query in prop::collection::vec((
            prop::sample::select(vec!["AWSAccessKeyId", "Signature", "Expires", "acl", "uploadId", "partNumber", "response-expires", "X-Amz-Signature"]),
            prop_oneof!["[%0-9A-Za-z+/=~-]{0,32}", Just("AKIAIOSFODNN7EXAMPLE".to_owned()), (1_369_353_000i64..1_370_000_000).prop_map(|s| s.to_string())],
        ), 0..6),
        date in prop_oneof!["[ -~]{0,40}", Just("Fri, 24 May 2013 00:00:00 GMT".to_owned()), (0i64..4_000_000_000).prop_map(|s| { let mut d = String::new(); time::format_imf_fixdate(s, &mut d); d })],
        amz_date in prop::option::of("[ -~]{0,32}"),
        host in prop_oneof![Just("s3.example.com"), Just("b1b.s3.example.com"), Just("[::1]:9000"), Just(".s3.example.com")],
    ) {
        // V2 header and query forms with arbitrary values reach every branch of the gate.
        let query: Vec<String> = query.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let mut wire = format!("GET /b1b/k?{} HTTP/1.1\r\nHost: {host}\r\nDate: {date}\r\n", query.join("&"));
        for (name, value) in [("Authorization", authorization), ("x-amz-date", amz_date)] {
            if let Some(value) = value {
                wire.extend([name, ": ", &value, "\r\n"]);
            }
        }
        wire.push_str("\r\n");
        if let Some(head) = parse_whole(wire.as_bytes()) {
            exercise_head(&head, b"");
        }
    }

    #[test]
    fn random_bodies_never_panic_any_decoder(body in prop::collection::vec(any::<u8>(), 0..1024), piece in 1usize..64) {
        // Every framing × payload mode combination survives arbitrary input.
        for (head, mode) in body_modes() {
            let decoder = BodyDecoder::new(&head, &mode).expect("decoder for a valid head");
            feed_in_pieces(decoder, &body, piece);
        }
    }

    #[test]
    fn chunked_shaped_bodies_never_panic(sizes in prop::collection::vec(0usize..40, 0..6), noise in prop::collection::vec(any::<u8>(), 0..64), piece in 1usize..32) {
        // Mostly well-formed chunk streams reach the deeper decoder states.
        let mut body = Vec::new();
        for size in sizes {
            body.extend_from_slice(format!("{size:x};chunk-signature={}\r\n", "ab".repeat(32)).as_bytes());
            body.extend(std::iter::repeat_n(b'z', size));
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n");
        body.extend_from_slice(&noise);
        for (head, mode) in body_modes() {
            feed_in_pieces(BodyDecoder::new(&head, &mode).expect("decoder"), &body, piece);
        }
    }

    #[test]
    fn xml_parsers_never_panic(bytes in prop_oneof![mutated(VALID_XML), prop::collection::vec(any::<u8>(), 0..512)]) {
        // Each parser returns a value or MalformedXML-like error on any input.
        let _ = xml::parse_delete(&bytes);
        let _ = xml::parse_complete_multipart_upload(&bytes);
        let _ = xml::parse_create_bucket_configuration(&bytes);
        let _ = xml::parse_tagging(&bytes, xml::OBJECT_TAGS_MAX);
    }

    #[test]
    fn text_decoders_never_panic(text in ".{0,64}") {
        // Dates and percent-decoding take arbitrary Unicode from headers and paths.
        let _ = time::parse_amz_date(&text);
        let _ = time::parse_imf_fixdate(&text);
        let _ = time::parse_http_date(&text);
        let _ = base64::decode(&text);
        let _ = uri::percent_decode(&text);
        let _ = uri::parse_query(&text);
    }

    #[test]
    fn base64_decodes_only_canonical_text(text in "[A-Za-z0-9+/=]{0,12}") {
        // Whatever decodes encodes back to the same text: one spelling per MAC.
        if let Some(bytes) = base64::decode(&text) {
            prop_assert_eq!(base64::encode(&bytes), text);
        }
    }

    #[test]
    fn any_instant_formats_and_parses_back(unix_secs in 0i64..253_402_300_799) {
        // Dates we write are dates we read.
        let mut imf = String::new();
        time::format_imf_fixdate(unix_secs, &mut imf);
        prop_assert_eq!(time::parse_imf_fixdate(&imf), Some(unix_secs));
        prop_assert_eq!(time::parse_amz_date(&time::format_amz_date(unix_secs)), Some(unix_secs));
    }
}
