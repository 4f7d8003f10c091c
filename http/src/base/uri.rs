//! Percent-encoding as S3 and SigV4 use it: decoding of request paths and queries,
//! and the SigV4 `UriEncode` (RFC 3986 unreserved characters kept, everything else
//! `%XX` with upper-case hex).
//!
//! Invariants: decoding never panics and rejects a `%` not followed by two hex digits;
//! `+` is a literal plus everywhere (SDKs encode spaces as `%20`, and SigV4 signs `+`
//! as `%2B`), so routing and signing see the same bytes.

use crate::base::error::{S3Error, S3ErrorCode};

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn invalid_uri() -> S3Error {
    S3Error::new(S3ErrorCode::InvalidURI)
}

/// Percent-decodes to raw bytes.
pub fn percent_decode_bytes(text: &str) -> Result<Vec<u8>, S3Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let high = bytes
                .get(index + 1)
                .copied()
                .and_then(hex_value)
                .ok_or_else(invalid_uri)?;
            let low = bytes
                .get(index + 2)
                .copied()
                .and_then(hex_value)
                .ok_or_else(invalid_uri)?;
            out.push(high << 4 | low);
            index += 3;
        } else {
            out.push(byte);
            index += 1;
        }
    }
    Ok(out)
}

/// Percent-decodes to UTF-8 text (`InvalidURI` otherwise).
pub fn percent_decode(text: &str) -> Result<String, S3Error> {
    String::from_utf8(percent_decode_bytes(text)?).map_err(|_| invalid_uri())
}

/// SigV4 `UriEncode`: keeps `A-Z a-z 0-9 - _ . ~` (and `/` unless `encode_slash`).
pub fn uri_encode_into(bytes: &[u8], encode_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in bytes {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (byte == b'/' && !encode_slash);
        if keep {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

/// Splits a raw query into decoded `(name, value)` pairs in order; `a` and `a=` both
/// give an empty value, empty segments (`&&`) are skipped.
pub fn parse_query(raw_query: &str) -> Result<Vec<(String, String)>, S3Error> {
    let mut pairs = Vec::new();
    for segment in raw_query.split('&').filter(|s| !s.is_empty()) {
        let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
        pairs.push((percent_decode(name)?, percent_decode(value)?));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_rejects_broken_escapes() {
        // A truncated escape is a client bug, never an index out of bounds.
        assert_eq!(percent_decode("a%20b%2Fc+d").unwrap(), "a b/c+d");
        assert_eq!(percent_decode("%e2%82%ac").unwrap(), "€");
        for bad in ["%", "%2", "%zz", "%ff"] {
            assert!(percent_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uri_encode_matches_sigv4_rules() {
        // These are the rules every AWS SDK signs with.
        let mut out = String::new();
        uri_encode_into("a b/c+d=é~$".as_bytes(), true, &mut out);
        assert_eq!(out, "a%20b%2Fc%2Bd%3D%C3%A9~%24");
        out.clear();
        uri_encode_into(b"/test$file.text", false, &mut out);
        assert_eq!(out, "/test%24file.text");
    }

    #[test]
    fn query_pairs_keep_empty_values() {
        // Sub-resources like `?uploads` have no value but still count.
        let pairs = parse_query("uploads&prefix=a%2Fb&&x=").unwrap();
        assert_eq!(
            pairs,
            [
                ("uploads".into(), String::new()),
                ("prefix".into(), "a/b".into()),
                ("x".into(), String::new())
            ]
        );
    }
}
