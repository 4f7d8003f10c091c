//! The authentication gate on arbitrary request heads: SigV4 header and presigned
//! query, SigV2 header and presigned query, aws-chunked payload modes.
//!
//! Beyond "no panic": a head the gate accepts was signed with the one key it knows
//! (the fuzzer cannot forge HMACs, so an `Ok` for any other id is a bypass), and the
//! gate without routes never accepts what it refuses by design (SigV2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_http::sigv4::{authenticate, authenticate_with_routes};
use shoal_http::{HeadParser, HeadStatus, RouteConfig};

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The instants the seed corpus was signed at (AWS's SigV4 and SigV2 examples,
/// botocore's vectors), so seeds pass the clock checks and reach the signature.
const NOW_UNIX_SECS: [i64; 4] = [1_369_353_600, 1_175_024_202, 1_700_000_000, 0];

fn keys(access_key_id: &str) -> Option<String> {
    (access_key_id == ACCESS_KEY).then(|| SECRET.to_owned())
}

fuzz_target!(|data: &[u8]| {
    let Ok(HeadStatus::Complete { head, .. }) = HeadParser::new().parse(data) else {
        return;
    };
    let routes = RouteConfig {
        virtual_host_domains: vec!["s3.amazonaws.com".into(), "localhost".into()],
    };
    for now in NOW_UNIX_SECS {
        if let Ok(auth) = authenticate_with_routes(&head, &keys, "us-east-1", &routes, now) {
            assert_eq!(auth.access_key_id, ACCESS_KEY);
        }
        if let Ok(auth) = authenticate(&head, &keys, "us-east-1", now) {
            assert_eq!(auth.access_key_id, ACCESS_KEY);
            assert!(
                head.header("authorization")
                    .is_none_or(|a| !a.starts_with("AWS "))
            );
        }
    }
});
