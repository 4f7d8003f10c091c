//! AWS Signature Version 2 for S3, in both request forms: the `Authorization: AWS
//! <AccessKeyId>:<Signature>` header and presigned query parameters
//! (`AWSAccessKeyId`, `Expires`, `Signature`). Older tools (s3cmd, old SDKs) and
//! boto3's `generate_presigned_url` with `signature_version='s3'` still send it.
//!
//! The signature is base64(HMAC-SHA1(secret, StringToSign)) over:
//!
//! ```text
//! StringToSign = METHOD \n Content-MD5 \n Content-Type \n Date \n
//!                CanonicalizedAmzHeaders CanonicalizedResource
//! CanonicalizedAmzHeaders = for each x-amz-* name, sorted: name:v1,v2\n
//! CanonicalizedResource   = ["/" bucket-from-Host] raw-path ["/"] ["?" sub-resources]
//! ```
//!
//! The `/` after the path is added when the resource names a bucket and nothing in it
//! (`/bucket`, or `/` on a virtual host): AWS signs bucket-level requests as `/bucket/`.
//!
//! Invariants:
//! - Only [`crate::auth::gate::authenticate_with_routes`] calls in here, and it passes the
//!   same [`RouteConfig`] the router uses: `Host` is not signed in V2, so the bucket the
//!   signature covers must be derived exactly as routing derives it, or a signature for
//!   one bucket could be replayed against another by changing `Host`.
//! - Every `x-amz-*` header on the request is in the string to sign (none can be added
//!   unsigned), and so is every query parameter that selects an operation
//!   ([`SIGNED_SUBRESOURCES`]); other query parameters (`prefix`, `max-keys`, ...) are
//!   unsigned in V2 by design and only refine the signed operation.
//! - Header form: the request time (`x-amz-date`, else `Date`; when `x-amz-date` is
//!   present the Date line is empty) is within [`CLOCK_SKEW_MAX_SECS`] of now.
//!   Query form: `Expires` (unix seconds, the Date line) is not in the past and at
//!   most [`PRESIGN_EXPIRES_MAX_SECS`] (plus the skew allowance) in the future.
//! - Presigned requests take `Content-MD5`, `Content-Type` and `x-amz-*` from the
//!   request's headers, never from query parameters, so a header added to a presigned
//!   URL is signed or refused.
//! - The body is never signed in V2: the payload mode is [`PayloadMode::Unsigned`]
//!   (a `Content-MD5` is still checked by the store).

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::auth::common::{
    Authenticated, CLOCK_SKEW_MAX_SECS, PRESIGN_EXPIRES_MAX_SECS, PayloadMode, SecretKeys,
    constant_time_eq,
};
use crate::base::base64;
use crate::base::error::{S3Error, S3ErrorCode};
use crate::base::time::{parse_amz_date, parse_http_date};
use crate::message::request::RequestHead;
use crate::route::{RouteConfig, bucket_from_host};

/// The `Authorization` header scheme of V2 (the space is part of it).
pub const AUTHORIZATION_PREFIX: &str = "AWS ";

/// Query parameters that are part of the `CanonicalizedResource`: the AWS docs' list,
/// the `response-*` overrides, and the further ones botocore signs (a superset, so a
/// request botocore signed verifies, and more of the operation is covered).
pub const SIGNED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Whether the query carries V2 presigned parameters.
pub(crate) fn is_presigned(query: &[(String, String)]) -> bool {
    query
        .iter()
        .any(|(name, _)| name == "AWSAccessKeyId" || name == "Signature")
}

/// Header form: `authorization` starts with [`AUTHORIZATION_PREFIX`].
pub(crate) fn authenticate_header(
    head: &RequestHead,
    authorization: &str,
    query: &[(String, String)],
    keys: &impl SecretKeys,
    routes: &RouteConfig,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    let credentials = authorization
        .strip_prefix(AUTHORIZATION_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .filter(|(access_key_id, signature)| !access_key_id.is_empty() && !signature.is_empty())
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            )
        })?;
    let (access_key_id, signature) = credentials;
    let amz_date = head.header("x-amz-date");
    let request_unix_secs = match amz_date {
        Some(amz_date) => parse_http_date(amz_date).or_else(|| parse_amz_date(amz_date)),
        None => head.header("date").and_then(parse_http_date),
    }
    .ok_or_else(|| {
        S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    })?;
    if (request_unix_secs - now_unix_secs).abs() > CLOCK_SKEW_MAX_SECS {
        return Err(S3Error::new(S3ErrorCode::RequestTimeTooSkewed));
    }
    // With x-amz-date present the Date line is empty: x-amz-date is signed as an
    // x-amz-* header instead (AWS docs; every SDK signs it this way).
    let date_line = match amz_date {
        Some(_) => "",
        None => head.header("date").unwrap_or_default(),
    };
    verify(
        head,
        query,
        routes,
        date_line,
        access_key_id,
        signature,
        keys,
    )
}

/// Query form: the query carries `AWSAccessKeyId` or `Signature` ([`is_presigned`]).
pub(crate) fn authenticate_presigned(
    head: &RequestHead,
    query: &[(String, String)],
    keys: &impl SecretKeys,
    routes: &RouteConfig,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(access_key_id), Some(expires), Some(signature)) =
        (get("AWSAccessKeyId"), get("Expires"), get("Signature"))
    else {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
        ));
    };
    let expires_unix_secs = parse_unix_secs(expires).ok_or_else(|| {
        S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Invalid date (should be seconds since epoch)",
        )
    })?;
    if now_unix_secs > expires_unix_secs {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Request has expired",
        ));
    }
    // The skew allowance keeps a 7-day URL from a client whose clock runs a little
    // ahead usable, as header requests get the same allowance.
    if expires_unix_secs - now_unix_secs > PRESIGN_EXPIRES_MAX_SECS + CLOCK_SKEW_MAX_SECS {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Query-string authentication allows an Expires at most 604800 seconds (7 days) in the future",
        ));
    }
    verify(head, query, routes, expires, access_key_id, signature, keys)
}

/// Decimal unix seconds, digits only (no sign, no spaces), at most 12 digits.
fn parse_unix_secs(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn verify(
    head: &RequestHead,
    query: &[(String, String)],
    routes: &RouteConfig,
    date_line: &str,
    access_key_id: &str,
    signature: &str,
    keys: &impl SecretKeys,
) -> Result<Authenticated, S3Error> {
    let secret = keys
        .secret_access_key(access_key_id)
        .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidAccessKeyId))?;
    let presented: [u8; 20] = base64::decode(signature)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| S3Error::new(S3ErrorCode::SignatureDoesNotMatch))?;
    let string_to_sign = string_to_sign(head, query, routes, date_line);
    if !constant_time_eq(&sign(&secret, &string_to_sign), &presented) {
        return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch));
    }
    Ok(Authenticated {
        access_key_id: access_key_id.to_owned(),
        payload: PayloadMode::Unsigned,
    })
}

/// HMAC-SHA1 of the string to sign under the secret access key.
pub fn sign(secret_access_key: &str, string_to_sign: &str) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret_access_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The V2 `StringToSign` of a request; `date_line` is the `Date` header, empty, or
/// `Expires` (see the file header).
pub fn string_to_sign(
    head: &RequestHead,
    query: &[(String, String)],
    routes: &RouteConfig,
    date_line: &str,
) -> String {
    let positional = |name: &str| head.header(name).map_or("", str::trim);
    let mut out = String::with_capacity(256);
    for line in [
        head.method.as_str(),
        positional("content-md5"),
        positional("content-type"),
        date_line.trim(),
    ] {
        out.push_str(line);
        out.push('\n');
    }
    push_canonical_amz_headers(head, &mut out);
    push_canonical_resource(head, query, routes, &mut out);
    out
}

/// Every `x-amz-*` header, names sorted (already lowercase), `name:v1,v2\n` with each
/// value trimmed and repeated headers joined by `,` in arrival order.
fn push_canonical_amz_headers(head: &RequestHead, out: &mut String) {
    let mut names: Vec<&str> = head
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| name.starts_with("x-amz-"))
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        out.push_str(name);
        out.push(':');
        for (index, value) in head.header_values(name).enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(value.trim());
        }
        out.push('\n');
    }
}

/// `/bucket` from a virtual-host `Host` (as routing finds it), the path exactly as
/// sent, then the signed sub-resources sorted by name with decoded values.
fn push_canonical_resource(
    head: &RequestHead,
    query: &[(String, String)],
    routes: &RouteConfig,
    out: &mut String,
) {
    let start = out.len();
    if let Some(bucket) = head
        .header("host")
        .and_then(|host| bucket_from_host(host, routes))
    {
        out.push('/');
        out.push_str(&bucket);
    }
    out.push_str(head.raw_path());
    // A request on a bucket signs `/bucket/` whether it was sent as `/bucket` (path
    // style) or `/` (virtual host): the AWS rule that botocore and s3cmd follow.
    let path = out.get(start + 1..).unwrap_or_default();
    if !path.is_empty() && !path.contains('/') {
        out.push('/');
    }
    let mut subresources: Vec<&(String, String)> = query
        .iter()
        .filter(|(name, _)| SIGNED_SUBRESOURCES.contains(&name.as_str()))
        .collect();
    // Stable: repeated names keep arrival order, as botocore's sort does.
    subresources.sort_by(|a, b| a.0.cmp(&b.0));
    for (index, (name, value)) in subresources.into_iter().enumerate() {
        out.push(if index == 0 { '?' } else { '&' });
        out.push_str(name);
        if !value.is_empty() {
            out.push('=');
            out.push_str(value);
        }
    }
}

#[cfg(test)]
mod tests;
