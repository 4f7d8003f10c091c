//! Every number a request carries for framing or authentication parses as S3 parses
//! it: digits only (hex for chunk sizes), no sign, no whitespace, bounded length, no
//! overflow. `str::parse` alone would take `+5`, so each field is checked here through
//! the public decoders a server drives.

use shoal_http::sigv4::PayloadMode;
use shoal_http::{BodyDecoder, HeadParser, HeadStatus, RequestHead, S3ErrorCode};

fn head(wire: &str) -> Result<RequestHead, S3ErrorCode> {
    match HeadParser::new().parse(wire.as_bytes()) {
        Ok(HeadStatus::Complete { head, .. }) => Ok(head),
        Ok(HeadStatus::Partial) => panic!("incomplete test head"),
        Err(e) => Err(e.code()),
    }
}

/// Decodes `body` under `wire`'s framing; the payload, or the first error's code.
fn decode(wire: &str, payload: &PayloadMode, body: &[u8]) -> Result<Vec<u8>, S3ErrorCode> {
    let head = head(wire)?;
    let mut decoder = BodyDecoder::new(&head, payload).map_err(|e| e.code())?;
    let mut out = Vec::new();
    let progress = decoder
        .feed(body, |p| out.extend_from_slice(p))
        .map_err(|e| e.code())?;
    assert!(progress.done, "body not complete");
    Ok(out)
}

#[test]
fn content_length_is_plain_decimal() {
    // A sign, a space inside or a value past u64 is not a length.
    for bad in ["+5", "-5", "5 5", "0x5", "99999999999999999999", "5.0"] {
        let wire = format!("PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: {bad}\r\n\r\n");
        assert!(head(&wire).is_err(), "{bad}");
    }
}

#[test]
fn chunk_sizes_are_bare_hex() {
    // `5` and `5 ;ext` (whitespace before an extension is allowed by RFC 9112) are
    // sizes; a sign, a `0x`, a trailing space without an extension or 17 digits are not.
    let wire = "PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let body = |size: &str| format!("{size}\r\nhello\r\n0\r\n\r\n").into_bytes();
    for good in ["5", "05", "5 ;a=b", "5;a=b"] {
        assert_eq!(
            decode(wire, &PayloadMode::Unsigned, &body(good)).unwrap(),
            b"hello",
            "{good}"
        );
    }
    for bad in [
        "+5",
        "-5",
        "0x5",
        " 5",
        "5 ",
        "5\t",
        "00000000000000005",
        "5 5",
    ] {
        assert!(
            decode(wire, &PayloadMode::Unsigned, &body(bad)).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn decoded_content_length_is_plain_decimal() {
    // aws-chunked sizes the object by x-amz-decoded-content-length: digits only.
    for bad in ["+5", " 5x", "-0", "5e0", "18446744073709551616"] {
        let wire = format!(
            "PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Encoding: aws-chunked\r\n\
             x-amz-decoded-content-length: {bad}\r\nContent-Length: 10\r\n\r\n"
        );
        let code = decode(&wire, &PayloadMode::StreamingUnsignedTrailer, b"0\r\n\r\n").unwrap_err();
        assert_eq!(code, S3ErrorCode::InvalidArgument, "{bad}");
    }
}
