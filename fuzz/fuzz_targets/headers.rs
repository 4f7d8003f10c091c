//! Header values Shoal parses: `Range`, the conditional headers (`If-Match` lists,
//! `If-None-Match`, HTTP dates of `If-(Un)modified-Since` and SigV2 `Date`), and the
//! SigV4 ISO 8601 time.
//!
//! Beyond "no panic": every date that parses formats back to the exact text in the
//! fixed-width forms (`20130524T000000Z`, IMF-fixdate), and every HTTP date form lands
//! on an instant that IMF-fixdate round-trips; a `bytes=a-b` range keeps its numbers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_http::time::{
    format_amz_date, format_imf_fixdate, parse_amz_date, parse_http_date, parse_imf_fixdate,
};
use shoal_shards::front::s3::object::parse_range;
use shoal_shards::{ByteRange, WriteCondition};

fn check_dates(text: &str) {
    if let Some(unix_secs) = parse_amz_date(text) {
        assert_eq!(format_amz_date(unix_secs), text);
    }
    if let Some(unix_secs) = parse_imf_fixdate(text) {
        let mut formatted = String::new();
        format_imf_fixdate(unix_secs, &mut formatted);
        assert_eq!(formatted, text);
    }
    if let Some(unix_secs) = parse_http_date(text) {
        let mut formatted = String::new();
        format_imf_fixdate(unix_secs, &mut formatted);
        assert_eq!(parse_imf_fixdate(&formatted), Some(unix_secs));
    }
}

fn check_range(text: &str) {
    if let Some(ByteRange::FromTo { first, last }) = parse_range(text) {
        let spec = text
            .trim()
            .strip_prefix("bytes=")
            .expect("a parsed range is bytes=");
        let (a, b) = spec.split_once('-').expect("a parsed range has a dash");
        assert_eq!(a.trim().parse::<u64>().ok(), Some(first));
        assert_eq!(b.trim().parse::<u64>().ok(), Some(last));
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_dates(text);
    check_range(text);
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));
    for pair in [
        (Some(first), None),
        (None, Some(first)),
        (Some(first), Some(second)),
    ] {
        let _ = WriteCondition::from_headers(pair.0, pair.1);
    }
});
