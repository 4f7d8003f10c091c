//! SigV4 against the AWS documentation's examples (header and presigned forms, the
//! aws-chunked seed signature) and against each way a request can fail, all through the
//! gate as a server calls it.

use sha2::{Digest, Sha256};

use crate::auth::common::{Authenticated, PayloadMode};
use crate::auth::gate::authenticate;
use crate::auth::signing::EMPTY_SHA256_HEX;
use crate::base::digits::decode_hex32;
use crate::base::error::{S3Error, S3ErrorCode};
use crate::message::request::{HeadParser, HeadStatus, RequestHead};

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 2013-05-24T00:00:00Z, the instant of every AWS example.
const EXAMPLE_NOW: i64 = 1_369_353_600;

fn keys(access_key_id: &str) -> Option<String> {
    (access_key_id == ACCESS_KEY).then(|| SECRET.to_owned())
}

fn head(wire: &str) -> RequestHead {
    match HeadParser::new().parse(wire.as_bytes()).unwrap() {
        HeadStatus::Complete { head, .. } => head,
        HeadStatus::Partial => panic!("incomplete test head"),
    }
}

fn auth(wire: &str, now: i64) -> Result<Authenticated, S3Error> {
    authenticate(&head(wire), &keys, "us-east-1", now)
}

const GET_OBJECT: &str = "GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\
    Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n\
    Range: bytes=0-9\r\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
    x-amz-date: 20130524T000000Z\r\n\r\n";

#[test]
fn aws_example_get_object_with_range_verifies() {
    // AWS S3 docs, "Example: GET Object" (sig-v4-header-based-auth).
    let ok = auth(GET_OBJECT, EXAMPLE_NOW).unwrap();
    assert_eq!(ok.access_key_id, ACCESS_KEY);
    assert_eq!(
        ok.payload,
        PayloadMode::Sha256(decode_hex32(EMPTY_SHA256_HEX).unwrap())
    );
}

#[test]
fn aws_example_put_object_verifies_with_date_header_and_dollar_key() {
    // "Example: PUT Object": `$` in the key is encoded once, Date header signed.
    for path in ["/test%24file.text", "/test$file.text"] {
        let wire = format!(
            "PUT {path} HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\nDate: Fri, 24 May 2013 00:00:00 GMT\r\n\
            Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd\r\n\
            x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n\
            x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\r\nContent-Length: 21\r\n\r\n"
        );
        auth(&wire, EXAMPLE_NOW).unwrap();
    }
}

#[test]
fn aws_example_bucket_queries_verify() {
    // "GET Bucket Lifecycle" (valueless sub-resource) and "Get Bucket (List Objects)"
    // (query sorted: prefix before max-keys on the wire).
    let cases = [
        (
            "/?lifecycle",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            "/?prefix=J&max-keys=2",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ];
    for (target, signature) in cases {
        let wire = format!(
            "GET {target} HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\
            Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature={signature}\r\n\
            x-amz-content-sha256: {EMPTY_SHA256_HEX}\r\nx-amz-date: 20130524T000000Z\r\n\r\n"
        );
        auth(&wire, EXAMPLE_NOW).unwrap_or_else(|e| panic!("{target}: {e}"));
    }
}

const PRESIGNED: &str = "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\r\n";

#[test]
fn aws_example_presigned_get_verifies_until_it_expires() {
    // "Example: Presigned URL" (sigv4-query-string-auth), valid for 86400 s.
    assert_eq!(
        auth(PRESIGNED, EXAMPLE_NOW + 3600).unwrap().payload,
        PayloadMode::Unsigned
    );
    assert_eq!(
        auth(PRESIGNED, EXAMPLE_NOW + 86_400).unwrap().payload,
        PayloadMode::Unsigned
    );
    let expired = auth(PRESIGNED, EXAMPLE_NOW + 86_401).unwrap_err();
    assert_eq!(expired.code(), S3ErrorCode::AccessDenied);
    let early = auth(PRESIGNED, EXAMPLE_NOW - 3600).unwrap_err();
    assert_eq!(early.code(), S3ErrorCode::RequestTimeTooSkewed);
    let long = PRESIGNED.replace("X-Amz-Expires=86400", "X-Amz-Expires=604801");
    assert_eq!(
        auth(&long, EXAMPLE_NOW).unwrap_err().code(),
        S3ErrorCode::AuthorizationQueryParametersError
    );
}

#[test]
fn presigned_expires_is_plain_digits() {
    // `str::parse` takes `+86400`; S3's grammar is digits only, checked before the
    // signature so a sign or a space is a malformed query, not a bad signature.
    for bad in [
        "%2B86400",
        "%2086400",
        "86400%20",
        "-1",
        "0x10",
        "",
        "99999999999999999999",
    ] {
        let edited = PRESIGNED.replace("X-Amz-Expires=86400", &format!("X-Amz-Expires={bad}"));
        assert_eq!(
            auth(&edited, EXAMPLE_NOW).unwrap_err().code(),
            S3ErrorCode::AuthorizationQueryParametersError,
            "{bad}"
        );
    }
}

pub(crate) const CHUNKED_PUT: &str = "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\
    x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n\
    Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\r\n\
    x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nContent-Encoding: aws-chunked\r\n\
    x-amz-decoded-content-length: 66560\r\nContent-Length: 66824\r\n\r\n";

#[test]
fn aws_example_chunked_seed_signature_verifies() {
    // "Example: PUT Object" of sigv4-streaming: the seed signature of the headers.
    let ok = auth(CHUNKED_PUT, EXAMPLE_NOW).unwrap();
    let PayloadMode::StreamingSigned {
        signing,
        trailer: false,
    } = ok.payload
    else {
        panic!("expected signed streaming, got {:?}", ok.payload);
    };
    let seed =
        decode_hex32("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9").unwrap();
    assert_eq!(signing.seed_signature(), seed);
    // The first chunk signature of the same example: 64 KiB of 'a'.
    let chunk_hash: [u8; 32] = Sha256::digest(vec![b'a'; 65_536]).into();
    assert_eq!(
        hex::encode(signing.chunk_signature(&seed, &chunk_hash)),
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    );
}

#[test]
fn wrong_secret_unknown_key_skew_and_region_fail_with_their_codes() {
    // Each failure has the code clients and operators expect.
    let tampered = GET_OBJECT.replace("bytes=0-9", "bytes=0-10");
    assert_eq!(
        auth(&tampered, EXAMPLE_NOW).unwrap_err().code(),
        S3ErrorCode::SignatureDoesNotMatch
    );
    let unknown = GET_OBJECT.replace("Credential=AKIAIOSFODNN7EXAMPLE", "Credential=AKIDUNKNOWN");
    assert_eq!(
        auth(&unknown, EXAMPLE_NOW).unwrap_err().code(),
        S3ErrorCode::InvalidAccessKeyId
    );
    assert_eq!(
        auth(GET_OBJECT, EXAMPLE_NOW + 901).unwrap_err().code(),
        S3ErrorCode::RequestTimeTooSkewed
    );
    assert!(auth(GET_OBJECT, EXAMPLE_NOW - 900).is_ok());
    let wrong_region =
        authenticate(&head(GET_OBJECT), &keys, "eu-west-1", EXAMPLE_NOW).unwrap_err();
    assert_eq!(
        wrong_region.code(),
        S3ErrorCode::AuthorizationHeaderMalformed
    );
    assert!(wrong_region.message().contains("expecting 'eu-west-1'"));
}

#[test]
fn unsigned_amz_headers_and_anonymous_requests_are_denied() {
    // An unsigned x-amz-* header could change the operation's meaning.
    let extra = GET_OBJECT.replace("Range:", "x-amz-copy-source: /other/key\r\nRange:");
    assert_eq!(
        auth(&extra, EXAMPLE_NOW).unwrap_err().code(),
        S3ErrorCode::AccessDenied
    );
    let anonymous = "GET /test.txt HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(
        auth(anonymous, EXAMPLE_NOW).unwrap_err().code(),
        S3ErrorCode::AccessDenied
    );
    let sigv2 = "GET / HTTP/1.1\r\nAuthorization: AWS AKID:sig\r\n\r\n";
    assert_eq!(
        auth(sigv2, EXAMPLE_NOW).unwrap_err().code(),
        S3ErrorCode::InvalidArgument
    );
}
