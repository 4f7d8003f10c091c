//! Percent-decoding of paths and queries, and the query splitter.
//!
//! Beyond "no panic": whatever decodes re-encodes (SigV4 `UriEncode`) to text that
//! decodes to the same bytes, and a parsed query re-encoded pair by pair parses to the
//! same pairs in the same order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_http::uri::{parse_query, percent_decode, percent_decode_bytes, uri_encode_into};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = percent_decode(text);
    if let Ok(decoded) = percent_decode_bytes(text) {
        for encode_slash in [false, true] {
            let mut encoded = String::new();
            uri_encode_into(&decoded, encode_slash, &mut encoded);
            assert_eq!(percent_decode_bytes(&encoded).ok(), Some(decoded.clone()));
        }
    }
    if let Ok(pairs) = parse_query(text) {
        let mut encoded = String::new();
        for (name, value) in &pairs {
            if !encoded.is_empty() {
                encoded.push('&');
            }
            uri_encode_into(name.as_bytes(), true, &mut encoded);
            encoded.push('=');
            uri_encode_into(value.as_bytes(), true, &mut encoded);
        }
        assert_eq!(parse_query(&encoded).ok(), Some(pairs));
    }
});
