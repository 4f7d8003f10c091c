//! Routing of a request head to one S3 operation, spelled as AWS spells it.
//!
//! Invariants: routing is a pure function of (method, path, query, `Host`,
//! `x-amz-copy-source`) and the configured virtual-host domains. Bucket and key are
//! percent-decoded exactly once; bucket names are checked against the S3 naming rules
//! (`InvalidBucketName`); keys are otherwise the store's to validate, except that a key
//! containing NUL is refused here. A sub-resource S3 defines but Shoal does not
//! implement routes to [`Operation::NotImplemented`] so the caller can still
//! authenticate first and then answer `NotImplemented`.

use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Method, RequestHead};
use crate::uri::{parse_query, percent_decode};

/// One variant per S3 operation Shoal serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PutBucketTagging,
    GetBucketTagging,
    DeleteBucketTagging,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetObjectAttributes,
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// A sub-resource or form S3 defines that Shoal does not implement (yet).
    NotImplemented {
        feature: &'static str,
    },
}

/// Bucket sub-resources S3 defines that Shoal does not implement.
const BUCKET_UNIMPLEMENTED: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "logging",
    "metadataTable",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "session",
    "versioning",
    "website",
];

/// Object sub-resources S3 defines that Shoal does not implement.
const OBJECT_UNIMPLEMENTED: &[&str] = &[
    "acl",
    "legal-hold",
    "renameObject",
    "restore",
    "retention",
    "select",
    "torrent",
];

/// Where buckets may appear in `Host` (virtual-host style).
#[derive(Clone, Debug, Default)]
pub struct RouteConfig {
    /// Domains such as `s3.example.com`: `bucket.s3.example.com` names `bucket`.
    /// Requests to any other host are path style.
    pub virtual_host_domains: Vec<String>,
}

/// A routed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub operation: Operation,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// Decoded query parameters in arrival order.
    pub query: Vec<(String, String)>,
}

impl Route {
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Routes `head` to its operation.
pub fn route(head: &RequestHead, config: &RouteConfig) -> Result<Route, S3Error> {
    let query = parse_query(head.raw_query())?;
    let host_bucket = head
        .header("host")
        .and_then(|host| bucket_from_host(host, config));
    let (bucket, key) = bucket_and_key(head.raw_path(), host_bucket)?;
    if let Some(bucket) = &bucket {
        check_bucket_name(bucket)?;
    }
    if key.as_deref().is_some_and(|k| k.contains('\0')) {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Object keys must not contain NUL.",
        ));
    }
    let has = |name: &str| query.iter().any(|(n, _)| n == name);
    let copy = head.header("x-amz-copy-source").is_some();
    let operation = match (&bucket, &key) {
        (None, _) => service_operation(&head.method)?,
        (Some(_), None) => bucket_operation(&head.method, &has)?,
        (Some(_), Some(_)) => object_operation(&head.method, &has, copy)?,
    };
    Ok(Route {
        operation,
        bucket,
        key,
        query,
    })
}

fn method_not_allowed() -> S3Error {
    S3Error::new(S3ErrorCode::MethodNotAllowed)
}

/// The bucket named by a virtual-host `Host`, if any. SigV2 derives the signed bucket
/// with this same function (`Host` is not signed there).
pub(crate) fn bucket_from_host(host: &str, config: &RouteConfig) -> Option<String> {
    if host.starts_with('[') {
        return None; // an IPv6 literal never names a bucket
    }
    let host = host.to_ascii_lowercase();
    let without_port = host.split(':').next().unwrap_or_default();
    config.virtual_host_domains.iter().find_map(|domain| {
        let prefix = without_port
            .strip_suffix(domain.as_str())?
            .strip_suffix('.')?;
        (!prefix.is_empty()).then(|| prefix.to_owned())
    })
}

/// Splits the raw path into decoded bucket and key (empty ones are `None`).
fn bucket_and_key(
    raw_path: &str,
    host_bucket: Option<String>,
) -> Result<(Option<String>, Option<String>), S3Error> {
    let path = raw_path
        .strip_prefix('/')
        .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidURI))?;
    let non_empty = |text: String| (!text.is_empty()).then_some(text);
    if let Some(bucket) = host_bucket {
        return Ok((Some(bucket), non_empty(percent_decode(path)?)));
    }
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    Ok((
        non_empty(percent_decode(bucket)?),
        non_empty(percent_decode(key)?),
    ))
}

/// S3 bucket naming rules: 3..=63 of `a-z 0-9 . -`, alphanumeric at both ends, no
/// `..`, not shaped like an IPv4 address.
fn check_bucket_name(bucket: &str) -> Result<(), S3Error> {
    let bytes = bucket.as_bytes();
    let allowed = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-');
    let ends_ok = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    let ip_like = bucket.split('.').count() == 4
        && bucket
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if (3..=63).contains(&bytes.len()) && allowed && ends_ok && !bucket.contains("..") && !ip_like {
        Ok(())
    } else {
        Err(S3Error::new(S3ErrorCode::InvalidBucketName))
    }
}

fn service_operation(method: &Method) -> Result<Operation, S3Error> {
    match method {
        Method::Get => Ok(Operation::ListBuckets),
        _ => Err(method_not_allowed()),
    }
}

fn unimplemented_in(list: &[&'static str], has: &dyn Fn(&str) -> bool) -> Option<Operation> {
    list.iter()
        .find(|name| has(name))
        .map(|feature| Operation::NotImplemented { feature })
}

fn bucket_operation(method: &Method, has: &dyn Fn(&str) -> bool) -> Result<Operation, S3Error> {
    if let Some(unimplemented) = unimplemented_in(BUCKET_UNIMPLEMENTED, has) {
        return Ok(unimplemented);
    }
    let operation = match method {
        Method::Get if has("location") => Operation::GetBucketLocation,
        Method::Get if has("tagging") => Operation::GetBucketTagging,
        Method::Get if has("uploads") => Operation::ListMultipartUploads,
        Method::Get if has("versions") => Operation::ListObjectVersions,
        Method::Get if has("list-type") => Operation::ListObjectsV2,
        Method::Get => Operation::ListObjects,
        Method::Head => Operation::HeadBucket,
        Method::Put if has("tagging") => Operation::PutBucketTagging,
        Method::Put => Operation::CreateBucket,
        Method::Delete if has("tagging") => Operation::DeleteBucketTagging,
        Method::Delete => Operation::DeleteBucket,
        Method::Post if has("delete") => Operation::DeleteObjects,
        Method::Post => Operation::NotImplemented {
            feature: "PostObject",
        },
        Method::Options => Operation::NotImplemented { feature: "cors" },
        Method::Other(_) => return Err(method_not_allowed()),
    };
    Ok(operation)
}

fn object_operation(
    method: &Method,
    has: &dyn Fn(&str) -> bool,
    copy_source: bool,
) -> Result<Operation, S3Error> {
    if let Some(unimplemented) = unimplemented_in(OBJECT_UNIMPLEMENTED, has) {
        return Ok(unimplemented);
    }
    let part = has("partNumber") && has("uploadId");
    let operation = match method {
        Method::Get if has("uploadId") => Operation::ListParts,
        Method::Get if has("tagging") => Operation::GetObjectTagging,
        Method::Get if has("attributes") => Operation::GetObjectAttributes,
        Method::Get => Operation::GetObject,
        Method::Head => Operation::HeadObject,
        Method::Put if part && copy_source => Operation::UploadPartCopy,
        Method::Put if part => Operation::UploadPart,
        Method::Put if has("uploadId") => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "partNumber is required with uploadId.",
            ));
        }
        Method::Put if has("tagging") => Operation::PutObjectTagging,
        Method::Put if copy_source => Operation::CopyObject,
        Method::Put => Operation::PutObject,
        Method::Delete if has("uploadId") => Operation::AbortMultipartUpload,
        Method::Delete if has("tagging") => Operation::DeleteObjectTagging,
        Method::Delete => Operation::DeleteObject,
        Method::Post if has("uploads") => Operation::CreateMultipartUpload,
        Method::Post if has("uploadId") => Operation::CompleteMultipartUpload,
        Method::Options => Operation::NotImplemented { feature: "cors" },
        Method::Post | Method::Other(_) => return Err(method_not_allowed()),
    };
    Ok(operation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{HeadParser, HeadStatus};

    fn route_of(method: &str, target: &str, extra_headers: &str) -> Result<Route, S3Error> {
        let wire = format!(
            "{method} {target} HTTP/1.1\r\nHost: s3.example.com:9000\r\n{extra_headers}\r\n"
        );
        let HeadStatus::Complete { head, .. } = HeadParser::new().parse(wire.as_bytes()).unwrap()
        else {
            panic!("incomplete test head");
        };
        route(
            &head,
            &RouteConfig {
                virtual_host_domains: vec!["s3.example.com".into()],
            },
        )
    }

    fn op(method: &str, target: &str) -> Operation {
        route_of(method, target, "").unwrap().operation
    }

    #[test]
    fn every_operation_has_its_route() {
        // The table clients rely on: method + sub-resource → operation.
        use Operation::*;
        let table = [
            ("GET", "/", ListBuckets),
            ("PUT", "/b1b", CreateBucket),
            ("HEAD", "/b1b", HeadBucket),
            ("DELETE", "/b1b/", DeleteBucket),
            ("GET", "/b1b?location", GetBucketLocation),
            ("GET", "/b1b", ListObjects),
            ("GET", "/b1b?list-type=2&prefix=a", ListObjectsV2),
            ("GET", "/b1b?versions", ListObjectVersions),
            ("GET", "/b1b?uploads", ListMultipartUploads),
            ("POST", "/b1b?delete", DeleteObjects),
            ("PUT", "/b1b?tagging", PutBucketTagging),
            ("GET", "/b1b?tagging", GetBucketTagging),
            ("DELETE", "/b1b?tagging", DeleteBucketTagging),
            ("PUT", "/b1b/k", PutObject),
            ("GET", "/b1b/k", GetObject),
            ("HEAD", "/b1b/k", HeadObject),
            ("DELETE", "/b1b/k?versionId=v", DeleteObject),
            ("GET", "/b1b/k?attributes", GetObjectAttributes),
            ("PUT", "/b1b/k?tagging", PutObjectTagging),
            ("GET", "/b1b/k?tagging", GetObjectTagging),
            ("DELETE", "/b1b/k?tagging", DeleteObjectTagging),
            ("POST", "/b1b/k?uploads", CreateMultipartUpload),
            ("PUT", "/b1b/k?partNumber=1&uploadId=u", UploadPart),
            ("POST", "/b1b/k?uploadId=u", CompleteMultipartUpload),
            ("DELETE", "/b1b/k?uploadId=u", AbortMultipartUpload),
            ("GET", "/b1b/k?uploadId=u", ListParts),
            (
                "GET",
                "/b1b?versioning",
                NotImplemented {
                    feature: "versioning",
                },
            ),
            ("PUT", "/b1b/k?acl", NotImplemented { feature: "acl" }),
        ];
        for (method, target, expected) in table {
            assert_eq!(op(method, target), expected, "{method} {target}");
        }
        let copy = "x-amz-copy-source: /src/key\r\n";
        assert_eq!(
            route_of("PUT", "/b1b/k", copy).unwrap().operation,
            CopyObject
        );
        assert_eq!(
            route_of("PUT", "/b1b/k?partNumber=2&uploadId=u", copy)
                .unwrap()
                .operation,
            UploadPartCopy
        );
    }

    #[test]
    fn bucket_and_key_are_decoded_once() {
        // `%2F` in a key is a slash in the key; `%2525` stays `%25`.
        let r = route_of("GET", "/b1b/a%20b/c%2Fd%2525", "").unwrap();
        assert_eq!(r.bucket.as_deref(), Some("b1b"));
        assert_eq!(r.key.as_deref(), Some("a b/c/d%25"));
        let trailing = route_of("PUT", "/b1b/dir/", "").unwrap();
        assert_eq!(trailing.key.as_deref(), Some("dir/"));
        let empty_segments = route_of("PUT", "/b1b//a//", "").unwrap();
        assert_eq!(empty_segments.key.as_deref(), Some("/a//"));
    }

    #[test]
    fn virtual_host_style_names_the_bucket_in_host() {
        // Some SDKs default to virtual-host style when a domain resolves.
        let wire = "GET /photos/cat.jpg?versionId=3 HTTP/1.1\r\nHost: My-Bucket.S3.example.com:9000\r\n\r\n";
        let HeadStatus::Complete { head, .. } = HeadParser::new().parse(wire.as_bytes()).unwrap()
        else {
            panic!()
        };
        let config = RouteConfig {
            virtual_host_domains: vec!["s3.example.com".into()],
        };
        let r = route(&head, &config).unwrap();
        assert_eq!(
            (r.bucket.as_deref(), r.key.as_deref()),
            (Some("my-bucket"), Some("photos/cat.jpg"))
        );
        assert_eq!(r.query_value("versionId"), Some("3"));
        assert_eq!(r.operation, Operation::GetObject);
    }

    #[test]
    fn bad_names_methods_and_nul_are_refused() {
        // Each refusal carries the code S3 gives for it.
        for bad in [
            "/ab",
            "/Upper",
            "/a..b",
            "/-ab",
            "/192.168.1.1",
            "/under_score",
        ] {
            assert_eq!(
                route_of("GET", bad, "").unwrap_err().code(),
                S3ErrorCode::InvalidBucketName,
                "{bad}"
            );
        }
        assert_eq!(
            route_of("GET", "/b1b/a%00b", "").unwrap_err().code(),
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            route_of("PATCH", "/b1b/k", "").unwrap_err().code(),
            S3ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            route_of("PUT", "/", "").unwrap_err().code(),
            S3ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            route_of("GET", "/b1b/%zz", "").unwrap_err().code(),
            S3ErrorCode::InvalidURI
        );
    }
}
