//! Routing of a request head to one S3 operation, spelled as AWS spells it, and the one
//! place where requests for what Shoal does not implement are told so.
//!
//! Invariants: routing is a pure function of the request head and the configured
//! virtual-host domains. Bucket and key are percent-decoded exactly once; bucket names
//! are checked against the S3 naming rules (`InvalidBucketName`); keys are otherwise the
//! store's to validate, except that a key containing NUL is refused here.
//!
//! Never say yes to what Shoal does not do: a sub-resource in [`UNIMPLEMENTED`], a query
//! parameter no served operation knows, or a header asking for encryption, ACLs or other
//! features Shoal lacks routes to [`Operation::NotImplemented`] (501), and object-lock
//! headers are refused as S3 refuses them for a bucket without object lock. The caller
//! authenticates before routing, so a refusal is only ever sent to a signed request, and
//! it is sent before any body byte is read: nothing is stored or changed. Values that
//! would be copied into response headers (`response-*`) are checked here too, and
//! `versionId` is judged here: `null` names the one version of an unversioned object,
//! any other id is invalid (Shoal issues no version ids).

use crate::base::error::{S3Error, S3ErrorCode};
use crate::base::uri::{parse_query, percent_decode};
use crate::message::request::{Method, RequestHead};
use crate::message::response::is_header_value;

/// One variant per S3 operation Shoal serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    /// Answered honestly: versioning has never been enabled.
    GetBucketVersioning,
    /// Answered honestly: the owner has full control, and there are no grants.
    GetBucketAcl,
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
    /// Answered honestly: the owner has full control, and there are no grants.
    GetObjectAcl,
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// Shoal's admin API (`shoal admin`, [`ADMIN_PATH_PREFIX`]): what the node runs and
    /// its health; the settings that change at run time; a live stream of requests.
    AdminInfo,
    AdminConfigGet,
    AdminConfigSet,
    AdminTrace,
    AdminHeal,
    /// A sub-resource, query parameter, header or form S3 defines that Shoal does not
    /// implement (yet): answered 501 before any body byte is read.
    NotImplemented {
        feature: &'static str,
    },
}

/// Which requests naming an unimplemented sub-resource are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Every method.
    All,
    /// PUT, POST and DELETE; a GET is answered (honestly: "not enabled").
    Writes,
}

/// Sub-resources S3 (or MinIO, for `events`) defines that Shoal does not implement, on
/// buckets and objects alike: a request naming one answers 501 and changes nothing.
pub const UNIMPLEMENTED: &[(&str, Refused)] = &[
    ("accelerate", Refused::All),
    ("acl", Refused::Writes),
    ("analytics", Refused::All),
    ("cors", Refused::All),
    ("encryption", Refused::All),
    ("events", Refused::All),
    ("intelligent-tiering", Refused::All),
    ("inventory", Refused::All),
    ("legal-hold", Refused::All),
    ("lifecycle", Refused::All),
    ("logging", Refused::All),
    ("metadataConfiguration", Refused::All),
    ("metadataTable", Refused::All),
    ("metrics", Refused::All),
    ("notification", Refused::All),
    ("object-lock", Refused::All),
    ("ownershipControls", Refused::All),
    ("policy", Refused::All),
    ("policyStatus", Refused::All),
    ("publicAccessBlock", Refused::All),
    ("renameObject", Refused::All),
    ("replication", Refused::All),
    ("requestPayment", Refused::All),
    ("restore", Refused::All),
    ("retention", Refused::All),
    ("select", Refused::All),
    ("session", Refused::All),
    ("torrent", Refused::All),
    ("versioning", Refused::Writes),
    ("website", Refused::All),
];

/// Query parameters of the service operation (ListBuckets).
const SERVICE_PARAMETERS: &[&str] = &[
    "bucket-region",
    "continuation-token",
    "max-buckets",
    "prefix",
];

/// Query parameters of the bucket operations Shoal serves.
const BUCKET_PARAMETERS: &[&str] = &[
    "acl",
    "continuation-token",
    "delete",
    "delimiter",
    "encoding-type",
    "fetch-owner",
    "key-marker",
    "list-type",
    "location",
    "marker",
    "max-keys",
    "max-uploads",
    "prefix",
    "start-after",
    "tagging",
    "upload-id-marker",
    "uploads",
    "version-id-marker",
    "versioning",
    "versions",
];

/// Query parameters of the object operations Shoal serves.
const OBJECT_PARAMETERS: &[&str] = &[
    "acl",
    "attributes",
    "max-parts",
    "part-number-marker",
    "partNumber",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "tagging",
    "uploadId",
    "uploads",
    "versionId",
];

/// Query parameters of every request: SigV2 presigning, and the operation name AWS
/// SDKs append (`x-id=GetObject`). `X-Amz-*` (SigV4 presigning, hoisted headers) are
/// known too, by prefix.
const ANY_PARAMETERS: &[&str] = &["AWSAccessKeyId", "Expires", "Signature", "x-id"];

/// The feature named when a query parameter is unknown (the message names it).
const UNKNOWN_PARAMETER: &str = "query parameter";

/// Headers that ask for server-side encryption (SSE-S3, SSE-KMS, SSE-C, and SSE-C of a
/// copy source): refused by prefix, so none can be silently ignored.
const ENCRYPTION_HEADER_PREFIXES: &[&str] = &[
    "x-amz-server-side-encryption",
    "x-amz-copy-source-server-side-encryption",
];

/// Object lock on a write; refused as S3 refuses it for a bucket without object lock.
const OBJECT_LOCK_HEADERS: &[&str] = &[
    "x-amz-object-lock-legal-hold",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
];

/// Other headers asking for what Shoal does not do, with the feature named in the 501.
/// `x-amz-acl` is refused separately: its default values are what Shoal does anyway.
const UNIMPLEMENTED_HEADERS: &[(&str, &str)] = &[
    ("x-amz-grant-full-control", "ACL grants"),
    ("x-amz-grant-read", "ACL grants"),
    ("x-amz-grant-read-acp", "ACL grants"),
    ("x-amz-grant-write", "ACL grants"),
    ("x-amz-grant-write-acp", "ACL grants"),
    ("x-amz-website-redirect-location", "website redirects"),
    (
        "x-amz-write-offset-bytes",
        "appends (x-amz-write-offset-bytes)",
    ),
];

/// Canned ACLs that change nothing for a single-owner store (the owner has full control).
const ACL_DEFAULTS: &[&str] = &["private", "bucket-owner-full-control"];

/// Storage classes S3 defines. Shoal stores one class, `STANDARD`; asking for another
/// is refused (501) rather than silently stored as `STANDARD`, and a name S3 does not
/// define is `InvalidStorageClass`.
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
    "FSX_OPENZFS",
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

    /// The message of a `NotImplemented` answer, naming what was refused.
    pub fn not_implemented_message(&self) -> Option<String> {
        let Operation::NotImplemented { feature } = self.operation else {
            return None;
        };
        if feature != UNKNOWN_PARAMETER {
            return Some(format!("{feature} is not implemented"));
        }
        let level = Level::of(self.bucket.as_ref(), self.key.as_ref());
        let name = self
            .query
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| !level.knows(name))
            .unwrap_or_default();
        Some(format!("the query parameter {name:?} is not implemented"))
    }
}

/// What a request addresses: the service, a bucket, or an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Service,
    Bucket,
    Object,
}

impl Level {
    fn of<T>(bucket: Option<&T>, key: Option<&T>) -> Level {
        match (bucket, key) {
            (None, _) => Level::Service,
            (Some(_), None) => Level::Bucket,
            (Some(_), Some(_)) => Level::Object,
        }
    }

    /// Whether a served operation at this level takes the query parameter `name`.
    fn knows(self, name: &str) -> bool {
        let own = match self {
            Level::Service => SERVICE_PARAMETERS,
            Level::Bucket => BUCKET_PARAMETERS,
            Level::Object => OBJECT_PARAMETERS,
        };
        own.contains(&name)
            || ANY_PARAMETERS.contains(&name)
            || name
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
    }
}

/// The bucket name Shoal reserves, as MinIO does: its health, metrics and admin paths
/// live under `/minio/`, so no bucket may be called so.
pub const RESERVED_BUCKET: &str = "minio";

/// A request to one of MinIO's operator paths under `/minio/` (not an S3 operation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminRoute {
    /// `/minio/health/live`: the process serves.
    HealthLive,
    /// `/minio/health/ready`: the node's drives are within write quorum.
    HealthReady,
    /// `/minio/health/cluster`: every erasure set has its write quorum.
    HealthCluster,
    /// `/minio/health/cluster/read`: every erasure set has its read quorum.
    HealthClusterRead,
    /// `/minio/v2/metrics/node`: this node's Prometheus series.
    MetricsNode,
    /// `/minio/v2/metrics/cluster`: the cluster's Prometheus series.
    MetricsCluster,
}

impl AdminRoute {
    /// Whether a health path asks for MinIO's maintenance check (`?maintenance=true`).
    pub fn wants_maintenance(head: &RequestHead) -> bool {
        head.raw_query()
            .split('&')
            .any(|pair| pair.eq_ignore_ascii_case("maintenance=true"))
    }
}

/// The operator path `head` asks for, if any: checked before S3 routing and
/// authentication (health is public; metrics authenticate their own way). Only GET and
/// HEAD reach these paths; any other method is an S3 request on the reserved bucket
/// and is refused as such.
pub fn admin_route(head: &RequestHead) -> Option<AdminRoute> {
    if !matches!(head.method, Method::Get | Method::Head) {
        return None;
    }
    let route = match head.raw_path().trim_end_matches('/') {
        "/minio/health/live" => AdminRoute::HealthLive,
        "/minio/health/ready" => AdminRoute::HealthReady,
        "/minio/health/cluster" => AdminRoute::HealthCluster,
        "/minio/health/cluster/read" => AdminRoute::HealthClusterRead,
        "/minio/v2/metrics/node" => AdminRoute::MetricsNode,
        "/minio/v2/metrics/cluster" => AdminRoute::MetricsCluster,
        _ => return None,
    };
    Some(route)
}

/// Routes `head` to its operation.
pub fn route(head: &RequestHead, config: &RouteConfig) -> Result<Route, S3Error> {
    let query = parse_query(head.raw_query())?;
    if let Some(operation) = admin_operation(head)? {
        return Ok(Route {
            operation,
            bucket: None,
            key: None,
            query,
        });
    }
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
    let level = Level::of(bucket.as_ref(), key.as_ref());
    let operation = if let Some(refused) = unimplemented_subresource(&head.method, &query) {
        refused
    } else {
        let operation = match level {
            Level::Service => service_operation(&head.method)?,
            Level::Bucket => bucket_operation(&head.method, &has)?,
            Level::Object => object_operation(&head.method, &has, copy)?,
        };
        refuse_unimplemented(head, &query, level, operation)?
    };
    if !matches!(operation, Operation::NotImplemented { .. }) {
        check_query_values(&query)?;
    }
    Ok(Route {
        operation,
        bucket,
        key,
        query,
    })
}

/// The refusal of a sub-resource in [`UNIMPLEMENTED`], whatever the method (S3 uses
/// POST for some, so this comes before `MethodNotAllowed`).
fn unimplemented_subresource(method: &Method, query: &[(String, String)]) -> Option<Operation> {
    let write = !matches!(method, Method::Get | Method::Head);
    UNIMPLEMENTED
        .iter()
        .find(|(name, refused)| {
            (write || *refused == Refused::All) && query.iter().any(|(n, _)| n == name)
        })
        .map(|(feature, _)| Operation::NotImplemented { feature })
}

/// `operation`, or what answers instead when the request asks for something Shoal does
/// not implement (see the module comment).
fn refuse_unimplemented(
    head: &RequestHead,
    query: &[(String, String)],
    level: Level,
    operation: Operation,
) -> Result<Operation, S3Error> {
    // S3 ignores parameters it does not know on a GET or HEAD of an object (apps and
    // CDNs append cache busters to presigned SigV2 URLs, whose signatures do not cover
    // them); answering the same bytes asks for nothing Shoal lacks. A name that S3 gives
    // a meaning elsewhere is still refused.
    let lenient = matches!(operation, Operation::GetObject | Operation::HeadObject);
    let refused = |name: &str| !level.knows(name) && (!lenient || is_s3_parameter(name));
    if query.iter().any(|(name, _)| refused(name)) {
        return Ok(Operation::NotImplemented {
            feature: UNKNOWN_PARAMETER,
        });
    }
    if let Some(feature) = unimplemented_header(head, query, operation) {
        return Ok(Operation::NotImplemented { feature });
    }
    let writes_object = matches!(
        operation,
        Operation::PutObject | Operation::CopyObject | Operation::CreateMultipartUpload
    );
    if writes_object && let Some(class) = sent(head, query, "x-amz-storage-class") {
        if !STORAGE_CLASSES.contains(&class) {
            return Err(S3Error::new(S3ErrorCode::InvalidStorageClass));
        }
        if class != "STANDARD" {
            return Ok(Operation::NotImplemented {
                feature: "a storage class other than STANDARD",
            });
        }
    }
    let locking = writes_object;
    if locking
        && OBJECT_LOCK_HEADERS
            .iter()
            .any(|h| sent(head, query, h).is_some())
    {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Bucket is missing Object Lock Configuration",
        ));
    }
    Ok(operation)
}

/// Whether S3 gives `name` a meaning at some level (a served operation's parameter).
fn is_s3_parameter(name: &str) -> bool {
    [SERVICE_PARAMETERS, BUCKET_PARAMETERS, OBJECT_PARAMETERS]
        .iter()
        .any(|list| list.contains(&name))
}

/// A header's value, or the query parameter of the same name (presigned URLs carry
/// headers in the query; parameter names compare without case there).
fn sent<'a>(head: &'a RequestHead, query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    head.header(name).or_else(|| {
        query
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    })
}

/// The feature a header (or hoisted query parameter) asks for that Shoal lacks.
fn unimplemented_header(
    head: &RequestHead,
    query: &[(String, String)],
    operation: Operation,
) -> Option<&'static str> {
    let names = head
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(query.iter().map(|(n, _)| n.as_str()));
    for name in names {
        let lower = name.to_ascii_lowercase();
        if ENCRYPTION_HEADER_PREFIXES
            .iter()
            .any(|p| lower.starts_with(p))
        {
            return Some("server-side encryption");
        }
        if let Some((_, feature)) = UNIMPLEMENTED_HEADERS.iter().find(|(h, _)| *h == lower) {
            return Some(feature);
        }
    }
    if sent(head, query, "x-amz-acl").is_some_and(|acl| !ACL_DEFAULTS.contains(&acl.trim())) {
        return Some("ACLs other than private");
    }
    let lock_enabled = sent(head, query, "x-amz-bucket-object-lock-enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    (operation == Operation::CreateBucket && lock_enabled).then_some("object lock")
}

/// Values that end up in response headers, and version ids, are judged before anything
/// is read or written.
fn check_query_values(query: &[(String, String)]) -> Result<(), S3Error> {
    for (name, value) in query {
        let refusal = match name.as_str() {
            n if n.starts_with("response-") && !is_header_value(value) => Some(format!(
                "{n} contains a character not allowed in a header value"
            )),
            "versionId" => version_id_refusal(value),
            "version-id-marker" if !value.is_empty() => version_id_refusal(value),
            _ => None,
        };
        if let Some(message) = refusal {
            return Err(S3Error::with_message(S3ErrorCode::InvalidArgument, message));
        }
    }
    Ok(())
}

/// Why a version id is refused: Shoal has no versioning, so `null` (the one version of
/// an unversioned object) is the only valid id.
pub fn version_id_refusal(version_id: &str) -> Option<String> {
    match version_id {
        "null" => None,
        "" => Some("Version id cannot be the empty string".to_owned()),
        _ => Some("Invalid version id specified".to_owned()),
    }
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

/// Where Shoal's admin API lives: under the `minio` bucket name, which Shoal reserves
/// for its own endpoints as MinIO does (health, metrics, admin). MinIO's own admin API
/// (`/minio/admin/v3`) is a different protocol, so Shoal's has a path of its own.
pub const ADMIN_PATH_PREFIX: &str = "/minio/shoal/admin/v1/";

/// The admin operation a path names (`None`: not an admin path). Admin requests pass
/// the same signature gate as S3 requests: only the root credentials reach them.
fn admin_operation(head: &RequestHead) -> Result<Option<Operation>, S3Error> {
    let Some(name) = head.raw_path().strip_prefix(ADMIN_PATH_PREFIX) else {
        return Ok(None);
    };
    let operation = match (name, &head.method) {
        ("info", Method::Get) => Operation::AdminInfo,
        ("config", Method::Get) => Operation::AdminConfigGet,
        ("config", Method::Put) => Operation::AdminConfigSet,
        ("trace", Method::Get) => Operation::AdminTrace,
        ("heal", Method::Post) => Operation::AdminHeal,
        ("info" | "config" | "trace" | "heal", _) => return Err(method_not_allowed()),
        _ => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!("no admin operation {name:?} (info, config, trace, heal)"),
            ));
        }
    };
    Ok(Some(operation))
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
    if bucket == RESERVED_BUCKET {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidBucketName,
            "The bucket name minio is reserved: Shoal serves its health and metrics paths \
             under /minio/, as MinIO does.",
        ));
    }
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

fn bucket_operation(method: &Method, has: &dyn Fn(&str) -> bool) -> Result<Operation, S3Error> {
    let operation = match method {
        Method::Get if has("location") => Operation::GetBucketLocation,
        Method::Get if has("versioning") => Operation::GetBucketVersioning,
        Method::Get if has("acl") => Operation::GetBucketAcl,
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
    let part = has("partNumber") && has("uploadId");
    let operation = match method {
        Method::Get if has("uploadId") => Operation::ListParts,
        Method::Get if has("tagging") => Operation::GetObjectTagging,
        Method::Get if has("attributes") => Operation::GetObjectAttributes,
        Method::Get if has("acl") => Operation::GetObjectAcl,
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
    use crate::message::request::{HeadParser, HeadStatus};

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
            ("DELETE", "/b1b/k?versionId=null", DeleteObject),
            ("GET", "/b1b/k?attributes", GetObjectAttributes),
            ("PUT", "/b1b/k?tagging", PutObjectTagging),
            ("GET", "/b1b/k?tagging", GetObjectTagging),
            ("DELETE", "/b1b/k?tagging", DeleteObjectTagging),
            ("POST", "/b1b/k?uploads", CreateMultipartUpload),
            ("PUT", "/b1b/k?partNumber=1&uploadId=u", UploadPart),
            ("POST", "/b1b/k?uploadId=u", CompleteMultipartUpload),
            ("DELETE", "/b1b/k?uploadId=u", AbortMultipartUpload),
            ("GET", "/b1b/k?uploadId=u", ListParts),
            ("GET", "/b1b?versioning", GetBucketVersioning),
            ("GET", "/b1b?acl", GetBucketAcl),
            ("GET", "/b1b/k?acl", GetObjectAcl),
            (
                "PUT",
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
        let wire = "GET /photos/cat.jpg?versionId=null HTTP/1.1\r\nHost: My-Bucket.S3.example.com:9000\r\n\r\n";
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
        assert_eq!(r.query_value("versionId"), Some("null"));
        assert_eq!(r.operation, Operation::GetObject);
    }

    /// MinIO's operator paths route to their own table, GET and HEAD only; the bucket
    /// they live under is reserved for every S3 operation, with a message saying why.
    #[test]
    fn operator_paths_are_known_and_their_bucket_reserved() {
        let admin = |method: &str, target: &str| {
            let raw = format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n");
            match HeadParser::new().parse(raw.as_bytes()).expect("head") {
                HeadStatus::Complete { head, .. } => admin_route(&head),
                HeadStatus::Partial => panic!("partial head"),
            }
        };
        assert_eq!(
            admin("GET", "/minio/health/live"),
            Some(AdminRoute::HealthLive)
        );
        assert_eq!(
            admin("HEAD", "/minio/health/ready"),
            Some(AdminRoute::HealthReady)
        );
        assert_eq!(
            admin("GET", "/minio/health/ready?maintenance=true"),
            Some(AdminRoute::HealthReady)
        );
        assert_eq!(
            admin("HEAD", "/minio/health/cluster?maintenance=true"),
            Some(AdminRoute::HealthCluster)
        );
        assert_eq!(
            admin("GET", "/minio/health/cluster/read/"),
            Some(AdminRoute::HealthClusterRead)
        );
        assert_eq!(admin("PUT", "/minio/health/cluster"), None);
        assert_eq!(
            admin("GET", "/minio/v2/metrics/node"),
            Some(AdminRoute::MetricsNode)
        );
        assert_eq!(
            admin("GET", "/minio/v2/metrics/cluster/"),
            Some(AdminRoute::MetricsCluster)
        );
        assert_eq!(admin("PUT", "/minio/health/live"), None);
        assert_eq!(admin("GET", "/minio/v2/metrics"), None);
        assert_eq!(admin("GET", "/minio2/health/live"), None);
        for target in ["/minio", "/minio/", "/minio/health/x"] {
            let error = route_of("PUT", target, "").unwrap_err();
            assert_eq!(error.code(), S3ErrorCode::InvalidBucketName, "{target}");
            assert!(error.message().contains("reserved"), "{}", error.message());
        }
        assert!(route_of("PUT", "/minio2", "").is_ok());
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

    fn refusal(method: &str, target: &str, extra_headers: &str) -> Option<String> {
        route_of(method, target, extra_headers)
            .unwrap()
            .not_implemented_message()
    }

    #[test]
    fn every_unimplemented_subresource_is_refused_at_every_level() {
        // The whole table: each entry answers 501 on buckets and objects, for every
        // method it refuses, and a GET of a write-only entry is served.
        for (name, refused) in UNIMPLEMENTED {
            for target in [format!("/b1b?{name}"), format!("/b1b/k?{name}=x")] {
                for method in ["PUT", "POST", "DELETE", "GET", "HEAD"] {
                    let write = !matches!(method, "GET" | "HEAD");
                    let operation = op(method, &target);
                    let expected_refused = write || *refused == Refused::All;
                    let is_refused = operation == Operation::NotImplemented { feature: name };
                    if target.contains("/k?") && *name == "acl" && !expected_refused {
                        // An object has an ACL to read (the owner's full control).
                        let read = [Operation::GetObjectAcl, Operation::HeadObject];
                        assert!(read.contains(&operation), "{method} {target}");
                    } else if target.contains("/k?") && !expected_refused {
                        // `versioning` on an object is no known parameter either.
                        assert!(
                            matches!(operation, Operation::NotImplemented { .. }),
                            "{method} {target}"
                        );
                    } else {
                        assert_eq!(is_refused, expected_refused, "{method} {target}");
                    }
                }
            }
        }
        assert_eq!(
            refusal("GET", "/b1b?events=s3:ObjectCreated:*&prefix=", "").as_deref(),
            Some("events is not implemented")
        );
    }

    #[test]
    fn parameters_real_clients_send_keep_routing() {
        // SDK operation ids, presigned SigV4 and SigV2, listing and multipart parameters.
        use Operation::*;
        let table = [
            (
                "GET",
                "/?max-buckets=10&continuation-token=x&prefix=a&bucket-region=r&x-id=ListBuckets",
                ListBuckets,
            ),
            (
                "GET",
                "/b1b?list-type=2&prefix=a&delimiter=%2F&max-keys=5&encoding-type=url&fetch-owner=true&start-after=a&continuation-token=t",
                ListObjectsV2,
            ),
            ("GET", "/b1b?marker=a&max-keys=1", ListObjects),
            (
                "GET",
                "/b1b?versions&key-marker=a&version-id-marker=null&max-keys=1",
                ListObjectVersions,
            ),
            (
                "GET",
                "/b1b?uploads&max-uploads=2&key-marker=a&upload-id-marker=u&prefix=p",
                ListMultipartUploads,
            ),
            (
                "GET",
                "/b1b/k?x-id=GetObject&response-content-type=text%2Fplain&partNumber=1",
                GetObject,
            ),
            (
                "GET",
                "/b1b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=c&X-Amz-Date=d&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=s",
                GetObject,
            ),
            (
                "GET",
                "/b1b/k?AWSAccessKeyId=a&Expires=1&Signature=s&versionId=null",
                GetObject,
            ),
            ("PUT", "/b1b/k?x-id=PutObject", PutObject),
            (
                "GET",
                "/b1b/k?uploadId=u&max-parts=2&part-number-marker=1",
                ListParts,
            ),
            ("GET", "/b1b/k?attributes", GetObjectAttributes),
        ];
        for (method, target, expected) in table {
            assert_eq!(op(method, target), expected, "{method} {target}");
        }
    }

    #[test]
    fn unknown_parameters_are_refused_by_name() {
        // A parameter no served operation takes is never silently ignored.
        assert_eq!(
            refusal("GET", "/b1b?list-type=2&metadata=true", "").as_deref(),
            Some("the query parameter \"metadata\" is not implemented")
        );
        assert_eq!(
            refusal("GET", "/b1b/k?versioning", "").as_deref(),
            Some("the query parameter \"versioning\" is not implemented")
        );
        assert!(refusal("GET", "/?list-type=2", "").is_some());
        assert!(refusal("PUT", "/b1b/k?download=1", "").is_some());
    }

    #[test]
    fn only_the_standard_storage_class_is_stored() {
        // Another class is refused, never stored as STANDARD; a made-up one is invalid.
        let class = |c: &str| format!("x-amz-storage-class: {c}\r\n");
        assert_eq!(refusal("PUT", "/b1b/k", &class("STANDARD")), None);
        for target in ["/b1b/k", "/b1b/k?uploads"] {
            let method = if target.ends_with("uploads") {
                "POST"
            } else {
                "PUT"
            };
            assert_eq!(
                refusal(method, target, &class("GLACIER")).as_deref(),
                Some("a storage class other than STANDARD is not implemented")
            );
        }
        let invalid = route_of("PUT", "/b1b/k", &class("COLD")).unwrap_err();
        assert_eq!(invalid.code(), S3ErrorCode::InvalidStorageClass);
    }

    #[test]
    fn object_reads_ignore_parameters_s3_does_not_define() {
        // A cache buster on a presigned GET is ignored as S3 ignores it; a parameter S3
        // defines elsewhere is not.
        assert_eq!(op("GET", "/b1b/k?download=1"), Operation::GetObject);
        assert_eq!(op("HEAD", "/b1b/k?t=123"), Operation::HeadObject);
        assert!(refusal("GET", "/b1b/k?list-type=2", "").is_some());
    }

    #[test]
    fn encryption_acl_and_lock_headers_are_refused() {
        // Headers that would otherwise be accepted and silently ignored.
        for header in [
            "x-amz-server-side-encryption: AES256",
            "x-amz-server-side-encryption: aws:kms",
            "x-amz-server-side-encryption-aws-kms-key-id: k",
            "x-amz-server-side-encryption-context: e30=",
            "x-amz-server-side-encryption-bucket-key-enabled: true",
            "x-amz-server-side-encryption-customer-algorithm: AES256",
            "x-amz-server-side-encryption-customer-key: a2V5",
            "x-amz-server-side-encryption-customer-key-MD5: bWQ1",
            "x-amz-copy-source-server-side-encryption-customer-key: a2V5",
        ] {
            for (method, target) in [
                ("PUT", "/b1b/k"),
                ("GET", "/b1b/k"),
                ("HEAD", "/b1b/k"),
                ("POST", "/b1b/k?uploads"),
            ] {
                assert_eq!(
                    refusal(method, target, &format!("{header}\r\n")).as_deref(),
                    Some("server-side encryption is not implemented"),
                    "{method} {target} {header}"
                );
            }
        }
        assert!(refusal("PUT", "/b1b/k?X-Amz-Server-Side-Encryption=AES256", "").is_some());
        assert!(refusal("PUT", "/b1b/k", "x-amz-grant-read: id=1\r\n").is_some());
        assert!(refusal("PUT", "/b1b/k", "x-amz-acl: public-read\r\n").is_some());
        assert!(refusal("PUT", "/b1b/k", "x-amz-acl: private\r\n").is_none());
        assert!(refusal("PUT", "/b1b", "x-amz-bucket-object-lock-enabled: True\r\n").is_some());
        assert!(refusal("PUT", "/b1b", "x-amz-bucket-object-lock-enabled: false\r\n").is_none());
        for header in [
            "x-amz-object-lock-mode: GOVERNANCE",
            "x-amz-object-lock-retain-until-date: 2030-01-01T00:00:00Z",
            "x-amz-object-lock-legal-hold: ON",
        ] {
            for (method, target, copy) in [
                ("PUT", "/b1b/k", ""),
                ("PUT", "/b1b/k", "x-amz-copy-source: /b1b/j\r\n"),
                ("POST", "/b1b/k?uploads", ""),
            ] {
                let error = route_of(method, target, &format!("{header}\r\n{copy}")).unwrap_err();
                assert_eq!(
                    error.code(),
                    S3ErrorCode::InvalidRequest,
                    "{method} {target} {header}"
                );
                assert_eq!(
                    error.message(),
                    "Bucket is missing Object Lock Configuration"
                );
            }
        }
    }

    #[test]
    fn response_overrides_must_be_header_values() {
        // CR, LF or any control byte in a value echoed as a header is InvalidArgument.
        for bad in [
            "a%0Db",
            "a%0Ab",
            "a%0D%0AX-Injected:%201",
            "a%00b",
            "a%7Fb",
            "a%1Bb",
        ] {
            for name in [
                "response-content-type",
                "response-content-disposition",
                "response-expires",
            ] {
                let error = route_of("GET", &format!("/b1b/k?{name}={bad}"), "").unwrap_err();
                assert_eq!(error.code(), S3ErrorCode::InvalidArgument, "{name}={bad}");
            }
        }
        for good in [
            "text%2Fplain%3B%20charset%3Dutf-8",
            "a%09b",
            "%C3%A9t%C3%A9",
        ] {
            assert_eq!(
                op("GET", &format!("/b1b/k?response-content-type={good}")),
                Operation::GetObject
            );
        }
    }

    #[test]
    fn only_the_null_version_id_is_valid() {
        // Shoal issues no version ids: `null` names the object, anything else is invalid.
        assert_eq!(op("GET", "/b1b/k?versionId=null"), Operation::GetObject);
        for (target, message) in [
            (
                "/b1b/k?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH",
                "Invalid version id specified",
            ),
            ("/b1b/k?versionId=", "Version id cannot be the empty string"),
            (
                "/b1b?versions&key-marker=a&version-id-marker=v1",
                "Invalid version id specified",
            ),
        ] {
            for method in ["GET", "HEAD", "DELETE", "PUT"] {
                let error = route_of(method, target, "").unwrap_err();
                assert_eq!(
                    (error.code(), error.message()),
                    (S3ErrorCode::InvalidArgument, message),
                    "{method} {target}"
                );
            }
        }
    }

    /// Admin paths route to their operation (not to the `minio` bucket), with their
    /// query; a wrong method or an unknown admin name is refused.
    #[test]
    fn admin_paths_route_to_admin_operations() {
        use Operation::*;
        assert_eq!(op("GET", "/minio/shoal/admin/v1/info"), AdminInfo);
        assert_eq!(op("GET", "/minio/shoal/admin/v1/config"), AdminConfigGet);
        let set = route_of(
            "PUT",
            "/minio/shoal/admin/v1/config?key=log-requests&value=on",
            "",
        );
        let set = set.unwrap();
        assert_eq!(set.operation, AdminConfigSet);
        assert_eq!(set.query_value("value"), Some("on"));
        assert_eq!(set.bucket, None);
        assert_eq!(
            op("GET", "/minio/shoal/admin/v1/trace?api=GetObject"),
            AdminTrace
        );
        let wrong = route_of("DELETE", "/minio/shoal/admin/v1/info", "").unwrap_err();
        assert_eq!(wrong.code(), S3ErrorCode::MethodNotAllowed);
        assert_eq!(
            op("POST", "/minio/shoal/admin/v1/heal?bucket=b&deep=true"),
            AdminHeal
        );
        let wrong = route_of("GET", "/minio/shoal/admin/v1/heal", "").unwrap_err();
        assert_eq!(wrong.code(), S3ErrorCode::MethodNotAllowed);
        let unknown = route_of("GET", "/minio/shoal/admin/v1/scrub", "").unwrap_err();
        assert_eq!(unknown.code(), S3ErrorCode::InvalidRequest);
        assert_eq!(op("GET", "/minio2/shoal/admin/v1/info"), GetObject);
    }
}
