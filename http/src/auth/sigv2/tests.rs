//! SigV2 against the AWS documentation's examples ("Signing and authenticating REST
//! requests", RESTAuthentication), against botocore's signers, and against each way a
//! request can fail.

use super::*;
use crate::auth::gate::{authenticate, authenticate_with_routes};
use crate::base::uri::parse_query;
use crate::message::request::{HeadParser, HeadStatus};

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn keys(access_key_id: &str) -> Option<String> {
    (access_key_id == ACCESS_KEY).then(|| SECRET.to_owned())
}

/// The virtual-host domains of the docs' examples, and one for the presigned example
/// written before the docs renamed its bucket.
fn routes() -> RouteConfig {
    RouteConfig {
        virtual_host_domains: vec![
            "us-west-1.s3.amazonaws.com".into(),
            "s3.us-west-1.amazonaws.com".into(),
            "s3.amazonaws.com".into(),
        ],
    }
}

fn head(wire: &str) -> RequestHead {
    match HeadParser::new().parse(wire.as_bytes()).unwrap() {
        HeadStatus::Complete { head, .. } => head,
        HeadStatus::Partial => panic!("incomplete test head"),
    }
}

fn auth(wire: &str, now: i64) -> Result<Authenticated, S3Error> {
    authenticate_with_routes(&head(wire), &keys, "us-east-1", &routes(), now)
}

fn code(wire: &str, now: i64) -> S3ErrorCode {
    auth(wire, now).unwrap_err().code()
}

fn string_to_sign_of(wire: &str, date_line: &str) -> String {
    let head = head(wire);
    let query = parse_query(head.raw_query()).unwrap();
    string_to_sign(&head, &query, &routes(), date_line)
}

/// "Object GET": virtual-host style, 2007-03-27T19:36:42Z.
const GET_OBJECT: &str = "GET /photos/puppy.jpg HTTP/1.1\r\nHost: awsexamplebucket1.us-west-1.s3.amazonaws.com\r\n\
    Date: Tue, 27 Mar 2007 19:36:42 +0000\r\n\
    Authorization: AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=\r\n\r\n";
const GET_OBJECT_NOW: i64 = 1_175_024_202;

#[test]
fn aws_docs_header_examples_verify() {
    // Every example whose printed signature matches its printed StringToSign.
    let cases = [
        (GET_OBJECT.to_owned(), GET_OBJECT_NOW),
        // The same request path style: the CanonicalizedResource is identical.
        (
            GET_OBJECT.replace(
                "GET /photos/puppy.jpg HTTP/1.1\r\nHost: awsexamplebucket1.us-west-1.s3.amazonaws.com",
                "GET /awsexamplebucket1/photos/puppy.jpg HTTP/1.1\r\nHost: s3.us-west-1.amazonaws.com",
            ),
            GET_OBJECT_NOW,
        ),
        // "Object PUT": Content-Type signed, Content-MD5 empty.
        (
            "PUT /photos/puppy.jpg HTTP/1.1\r\nContent-Type: image/jpeg\r\nContent-Length: 94328\r\n\
            Host: awsexamplebucket1.s3.us-west-1.amazonaws.com\r\nDate: Tue, 27 Mar 2007 21:15:45 +0000\r\n\
            Authorization: AWS AKIAIOSFODNN7EXAMPLE:iqRzw+ileNPu1fhspnRs8nOjjIA=\r\n\r\n"
                .to_owned(),
            1_175_030_145,
        ),
        // "List": the query is not part of the resource, the trailing slash is.
        (
            "GET /?prefix=photos&max-keys=50&marker=puppy HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\n\
            Host: awsexamplebucket1.s3.us-west-1.amazonaws.com\r\nDate: Tue, 27 Mar 2007 19:42:41 +0000\r\n\
            Authorization: AWS AKIAIOSFODNN7EXAMPLE:m0WP8eCtspQl5Ahe6L1SozdX9YA=\r\n\r\n"
                .to_owned(),
            1_175_024_561,
        ),
        // "Fetch": the `acl` sub-resource is.
        (
            "GET /?acl HTTP/1.1\r\nHost: awsexamplebucket1.s3.us-west-1.amazonaws.com\r\n\
            Date: Tue, 27 Mar 2007 19:44:46 +0000\r\n\
            Authorization: AWS AKIAIOSFODNN7EXAMPLE:82ZHiFIjc+WbcwFKGUVEQspPn+0=\r\n\r\n"
                .to_owned(),
            1_175_024_686,
        ),
        // "List all my buckets": the resource of the service is `/`.
        (
            "GET / HTTP/1.1\r\nHost: s3.us-west-1.amazonaws.com\r\nDate: Wed, 28 Mar 2007 01:29:59 +0000\r\n\
            Authorization: AWS AKIAIOSFODNN7EXAMPLE:qGdzdERIC03wnaRNKh6OqZehG9s=\r\n\r\n"
                .to_owned(),
            1_175_045_399,
        ),
        // "Unicode keys": the path is signed exactly as sent, escapes and their case.
        (
            "GET /dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re HTTP/1.1\r\nHost: s3.us-west-1.amazonaws.com\r\n\
            Date: Wed, 28 Mar 2007 01:49:49 +0000\r\n\
            Authorization: AWS AKIAIOSFODNN7EXAMPLE:DNEZGsoieTZ92F3bUfSPQcbGmlM=\r\n\r\n"
                .to_owned(),
            1_175_046_589,
        ),
    ];
    for (wire, now) in cases {
        let ok = auth(&wire, now).unwrap_or_else(|e| panic!("{e}: {wire}"));
        assert_eq!(ok.access_key_id, ACCESS_KEY);
        assert_eq!(ok.payload, PayloadMode::Unsigned);
    }
}

#[test]
fn aws_docs_string_to_sign_of_the_upload_example_is_reproduced() {
    // "Upload": sorted, lowercased, trimmed, comma-joined x-amz-* headers; other
    // Content-* headers unsigned. The docs' printed signature (dKZcB+bz...) does not
    // match their own StringToSign, so the request is checked with the signature the
    // docs' Python recipe computes from that StringToSign. CNAME-style hosts are not
    // routed by Shoal, so the request is sent path style (same resource).
    let wire = "PUT /static.example.com/db-backup.dat.gz HTTP/1.1\r\nUser-Agent: curl/7.15.5\r\n\
        Host: static.example.com:8080\r\nDate: Tue, 27 Mar 2007 21:06:08 +0000\r\n\
        x-amz-acl: public-read\r\ncontent-type: application/x-download\r\n\
        Content-MD5: 4gJE4saaMU4BqNR0kLY+lw==\r\nX-Amz-Meta-ReviewedBy: joe@example.com\r\n\
        X-Amz-Meta-ReviewedBy: jane@example.com\r\nX-Amz-Meta-FileChecksum: 0x02661779\r\n\
        X-Amz-Meta-ChecksumAlgorithm: crc32\r\nContent-Disposition: attachment; filename=database.dat\r\n\
        Content-Encoding: gzip\r\nContent-Length: 5913339\r\n\
        Authorization: AWS AKIAIOSFODNN7EXAMPLE:jtBQa0Aq+DkULFI8qrpwIjGEx0E=\r\n\r\n";
    assert_eq!(
        string_to_sign_of(wire, "Tue, 27 Mar 2007 21:06:08 +0000"),
        "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n\
        x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n\
        x-amz-meta-reviewedby:joe@example.com,jane@example.com\n/static.example.com/db-backup.dat.gz"
    );
    auth(wire, 1_175_029_568).unwrap();
}

#[test]
fn x_amz_date_empties_the_date_line_and_is_signed_as_a_header() {
    // "Delete" with x-amz-date: the docs' rule (and every SDK, and MinIO) is an empty
    // Date line plus `x-amz-date:` among the headers. The docs' printed StringToSign
    // and signature (XbyTlbQ...) contradict that rule, so they are refused here; the
    // accepted signature is the docs' Python recipe over the rule's StringToSign.
    let wire = "DELETE /awsexamplebucket1/photos/puppy.jpg HTTP/1.1\r\nUser-Agent: dotnet\r\n\
        Host: s3.us-west-1.amazonaws.com\r\nDate: Tue, 27 Mar 2007 21:20:27 +0000\r\n\
        x-amz-date: Tue, 27 Mar 2007 21:20:26 +0000\r\n\
        Authorization: AWS AKIAIOSFODNN7EXAMPLE:Ri1hpB1zpS9pGqR7y8kuNFCl4sE=\r\n\r\n";
    assert_eq!(
        string_to_sign_of(wire, ""),
        "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg"
    );
    auth(wire, 1_175_030_426).unwrap();
    let as_printed = wire.replace(
        "Ri1hpB1zpS9pGqR7y8kuNFCl4sE=",
        "XbyTlbQdu9Xw5o8P4iMwPktxQd8=",
    );
    assert_eq!(
        code(&as_printed, 1_175_030_426),
        S3ErrorCode::SignatureDoesNotMatch
    );
    // The time checked is x-amz-date's, not Date's.
    assert_eq!(
        code(wire, 1_175_030_426 + 901),
        S3ErrorCode::RequestTimeTooSkewed
    );
    auth(wire, 1_175_030_426 - 900).unwrap();
}

/// "Query string request authentication" as the docs printed it before renaming the
/// bucket `johnsmith` to `awsexamplebucket1` (the printed signature is over the old
/// name). Expires 2007-03-29T03:40:20Z.
const PRESIGNED_GET: &str = "GET /photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620 HTTP/1.1\r\n\
    Host: johnsmith.s3.amazonaws.com\r\n\r\n";
const PRESIGNED_EXPIRES: i64 = 1_175_139_620;

#[test]
fn aws_docs_presigned_example_verifies_until_it_expires() {
    // Valid up to and including the Expires second, AccessDenied after.
    let ok = auth(PRESIGNED_GET, PRESIGNED_EXPIRES - 3600).unwrap();
    assert_eq!(ok.access_key_id, ACCESS_KEY);
    assert_eq!(ok.payload, PayloadMode::Unsigned);
    auth(PRESIGNED_GET, PRESIGNED_EXPIRES).unwrap();
    let expired = auth(PRESIGNED_GET, PRESIGNED_EXPIRES + 1).unwrap_err();
    assert_eq!(expired.code(), S3ErrorCode::AccessDenied);
    assert_eq!(expired.message(), "Request has expired");
}

#[test]
fn presigned_expires_is_bounded_and_well_formed() {
    // More than 7 days (plus the skew allowance) ahead, or not a number: AccessDenied.
    let too_far = PRESIGNED_EXPIRES - (PRESIGN_EXPIRES_MAX_SECS + CLOCK_SKEW_MAX_SECS) - 1;
    assert_eq!(code(PRESIGNED_GET, too_far), S3ErrorCode::AccessDenied);
    auth(PRESIGNED_GET, too_far + 1).unwrap();
    for expires in [
        "-1",
        "+1175139620",
        "1175139620.0",
        "",
        "99999999999999999999",
    ] {
        let wire = PRESIGNED_GET.replace("1175139620", expires);
        assert_eq!(code(&wire, 0), S3ErrorCode::AccessDenied, "{expires}");
    }
    let missing = PRESIGNED_GET.replace("&Expires=1175139620", "");
    assert_eq!(code(&missing, 0), S3ErrorCode::AccessDenied);
}

/// `tests/vectors/sigv2_botocore.py`, botocore 1.43.11, clock pinned at 1_700_000_000:
/// `HmacV1Auth` on an UploadPart (`uploadId` sent before `partNumber`, a `+` escaped
/// in its value, x-amz-* headers with padding).
const BOTOCORE_UPLOAD_PART: &str = "PUT /bucket/photos/a%20b.jpg?uploadId=2~x%2By&partNumber=7 HTTP/1.1\r\n\
    Host: localhost:9000\r\nContent-Type: image/jpeg\r\nContent-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\r\n\
    X-Amz-Meta-Color:  blue \r\nx-amz-storage-class: STANDARD\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n\
    Authorization: AWS AKIAIOSFODNN7EXAMPLE:rptIJZvLZ+1lmnBI3UH8s0NDv6U=\r\nContent-Length: 0\r\n\r\n";
/// The same script: `HmacV1QueryAuth` (expires 3600) with signed `response-*` and
/// `versionId`, and boto3's `generate_presigned_url('get_object', ExpiresIn=600)` with
/// `signature_version='s3'`.
const BOTOCORE_PRESIGNED: [&str; 2] = [
    "GET /bucket/photos/a%20b.jpg?response-content-disposition=attachment%3B%20filename%3D%22x.jpg%22&versionId=v1&AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=jjQASud2kCd4yLa5triNsmGmIPk%3D&Expires=1700003600 HTTP/1.1\r\nHost: localhost:9000\r\n\r\n",
    "GET /bucket/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=OFiDHPDA7aQnkI%2BsIqiwbeSMTJY%3D&Expires=1700000600 HTTP/1.1\r\nHost: localhost:9000\r\n\r\n",
];
const BOTOCORE_NOW: i64 = 1_700_000_000;

#[test]
fn botocore_signed_requests_verify() {
    // What the Python clients actually send, header and query form.
    assert_eq!(
        string_to_sign_of(BOTOCORE_UPLOAD_PART, "Tue, 14 Nov 2023 22:13:20 GMT"),
        "PUT\n1B2M2Y8AsgTpgAmY7PhCfg==\nimage/jpeg\nTue, 14 Nov 2023 22:13:20 GMT\n\
        x-amz-meta-color:blue\nx-amz-storage-class:STANDARD\n\
        /bucket/photos/a%20b.jpg?partNumber=7&uploadId=2~x+y"
    );
    auth(BOTOCORE_UPLOAD_PART, BOTOCORE_NOW).unwrap();
    for wire in BOTOCORE_PRESIGNED {
        let ok = auth(wire, BOTOCORE_NOW).unwrap_or_else(|e| panic!("{e}: {wire}"));
        assert_eq!(ok.payload, PayloadMode::Unsigned);
    }
    assert_eq!(
        code(BOTOCORE_PRESIGNED[1], BOTOCORE_NOW + 601),
        S3ErrorCode::AccessDenied
    );
}

#[test]
fn header_requests_outside_the_skew_window_are_refused() {
    // ±15 minutes around the request time, inclusive.
    auth(GET_OBJECT, GET_OBJECT_NOW + 900).unwrap();
    auth(GET_OBJECT, GET_OBJECT_NOW - 900).unwrap();
    for now in [GET_OBJECT_NOW + 901, GET_OBJECT_NOW - 901] {
        assert_eq!(code(GET_OBJECT, now), S3ErrorCode::RequestTimeTooSkewed);
    }
    let undated = GET_OBJECT.replace("Date: Tue, 27 Mar 2007 19:36:42 +0000\r\n", "");
    assert_eq!(code(&undated, GET_OBJECT_NOW), S3ErrorCode::AccessDenied);
    let garbled = GET_OBJECT.replace("19:36:42 +0000", "19:36:42 +00");
    assert_eq!(code(&garbled, GET_OBJECT_NOW), S3ErrorCode::AccessDenied);
}

#[test]
fn wrong_secret_unknown_key_and_tampering_fail_with_their_codes() {
    // Anything the signature covers, changed, is SignatureDoesNotMatch.
    let wrong_secret = |id: &str| {
        (id == ACCESS_KEY).then(|| "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ".to_owned())
    };
    let error = authenticate_with_routes(
        &head(GET_OBJECT),
        &wrong_secret,
        "us-east-1",
        &routes(),
        GET_OBJECT_NOW,
    )
    .unwrap_err();
    assert_eq!(error.code(), S3ErrorCode::SignatureDoesNotMatch);
    let unknown = GET_OBJECT.replace("AWS AKIAIOSFODNN7EXAMPLE:", "AWS AKIDUNKNOWN:");
    assert_eq!(
        code(&unknown, GET_OBJECT_NOW),
        S3ErrorCode::InvalidAccessKeyId
    );
    let tampered = [
        GET_OBJECT.replace("/photos/puppy.jpg", "/photos/kitten.jpg"),
        GET_OBJECT.replace("/photos/puppy.jpg", "/photos/puppy.jpg?acl"),
        GET_OBJECT.replace("/photos/puppy.jpg", "/photos/puppy.jpg?versionId=2"),
        GET_OBJECT.replace("GET ", "DELETE "),
        GET_OBJECT.replace("\r\n\r\n", "\r\nx-amz-copy-source: /other/key\r\n\r\n"),
        GET_OBJECT.replace("\r\n\r\n", "\r\nContent-Type: text/plain\r\n\r\n"),
        // Host is not signed, but the bucket it names is: changing it changes the resource.
        GET_OBJECT.replace("awsexamplebucket1.us-west", "otherbucket.us-west"),
        GET_OBJECT.replace(
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1h=",
        ),
        GET_OBJECT.replace(
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g",
        ),
        GET_OBJECT.replace("qgk2+6Sv9/oM7G3qLEjTH1a1l1g=", "not base64!"),
    ];
    for wire in tampered {
        assert_eq!(
            code(&wire, GET_OBJECT_NOW),
            S3ErrorCode::SignatureDoesNotMatch,
            "{wire}"
        );
    }
    // Parameters V2 does not sign only refine the operation; they do not break it.
    auth(
        &GET_OBJECT.replace("/photos/puppy.jpg", "/photos/puppy.jpg?x-id=GetObject"),
        GET_OBJECT_NOW,
    )
    .unwrap();
    for malformed in ["AWS AKIAIOSFODNN7EXAMPLE", "AWS :sig", "AWS AKID:"] {
        let wire = GET_OBJECT.replace(
            "AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
            malformed,
        );
        assert_eq!(
            code(&wire, GET_OBJECT_NOW),
            S3ErrorCode::InvalidArgument,
            "{malformed}"
        );
    }
}

#[test]
fn subresources_are_filtered_sorted_and_decoded() {
    // Only the signed sub-resources, by name, values decoded, bare names without `=`.
    let resource = |target: &str| {
        let wire = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        string_to_sign_of(&wire, "D")
            .strip_prefix("GET\n\n\nD\n")
            .unwrap()
            .to_owned()
    };
    assert_eq!(resource("/b/k?acl"), "/b/k?acl");
    assert_eq!(resource("/b/k?acl="), "/b/k?acl");
    assert_eq!(
        resource("/b/k?uploadId=a%2Fb&partNumber=3&prefix=x&max-keys=2"),
        "/b/k?partNumber=3&uploadId=a/b"
    );
    assert_eq!(
        resource("/b/k?versionId=v&tagging&response-content-type=text%2Fplain%3B%20x"),
        "/b/k?response-content-type=text/plain; x&tagging&versionId=v"
    );
    assert_eq!(
        resource("/b?delete&list-type=2&uploads"),
        "/b/?delete&uploads"
    );
    assert_eq!(resource("/b/a%2Fb%20c"), "/b/a%2Fb%20c");
}

#[test]
fn amz_headers_are_lowercased_sorted_trimmed_and_joined() {
    // The CanonicalizedAmzHeaders rules, with repeated headers in arrival order.
    let wire = "PUT /b/k HTTP/1.1\r\nHost: localhost\r\nX-Amz-Meta-B: 2\r\nx-amz-meta-a:   one  two  \r\n\
        X-AMZ-META-B: 1\r\nX-Amz-Acl: private\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        string_to_sign_of(wire, "D"),
        "PUT\n\n\nD\nx-amz-acl:private\nx-amz-meta-a:one  two\nx-amz-meta-b:2,1\n/b/k"
    );
}

#[test]
fn mixing_mechanisms_is_invalid_argument() {
    // One request, one mechanism, whichever two are combined.
    let header_and_query = GET_OBJECT.replace(
        "/photos/puppy.jpg HTTP",
        "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x HTTP",
    );
    let v4_and_v2_query =
        PRESIGNED_GET.replace("&Expires=", "&X-Amz-Algorithm=AWS4-HMAC-SHA256&Expires=");
    let v4_header_and_v2_query = PRESIGNED_GET.replace(
        "\r\n\r\n",
        "\r\nAuthorization: AWS4-HMAC-SHA256 Credential=x\r\n\r\n",
    );
    for wire in [header_and_query, v4_and_v2_query, v4_header_and_v2_query] {
        assert_eq!(
            code(&wire, PRESIGNED_EXPIRES - 60),
            S3ErrorCode::InvalidArgument,
            "{wire}"
        );
    }
}

#[test]
fn the_gate_without_routes_refuses_v2_as_before() {
    // Without the router's domains the signed bucket is unknowable: no V2 at all.
    let header = authenticate(&head(GET_OBJECT), &keys, "us-east-1", GET_OBJECT_NOW);
    assert_eq!(header.unwrap_err().code(), S3ErrorCode::InvalidArgument);
    let query = authenticate(&head(PRESIGNED_GET), &keys, "us-east-1", 0);
    assert_eq!(query.unwrap_err().code(), S3ErrorCode::AccessDenied);
}

#[test]
fn bucket_level_requests_sign_the_bucket_with_a_trailing_slash() {
    // botocore and s3cmd sign `/bucket/` for a request on a bucket, in both styles.
    let sts = |wire: &str| string_to_sign_of(wire, "D");
    let path_style = "GET /bucket?location HTTP/1.1\r\nHost: localhost:9000\r\n\r\n";
    assert_eq!(sts(path_style), "GET\n\n\nD\n/bucket/?location");
    let slashed = "GET /bucket/?delete HTTP/1.1\r\nHost: localhost:9000\r\n\r\n";
    assert_eq!(sts(slashed), "GET\n\n\nD\n/bucket/?delete");
    let virtual_host = "GET /?uploads HTTP/1.1\r\nHost: b.s3.amazonaws.com\r\n\r\n";
    assert_eq!(sts(virtual_host), "GET\n\n\nD\n/b/?uploads");
    let service = "GET / HTTP/1.1\r\nHost: localhost:9000\r\n\r\n";
    assert_eq!(sts(service), "GET\n\n\nD\n/");
    let object = "GET /bucket/key HTTP/1.1\r\nHost: localhost:9000\r\n\r\n";
    assert_eq!(sts(object), "GET\n\n\nD\n/bucket/key");
    // Signed as botocore signs it, the bucket-level request verifies.
    let date = "Tue, 14 Nov 2023 22:13:20 GMT";
    let unsigned =
        format!("GET /bucket?tagging HTTP/1.1\r\nHost: localhost:9000\r\nDate: {date}\r\n");
    let signature = base64::encode(&sign(SECRET, &format!("GET\n\n\n{date}\n/bucket/?tagging")));
    let wire = format!("{unsigned}Authorization: AWS {ACCESS_KEY}:{signature}\r\n\r\n");
    auth(&wire, BOTOCORE_NOW).unwrap();
}

#[test]
fn every_rfc_7231_date_form_is_accepted_and_skew_is_its_own_error() {
    // `-0000`, RFC 850 and asctime dates are instants; a skewed one of any form is
    // RequestTimeTooSkewed, not AccessDenied.
    let forms = [
        "Tue, 14 Nov 2023 22:13:20 GMT",
        "Tue, 14 Nov 2023 22:13:20 -0000",
        "Tuesday, 14-Nov-23 22:13:20 GMT",
        "Tue Nov 14 22:13:20 2023",
    ];
    for date in forms {
        let unsigned =
            format!("GET /bucket/k HTTP/1.1\r\nHost: localhost:9000\r\nDate: {date}\r\n");
        let signature = base64::encode(&sign(SECRET, &format!("GET\n\n\n{date}\n/bucket/k")));
        let wire = format!("{unsigned}Authorization: AWS {ACCESS_KEY}:{signature}\r\n\r\n");
        auth(&wire, BOTOCORE_NOW).unwrap_or_else(|e| panic!("{date}: {e}"));
        let skewed = code(&wire, BOTOCORE_NOW + 3600);
        assert_eq!(skewed, S3ErrorCode::RequestTimeTooSkewed, "{date}");
    }
}
