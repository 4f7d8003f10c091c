//! The HTTP/1.1 request head parser and the router, on arbitrary bytes.
//!
//! Beyond "no panic": a head parsed in two reads (the parser remembers how far it
//! scanned) gives exactly the answer of one read; a complete head never claims more
//! bytes than it was given; routing any complete head answers an operation or an S3
//! error, with path-style and virtual-host configurations alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_http::{HeadParser, HeadStatus, RouteConfig, S3ErrorCode, route};

fn outcome(result: Result<HeadStatus, shoal_http::S3Error>) -> Result<HeadStatus, S3ErrorCode> {
    result.map_err(|e| e.code())
}

fuzz_target!(|data: &[u8]| {
    let whole = outcome(HeadParser::new().parse(data));
    let split = data.first().map_or(0, |b| usize::from(*b)) % (data.len() + 1);
    let mut parser = HeadParser::new();
    if let Ok(HeadStatus::Partial) = parser.parse(&data[..split]) {
        assert_eq!(outcome(parser.parse(data)), whole, "split at {split}");
    }
    let Ok(HeadStatus::Complete {
        head,
        consumed_bytes,
    }) = whole
    else {
        return;
    };
    assert!(consumed_bytes <= data.len());
    let virtual_hosts = RouteConfig {
        virtual_host_domains: vec!["s3.example.com".into(), "localhost".into()],
    };
    for config in [RouteConfig::default(), virtual_hosts] {
        let _ = route(&head, &config);
    }
});
